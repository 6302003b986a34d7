//! Issue 6, programmatic access: the typed billing client follows every
//! page, its filters select what the service (or, for billing reports'
//! partner and product, the client) should, another distributor's key is
//! refused, and the `estate-billing` command line exports a known fixture
//! as exact CSV and JSON.

use std::collections::BTreeMap;

use estate_billing_client::cli::{Cli, run};
use estate_billing_client::{
    BillingClient, BillingReportFilter, DistributorId, Month, PartnerId, UsageReportFilter,
};
use estate_e2e::{mask, with_key};
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{
    ApproveUsageReportRequest, BillingReport, BillingReportStatus, CreateServicePlanRequest,
    LicenseType, Partner, PartnerType, ServicePlan, SubmitUsageReportRequest,
    UpdateBillingReportRequest, UsageReportStatus, UsageReportSummary,
};
use estate_proto::common::Money;
use tokio_stream::StreamExt as _;
use tonic::Code;

use crate::billing::Distribution;
use crate::billing_reports::{prepare, reports};

/// The pinned clock's instant, as the rows print it.
const NOW: &str = "2026-11-23T12:00:00Z";

/// Three partners with one customer each, licensed since September 2026,
/// with usage in September and October, and both months' usage reports
/// prepared: eight reports (Contoso has two products). Woodgrove's
/// September report is under review; Fabrikam's October report is approved
/// and its billing report priced.
struct Fixture {
    world: Distribution,
    contoso: Partner,
    fabrikam: Partner,
    woodgrove: Partner,
}

impl Fixture {
    async fn build() -> Self {
        let world = Distribution::build().await;
        let sam = world
            .plan("SAM Core — 12 months", LicenseType::Full, false)
            .await;
        let backup = plan_of(&world, "Backup Vault", "backup-vault").await;
        let contoso = world
            .partner("Contoso MSP", PartnerType::Msp, "2026-03-01")
            .await;
        let fabrikam = world
            .partner("Fabrikam Reseller", PartnerType::Reseller, "2026-04-01")
            .await;
        let woodgrove = world
            .partner("Woodgrove MSP", PartnerType::Msp, "2026-05-01")
            .await;
        // (partner, customer, seats, September's use, October's use)
        for (partner, customer, seats, september, october) in [
            (&contoso, "Adatum", 10, 10, 8),
            (&fabrikam, "Litware", 20, 20, 20),
            (&woodgrove, "Tailspin", 4, 4, 3),
        ] {
            let account = world.customer(partner, customer).await;
            world
                .sell(&account, &sam, seats, "2026-09-01")
                .await
                .unwrap();
            for (day, used) in [("2026-09-15", september), ("2026-10-15", october)] {
                world
                    .report(&account, day, used, &format!("{customer}-{day}"))
                    .await
                    .unwrap();
            }
            if customer == "Adatum" {
                // Licensed, never reported: charged on provisioned units.
                world
                    .sell(&account, &backup, 5, "2026-09-01")
                    .await
                    .unwrap();
            }
        }
        let mut prepared = prepare(&world, "2026-09").await;
        prepared.extend(prepare(&world, "2026-10").await);
        assert_eq!(prepared.len(), 8, "{prepared:?}");

        let report_of = |partner: &Partner, month: &str| {
            prepared
                .iter()
                .find(|report| report.name.starts_with(&partner.name) && report.month == month)
                .unwrap()
                .name
                .clone()
        };
        let woodgrove_key = partner_key(&world, &woodgrove).await;
        submit(&world, &report_of(&woodgrove, "2026-09"), &woodgrove_key).await;
        let fabrikam_key = partner_key(&world, &fabrikam).await;
        let approved = report_of(&fabrikam, "2026-10");
        submit(&world, &approved, &fabrikam_key).await;
        reports(&world)
            .approve_usage_report(with_key(
                ApproveUsageReportRequest {
                    name: approved,
                    etag: String::new(),
                },
                &world.distributor_key,
            ))
            .await
            .unwrap();
        let billing = BillingClient::connect(&world.platform.gateway.url(), &world.distributor_key)
            .await
            .unwrap()
            .all_billing_reports(&distributor(&world), &BillingReportFilter::default())
            .await
            .unwrap();
        assert_eq!(billing.len(), 1);
        reports(&world)
            .update_billing_report(with_key(
                UpdateBillingReportRequest {
                    billing_report: Some(BillingReport {
                        name: billing[0].name.clone(),
                        po_number: "PO-2026-10".into(),
                        unit_price: Some(Money {
                            currency_code: "EUR".into(),
                            amount_minor: 1234,
                        }),
                        channel_margin_basis_points: 1450,
                        ..Default::default()
                    }),
                    update_mask: mask(&["po_number", "unit_price", "channel_margin_basis_points"]),
                    etag: String::new(),
                },
                &world.distributor_key,
            ))
            .await
            .unwrap();
        Self {
            world,
            contoso,
            fabrikam,
            woodgrove,
        }
    }

