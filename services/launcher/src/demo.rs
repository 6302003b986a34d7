//! Demo data, loaded through the gateway exactly as a client would: a
//! distributor, two partners, three customers, licenses and a service plan.
//! Every create carries a fixed request id, so loading twice changes
//! nothing.

use std::net::SocketAddr;
use std::time::Duration;

use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{CreateServicePlanRequest, LicenseType, ServicePlan};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{CreateOrganizationRequest, Organization};
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use estate_proto::licensing::{
    CreateLicenseRequest, License, Metric, Quantity, Unlimited, quantity,
};
use tonic::Request;
use tonic::transport::Channel;

/// What was loaded, for the instructions printed afterwards.
#[derive(Debug)]
pub struct Summary {
    distributor: String,
    partner: String,
    customer: String,
}

fn authorized<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {key}").parse().expect("API keys are ASCII");
    request.metadata_mut().insert("authorization", value);
    request
}

async fn create_organization(
    client: &mut OrganizationsServiceClient<Channel>,
    key: &str,
    parent: &str,
    kind: OrganizationKind,
    display_name: &str,
    external_id: &str,
) -> anyhow::Result<String> {
    let organization = Organization {
        kind: kind.into(),
        display_name: display_name.into(),
        external_id: external_id.into(),
        ..Default::default()
    };
    let request = CreateOrganizationRequest {
        parent: parent.into(),
        organization: Some(organization),
        request_id: format!("demo-{external_id}"),
    };
    Ok(client
        .create_organization(authorized(request, key))
        .await?
        .into_inner()
        .name)
}

async fn connect(endpoint: &str) -> anyhow::Result<Channel> {
    // The servers were just spawned; give them a moment to accept.
    for _ in 0..50 {
        if let Ok(channel) = Channel::from_shared(endpoint.to_string())?.connect().await {
            return Ok(channel);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the gateway at {endpoint} did not accept connections")
}

pub async fn load(endpoint: &str, key: &str) -> anyhow::Result<Summary> {
    let channel = connect(endpoint).await?;
    let mut organizations = OrganizationsServiceClient::new(channel.clone());
    let mut licenses = LicensesServiceClient::new(channel.clone());
    let mut plans = ServicePlansServiceClient::new(channel);
    use OrganizationKind::{Customer, Distributor, Partner};

    let organizations = &mut organizations;
    let distributor = create_organization(
        organizations,
        key,
        "",
        Distributor,
        "Northwind Distribution",
        "NW",
    )
    .await?;
    let contoso = create_organization(
        organizations,
        key,
        &distributor,
        Partner,
        "Contoso MSP",
        "NW-CONTOSO",
    )
    .await?;
    let fabrikam = create_organization(
        organizations,
        key,
        &distributor,
        Partner,
        "Fabrikam Reseller",
        "NW-FABRIKAM",
    )
    .await?;
    let adatum = create_organization(
        organizations,
        key,
        &contoso,
        Customer,
        "Adatum Corporation",
        "ADATUM",
    )
    .await?;
    create_organization(
        organizations,
        key,
        &contoso,
        Customer,
        "Litware Inc.",
        "LITWARE",
    )
    .await?;
    create_organization(
        organizations,
        key,
        &fabrikam,
        Customer,
        "Tailspin Toys",
        "TAILSPIN",
    )
    .await?;

    let customer = adatum.replacen("organizations/", "customers/", 1);
    for (application, metric, kind, request_id) in [
        (
            "Microsoft Office Professional 2021",
            Metric::Installations,
            quantity::Kind::Count(250),
            "demo-office",
        ),
        (
            "Microsoft SQL Server 2022 Enterprise",
            Metric::Cores,
            quantity::Kind::Count(64),
            "demo-sql",
        ),
        (
            "Adobe Acrobat Reader",
            Metric::Site,
            quantity::Kind::Unlimited(Unlimited {}),
            "demo-acrobat",
        ),
    ] {
        let license = License {
            application: application.into(),
            metric: metric.into(),
            quantity: Some(Quantity { kind: Some(kind) }),
            ..Default::default()
        };
        let request = CreateLicenseRequest {
            parent: customer.clone(),
            license: Some(license),
            request_id: request_id.into(),
        };
        licenses.create_license(authorized(request, key)).await?;
    }

    let plan = ServicePlan {
        display_name: "SAM Core — 12 months".into(),
        product: "SAM Core".into(),
        license_type: LicenseType::Full.into(),
        unit_type: "device".into(),
        initial_period_months: 12,
        auto_renewal: true,
        expiration_notification_days: 30,
        enabled: true,
        ..Default::default()
    };
    let request = CreateServicePlanRequest {
        parent: distributor.replacen("organizations/", "distributors/", 1),
        service_plan: Some(plan),
        request_id: "demo-sam-core-12".into(),
    };
    plans.create_service_plan(authorized(request, key)).await?;

    Ok(Summary {
        distributor,
        partner: contoso,
        customer,
    })
}

impl Summary {
    /// Prints how to call the platform, with grpcurl lines that work as is.
    pub fn print(&self, gateway: SocketAddr, key: &str) {
        let distributor_id = self.distributor.trim_start_matches("organizations/");
        let header = format!("-H 'authorization: Bearer {key}'");
        println!(
            r#"
Estate is running. Gateway: {gateway} (gRPC, gRPC-Web; reflection and health need no key)
Demo data: distributor {distributor}, partner {partner}, customer {customer}

  grpcurl -plaintext {gateway} list
  grpcurl -plaintext {header} {gateway} estate.customers.v1.OrganizationsService/ListOrganizations
  grpcurl -plaintext {header} -d '{{"parent":"{distributor}"}}' {gateway} estate.customers.v1.OrganizationsService/ListOrganizations
  grpcurl -plaintext {header} -d '{{"parent":"{partner}"}}' {gateway} estate.customers.v1.OrganizationsService/ListOrganizations
  grpcurl -plaintext {header} -d '{{"parent":"{customer}"}}' {gateway} estate.licensing.v1.LicensesService/ListLicenses
  grpcurl -plaintext {header} -d '{{"parent":"distributors/{distributor_id}"}}' {gateway} estate.billing.v1.ServicePlansService/ListServicePlans
  grpcurl -plaintext {header} -d '{{"parent":"{partner}","api_key":{{"display_name":"partner program","roles":["admin"]}}}}' {gateway} estate.customers.v1.ApiKeysService/CreateApiKey

Stop with Ctrl-C (in-flight calls finish first).
"#,
            distributor = self.distributor,
            partner = self.partner,
            customer = self.customer,
        );
    }
}
