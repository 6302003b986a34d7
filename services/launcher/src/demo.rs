//! Demo data, loaded through the gateway exactly as a client would: a
//! distributor, two partners, four customers, an estate with licenses and
//! a compliance run, and the billing side (`billing`): accounts, service
//! plans, product licenses, usage, usage and billing reports. Every create
//! carries a fixed request id, so loading twice changes nothing.

mod billing;

use std::net::SocketAddr;
use std::time::Duration;

use estate_proto::common::OrganizationKind;
use estate_proto::customers::access_grants_service_client::AccessGrantsServiceClient;
use estate_proto::customers::beacons_service_client::BeaconsServiceClient;
use estate_proto::customers::entitlements_service_client::EntitlementsServiceClient;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::sync_service_client::SyncServiceClient;
use estate_proto::customers::{
    AccessGrant, AccessMode, Beacon, Capability, CreateAccessGrantRequest,
    CreateOrganizationRequest, GetAccessGrantRequest, InitialOwner, Organization, PartnerType,
    RegisterBeaconRequest, RelationshipOwner, SetEntitlementRequest, SyncCustomerRequest,
    UpdateAccessGrantRequest,
};
use estate_proto::licensing::catalog_service_client::CatalogServiceClient;
use estate_proto::licensing::inventory_service_client::InventoryServiceClient;
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use estate_proto::licensing::organization_structure_service_client::OrganizationStructureServiceClient;
use estate_proto::licensing::{
    Application, AssignmentType, ComputerRecord, CreateApplicationRequest, CreateLicenseRequest,
    IngestInventoryRequest, InstallationRecord, InventoryRecord, License, ListOrgNodesRequest,
    Metric, Quantity, Unlimited, inventory_record, quantity,
};
use tonic::Request;
use tonic::transport::Channel;

pub use billing::{CLOUD_BACKUP, SAM_CORE};

/// What was loaded, for the instructions printed afterwards.
#[derive(Debug)]
pub struct Summary {
    /// `organizations/{id}` of Northwind Distribution.
    pub distributor: String,
    /// Contoso MSP.
    pub partner: String,
    /// `customers/{id}` of Adatum Corporation.
    pub customer: String,
}

fn authorized<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {key}").parse().expect("API keys are ASCII");
    request.metadata_mut().insert("authorization", value);
    request
}

/// What a demo organization is, with what only that kind has.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Distributor,
    Partner(PartnerType),
    Customer(RelationshipOwner),
}

async fn create_organization(
    client: &mut OrganizationsServiceClient<Channel>,
    key: &str,
    parent: &str,
    kind: Kind,
    display_name: &str,
    external_id: &str,
) -> anyhow::Result<String> {
    let (kind, partner_type, relationship_owner) = match kind {
        Kind::Distributor => (
            OrganizationKind::Distributor,
            PartnerType::Unspecified,
            RelationshipOwner::Unspecified,
        ),
        Kind::Partner(partner_type) => (
            OrganizationKind::Partner,
            partner_type,
            RelationshipOwner::Unspecified,
        ),
        Kind::Customer(owner) => (OrganizationKind::Customer, PartnerType::Unspecified, owner),
    };
    let organization = Organization {
        kind: kind.into(),
        display_name: display_name.into(),
        external_id: external_id.into(),
        relationship_owner: relationship_owner.into(),
        partner_type: partner_type.into(),
        ..Default::default()
    };
    let initial_owner = (!parent.is_empty()).then(|| InitialOwner {
        email: format!("owner@{}.example", external_id.to_lowercase()),
        display_name: format!("{display_name} owner"),
    });
    let request = CreateOrganizationRequest {
        parent: parent.into(),
        organization: Some(organization),
        request_id: format!("demo-{external_id}"),
        initial_owner,
    };
    Ok(client
        .create_organization(authorized(request, key))
        .await?
        .into_inner()
        .name)
}

