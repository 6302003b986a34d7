//! The demo `deploy/local/run.sh` loads: it loads through the gateway,
//! loading it again changes nothing, and its billing side shows what the
//! README says it shows (the worker finishing what the demo left).

use std::time::Duration;

use estate_e2e::{Options, Platform, pinned_now, with_key};
use estate_launcher::demo;
use estate_proto::billing::reports_service_client::ReportsServiceClient;
use estate_proto::billing::{
    BillingReportStatus, Granularity, ListBillingReportsRequest, ListUsageReportsRequest,
    ProductLicenseStatus, UsageReportStatus,
};
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

#[tokio::test]
async fn the_demo_loads_twice_into_the_same_data_and_shows_every_billing_figure() {
    let platform = Platform::spawn_with(Options {
        auto_submit_poll_interval: Duration::from_millis(50),
        ..Options::default()
    })
    .await
    .unwrap();
    let endpoint = platform.gateway.url();
    let key = platform.admin_key.clone();
    let first = demo::load(&endpoint, &key, pinned_now()).await.unwrap();
    let distributor = first.distributor_account();
    let channel = platform.gateway_channel().await.unwrap();

    // The clock is pinned to 2026-11-23: the reports are September's and
    // October's. The worker auto-submits October's SAM Core report, left
    // over-provisioned without a comment, flags it and charges the 290
    // provisioned seats.
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
                "2026-10".into(),
                demo::CLOUD_BACKUP.into(),
                UnderReview,
                20,
                false
            ),
            (
                "2026-10".into(),
                demo::SAM_CORE.into(),
                UnderReview,
                290,
                true
            ),
            (
                "2026-09".into(),
                demo::CLOUD_BACKUP.into(),
                Approved,
                26,
                false
            ),
            (
                "2026-09".into(),
                demo::SAM_CORE.into(),
                Approved,
                251,
                false
            ),
        ]
    );

    // Loading again changes nothing.
    let second = demo::load(&endpoint, &key, pinned_now()).await.unwrap();
    assert_eq!(
        (&second.distributor, &second.partner, &second.customer),
        (&first.distributor, &first.partner, &first.customer)
    );
    assert_eq!(usage_reports(&channel, &distributor, &key).await, reports);

    let billing: Vec<_> = ReportsServiceClient::new(channel.clone())
        .list_billing_reports(with_key(
            ListBillingReportsRequest {
                parent: distributor.clone(),
                month: "2026-09".into(),
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
    // Litware outgrew its 40 seats; Tailspin is on a trial.
    assert_eq!(customers(ProductLicenseStatus::ExceededAllocation), Some(1));
    assert_eq!(customers(ProductLicenseStatus::Trial), Some(1));
    // Adatum and Wide World: a license has one status, and Litware's is
    // exceeded.
    assert_eq!(customers(ProductLicenseStatus::Active), Some(2));
    // Contoso's backup fell from 26 TB to 20 TB: 23%, beyond the 20%.
    let drops: Vec<_> = board
        .chargeable_drops
        .iter()
        .map(|drop| (drop.product.as_str(), count(&drop.partners)))
        .collect();
    assert!(drops.contains(&(demo::CLOUD_BACKUP, 1)), "{drops:?}");
    assert!(drops.contains(&(demo::SAM_CORE, 0)), "{drops:?}");
}
