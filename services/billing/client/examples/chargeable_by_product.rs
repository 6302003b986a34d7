//! Each product's chargeable units per month over every usage report of
//! the distributor, then the reports flagged for review: the library used
//! directly, streaming every page.
//!
//! ```sh
//! source target/estate-dev/demo.env
//! cargo run -q -p estate-billing-client --example chargeable_by_product
//! ```

use std::collections::BTreeMap;
use std::pin::pin;

use anyhow::Context;
use estate_billing_client::proto::UsageReportStatus;
use estate_billing_client::{
    BillingClient, DistributorId, PartnerNames, UsageReportFilter, cli::DEFAULT_ENDPOINT,
};
use futures::TryStreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let endpoint = std::env::var("ESTATE_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
    let api_key = std::env::var("ESTATE_API_KEY")
        .context("ESTATE_API_KEY is not set: source target/estate-dev/demo.env")?;
    let distributor: DistributorId = std::env::var("ESTATE_DISTRIBUTOR")
        .context("ESTATE_DISTRIBUTOR is not set")?
        .parse()?;
    let client = BillingClient::connect(&endpoint, &api_key).await?;

    // Every report, page after page, as a stream.
    let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut reports = pin!(client.usage_reports(&distributor, &UsageReportFilter::default()));
    while let Some(report) = reports.try_next().await? {
        *totals.entry((report.month, report.product)).or_default() += report.chargeable_units;
    }
    println!("{:<8} {:<16} {:>10}", "MONTH", "PRODUCT", "CHARGEABLE");
    for ((month, product), units) in totals.iter().rev() {
        println!("{month:<8} {product:<16} {units:>10}");
    }

    // Under review and flagged: auto-submitted over-provisioned without a
    // comment, so charged on provisioned units.
    let under_review = UsageReportFilter {
        statuses: vec![UsageReportStatus::UnderReview],
        ..UsageReportFilter::default()
    };
    let mut names = PartnerNames::new(client.clone(), distributor);
    for report in client
        .all_usage_reports(&distributor, &under_review)
        .await?
    {
        if report.flagged {
            let partner = names.of_resource(&report.name).await?;
            println!(
                "flagged: {partner}, {} {}: {} provisioned, {} used",
                report.product,
                report.month,
                report.provisioned_units,
                report
                    .used_units
                    .map_or_else(|| "nothing".to_string(), |used| used.to_string()),
            );
        }
    }
    Ok(())
}
