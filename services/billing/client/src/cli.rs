//! The `estate-billing` command line: a distributor lists, filters and
//! exports usage and billing reports, partners and the dashboard's lists,
//! and shows the dashboard. [`run`] takes the parsed arguments and a
//! writer, so tests drive it without a process; `main` only wires stdout
//! and the exit code. Output goes to the writer (stdout), diagnostics to
//! stderr, so `> reports.csv` exports.

use std::io::Write;
use std::pin::pin;

use clap::{Args, Parser, Subcommand, ValueEnum};
use estate_proto::billing::{
    BillingReportStatus, Granularity, PartnerStatus, PartnerType, UsageReportStatus,
};
use futures::TryStreamExt;

use crate::dashboard::{DashboardView, write_dashboard_table};
use crate::filters::parse_status;
use crate::output::{Format, RowWriter};
use crate::rows::{
    AccountRow, BillingReportRow, ChargeableDropRow, PartnerRow, Row, UsageReportRow,
};
use crate::{
    BillingClient, BillingReportFilter, DistributorId, Month, PartnerFilter, PartnerId,
    PartnerNames, UsageReportFilter,
};

/// Where the gateway listens in a local checkout.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

/// A distributor's billing data from the Estate gateway: usage and billing
/// reports, partners and the dashboard, as a table, JSON, NDJSON or CSV.
#[derive(Debug, Parser)]
#[command(name = "estate-billing", version)]
pub struct Cli {
    /// The gateway's address.
    #[arg(long, env = "ESTATE_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// A PEM CA certificate to trust for an https:// endpoint instead of
    /// the system's roots.
    #[arg(long, env = "ESTATE_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// An API key of the distributor, sent as `authorization: Bearer <key>`.
    #[arg(long, env = "ESTATE_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// The distributor: `distributors/{id}` or `organizations/{id}`.
    #[arg(long, env = "ESTATE_DISTRIBUTOR")]
    pub distributor: DistributorId,
    /// Rows asked for per call (0: the service's default of 50; at most
    /// 1000). Every page is fetched either way.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..=1000))]
    pub page_size: i32,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses a command line (the program name first), for callers that
    /// do not depend on clap themselves.
    pub fn try_from_args<I, T>(arguments: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(arguments)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Monthly usage reports per partner and product, newest month first.
    UsageReports(UsageReportsArgs),
    /// Billing reports made from approved usage reports, newest month
    /// first.
    ///
    /// --partner and --product are applied by this client: the service
    /// filters billing reports by month and status only, so every report
    /// of those is fetched.
    BillingReports(BillingReportsArgs),
    /// Every dashboard figure as of today.
    Dashboard(DashboardArgs),
    /// The distributor's partners, oldest acquisition first.
    Partners(PartnersArgs),
    /// Partners and customers whose name starts with or contains QUERY.
    Search(SearchArgs),
    /// Partners whose chargeable units fell last month beyond the
    /// distributor's threshold.
    Drops(DropsArgs),
    /// Active partners acquired in the last 90 days without a full license
    /// sale.
    InactivePartners(FormatArgs),
}

/// Filters both report lists share.
#[derive(Debug, Args)]
pub struct ReportFilterArgs {
    /// Only this partner: its display name, `distributors/{d}/partners/{id}`,
    /// `organizations/{id}` or id.
    #[arg(long)]
    pub partner: Option<String>,
    /// Only this month, `YYYY-MM`.
    #[arg(long)]
    pub month: Option<Month>,
    /// Only this product, as the service plans name it.
    #[arg(long)]
    pub product: Option<String>,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct UsageReportsArgs {
    /// Only these statuses (repeat, or separate with commas): preparing,
    /// under-review, approved, rejected.
    #[arg(long, value_delimiter = ',', value_parser = parse_status::<UsageReportStatus>)]
    pub status: Vec<UsageReportStatus>,
    #[command(flatten)]
    pub filter: ReportFilterArgs,
}

#[derive(Debug, Args)]
pub struct BillingReportsArgs {
    /// Only these statuses (repeat, or separate with commas): preparing,
    /// under-review-manual, under-review-automatic,
    /// under-review-automatic-with-penalties, returned, rejected,
    /// submitted, completed.
    #[arg(long, value_delimiter = ',', value_parser = parse_status::<BillingReportStatus>)]
    pub status: Vec<BillingReportStatus>,
    #[command(flatten)]
    pub filter: ReportFilterArgs,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// table (for a terminal), json (one array), ndjson (one object a
    /// line) or csv (with a header row).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DashboardFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Compare new partners by quarter rather than by month.
    #[arg(long)]
    pub quarterly: bool,
    #[arg(long, value_enum, default_value_t = DashboardFormat::Table)]
    pub format: DashboardFormat,
}

#[derive(Debug, Args)]
pub struct PartnersArgs {
    /// Only these statuses (repeat, or separate with commas): active,
    /// suspended, canceled.
    #[arg(long, value_delimiter = ',', value_parser = parse_status::<PartnerStatus>)]
    pub status: Vec<PartnerStatus>,
    /// Only this type: msp or reseller.
    #[arg(long = "type", value_parser = parse_status::<PartnerType>)]
    pub partner_type: Option<PartnerType>,
    /// Only this sales region, e.g. EMEA.
    #[arg(long)]
    pub region: Option<String>,
    /// acquisition_date (the default), region, status or type; then asc or
    /// desc, e.g. "region desc".
    #[arg(long)]
    pub order_by: Option<String>,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Part of a partner's or customer's name (case does not matter).
    pub query: String,
    /// At most this many matches, 1 to 100.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub limit: i32,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct DropsArgs {
    /// Only this product; without it, every product with a drop.
    #[arg(long)]
    pub product: Option<String>,
    #[command(flatten)]
    pub output: FormatArgs,
}

/// Runs one command against the gateway, writing its output to `out`.
pub async fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<()> {
    let ca = match &cli.ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|error| {
            anyhow::anyhow!("ESTATE_CA_FILE: cannot read {}: {error}", path.display())
        })?),
        None => None,
    };
    let client = BillingClient::connect_with_ca(&cli.endpoint, &cli.api_key, ca.as_deref())
        .await?
        .with_page_size(cli.page_size);
    let distributor = cli.distributor;
    match cli.command {
        Command::UsageReports(args) => usage_reports(&client, &distributor, args, out).await,
        Command::BillingReports(args) => billing_reports(&client, &distributor, args, out).await,
        Command::Dashboard(args) => dashboard(&client, &distributor, &args, out).await,
        Command::Partners(args) => partners(&client, &distributor, args, out).await,
        Command::Search(args) => search(&client, &distributor, &args, out).await,
        Command::Drops(args) => drops(&client, &distributor, &args, out).await,
        Command::InactivePartners(args) => {
            inactive_partners(&client, &distributor, &args, out).await
        }
    }
}

