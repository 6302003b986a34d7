//! SPEC section 3, the distributor dashboard: every figure against a
//! hand-computed fixture with the clock pinned to 2026-11-23 (the 30-day
//! edge, the year-over-year months, the drop threshold edge), each with
//! the call that lists its records.

use estate_e2e::{mask, with_key};
use estate_proto::billing::dashboard_service_client::DashboardServiceClient;
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{
    ApproveUsageReportRequest, BillingReport, BillingReportStatus, BillingSettings,
    DistributorDashboard, Granularity, LicenseType, ListChargeableDropsRequest,
    ListInactiveNewPartnersRequest, PartnerStatus, PartnerType, ProductLicenseStatus,
    RejectUsageReportRequest, SearchAccountsRequest, SubmitBillingReportRequest,
    SubmitUsageReportRequest, UpdateBillingReportRequest, UpdateBillingSettingsRequest,
    UsageReportStatus, UsageReportSummary,
};
use estate_proto::billing::{
    ServicePlan, SetCustomerAccountEnabledRequest, UpdateServicePlanRequest,
};
use estate_proto::common::Money;
use tonic::Code;

use crate::assert_code;
use crate::billing::{Distribution, count};
use crate::billing_reports::{billing_reports, october, prepare, reports};

/// (status, count) of every usage report status figure, in order.
fn usage_report_counts(board: &DistributorDashboard) -> Vec<(UsageReportStatus, i64)> {
    board
        .usage_reports_by_status
        .iter()
        .map(|figure| (figure.status(), count(&figure.usage_reports)))
        .collect()
}

/// (status, count) of every billing report status figure, in order.
fn billing_report_counts(board: &DistributorDashboard) -> Vec<(BillingReportStatus, i64)> {
    board
        .billing_reports_by_status
        .iter()
        .map(|figure| (figure.status(), count(&figure.billing_reports)))
        .collect()
}

/// Every billing report status with its count, zero unless in `counts`.
fn every_billing_status(counts: &[(BillingReportStatus, i64)]) -> Vec<(BillingReportStatus, i64)> {
    use BillingReportStatus::*;
    [
        Preparing,
        UnderReviewManual,
        UnderReviewAutomatic,
        UnderReviewAutomaticWithPenalties,
        Returned,
        Rejected,
        Submitted,
        Completed,
    ]
    .into_iter()
    .map(|status| {
        let count = counts
            .iter()
            .find(|(counted, _)| *counted == status)
            .map_or(0, |(_, count)| *count);
        (status, count)
    })
    .collect()
}

