//! The demo `deploy/local/run.sh` loads: it loads through the gateway,
//! loading it again changes nothing, and it shows what the README says it
//! shows (the worker finishing what the demo left), on any day it runs:
//! the first and last days of months, after February, and mid-month.

use std::time::Duration;

use chrono::{Datelike, Months, TimeZone, Utc};
use estate_e2e::{Options, Platform, pinned_now, with_key};
use estate_launcher::demo;
use estate_proto::billing::reports_service_client::ReportsServiceClient;
use estate_proto::billing::{
    BillingReportStatus, Granularity, ListBillingReportsRequest, ListUsageReportsRequest,
    ProductLicenseStatus, UsageReportStatus,
};
use estate_proto::customers::customer_overview_service_client::CustomerOverviewServiceClient;
use estate_proto::customers::{CustomerStatus, ListCustomerOverviewsRequest};
use tonic::transport::Channel;

use crate::billing::{count, dashboard};

/// (month, product, status, chargeable units, flagged), newest month first.
async fn usage_reports(
    channel: &Channel,
    distributor: &str,
    key: &str,
) -> Vec<(String, String, UsageReportStatus, i64, bool)> {
    let mut reports: Vec<_> = ReportsServiceClient::new(channel.clone())
        .list_usage_reports(with_key(
            ListUsageReportsRequest {
                parent: format!("{distributor}/partners/-"),
                ..Default::default()
            },
            key,
        ))
        .await
        .unwrap()
        .into_inner()
        .usage_reports
        .into_iter()
        .map(|report| {
            let status = report.status();
            (
                report.month,
                report.product,
                status,
                report.chargeable_units,
                report.flagged,
            )
        })
        .collect();
    reports.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    reports
}