async fn find_partner(
    client: &BillingClient,
    distributor: &DistributorId,
    partner: Option<&str>,
) -> anyhow::Result<Option<PartnerId>> {
    Ok(match partner {
        Some(text) => Some(client.find_partner(distributor, text).await?),
        None => None,
    })
}

async fn usage_reports(
    client: &BillingClient,
    distributor: &DistributorId,
    args: UsageReportsArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let ReportFilterArgs {
        partner,
        month,
        product,
        output,
    } = args.filter;
    let filter = UsageReportFilter {
        partner: find_partner(client, distributor, partner.as_deref()).await?,
        month,
        statuses: args.status,
        product,
    };
    let mut names = PartnerNames::new(client.clone(), *distributor);
    let mut writer = RowWriter::<UsageReportRow, _>::new(output.format, out)?;
    let mut pages = pin!(client.usage_report_pages(distributor, &filter));
    while let Some(page) = pages.try_next().await? {
        let mut rows = Vec::with_capacity(page.items.len());
        for report in &page.items {
            let partner_name = names.of_resource(&report.name).await?;
            rows.push(UsageReportRow::new(report, partner_name));
        }
        writer.write_page(&rows)?;
    }
    writer.finish()?;
    Ok(())
}

async fn billing_reports(
    client: &BillingClient,
    distributor: &DistributorId,
    args: BillingReportsArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let ReportFilterArgs {
        partner,
        month,
        product,
        output,
    } = args.filter;
    let filter = BillingReportFilter {
        partner: find_partner(client, distributor, partner.as_deref()).await?,
        month,
        statuses: args.status,
        product,
    };
    let mut names = PartnerNames::new(client.clone(), *distributor);
    let mut writer = RowWriter::<BillingReportRow, _>::new(output.format, out)?;
    let mut pages = pin!(client.billing_report_pages(distributor, &filter));
    while let Some(page) = pages.try_next().await? {
        let mut rows = Vec::with_capacity(page.items.len());
        for report in &page.items {
            let partner_name = names.of_resource(&report.partner).await?;
            rows.push(BillingReportRow::new(report, partner_name));
        }
        writer.write_page(&rows)?;
    }
    writer.finish()?;
    Ok(())
}