/// Waits until the platform answers calls: the servers were just spawned,
/// and until they accept (and the customers service can check keys) calls
/// fail UNAVAILABLE.
async fn ready(
    organizations: &mut OrganizationsServiceClient<Channel>,
    key: &str,
) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        let request = estate_proto::customers::ListOrganizationsRequest {
            page_size: 1,
            ..Default::default()
        };
        match organizations
            .list_organizations(authorized(request, key))
            .await
        {
            Err(status) if status.code() == tonic::Code::Unavailable && attempts < 300 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(status.into()),
            Ok(_) => return Ok(()),
        }
    }
}

/// Loads the demo through the gateway at `endpoint` with a platform
/// administrator's `key`; dates are relative to `now`.
pub async fn load(
    endpoint: &str,
    key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Summary> {
    // Connects on first use; `ready` waits until the platform answers.
    let channel = Channel::from_shared(endpoint.to_string())?.connect_lazy();
    let mut organizations = OrganizationsServiceClient::new(channel.clone());
    let mut licenses = LicensesServiceClient::new(channel.clone());
    ready(&mut organizations, key).await?;
    use Kind::{Customer, Distributor, Partner};
    let managed = Customer(RelationshipOwner::Unspecified);

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
        Partner(PartnerType::Msp),
        "Contoso MSP",
        "NW-CONTOSO",
    )
    .await?;
    let fabrikam = create_organization(
        organizations,
        key,
        &distributor,
        Partner(PartnerType::Reseller),
        "Fabrikam Reseller",
        "NW-FABRIKAM",
    )
    .await?;
    let adatum = create_organization(
        organizations,
        key,
        &contoso,
        managed,
        "Adatum Corporation",
        "ADATUM",
    )
    .await?;
    let litware = create_organization(
        organizations,
        key,
        &contoso,
        managed,
        "Litware Inc.",
        "LITWARE",
    )
    .await?;
    let tailspin = create_organization(
        organizations,
        key,
        &fabrikam,
        managed,
        "Tailspin Toys",
        "TAILSPIN",
    )
    .await?;

    // A customer that owns its relationship and lets Contoso look for a
    // year; Contoso is view-only there.
    let wide_world = create_organization(
        organizations,
        key,
        &contoso,
        Customer(RelationshipOwner::Customer),
        "Wide World Importers",
        "WIDEWORLD",
    )
    .await?;
    load_access(
        &channel,
        key,
        &[&distributor, &contoso, &adatum, &litware],
        &contoso,
        &wide_world,
        now,
    )
    .await?;

    let customer = adatum.replacen("organizations/", "customers/", 1);
    load_estate(&channel, key, &customer, &mut licenses, now).await?;

    let accounts = billing::Organizations {
        distributor: &distributor,
        contoso: &contoso,
        fabrikam: &fabrikam,
        adatum: &adatum,
        litware: &litware,
        wide_world: &wide_world,
        tailspin: &tailspin,
    };
    billing::load(&channel, key, &accounts, now.date_naive()).await?;
    load_overview(
        &channel,
        key,
        &[&adatum, &litware],
        &[&adatum, &litware, &wide_world, &tailspin],
    )
    .await?;

    Ok(Summary {
        distributor,
        partner: contoso,
        customer,
    })
}