async fn the_demo_shows_what_the_readme_says(now: chrono::DateTime<Utc>) {
    let platform = Platform::spawn_with(Options {
        auto_submit_poll_interval: Duration::from_millis(50),
        ..Options::default()
    })
    .await
    .unwrap();
    platform.clock.set(now);
    let endpoint = platform.gateway.url();
    let key = platform.admin_key.clone();
    let first = demo::load(&endpoint, &key, now).await.unwrap();
    let distributor = first.distributor_account();
    let channel = platform.gateway_channel().await.unwrap();
    let this_month = now.date_naive().with_day(1).unwrap();
    let month = |back: u32| (this_month - Months::new(back)).format("%Y-%m").to_string();
    let (last, before) = (month(1), month(2));

    // The worker auto-submits last month's SAM Core report, left
    // over-provisioned without a comment, flags it and charges the 290
    // provisioned seats; nothing else is left preparing. Fabrikam, which
    // sold only a trial, has nothing to report.
    let mut reports = Vec::new();
    for _ in 0..100 {
        reports = usage_reports(&channel, &distributor, &key).await;
        if reports
            .iter()
            .all(|report| report.2 != UsageReportStatus::Preparing)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    use UsageReportStatus::{Approved, UnderReview};
    assert_eq!(
        reports,
        [
            (
                last.clone(),
                demo::CLOUD_BACKUP.into(),
                UnderReview,
                20,
                false
            ),
            (last.clone(), demo::SAM_CORE.into(), UnderReview, 290, true),
            (
                before.clone(),
                demo::CLOUD_BACKUP.into(),
                Approved,
                26,
                false
            ),
            (before.clone(), demo::SAM_CORE.into(), Approved, 251, false),
        ],
        "on {now}"
    );

    // Loading again changes nothing.
    let second = demo::load(&endpoint, &key, now).await.unwrap();
    assert_eq!(
        (&second.distributor, &second.partner, &second.customer),
        (&first.distributor, &first.partner, &first.customer)
    );
    assert_eq!(usage_reports(&channel, &distributor, &key).await, reports);

    let billing: Vec<_> = ReportsServiceClient::new(channel.clone())
        .list_billing_reports(with_key(
            ListBillingReportsRequest {
                parent: distributor.clone(),
                month: before.clone(),
                ..Default::default()
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner()
        .billing_reports
        .into_iter()
        .map(|report| {
            let status = report.status();
            let total = report.total.map(|money| money.amount_minor);
            (report.product, status, total)
        })
        .collect();
    assert_eq!(billing.len(), 2, "{billing:?}");
    // Priced from the plans and Contoso's 15% margin when made:
    // 251 × 4.50 EUR = 1,129.50 less 15% = 960.075, rounded half up to
    // 960.08; 26 × 19.90 = 517.40 less 15% = 439.79.
    assert!(billing.contains(&(
        demo::SAM_CORE.into(),
        BillingReportStatus::Completed,
        Some(96_008)
    )));
    assert!(billing.contains(&(
        demo::CLOUD_BACKUP.into(),
        BillingReportStatus::Preparing,
        Some(43_979)
    )));

    // Unspecified granularity: the service's default.
    let board = dashboard(&channel, &distributor, Granularity::Unspecified, &key)
        .await
        .unwrap();
    assert_eq!(count(&board.active_partners), 2);
    assert_eq!(count(&board.enabled_customers), 4);
    assert_eq!(count(&board.enabled_service_plans), 3);
    // Fabrikam, acquired twelve days ago, has sold only a trial.
    assert_eq!(count(&board.partners_acquired_last_30_days), 1);
    assert_eq!(count(&board.inactive_new_partners), 1);
    let customers = |status: ProductLicenseStatus| {
        board
            .customers_by_license_status
            .iter()
            .find(|figure| figure.status() == status)
            .map(|figure| count(&figure.customers))
    };
    // Litware outgrew its 40 seats; Tailspin is on a trial; Adatum and
    // Wide World are active (a license has one status, Litware's is
    // exceeded).
    assert_eq!(customers(ProductLicenseStatus::ExceededAllocation), Some(1));
    assert_eq!(customers(ProductLicenseStatus::Trial), Some(1));
    assert_eq!(customers(ProductLicenseStatus::Active), Some(2));
    // Contoso's backup fell from 26 TB to 20 TB: 23%, beyond the 20%.
    let drops: Vec<_> = board
        .chargeable_drops
        .iter()
        .map(|drop| (drop.product.as_str(), count(&drop.partners)))
        .collect();
    assert!(drops.contains(&(demo::CLOUD_BACKUP, 1)), "{drops:?}");
    assert!(drops.contains(&(demo::SAM_CORE, 0)), "{drops:?}");

    // The partner overview, once the first syncs (made after the estate
    // and the billing side) are done: Adatum synced with its five
    // computers and its licenses and usage; Wide World's year-long grant
    // in effect; every row of Contoso's customers synced.
    let mut overview = CustomerOverviewServiceClient::new(channel.clone());
    let mut rows = Vec::new();
    for _ in 0..200 {
        rows = overview
            .list_customer_overviews(with_key(
                ListCustomerOverviewsRequest {
                    parent: first.partner.clone(),
                    ..Default::default()
                },
                &key,
            ))
            .await
            .unwrap()
            .into_inner()
            .customer_overviews;
        if rows
            .iter()
            .all(|row| row.status() == CustomerStatus::Synced)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names: Vec<(&str, CustomerStatus)> = rows
        .iter()
        .map(|row| (row.display_name.as_str(), row.status()))
        .collect();
    assert_eq!(
        names,
        [
            ("Adatum Corporation", CustomerStatus::Synced),
            ("Litware Inc.", CustomerStatus::Synced),
            ("Wide World Importers", CustomerStatus::Synced),
        ],
        "on {now}"
    );
    let adatum = &rows[0];
    assert_eq!(adatum.computers.as_ref().map(|c| c.total), Some(5));
    assert_eq!(adatum.beacon_count, 1);
    let products: Vec<(&str, i64, Option<i64>)> = adatum
        .licenses_and_usage
        .as_ref()
        .unwrap()
        .products
        .iter()
        .map(|product| {
            (
                product.product.as_str(),
                product.quantity_purchased,
                product.utilization_percent,
            )
        })
        .collect();
    assert_eq!(products.len(), 2, "{products:?}");
    assert!(
        products
            .iter()
            .any(|(product, seats, used)| *product == demo::SAM_CORE
                && *seats == 250
                && used.is_some()),
        "{products:?}"
    );
    assert!(adatum.compliance.is_some(), "the first compliance run");
    // Litware's SAM Core expires in 45 days.
    assert_eq!(
        rows[1].expiration_status(),
        estate_proto::customers::ExpirationStatus::ExpiresIn60Days
    );

    // Where Contoso's customers need more: Litware uses 46 of its 40 seats.
    let needs = overview
        .list_customer_needs(with_key(
            estate_proto::customers::ListCustomerNeedsRequest {
                parent: first.partner.clone(),
                ..Default::default()
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner()
        .needs;
    let found: Vec<(&str, &str, i64, i64, i64)> = needs
        .iter()
        .map(|need| {
            (
                need.display_name.as_str(),
                need.product.as_str(),
                need.have,
                need.need,
                need.gap,
            )
        })
        .collect();
    assert_eq!(
        found,
        [("Litware Inc.", demo::SAM_CORE, 40, 46, 6)],
        "on {now}"
    );
}

#[tokio::test]
async fn the_demo_tells_the_truth_mid_month() {
    the_demo_shows_what_the_readme_says(pinned_now()).await;
}

#[tokio::test]
async fn the_demo_tells_the_truth_on_the_first_of_a_month() {
    the_demo_shows_what_the_readme_says(Utc.with_ymd_and_hms(2026, 12, 1, 0, 30, 0).unwrap()).await;
}

#[tokio::test]
async fn the_demo_tells_the_truth_at_the_end_of_a_month_after_february() {
    the_demo_shows_what_the_readme_says(Utc.with_ymd_and_hms(2027, 3, 31, 23, 0, 0).unwrap()).await;
}

#[tokio::test]
async fn the_demo_tells_the_truth_early_in_a_month() {
    the_demo_shows_what_the_readme_says(Utc.with_ymd_and_hms(2027, 1, 5, 9, 0, 0).unwrap()).await;
}