async fn dashboard(
    client: &BillingClient,
    distributor: &DistributorId,
    args: &DashboardArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let granularity = if args.quarterly {
        Granularity::Quarterly
    } else {
        Granularity::Monthly
    };
    let figures = client.dashboard(distributor, granularity).await?;
    let display_name = client
        .organization_display_name(&distributor.organization())
        .await?;
    let view = DashboardView::new(&figures, display_name);
    match args.format {
        DashboardFormat::Table => write_dashboard_table(out, &view)?,
        DashboardFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &view)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

async fn partners(
    client: &BillingClient,
    distributor: &DistributorId,
    args: PartnersArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let filter = PartnerFilter {
        statuses: args.status,
        partner_type: args.partner_type,
        region: args.region,
        order_by: args.order_by,
        ..PartnerFilter::default()
    };
    let mut names = PartnerNames::new(client.clone(), *distributor);
    let mut writer = RowWriter::<PartnerRow, _>::new(args.output.format, out)?;
    let mut pages = pin!(client.partner_pages(distributor, &filter));
    while let Some(page) = pages.try_next().await? {
        let mut rows = Vec::with_capacity(page.items.len());
        for partner in &page.items {
            let display_name = names.of_resource(&partner.name).await?;
            rows.push(PartnerRow::new(partner, display_name));
        }
        writer.write_page(&rows)?;
    }
    writer.finish()?;
    Ok(())
}

async fn search(
    client: &BillingClient,
    distributor: &DistributorId,
    args: &SearchArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let matches = client
        .search_accounts(distributor, &args.query, args.limit)
        .await?;
    let rows: Vec<AccountRow> = matches.iter().map(AccountRow::from).collect();
    write_all(args.output.format, &rows, out)
}

async fn drops(
    client: &BillingClient,
    distributor: &DistributorId,
    args: &DropsArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let products = match &args.product {
        Some(product) => vec![crate::ProductDrops {
            product: product.clone(),
            drops: client.chargeable_drops(distributor, product).await?,
        }],
        None => client.all_chargeable_drops(distributor).await?,
    };
    let mut names = PartnerNames::new(client.clone(), *distributor);
    let mut rows = Vec::new();
    for product in &products {
        for drop in &product.drops {
            let partner_name = names.of_resource(&drop.partner).await?;
            rows.push(ChargeableDropRow::new(drop, &product.product, partner_name));
        }
    }
    write_all(args.output.format, &rows, out)
}

async fn inactive_partners(
    client: &BillingClient,
    distributor: &DistributorId,
    args: &FormatArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let partners = client.inactive_new_partners(distributor).await?;
    let mut names = PartnerNames::new(client.clone(), *distributor);
    let mut rows = Vec::with_capacity(partners.len());
    for partner in &partners {
        let display_name = names.of_resource(&partner.name).await?;
        rows.push(PartnerRow::new(partner, display_name));
    }
    write_all(args.format, &rows, out)
}

/// Writes rows that came in one answer.
fn write_all<R: Row>(format: Format, rows: &[R], out: &mut impl Write) -> anyhow::Result<()> {
    let mut writer = RowWriter::<R, _>::new(format, out)?;
    writer.write_page(rows)?;
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISTRIBUTOR: &str = "distributors/0192f3c4-5b6a-7c8d-9e0f-112233445566";

    fn parse(arguments: &[&str]) -> Result<Cli, clap::Error> {
        let base = [
            "estate-billing",
            "--api-key",
            "k",
            "--distributor",
            DISTRIBUTOR,
        ];
        Cli::try_parse_from(base.iter().chain(arguments))
    }

    #[test]
    fn report_filters_are_typed_when_parsed() {
        let cli = parse(&[
            "usage-reports",
            "--month",
            "2026-10",
            "--status",
            "under-review,approved",
            "--status",
            "rejected",
            "--partner",
            "Contoso MSP",
            "--format",
            "csv",
        ])
        .unwrap();
        assert_eq!(cli.endpoint, DEFAULT_ENDPOINT);
        let Command::UsageReports(args) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!(
            args.status,
            [
                UsageReportStatus::UnderReview,
                UsageReportStatus::Approved,
                UsageReportStatus::Rejected
            ]
        );
        assert_eq!(args.filter.month.unwrap().to_string(), "2026-10");
        assert_eq!(args.filter.partner.as_deref(), Some("Contoso MSP"));
        assert_eq!(args.filter.output.format, Format::Csv);
    }

    #[test]
    fn malformed_filters_are_refused_before_any_call() {
        for arguments in [
            &["usage-reports", "--month", "2026-13"][..],
            &["usage-reports", "--status", "approvedd"],
            &["billing-reports", "--status", "approved"],
            &["dashboard", "--format", "csv"],
            &["search", "x", "--limit", "0"],
        ] {
            assert!(parse(arguments).is_err(), "{arguments:?}");
        }
        let unknown = Cli::try_parse_from([
            "estate-billing",
            "--api-key",
            "k",
            "--distributor",
            "customers/x",
            "dashboard",
        ]);
        assert!(unknown.is_err());
    }

    #[test]
    fn the_distributor_may_be_named_as_an_organization() {
        let cli = Cli::try_parse_from([
            "estate-billing",
            "--api-key",
            "k",
            "--distributor",
            "organizations/0192f3c4-5b6a-7c8d-9e0f-112233445566",
            "drops",
        ])
        .unwrap();
        assert_eq!(cli.distributor.name(), DISTRIBUTOR);
    }
}
