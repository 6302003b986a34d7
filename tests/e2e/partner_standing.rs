//! SPEC section 3, across services: a partner's status, which the billing
//! service owns, bounds its own principals everywhere. Suspended is
//! read-only (but for usage reporting); canceled revokes access in the
//! customers, licensing and billing services alike, within the 5 s bound
//! even when the first delivery to the customers service was missed.

use std::time::Duration;

use estate_e2e::with_key;
use estate_proto::billing::{
    GetDistributorDashboardRequest, GetPartnerRequest, Granularity, LicenseType, Partner,
    PartnerStatus, PartnerType,
};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::{
    CreateOrganizationRequest, ListCustomerOverviewsRequest, Organization,
};
use estate_proto::licensing::ListApplicationsRequest;
use estate_proto::licensing::catalog_service_client::CatalogServiceClient;
use tonic::Code;

use crate::assert_code;
use crate::billing::Distribution;
use crate::estate::Estate;

/// What the partner's own admin key tries, one call per service.
struct Probe<'a> {
    world: &'a Distribution,
    partner: &'a Partner,
    customer_organization: String,
    /// The customer's account in billing.
    account: String,
    key: String,
}

impl Probe<'_> {
    async fn overview(&self) -> Result<(), tonic::Status> {
        let request = ListCustomerOverviewsRequest {
            parent: self.partner.organization.clone(),
            ..Default::default()
        };
        estate_proto::customers::customer_overview_service_client::CustomerOverviewServiceClient::new(
            self.world.channel.clone(),
        )
        .list_customer_overviews(with_key(request, &self.key))
        .await
        .map(drop)
    }

    async fn create_customer(&self, name: &str) -> Result<(), tonic::Status> {
        let request = CreateOrganizationRequest {
            parent: self.partner.organization.clone(),
            organization: Some(Organization {
                kind: OrganizationKind::Customer.into(),
                display_name: name.into(),
                ..Default::default()
            }),
            request_id: String::new(),
            initial_owner: estate_e2e::initial_owner(&self.partner.organization, name),
        };
        estate_proto::customers::organizations_service_client::OrganizationsServiceClient::new(
            self.world.channel.clone(),
        )
        .create_organization(with_key(request, &self.key))
        .await
        .map(drop)
    }

    fn estate(&self) -> Estate {
        Estate::new(
            self.world.channel.clone(),
            &self.key,
            &self.customer_organization,
        )
    }

    async fn list_applications(&self) -> Result<(), tonic::Status> {
        let estate = self.estate();
        CatalogServiceClient::new(self.world.channel.clone())
            .list_applications(estate.request(ListApplicationsRequest {
                parent: estate.customer.clone(),
                ..Default::default()
            }))
            .await
            .map(drop)
    }

    async fn create_application(&self, family: &str) -> Result<(), tonic::Status> {
        let estate = self.estate();
        CatalogServiceClient::new(self.world.channel.clone())
            .create_application(
                estate.request(estate_proto::licensing::CreateApplicationRequest {
                    parent: estate.customer.clone(),
                    application: Some(estate_proto::licensing::Application {
                        manufacturer: "Contoso".into(),
                        display_name: format!("{family} 1"),
                        family_display_name: family.into(),
                        version: "1".into(),
                        default_metric: estate_proto::licensing::Metric::Installations.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                }),
            )
            .await
            .map(drop)
    }

    async fn report(&self, client_key: &str) -> Result<(), tonic::Status> {
        let request = estate_proto::billing::ReportUsageRequest {
            parent: self.account.clone(),
            usage: Some(estate_proto::billing::UsageReport {
                product: "sam-core".into(),
                usage_date: "2026-05-01".into(),
                used_units: 4,
                client_key: client_key.into(),
                ..Default::default()
            }),
        };
        self.world
            .licenses()
            .report_usage(with_key(request, &self.key))
            .await
            .map(drop)
    }

    async fn own_account(&self) -> Result<(), tonic::Status> {
        self.world
            .partners()
            .get_partner(with_key(
                GetPartnerRequest {
                    name: self.partner.name.clone(),
                },
                &self.key,
            ))
            .await
            .map(drop)
    }
}

#[track_caller]
fn denied_for(result: Result<(), tonic::Status>, state: &str) {
    let status = assert_code(result, Code::PermissionDenied);
    assert!(
        status.message().contains(&format!("{state} partner")),
        "{status:?}"
    );
}

async fn dashboard(world: &Distribution) -> estate_proto::billing::DistributorDashboard {
    estate_proto::billing::dashboard_service_client::DashboardServiceClient::new(
        world.channel.clone(),
    )
    .get_distributor_dashboard(with_key(
        GetDistributorDashboardRequest {
            name: format!("{}/dashboard", world.parent()),
            acquisition_granularity: Granularity::Monthly.into(),
        },
        &world.distributor_key,
    ))
    .await
    .unwrap()
    .into_inner()
}

async fn enabled_customers(world: &Distribution) -> i64 {
    dashboard(world).await.enabled_customers.unwrap().count
}

/// Customers with an active license, as the dashboard counts them.
async fn active_customers(world: &Distribution) -> i64 {
    dashboard(world)
        .await
        .customers_by_license_status
        .iter()
        .find(|figure| figure.status() == estate_proto::billing::ProductLicenseStatus::Active)
        .and_then(|figure| figure.customers.as_ref())
        .map_or(0, |figure| figure.count)
}

#[tokio::test]
async fn a_suspended_partner_only_reads_and_reports_and_a_canceled_one_reaches_nothing() {
    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Fabrikam").await;
    let plan = world.plan("SAM Core", LicenseType::Full, true).await;
    world
        .sell(&customer, &plan, 10, "2026-01-01")
        .await
        .unwrap();
    let key = world
        .platform
        .create_api_key(&partner.organization, &["admin"])
        .await
        .unwrap();
    let probe = Probe {
        world: &world,
        partner: &partner,
        customer_organization: customer.organization.clone(),
        account: customer.name.clone(),
        key,
    };
    // Active: everything its roles allow.
    probe.overview().await.unwrap();
    probe.create_customer("Adatum").await.unwrap();
    probe.list_applications().await.unwrap();
    probe.create_application("Office").await.unwrap();
    probe.own_account().await.unwrap();
    probe.report("first").await.unwrap();
    assert_eq!(enabled_customers(&world).await, 1);
    assert_eq!(active_customers(&world).await, 1);

    // Suspended: reads and usage reports, nothing else.
    world
        .transition(&partner, PartnerStatus::Suspended)
        .await
        .unwrap();
    probe.overview().await.unwrap();
    probe.list_applications().await.unwrap();
    probe.own_account().await.unwrap();
    denied_for(probe.create_customer("Litware").await, "suspended");
    denied_for(probe.create_application("Visio").await, "suspended");
    probe.report("second").await.unwrap();

    // Reactivated: writes again.
    world
        .transition(&partner, PartnerStatus::Active)
        .await
        .unwrap();
    probe.create_application("Project").await.unwrap();

    // Canceled: nothing, in any service; its customers are no longer
    // enabled on the distributor's dashboard.
    world
        .transition(&partner, PartnerStatus::Canceled)
        .await
        .unwrap();
    denied_for(probe.overview().await, "canceled");
    denied_for(probe.create_customer("Litware").await, "canceled");
    denied_for(probe.list_applications().await, "canceled");
    denied_for(probe.create_application("Visio").await, "canceled");
    denied_for(probe.own_account().await, "canceled");
    let status = assert_code(probe.report("third").await, Code::PermissionDenied);
    assert!(status.message().contains("canceled partner"), "{status:?}");
    assert_eq!(enabled_customers(&world).await, 0);
    assert_eq!(active_customers(&world).await, 0);
}

#[tokio::test]
async fn a_missed_status_delivery_is_retried_within_the_revocation_bound() {
    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Fabrikam").await;
    let key = world
        .platform
        .create_api_key(&partner.organization, &["admin"])
        .await
        .unwrap();
    let probe = Probe {
        world: &world,
        partner: &partner,
        customer_organization: customer.organization.clone(),
        account: customer.name.clone(),
        key,
    };
    probe.list_applications().await.unwrap();
    // The status changes in billing as CancelPartner would change it, but
    // the customers service is not told: only the retry can deliver it.
    let client = world.platform.database.connect().await.unwrap();
    let changed = client
        .execute(
            "UPDATE billing.partners
             SET status = 'canceled', revision = revision + 1,
                 standing_revision = revision + 1
             WHERE id = $1",
            &[
                &uuid::Uuid::parse_str(partner.organization.trim_start_matches("organizations/"))
                    .unwrap(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match probe.list_applications().await {
            Err(status) if status.code() == Code::PermissionDenied => {
                assert!(status.message().contains("canceled partner"), "{status:?}");
                break;
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still allowed 5 s after the change: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