#[tokio::test]
async fn every_dashboard_figure_matches_the_hand_computed_fixture() {
    let world = Distribution::build().await;
    let plan = world.plan("Full", LicenseType::Full, false).await;
    // Today is 2026-11-23: "the last 30 days" start on 2026-10-24, "new"
    // partners were acquired on or after 2026-08-25.
    let alpha = world
        .partner("Alpha Networks", PartnerType::Msp, "2026-11-01")
        .await;
    let beta = world
        .partner("Beta Systems", PartnerType::Msp, "2025-11-10")
        .await;
    let gamma = world
        .partner("Gamma Net", PartnerType::Reseller, "2026-01-31")
        .await;
    let delta = world
        .partner("Delta IT", PartnerType::Msp, "2026-10-24")
        .await;
    let epsilon = world
        .partner("Epsilon", PartnerType::Msp, "2026-10-23")
        .await;
    world
        .transition(&epsilon, PartnerStatus::Suspended)
        .await
        .unwrap();
    // Active, never sold anything, but acquired long ago: not "new".
    world.partner("Zeta", PartnerType::Msp, "2024-06-01").await;
    // A disabled customer and a disabled plan are not counted.
    let alpha_customer = world.customer(&alpha, "Alpha client").await;
    world
        .partners()
        .set_customer_account_enabled(with_key(
            SetCustomerAccountEnabledRequest {
                name: alpha_customer.name.clone(),
                enabled: false,
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();
    let retired = world.plan("Retired", LicenseType::Full, false).await;
    ServicePlansServiceClient::new(world.channel.clone())
        .update_service_plan(with_key(
            UpdateServicePlanRequest {
                service_plan: Some(ServicePlan {
                    name: retired.name.clone(),
                    enabled: false,
                    ..Default::default()
                }),
                update_mask: estate_e2e::mask(&["enabled"]),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();
    // Beta and Gamma: 100 seats since September; September's peak use 100,
    // October's 80 (a 20% drop: at the threshold, not beyond) and 79 (21%).
    for (partner, october) in [(&beta, 80), (&gamma, 79)] {
        let customer = world
            .customer(partner, &format!("{} client", partner.region))
            .await;
        world
            .sell(&customer, &plan, 100, "2026-09-01")
            .await
            .unwrap();
        let key = partner.name.rsplit('/').next().unwrap().to_string();
        world
            .report(&customer, "2026-09-15", 100, &format!("{key}-sep"))
            .await
            .unwrap();
        world
            .report(&customer, "2026-10-15", october, &format!("{key}-oct"))
            .await
            .unwrap();
    }
    // Delta sold a full license after its acquisition: not inactive.
    let delta_customer = world.customer(&delta, "Delta client").await;
    world
        .sell(&delta_customer, &plan, 5, "2026-11-01")
        .await
        .unwrap();
    // Two licenses, one customer.
    world
        .sell(&delta_customer, &plan, 1, "2026-11-01")
        .await
        .unwrap();
    for month in ["2026-09", "2026-10"] {
        prepare(&world, month).await;
    }

    let board = world
        .dashboard(Granularity::Monthly, &world.distributor_key)
        .await
        .unwrap();
    assert_eq!(board.as_of, "2026-11-23");
    assert_eq!(count(&board.enabled_customers), 3);
    assert_eq!(count(&board.active_partners), 5, "Epsilon is suspended");
    assert_eq!(count(&board.enabled_service_plans), 1);
    // Alpha (11-01) and Delta (10-24, the first day of the window); not
    // Epsilon (10-23).
    assert_eq!(count(&board.partners_acquired_last_30_days), 2);
    // Alpha only: Delta sold, Epsilon is suspended, the rest are not new.
    assert_eq!(count(&board.inactive_new_partners), 1);
    let active = board
        .customers_by_license_status
        .iter()
        .find(|figure| figure.status() == ProductLicenseStatus::Active)
        .unwrap();
    assert_eq!(count(&active.customers), 3);
    assert_eq!(board.customers_by_license_status.len(), 5);
    // Beta's and Gamma's September and October reports, all preparing;
    // none approved, so no billing report.
    assert!(board.usage_reports_shown);
    assert_eq!(
        usage_report_counts(&board),
        [
            (UsageReportStatus::Preparing, 4),
            (UsageReportStatus::UnderReview, 0),
            (UsageReportStatus::Approved, 0),
            (UsageReportStatus::Rejected, 0),
        ]
    );
    assert!(board.billing_reports_shown);
    assert_eq!(billing_report_counts(&board), every_billing_status(&[]));

    // Year over year by month: 2026 has January (Gamma), October (Delta,
    // Epsilon) and November (Alpha); 2025 has November (Beta).
    assert_eq!(board.acquisition_year, 2026);
    let months: Vec<(i32, i64, i64)> = board
        .new_partner_acquisition
        .iter()
        .map(|period| {
            (
                period.period,
                count(&period.this_year),
                count(&period.previous_year),
            )
        })
        .filter(|(_, this, previous)| *this + *previous > 0)
        .collect();
    assert_eq!(months, [(1, 1, 0), (10, 2, 0), (11, 1, 1)]);
    let october = &board.new_partner_acquisition[9];
    let list = october.this_year.as_ref().unwrap().list.as_ref().unwrap();
    assert_eq!(
        list.method,
        "estate.billing.v1.PartnersService/ListPartners"
    );
    assert!(
        list.request_json
            .contains("\"acquired_on_or_before\":\"2026-10-31\""),
        "{list:?}"
    );
    let quarterly = world
        .dashboard(Granularity::Quarterly, &world.distributor_key)
        .await
        .unwrap();
    let quarters: Vec<(i64, i64)> = quarterly
        .new_partner_acquisition
        .iter()
        .map(|period| (count(&period.this_year), count(&period.previous_year)))
        .collect();
    assert_eq!(quarters, [(1, 0), (0, 0), (0, 0), (3, 1)]);

    // Drops beyond 20%: Gamma, not Beta (exactly 20%).
    assert_eq!(board.chargeable_drop_threshold_percent, 20);
    assert_eq!(board.chargeable_drops.len(), 1);
    assert_eq!(board.chargeable_drops[0].product, "sam-core");
    assert_eq!(count(&board.chargeable_drops[0].partners), 1);
    let mut dashboards = DashboardServiceClient::new(world.channel.clone());
    let drops = dashboards
        .list_chargeable_drops(with_key(
            ListChargeableDropsRequest {
                parent: world.parent(),
                product: "sam-core".into(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .drops;
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].partner, gamma.name);
    assert_eq!(
        (
            drops[0].previous_chargeable_units,
            drops[0].chargeable_units,
            drops[0].drop_percent
        ),
        (100, 79, 21)
    );
    // The platform lowers this distributor's threshold to 19%: Beta's drop
    // of exactly 20% now counts too.
    reports(&world)
        .update_billing_settings(with_key(
            UpdateBillingSettingsRequest {
                settings: Some(BillingSettings {
                    name: format!("{}/billingSettings", world.parent()),
                    chargeable_drop_threshold_percent: 19,
                    ..Default::default()
                }),
                update_mask: mask(&["chargeable_drop_threshold_percent"]),
                etag: String::new(),
            },
            &world.platform.admin_key,
        ))
        .await
        .unwrap();
    let mut lowered: Vec<(String, i64)> = dashboards
        .list_chargeable_drops(with_key(
            ListChargeableDropsRequest {
                parent: world.parent(),
                product: "sam-core".into(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .drops
        .into_iter()
        .map(|drop| (drop.partner, drop.drop_percent))
        .collect();
    lowered.sort();
    let mut expected = vec![(beta.name.clone(), 20), (gamma.name.clone(), 21)];
    expected.sort();
    assert_eq!(lowered, expected);
    let lowered_board = world
        .dashboard(Granularity::Monthly, &world.distributor_key)
        .await
        .unwrap();
    assert_eq!(lowered_board.chargeable_drop_threshold_percent, 19);
    assert_eq!(count(&lowered_board.chargeable_drops[0].partners), 2);
    let inactive = dashboards
        .list_inactive_new_partners(with_key(
            ListInactiveNewPartnersRequest {
                parent: world.parent(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .partners;
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0].name, alpha.name);

    // Search: by prefix first, then by substring, partners and customers.
    let search = |query: &str| {
        let mut client = dashboards.clone();
        let request = with_key(
            SearchAccountsRequest {
                parent: world.parent(),
                query: query.into(),
                page_size: 0,
            },
            &world.distributor_key,
        );
        async move {
            client
                .search_accounts(request)
                .await
                .unwrap()
                .into_inner()
                .matches
                .into_iter()
                .map(|found| (found.display_name, found.prefix, found.partner))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("NET").await,
        [
            ("Alpha Networks".to_string(), false, true),
            ("Gamma Net".to_string(), false, true)
        ]
    );
    // Starts-with matches come before contains matches.
    let e = search("e").await;
    assert!(e[0].1, "{e:?}");
    assert!(e.iter().any(|(_, prefix, _)| !prefix), "{e:?}");
    let first_contains = e.iter().position(|(_, prefix, _)| !prefix).unwrap();
    assert!(
        e[first_contains..].iter().all(|(_, prefix, _)| !prefix),
        "{e:?}"
    );
    assert_eq!(
        search("delta").await,
        [
            ("Delta client".to_string(), true, false),
            ("Delta IT".to_string(), true, true)
        ]
    );

    // Another distributor sees none of it.
    let other = world
        .platform
        .create_organization(
            "",
            estate_proto::common::OrganizationKind::Distributor,
            "Other",
        )
        .await
        .unwrap();
    let other_key = world
        .platform
        .create_api_key(&other.name, &["admin"])
        .await
        .unwrap();
    assert_code(
        world.dashboard(Granularity::Monthly, &other_key).await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn report_figures_count_every_status_and_the_settings_hide_each_screen() {
    let world = Distribution::build().await;
    // Five partners, each with a report for October and one for November
    // (10 seats; 10 used in October, 50 in November: none is
    // over-provisioned, so each is submitted without a comment).
    let mut partners = Vec::new();
    for name in ["P1", "P2", "P3", "P4", "P5"] {
        let (key, customer) = october(&world, name, 10).await;
        let partner = customer.name.split("/customers/").next().unwrap();
        partners.push((key, format!("{partner}/")));
    }
    let mut prepared = prepare(&world, "2026-10").await;
    prepared.extend(prepare(&world, "2026-11").await);
    assert_eq!(prepared.len(), 10, "{prepared:?}");
    let (october_of, november_of) = {
        let of = |partner: usize, month: &str| -> UsageReportSummary {
            prepared
                .iter()
                .find(|report| {
                    report.name.starts_with(&partners[partner].1) && report.month == month
                })
                .unwrap()
                .clone()
        };
        (
            (0..5)
                .map(|partner| of(partner, "2026-10"))
                .collect::<Vec<_>>(),
            (0..5)
                .map(|partner| of(partner, "2026-11"))
                .collect::<Vec<_>>(),
        )
    };
    let submit = |partner: usize, report: &UsageReportSummary| {
        let request = with_key(
            SubmitUsageReportRequest {
                name: report.name.clone(),
                etag: String::new(),
            },
            &partners[partner].0,
        );
        let mut client = reports(&world);
        async move {
            let submitted = client.submit_usage_report(request).await.unwrap();
            assert_eq!(submitted.get_ref().status(), UsageReportStatus::UnderReview);
        }
    };
    let approve = |report: &UsageReportSummary| {
        let request = with_key(
            ApproveUsageReportRequest {
                name: report.name.clone(),
                etag: String::new(),
            },
            &world.distributor_key,
        );
        let mut client = reports(&world);
        async move {
            client.approve_usage_report(request).await.unwrap();
        }
    };
    let reject = |report: &UsageReportSummary| {
        let request = with_key(
            RejectUsageReportRequest {
                name: report.name.clone(),
                etag: String::new(),
                comment: "recount".into(),
            },
            &world.distributor_key,
        );
        let mut client = reports(&world);
        async move {
            client.reject_usage_report(request).await.unwrap();
        }
    };
    // Approved: four (P1's and P2's); rejected: three (P3's, P4's
    // October); under review: two (P4's November, P5's October);
    // preparing: one (P5's November).
    for partner in 0..5 {
        for report in [&october_of[partner], &november_of[partner]] {
            if partner == 4 && report.month == "2026-11" {
                continue;
            }
            submit(partner, report).await;
        }
    }
    for report in [
        &october_of[0],
        &november_of[0],
        &october_of[1],
        &november_of[1],
    ] {
        approve(report).await;
    }
    for report in [&october_of[2], &november_of[2], &october_of[3]] {
        reject(report).await;
    }

    // The four approved reports made four billing reports: one is
    // submitted for review, three stay preparing.
    let billing = billing_reports(&world).await;
    assert_eq!(billing.len(), 4, "{billing:?}");
    let under_review = &billing[0];
    reports(&world)
        .update_billing_report(with_key(
            UpdateBillingReportRequest {
                billing_report: Some(BillingReport {
                    name: under_review.name.clone(),
                    po_number: "PO-1".into(),
                    unit_price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: 100,
                    }),
                    ..Default::default()
                }),
                update_mask: mask(&["po_number", "unit_price"]),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();
    reports(&world)
        .submit_billing_report(with_key(
            SubmitBillingReportRequest {
                name: under_review.name.clone(),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();

    let board = world
        .dashboard(Granularity::Monthly, &world.distributor_key)
        .await
        .unwrap();
    let usage_counts = [
        (UsageReportStatus::Preparing, 1),
        (UsageReportStatus::UnderReview, 2),
        (UsageReportStatus::Approved, 4),
        (UsageReportStatus::Rejected, 3),
    ];
    let billing_counts = every_billing_status(&[
        (BillingReportStatus::Preparing, 3),
        (BillingReportStatus::UnderReviewManual, 1),
    ]);
    assert!(board.usage_reports_shown);
    assert_eq!(usage_report_counts(&board), usage_counts);
    assert!(board.billing_reports_shown);
    assert_eq!(billing_report_counts(&board), billing_counts);
    // Each figure lists the reports of its own status.
    for figure in &board.usage_reports_by_status {
        let list = figure
            .usage_reports
            .as_ref()
            .unwrap()
            .list
            .as_ref()
            .unwrap();
        assert_eq!(
            list.method,
            "estate.billing.v1.ReportsService/ListUsageReports"
        );
        assert!(
            list.request_json
                .contains(&format!("\"{}\"", figure.status().as_str_name())),
            "{list:?}"
        );
    }
    for figure in &board.billing_reports_by_status {
        let list = figure
            .billing_reports
            .as_ref()
            .unwrap()
            .list
            .as_ref()
            .unwrap();
        assert_eq!(
            list.method,
            "estate.billing.v1.ReportsService/ListBillingReports"
        );
        assert!(
            list.request_json
                .contains(&format!("\"{}\"", figure.status().as_str_name())),
            "{list:?}"
        );
    }

    // The platform turns the distributor's usage reports screen off: its
    // figures go, the billing ones stay.
    let settings = |usage: bool, billing: bool, paths: &[&str]| {
        with_key(
            UpdateBillingSettingsRequest {
                settings: Some(BillingSettings {
                    name: format!("{}/billingSettings", world.parent()),
                    usage_reports_screen: usage,
                    billing_reports_screen: billing,
                    ..Default::default()
                }),
                update_mask: mask(paths),
                etag: String::new(),
            },
            &world.platform.admin_key,
        )
    };
    let saved = reports(&world)
        .update_billing_settings(settings(false, true, &["usage_reports_screen"]))
        .await
        .unwrap()
        .into_inner();
    assert!(!saved.usage_reports_screen && saved.billing_reports_screen);
    let board = world
        .dashboard(Granularity::Monthly, &world.distributor_key)
        .await
        .unwrap();
    assert!(!board.usage_reports_shown);
    assert!(board.usage_reports_by_status.is_empty(), "{board:?}");
    assert!(board.billing_reports_shown);
    assert_eq!(billing_report_counts(&board), billing_counts);
    assert_eq!(count(&board.active_partners), 5, "the other figures stay");

    // Only the billing screen off: the reverse.
    reports(&world)
        .update_billing_settings(settings(
            true,
            false,
            &["usage_reports_screen", "billing_reports_screen"],
        ))
        .await
        .unwrap();
    let board = world
        .dashboard(Granularity::Monthly, &world.distributor_key)
        .await
        .unwrap();
    assert!(board.usage_reports_shown);
    assert_eq!(usage_report_counts(&board), usage_counts);
    assert!(!board.billing_reports_shown);
    assert!(board.billing_reports_by_status.is_empty(), "{board:?}");

    // Both off: neither.
    reports(&world)
        .update_billing_settings(settings(false, false, &["usage_reports_screen"]))
        .await
        .unwrap();
    let board = world
        .dashboard(Granularity::Monthly, &world.distributor_key)
        .await
        .unwrap();
    assert!(!board.usage_reports_shown && !board.billing_reports_shown);
    assert!(board.usage_reports_by_status.is_empty(), "{board:?}");
    assert!(board.billing_reports_by_status.is_empty(), "{board:?}");
    assert_eq!(count(&board.active_partners), 5);
    // The setting governs the lists behind the figures too: the
    // distributor's users get neither; platform administrators still do.
    let client = reports(&world);
    let usage_list = |key: &str| {
        let mut client = client.clone();
        let request = with_key(
            estate_proto::billing::ListUsageReportsRequest {
                parent: format!("{}/partners/-", world.parent()),
                ..Default::default()
            },
            key,
        );
        async move { client.list_usage_reports(request).await }
    };
    let billing_list = |key: &str| {
        let mut client = client.clone();
        let request = with_key(
            estate_proto::billing::ListBillingReportsRequest {
                parent: world.parent(),
                ..Default::default()
            },
            key,
        );
        async move { client.list_billing_reports(request).await }
    };
    for status in [
        assert_code(
            usage_list(&world.distributor_key).await,
            Code::FailedPrecondition,
        ),
        assert_code(
            billing_list(&world.distributor_key).await,
            Code::FailedPrecondition,
        ),
    ] {
        assert!(status.message().contains("screen"), "{status:?}");
    }
    usage_list(&world.platform.admin_key).await.unwrap();
    billing_list(&world.platform.admin_key).await.unwrap();
}