/// Entitlements down the tree (each parent holds what it assigns) and a
/// period grant, set idempotently.
async fn load_access(
    channel: &Channel,
    key: &str,
    tree: &[&str],
    partner: &str,
    customer_owned: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let mut entitlements = EntitlementsServiceClient::new(channel.clone());
    let now = now.timestamp();
    for (index, organization) in tree.iter().enumerate() {
        // The last customer's SAM Core expires in 45 days.
        let expire_time = (index == tree.len() - 1).then(|| prost_types::Timestamp {
            seconds: now + 45 * 86_400,
            nanos: 0,
        });
        let request = SetEntitlementRequest {
            parent: organization.to_string(),
            capability: Capability::SamCore.into(),
            expire_time,
        };
        entitlements
            .set_entitlement(authorized(request, key))
            .await?;
    }
    let mut grants = AccessGrantsServiceClient::new(channel.clone());
    let grant = AccessGrant {
        partner: partner.into(),
        mode: AccessMode::Period.into(),
        start_time: Some(prost_types::Timestamp {
            seconds: now - 86_400,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: now + 365 * 86_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    let request = CreateAccessGrantRequest {
        parent: customer_owned.into(),
        access_grant: Some(grant.clone()),
    };
    match grants.create_access_grant(authorized(request, key)).await {
        Ok(_) => {}
        // A customer that owns its relationship starts with a disabled
        // grant to the partner above it: open that one for the year.
        Err(status) if status.code() == tonic::Code::AlreadyExists => {
            let name = format!(
                "{customer_owned}/accessGrants/{}",
                partner.trim_start_matches("organizations/")
            );
            let stored = grants
                .get_access_grant(authorized(
                    GetAccessGrantRequest { name: name.clone() },
                    key,
                ))
                .await?
                .into_inner();
            if stored.mode() != AccessMode::Period {
                let request = UpdateAccessGrantRequest {
                    access_grant: Some(AccessGrant { name, ..grant }),
                };
                grants.update_access_grant(authorized(request, key)).await?;
            }
        }
        Err(status) => return Err(status.into()),
    }
    Ok(())
}

/// A beacon for each of `with_beacon`, then a sync of every one of
/// `customers`: last, once the estate and the billing side are loaded, so
/// the first overview shows them. The sync returns the queued run when
/// one is pending.
async fn load_overview(
    channel: &Channel,
    key: &str,
    with_beacon: &[&str],
    customers: &[&str],
) -> anyhow::Result<()> {
    let mut beacons = BeaconsServiceClient::new(channel.clone());
    for customer in with_beacon {
        let request = RegisterBeaconRequest {
            parent: customer.to_string(),
            beacon: Some(Beacon {
                display_name: "HQ beacon".into(),
                version: "7.4.1".into(),
                ..Default::default()
            }),
            request_id: "demo-beacon".into(),
        };
        beacons.register_beacon(authorized(request, key)).await?;
    }
    let mut sync = SyncServiceClient::new(channel.clone());
    for customer in customers {
        let request = SyncCustomerRequest {
            name: customer.to_string(),
        };
        sync.sync_customer(authorized(request, key)).await?;
    }
    Ok(())
}

impl Summary {
    /// `distributors/{id}`: Northwind as the billing service names it.
    pub fn distributor_account(&self) -> String {
        self.distributor
            .replacen("organizations/", "distributors/", 1)
    }

    /// Writes a shell file exporting what the distributors' command-line
    /// client (`estate-billing`) reads: the gateway, the key and Northwind.
    /// The key is the platform administrator's, so only the file's owner
    /// may read it (mode 0600, also when the file was there before).
    pub fn write_env(
        &self,
        path: &std::path::Path,
        gateway: SocketAddr,
        key: &str,
    ) -> std::io::Result<()> {
        if let Some(directory) = path.parent() {
            std::fs::create_dir_all(directory)?;
        }
        let contents = format!(
            "export ESTATE_ENDPOINT=http://{gateway}\nexport ESTATE_API_KEY={key}\nexport ESTATE_DISTRIBUTOR={}\n",
            self.distributor_account()
        );
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        // `mode` applies only to a file this call creates: narrow an older
        // one before the key goes in.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::io::Write::write_all(&mut file, contents.as_bytes())
    }

    /// Prints how to call the platform, with grpcurl lines that work as is.
    pub fn print(&self, gateway: SocketAddr, key: &str, env_file: Option<&std::path::Path>) {
        let distributors = self.distributor_account();
        let header = format!("-H 'authorization: Bearer {key}'");
        let cli = match env_file {
            Some(path) => format!(
                "\n  source {}   # then the distributors' client:\n  cargo run -q -p estate-billing-client -- dashboard\n  cargo run -q -p estate-billing-client -- usage-reports --format csv\n",
                path.display()
            ),
            None => String::new(),
        };
        // To stderr: stdout carries only log lines (JSON in containers).
        eprintln!(
            r#"
Estate is running. Gateway: {gateway} (gRPC, gRPC-Web; reflection and health need no key)
Demo data: distributor {distributor} ({distributors}), partner {partner}, customer {customer}

Web console: {console}
  sign in with the API key {key} and one of the organizations
  {distributor} (distributor), {partner} (partner), {customer_organization} (customer)

  grpcurl -plaintext {gateway} list
  grpcurl -plaintext {header} {gateway} estate.customers.v1.OrganizationsService/ListOrganizations
  grpcurl -plaintext {header} -d '{{"parent":"{distributor}"}}' {gateway} estate.customers.v1.OrganizationsService/ListOrganizations
  grpcurl -plaintext {header} -d '{{"parent":"{partner}"}}' {gateway} estate.customers.v1.OrganizationsService/ListOrganizations
  grpcurl -plaintext {header} -d '{{"parent":"{partner}","order_by":"status desc"}}' {gateway} estate.customers.v1.CustomerOverviewService/ListCustomerOverviews
  grpcurl -plaintext {header} -d '{{"parent":"{partner}"}}' {gateway} estate.customers.v1.CustomerOverviewService/ExportCustomerOverviews
  grpcurl -plaintext {header} -d '{{"parent":"{customer}"}}' {gateway} estate.licensing.v1.LicensesService/ListLicenses
  grpcurl -plaintext {header} -d '{{"parent":"{customer}"}}' {gateway} estate.licensing.v1.ComplianceService/CalculateCompliance
  grpcurl -plaintext {header} -d '{{"parent":"{customer}","level":"COMPLIANCE_LEVEL_APPLICATION"}}' {gateway} estate.licensing.v1.ComplianceService/ListCompliance
  grpcurl -plaintext {header} -d '{{"parent":"{distributors}"}}' {gateway} estate.billing.v1.ServicePlansService/ListServicePlans
  grpcurl -plaintext {header} -d '{{"parent":"{distributors}"}}' {gateway} estate.billing.v1.PartnersService/ListPartners
  grpcurl -plaintext {header} -d '{{"name":"{distributors}/dashboard"}}' {gateway} estate.billing.v1.DashboardService/GetDistributorDashboard
  grpcurl -plaintext {header} -d '{{"parent":"{distributors}/partners/-"}}' {gateway} estate.billing.v1.ReportsService/ListUsageReports
  grpcurl -plaintext {header} -d '{{"parent":"{distributors}"}}' {gateway} estate.billing.v1.ReportsService/ListBillingReports
  grpcurl -plaintext {header} -d '{{"parent":"{partner}","api_key":{{"display_name":"partner program","roles":["admin"]}}}}' {gateway} estate.customers.v1.ApiKeysService/CreateApiKey
{cli}
Stop with Ctrl-C (in-flight calls finish first).
"#,
            distributor = self.distributor,
            partner = self.partner,
            customer = self.customer,
            console = if estate_gateway::console_is_built() {
                format!("http://{gateway}/")
            } else {
                "not built (deploy/local/run.sh builds it with deploy/local/console.sh)".into()
            },
            customer_organization = self.customer.replacen("customers/", "organizations/", 1),
        );
    }
}

/// A small estate for Adatum: a catalog, licenses on the root node and one
/// beacon upload of five computers. Every create carries a request id (and
/// the upload an upload id), so loading twice stores everything once.
async fn load_estate(
    channel: &Channel,
    key: &str,
    customer: &str,
    licenses: &mut LicensesServiceClient<Channel>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let mut nodes = OrganizationStructureServiceClient::new(channel.clone());
    let root = nodes
        .list_org_nodes(authorized(
            ListOrgNodesRequest {
                parent: customer.into(),
                page_size: 1,
                ..Default::default()
            },
            key,
        ))
        .await?
        .into_inner()
        .org_nodes
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("{customer} has no root node"))?;
    let mut applications = Vec::new();
    for (manufacturer, family, version, edition, metric, kind, request_id) in [
        (
            "Microsoft",
            "Office",
            "2021",
            "Professional",
            Metric::Installations,
            quantity::Kind::Count(250),
            "demo-office",
        ),
        (
            "Microsoft",
            "SQL Server",
            "2022",
            "Enterprise",
            Metric::Cores,
            quantity::Kind::Count(64),
            "demo-sql",
        ),
        (
            "Adobe",
            "Acrobat Reader",
            "2024",
            "",
            Metric::Site,
            quantity::Kind::Unlimited(Unlimited {}),
            "demo-acrobat",
        ),
    ] {
        let application = catalog
            .create_application(authorized(
                CreateApplicationRequest {
                    parent: customer.into(),
                    application: Some(Application {
                        manufacturer: manufacturer.into(),
                        display_name: format!("{manufacturer} {family} {version} {edition}")
                            .trim_end()
                            .to_string(),
                        family_display_name: family.into(),
                        version: version.into(),
                        edition: edition.into(),
                        default_metric: metric.into(),
                        downgrade_allowed: true,
                        ..Default::default()
                    }),
                    request_id: format!("{request_id}-application"),
                },
                key,
            ))
            .await?
            .into_inner();
        let license = License {
            application: application.name.clone(),
            metric: metric.into(),
            assignment_type: AssignmentType::Organization.into(),
            quantity: Some(Quantity { kind: Some(kind) }),
            legal_owner: root.name.clone(),
            purchase_date: "2026-01-15".into(),
            vendor: "Contoso Reseller".into(),
            downgrade_rights: true,
            ..Default::default()
        };
        let request = CreateLicenseRequest {
            parent: customer.into(),
            license: Some(license),
            request_id: request_id.into(),
        };
        licenses.create_license(authorized(request, key)).await?;
        applications.push(application);
    }

    let mut records = Vec::new();
    for number in 1..=5 {
        let hostname = format!("adatum-pc-{number:02}");
        records.push(InventoryRecord {
            kind: Some(inventory_record::Kind::Computer(ComputerRecord {
                hostname: hostname.clone(),
                processors: 1,
                cores: 4,
                ..Default::default()
            })),
        });
        for application in applications.iter().take(1 + number % 3) {
            records.push(InventoryRecord {
                kind: Some(inventory_record::Kind::Installation(InstallationRecord {
                    hostname: hostname.clone(),
                    application: application.name.clone(),
                })),
            });
        }
    }
    let upload = IngestInventoryRequest {
        parent: customer.into(),
        upload_id: "demo-upload-1".into(),
        scan_time: Some(estate_proto::time::to_timestamp(now)),
        records,
    };
    InventoryServiceClient::new(channel.clone())
        .ingest_inventory(authorized(tokio_stream::iter([upload]), key))
        .await?;
    // A first compliance run, so the reports have something to show.
    let mut progress =
        estate_proto::licensing::compliance_service_client::ComplianceServiceClient::new(
            channel.clone(),
        )
        .calculate_compliance(authorized(
            estate_proto::licensing::CalculateComplianceRequest {
                parent: customer.into(),
            },
            key,
        ))
        .await?
        .into_inner();
    while progress.message().await?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_env_file_with_the_admin_key_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let directory =
            std::env::temp_dir().join(format!("estate-demo-env-{}", std::process::id()));
        let path = directory.join("demo.env");
        std::fs::create_dir_all(&directory).unwrap();
        // A file left by an earlier run, readable by everyone.
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let summary = Summary {
            distributor: "organizations/northwind".into(),
            partner: "organizations/contoso".into(),
            customer: "customers/adatum".into(),
        };
        summary
            .write_env(&path, "127.0.0.1:50051".parse().unwrap(), "the-admin-key")
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let contents = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&directory).unwrap();
        assert_eq!(mode, 0o600);
        assert_eq!(
            contents,
            "export ESTATE_ENDPOINT=http://127.0.0.1:50051\nexport ESTATE_API_KEY=the-admin-key\n\
             export ESTATE_DISTRIBUTOR=distributors/northwind\n"
        );
    }
}