    /// The distributor's client, asking for pages of `page_size`.
    async fn client(&self, page_size: i32) -> BillingClient {
        BillingClient::connect(
            &self.world.platform.gateway.url(),
            &self.world.distributor_key,
        )
        .await
        .unwrap()
        .with_page_size(page_size)
    }

    fn distributor(&self) -> DistributorId {
        distributor(&self.world)
    }

    /// Which fixture partner a report name belongs to.
    fn partner_of(&self, name: &str) -> &'static str {
        [
            (&self.contoso, "Contoso"),
            (&self.fabrikam, "Fabrikam"),
            (&self.woodgrove, "Woodgrove"),
        ]
        .into_iter()
        .find(|(partner, _)| name.starts_with(&format!("{}/", partner.name)))
        .map_or("?", |(_, label)| label)
    }
}

fn distributor(world: &Distribution) -> DistributorId {
    world.parent().parse().unwrap()
}

fn partner_id(partner: &Partner) -> PartnerId {
    PartnerId::of_resource(&partner.name).unwrap()
}

/// An enabled full-license plan of `product`.
async fn plan_of(world: &Distribution, name: &str, product: &str) -> ServicePlan {
    ServicePlansServiceClient::new(world.channel.clone())
        .create_service_plan(with_key(
            CreateServicePlanRequest {
                parent: world.parent(),
                service_plan: Some(ServicePlan {
                    display_name: name.into(),
                    product: product.into(),
                    license_type: LicenseType::Full.into(),
                    unit_type: "seat".into(),
                    initial_period_months: 12,
                    expiration_notification_days: 30,
                    enabled: true,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn partner_key(world: &Distribution, partner: &Partner) -> String {
    world
        .platform
        .create_api_key(&partner.organization, &["admin"])
        .await
        .unwrap()
}

async fn submit(world: &Distribution, report: &str, key: &str) {
    reports(world)
        .submit_usage_report(with_key(
            SubmitUsageReportRequest {
                name: report.into(),
                etag: String::new(),
            },
            key,
        ))
        .await
        .unwrap();
}

/// (partner, product, month) → (provisioned, used, chargeable,
/// over-provisioned %, status).
type Figures =
    BTreeMap<(&'static str, String, String), (i64, Option<i64>, i64, i64, UsageReportStatus)>;

fn figures(fixture: &Fixture, reports: &[UsageReportSummary]) -> Figures {
    reports
        .iter()
        .map(|report| {
            (
                (
                    fixture.partner_of(&report.name),
                    report.product.clone(),
                    report.month.clone(),
                ),
                (
                    report.provisioned_units,
                    report.used_units,
                    report.chargeable_units,
                    report.over_provisioned_percent,
                    report.status(),
                ),
            )
        })
        .collect()
}

fn key(partner: &'static str, product: &str, month: &str) -> (&'static str, String, String) {
    (partner, product.to_string(), month.to_string())
}

#[tokio::test]
async fn the_client_follows_every_page_and_each_filter_selects_its_reports() {
    let fixture = Fixture::build().await;
    let distributor = fixture.distributor();
    let client = fixture.client(3).await;
    let everything = UsageReportFilter::default();

    // Every report's name, in order, from one page of the default size
    // (the service's 50): what paging must add up to.
    let one_page = fixture
        .client(0)
        .await
        .usage_reports_page(&distributor, &everything, "")
        .await
        .unwrap();
    assert_eq!(one_page.next_page_token, None);
    let expected_names: Vec<String> = one_page
        .items
        .into_iter()
        .map(|report| report.name)
        .collect();
    assert_eq!(expected_names.len(), 8);
    let mut unique = expected_names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8, "{expected_names:?}");

    // One page at a time: 3, 3, 2, then no token; together every report
    // once, in order.
    let mut token = String::new();
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    loop {
        let page = client
            .usage_reports_page(&distributor, &everything, &token)
            .await
            .unwrap();
        sizes.push(page.items.len());
        names.extend(page.items.into_iter().map(|report| report.name));
        match page.next_page_token {
            Some(next) => token = next,
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 2]);
    assert_eq!(names, expected_names);
    // As a stream of pages.
    let pages: Vec<_> = client
        .usage_report_pages(&distributor, &everything)
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let streamed: Vec<String> = pages
        .into_iter()
        .flat_map(|page| page.items)
        .map(|report| report.name)
        .collect();
    assert_eq!(streamed, expected_names);

    // Every report once, newest month first, with its figures.
    let all = client
        .all_usage_reports(&distributor, &everything)
        .await
        .unwrap();
    let all_names: Vec<&str> = all.iter().map(|report| report.name.as_str()).collect();
    assert_eq!(all_names, expected_names);
    let months: Vec<&str> = all.iter().map(|report| report.month.as_str()).collect();
    assert_eq!(months, [["2026-10"; 4], ["2026-09"; 4]].concat());
    use UsageReportStatus::{Approved, Preparing, UnderReview};
    let expected: Figures = [
        (
            key("Contoso", "sam-core", "2026-09"),
            (10, Some(10), 10, 0, Preparing),
        ),
        (
            key("Contoso", "sam-core", "2026-10"),
            (10, Some(8), 8, 25, Preparing),
        ),
        (
            key("Contoso", "backup-vault", "2026-09"),
            (5, None, 5, 0, Preparing),
        ),
        (
            key("Contoso", "backup-vault", "2026-10"),
            (5, None, 5, 0, Preparing),
        ),
        (
            key("Fabrikam", "sam-core", "2026-09"),
            (20, Some(20), 20, 0, Preparing),
        ),
        (
            key("Fabrikam", "sam-core", "2026-10"),
            (20, Some(20), 20, 0, Approved),
        ),
        (
            key("Woodgrove", "sam-core", "2026-09"),
            (4, Some(4), 4, 0, UnderReview),
        ),
        (
            key("Woodgrove", "sam-core", "2026-10"),
            (4, Some(3), 3, 33, Preparing),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(figures(&fixture, &all), expected);
    // The default page size (the service's 50) returns the same.
    let at_once = fixture
        .client(0)
        .await
        .all_usage_reports(&distributor, &everything)
        .await
        .unwrap();
    assert_eq!(at_once, all);

    // Each filter, across pages.
    let fixture_ref = &fixture;
    let select = |filter: UsageReportFilter| {
        let client = client.clone();
        async move {
            let reports = client
                .all_usage_reports(&distributor, &filter)
                .await
                .unwrap();
            // Sorted by the key.
            figures(fixture_ref, &reports)
                .into_keys()
                .collect::<Vec<_>>()
        }
    };
    let contoso = select(UsageReportFilter {
        partner: Some(partner_id(&fixture.contoso)),
        ..Default::default()
    })
    .await;
    assert_eq!(contoso.len(), 4);
    assert!(contoso.iter().all(|(partner, _, _)| *partner == "Contoso"));
    let october = select(UsageReportFilter {
        month: Some("2026-10".parse::<Month>().unwrap()),
        ..Default::default()
    })
    .await;
    assert_eq!(october.len(), 4);
    assert!(october.iter().all(|(_, _, month)| month == "2026-10"));
    assert_eq!(
        select(UsageReportFilter {
            statuses: vec![UnderReview, Approved],
            ..Default::default()
        })
        .await,
        [
            key("Fabrikam", "sam-core", "2026-10"),
            key("Woodgrove", "sam-core", "2026-09")
        ]
    );
    assert_eq!(
        select(UsageReportFilter {
            product: Some("backup-vault".into()),
            ..Default::default()
        })
        .await,
        [
            key("Contoso", "backup-vault", "2026-09"),
            key("Contoso", "backup-vault", "2026-10")
        ]
    );
    assert_eq!(
        select(UsageReportFilter {
            partner: Some(partner_id(&fixture.woodgrove)),
            month: Some("2026-10".parse().unwrap()),
            statuses: vec![Preparing],
            product: Some("sam-core".into()),
        })
        .await,
        [key("Woodgrove", "sam-core", "2026-10")]
    );

    // Billing reports: month and status by the service, partner and
    // product by the client.
    let billing = |filter: BillingReportFilter| {
        let client = client.clone();
        async move {
            client
                .all_billing_reports(&distributor, &filter)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(billing(BillingReportFilter::default()).await, 1);
    let fabrikam = BillingReportFilter {
        partner: Some(partner_id(&fixture.fabrikam)),
        product: Some("sam-core".into()),
        month: Some("2026-10".parse().unwrap()),
        statuses: vec![BillingReportStatus::Preparing],
    };
    assert_eq!(billing(fabrikam.clone()).await, 1);
    for other in [
        BillingReportFilter {
            partner: Some(partner_id(&fixture.contoso)),
            ..fabrikam.clone()
        },
        BillingReportFilter {
            product: Some("backup-vault".into()),
            ..fabrikam.clone()
        },
        BillingReportFilter {
            month: Some("2026-09".parse().unwrap()),
            ..fabrikam.clone()
        },
        BillingReportFilter {
            statuses: vec![BillingReportStatus::Submitted],
            ..fabrikam.clone()
        },
    ] {
        assert_eq!(billing(other.clone()).await, 0, "{other:?}");
    }

    // A partner found by its display name, whatever its case.
    assert_eq!(
        client
            .find_partner(&distributor, "fabrikam reseller")
            .await
            .unwrap(),
        partner_id(&fixture.fabrikam)
    );
    let unknown = client
        .find_partner(&distributor, "Northwind Traders")
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("no partner named"),
        "{unknown}"
    );
}

#[tokio::test]
async fn another_distributors_key_is_refused_with_permission_denied() {
    let world = Distribution::build().await;
    world
        .partner("Contoso MSP", PartnerType::Msp, "2026-03-01")
        .await;
    let other = world
        .platform
        .create_organization(
            "",
            estate_proto::common::OrganizationKind::Distributor,
            "Other Distribution",
        )
        .await
        .unwrap();
    let other_key = world
        .platform
        .create_api_key(&other.name, &["admin"])
        .await
        .unwrap();
    let client = BillingClient::connect(&world.platform.gateway.url(), &other_key)
        .await
        .unwrap();
    let distributor = distributor(&world);

    let refused = client
        .all_usage_reports(&distributor, &UsageReportFilter::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(Code::PermissionDenied), "{refused:?}");
    let refused = client
        .all_billing_reports(&distributor, &BillingReportFilter::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(Code::PermissionDenied), "{refused:?}");
    let refused = client
        .dashboard(&distributor, Default::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(Code::PermissionDenied), "{refused:?}");

    // The command line fails with the code and the message.
    let error = cli(&world, &other_key, &["usage-reports", "--format", "csv"])
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.starts_with("ListUsageReports: PERMISSION_DENIED: "),
        "{message}"
    );
    // A key that is no key at all.
    let error = cli(&world, "estate_not_a_key", &["partners"])
        .await
        .unwrap_err();
    let status = error
        .downcast_ref::<estate_billing_client::Error>()
        .and_then(estate_billing_client::Error::code);
    assert_eq!(status, Some(Code::Unauthenticated), "{error:#}");
}

/// Runs `estate-billing` against the fixture's gateway as `key`.
async fn cli(world: &Distribution, key: &str, arguments: &[&str]) -> anyhow::Result<String> {
    let endpoint = world.platform.gateway.url();
    let parent = world.parent();
    let mut argv = vec![
        "estate-billing",
        "--endpoint",
        &endpoint,
        "--api-key",
        key,
        "--distributor",
        &parent,
    ];
    argv.extend(arguments);
    let mut out = Vec::new();
    run(Cli::try_from_args(argv)?, &mut out).await?;
    Ok(String::from_utf8(out)?)
}

#[tokio::test]
async fn the_command_line_exports_the_fixture_as_exact_csv_and_json() {
    let fixture = Fixture::build().await;
    let world = &fixture.world;
    let key = world.distributor_key.clone();
    let client = fixture.client(0).await;
    let distributor = fixture.distributor();

    // Usage reports of one partner (by display name) and product, a page
    // per report.
    let contoso = fixture.contoso.name.clone();
    let names: Vec<String> = client
        .all_usage_reports(
            &distributor,
            &UsageReportFilter {
                partner: Some(partner_id(&fixture.contoso)),
                product: Some("sam-core".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|report| report.name)
        .collect();
    let csv = cli(
        world,
        &key,
        &[
            "--page-size",
            "1",
            "usage-reports",
            "--partner",
            "Contoso MSP",
            "--product",
            "sam-core",
            "--format",
            "csv",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        csv,
        format!(
            "month,partner_name,product,provisioned_units,used_units,chargeable_units,\
             over_provisioned_percent,status,comment,rejection_reason,auto_submitted,flagged,\
             partner,name,submit_time,update_time\n\
             2026-10,Contoso MSP,sam-core,10,8,8,25,preparing,,,false,false,{contoso},{},,{NOW}\n\
             2026-09,Contoso MSP,sam-core,10,10,10,0,preparing,,,false,false,{contoso},{},,{NOW}\n",
            names[0], names[1]
        )
    );
    // Every report, streamed over eight pages: the same rows, in the same
    // order, as one page of all of them.
    let all = cli(
        world,
        &key,
        &["--page-size", "1", "usage-reports", "--format", "ndjson"],
    )
    .await
    .unwrap();
    assert_eq!(all.lines().count(), 8);
    let one_page = cli(world, &key, &["usage-reports", "--format", "ndjson"])
        .await
        .unwrap();
    assert_eq!(all, one_page);
    let every_name: Vec<String> = client
        .all_usage_reports(&distributor, &UsageReportFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|report| report.name)
        .collect();
    let printed_names: Vec<&str> = all
        .lines()
        .map(|line| {
            let (_, rest) = line.split_once(",\"name\":\"").expect(line);
            rest.split('"').next().unwrap()
        })
        .collect();
    assert_eq!(printed_names, every_name);
    let mut unique = printed_names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 8, "{printed_names:?}");

    // The billing report with exact money: 20 units at 12.34 EUR is
    // 246.80; less 14.50% is 211.006, rounded half up to 211.01.
    let billing = client
        .all_billing_reports(&distributor, &BillingReportFilter::default())
        .await
        .unwrap()
        .remove(0);
    let json = cli(
        world,
        &key,
        &[
            "billing-reports",
            "--partner",
            &fixture.fabrikam.name,
            "--format",
            "json",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        json,
        format!(
            "[\n{{\"month\":\"2026-10\",\"partner_name\":\"Fabrikam Reseller\",\
             \"product\":\"sam-core\",\"status\":\"preparing\",\"units\":20,\
             \"po_number\":\"PO-2026-10\",\"currency\":\"EUR\",\"unit_price\":\"12.34\",\
             \"channel_margin_percent\":\"14.50\",\"amount\":\"246.80\",\"total\":\"211.01\",\
             \"partner\":\"{}\",\"usage_report\":\"{}\",\"name\":\"{}\",\
             \"create_time\":\"{NOW}\",\"update_time\":\"{NOW}\"}}\n]\n",
            fixture.fabrikam.name, billing.usage_report, billing.name
        )
    );
    // Filtered out on the client: an empty array, and a bare CSV header.
    let none = cli(
        world,
        &key,
        &[
            "billing-reports",
            "--partner",
            "Contoso MSP",
            "--format",
            "json",
        ],
    )
    .await
    .unwrap();
    assert_eq!(none, "[]\n");
    let header = cli(
        world,
        &key,
        &["billing-reports", "--month", "2026-09", "--format", "csv"],
    )
    .await
    .unwrap();
    assert_eq!(header.lines().count(), 1, "{header}");

    // Partners, oldest acquisition first.
    let partners = cli(world, &key, &["partners", "--format", "csv"])
        .await
        .unwrap();
    let row = |partner: &Partner, display_name: &str, kind: &str, acquired: &str| {
        format!(
            "{display_name},{kind},active,{acquired},EMEA,{},{}\n",
            partner.name, partner.organization
        )
    };
    assert_eq!(
        partners,
        [
            "display_name,type,status,acquisition_date,region,name,organization\n".to_string(),
            row(&fixture.contoso, "Contoso MSP", "msp", "2026-03-01"),
            row(
                &fixture.fabrikam,
                "Fabrikam Reseller",
                "reseller",
                "2026-04-01"
            ),
            row(&fixture.woodgrove, "Woodgrove MSP", "msp", "2026-05-01"),
        ]
        .concat()
    );

    // Woodgrove's chargeable units fell 25% (4 to 3), beyond the default
    // 20%; Contoso's 20% (10 to 8) is not beyond it.
    let drops = cli(world, &key, &["drops", "--format", "csv"])
        .await
        .unwrap();
    assert_eq!(
        drops,
        format!(
            "product,partner_name,previous_month,month,previous_chargeable_units,\
             chargeable_units,drop_percent,partner\n\
             sam-core,Woodgrove MSP,2026-09,2026-10,4,3,25,{}\n",
            fixture.woodgrove.name
        )
    );
    let inactive = cli(world, &key, &["inactive-partners", "--format", "json"])
        .await
        .unwrap();
    assert_eq!(inactive, "[]\n", "every partner was acquired long ago");
    // A partner acquired within the last 90 days that has sold only a
    // trial is inactive; one that sold a full license is not.
    let newcomer = world
        .partner("Tailwind Reseller", PartnerType::Reseller, "2026-11-01")
        .await;
    let trial = world.plan("Trial", LicenseType::Trial, false).await;
    let newcomer_customer = world.customer(&newcomer, "Newcomer customer").await;
    world
        .sell(&newcomer_customer, &trial, 3, "2026-11-10")
        .await
        .unwrap();
    let seller = world
        .partner("Selling Reseller", PartnerType::Reseller, "2026-11-01")
        .await;
    let seller_customer = world.customer(&seller, "Seller customer").await;
    let full = world.plan("Full", LicenseType::Full, false).await;
    world
        .sell(&seller_customer, &full, 3, "2026-11-10")
        .await
        .unwrap();
    let inactive = cli(world, &key, &["inactive-partners", "--format", "json"])
        .await
        .unwrap();
    assert_eq!(
        inactive,
        format!(
            "[\n{{\"display_name\":\"Tailwind Reseller\",\"type\":\"reseller\",\
             \"status\":\"active\",\"acquisition_date\":\"2026-11-01\",\"region\":\"EMEA\",\
             \"name\":\"{}\",\"organization\":\"{}\"}}\n]\n",
            newcomer.name, newcomer.organization
        )
    );
    let inactive = cli(world, &key, &["inactive-partners", "--format", "csv"])
        .await
        .unwrap();
    assert_eq!(
        inactive,
        format!(
            "display_name,type,status,acquisition_date,region,name,organization\n\
             Tailwind Reseller,reseller,active,2026-11-01,EMEA,{},{}\n",
            newcomer.name, newcomer.organization
        )
    );

    let found = cli(world, &key, &["search", "msp", "--format", "csv"])
        .await
        .unwrap();
    assert_eq!(found.lines().count(), 3, "{found}");
    assert!(found.contains("Contoso MSP,partner,false,"), "{found}");

    // The dashboard, as JSON and as a table.
    let dashboard = cli(world, &key, &["dashboard", "--format", "json"])
        .await
        .unwrap();
    for expected in [
        "\"display_name\": \"Northwind\"",
        "\"as_of\": \"2026-11-23\"",
        "\"acquisition_granularity\": \"monthly\"",
        "\"status\": \"under_review\",\n      \"count\": 1,",
        "\"list_method\": \"estate.billing.v1.ReportsService/ListUsageReports\"",
    ] {
        assert!(dashboard.contains(expected), "{expected} in {dashboard}");
    }
    let table = cli(world, &key, &["dashboard", "--quarterly"])
        .await
        .unwrap();
    assert!(table.starts_with("Northwind ("), "{table}");
    assert!(table.contains("\nActive partners  "), "{table}");
    assert!(table.contains("\nQ2 "), "{table}");
}
