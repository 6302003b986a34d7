//! SPEC section 3, the distributor dashboard: every figure against a
//! hand-computed fixture with the clock pinned to 2026-11-23 (the 30-day
//! edge, the year-over-year months, the drop threshold edge), each with
//! the call that lists its records.

use estate_e2e::with_key;
use estate_proto::billing::dashboard_service_client::DashboardServiceClient;
use estate_proto::billing::reports_service_client::ReportsServiceClient;
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{
    DistributorDashboard, Figure, GetDistributorDashboardRequest, Granularity, LicenseType,
    ListChargeableDropsRequest, ListInactiveNewPartnersRequest, PartnerStatus, PartnerType,
    PrepareUsageReportsRequest, ProductLicenseStatus, SearchAccountsRequest, UsageReportStatus,
};
use estate_proto::billing::{
    ServicePlan, SetCustomerAccountEnabledRequest, UpdateServicePlanRequest,
};
use tonic::Code;

use crate::assert_code;
use crate::billing::Distribution;

fn count(figure: &Option<Figure>) -> i64 {
    figure.as_ref().expect("a figure").count
}

async fn dashboard(
    world: &Distribution,
    granularity: Granularity,
    key: &str,
) -> Result<DistributorDashboard, tonic::Status> {
    DashboardServiceClient::new(world.channel.clone())
        .get_distributor_dashboard(with_key(
            GetDistributorDashboardRequest {
                name: format!("{}/dashboard", world.parent()),
                acquisition_granularity: granularity.into(),
            },
            key,
        ))
        .await
        .map(tonic::Response::into_inner)
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
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["enabled".into()],
                }),
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
        ReportsServiceClient::new(world.channel.clone())
            .prepare_usage_reports(with_key(
                PrepareUsageReportsRequest {
                    parent: world.parent(),
                    month: month.into(),
                },
                &world.distributor_key,
            ))
            .await
            .unwrap();
    }

    let board = dashboard(&world, Granularity::Monthly, &world.distributor_key)
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
    let preparing = board
        .usage_reports_by_status
        .iter()
        .find(|figure| figure.status() == UsageReportStatus::Preparing)
        .unwrap();
    assert_eq!(count(&preparing.usage_reports), 4);
    assert!(board.billing_reports_shown);
    assert_eq!(board.billing_reports_by_status.len(), 8);
    assert!(
        board
            .billing_reports_by_status
            .iter()
            .all(|f| count(&f.billing_reports) == 0)
    );

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
    let quarterly = dashboard(&world, Granularity::Quarterly, &world.distributor_key)
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
        dashboard(&world, Granularity::Monthly, &other_key).await,
        Code::PermissionDenied,
    );
}
