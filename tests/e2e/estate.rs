//! A customer's estate as a test fixture: typed licensing clients bound to
//! one customer and one key, and small builders for catalog entries,
//! nodes, uploads and complete licenses.

use estate_e2e::with_key;
use estate_proto::licensing::catalog_service_client::CatalogServiceClient;
use estate_proto::licensing::inventory_service_client::InventoryServiceClient;
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use estate_proto::licensing::organization_structure_service_client::OrganizationStructureServiceClient;
use estate_proto::licensing::{
    Application, AssignmentType, Computer, ComputerRecord, CreateApplicationRequest,
    CreateLicenseRequest, CreateOrgNodeRequest, IngestInventoryRequest, IngestInventoryResponse,
    InstallationRecord, InventoryRecord, License, ListComputersRequest, ListOrgNodesRequest,
    ListUsersRequest, Metric, OrgNode, Quantity, User, inventory_record, quantity,
};
use estate_proto::time::to_timestamp;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// One customer's estate, reached with one key.
#[derive(Clone)]
pub struct Estate {
    pub channel: Channel,
    pub key: String,
    /// `customers/{uuid}`.
    pub customer: String,
}

impl Estate {
    /// `organization` is the customer's `organizations/{uuid}` name.
    pub fn new(channel: Channel, key: &str, organization: &str) -> Self {
        Self {
            channel,
            key: key.to_string(),
            customer: organization.replacen("organizations/", "customers/", 1),
        }
    }

    pub fn request<T>(&self, message: T) -> Request<T> {
        with_key(message, &self.key)
    }

    pub fn licenses(&self) -> LicensesServiceClient<Channel> {
        LicensesServiceClient::new(self.channel.clone())
    }

    pub fn inventory(&self) -> InventoryServiceClient<Channel> {
        InventoryServiceClient::new(self.channel.clone())
    }

    pub fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel.clone())
    }

    /// One page of computers, the request's parent set to this customer.
    pub async fn computers(&self, request: ListComputersRequest) -> Vec<Computer> {
        self.inventory()
            .list_computers(self.request(ListComputersRequest {
                parent: self.customer.clone(),
                ..request
            }))
            .await
            .unwrap()
            .into_inner()
            .computers
    }

    /// One page of users, the request's parent set to this customer.
    pub async fn users(&self, request: ListUsersRequest) -> Vec<User> {
        self.inventory()
            .list_users(self.request(ListUsersRequest {
                parent: self.customer.clone(),
                ..request
            }))
            .await
            .unwrap()
            .into_inner()
            .users
    }

    pub fn nodes(&self) -> OrganizationStructureServiceClient<Channel> {
        OrganizationStructureServiceClient::new(self.channel.clone())
    }

    /// The root node (created on first use).
    pub async fn root(&self) -> OrgNode {
        self.nodes()
            .list_org_nodes(self.request(ListOrgNodesRequest {
                parent: self.customer.clone(),
                page_size: 1,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .org_nodes
            .remove(0)
    }

    pub async fn node(&self, parent: &OrgNode, display_name: &str, legal: bool) -> OrgNode {
        self.nodes()
            .create_org_node(self.request(CreateOrgNodeRequest {
                parent: self.customer.clone(),
                org_node: Some(OrgNode {
                    parent: parent.name.clone(),
                    display_name: display_name.into(),
                    legal,
                    ..Default::default()
                }),
                request_id: String::new(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    /// An application of `family` (by Contoso) at `version`, counted by
    /// installations.
    pub async fn application(&self, family: &str, version: &str) -> Application {
        self.application_by(family, version, Metric::Installations)
            .await
    }

    /// An application of `family` (by Contoso) at `version`, counted by
    /// `metric`.
    pub async fn application_by(&self, family: &str, version: &str, metric: Metric) -> Application {
        CatalogServiceClient::new(self.channel.clone())
            .create_application(self.request(CreateApplicationRequest {
                parent: self.customer.clone(),
                application: Some(Application {
                    manufacturer: "Contoso".into(),
                    display_name: format!("{family} {version}"),
                    family_display_name: family.into(),
                    version: version.into(),
                    default_metric: metric.into(),
                    downgrade_allowed: true,
                    ..Default::default()
                }),
                request_id: String::new(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    /// A complete license of `application` owned by `owner`.
    pub fn complete_license(
        application: &Application,
        owner: &OrgNode,
        assignment_type: AssignmentType,
        count: i64,
    ) -> License {
        License {
            application: application.name.clone(),
            metric: Metric::Installations.into(),
            assignment_type: assignment_type.into(),
            quantity: Some(Quantity {
                kind: Some(quantity::Kind::Count(count)),
            }),
            legal_owner: owner.name.clone(),
            purchase_date: "2026-01-15".into(),
            ..Default::default()
        }
    }

    pub async fn create_license(&self, license: License) -> Result<License, Status> {
        self.licenses()
            .create_license(self.request(CreateLicenseRequest {
                parent: self.customer.clone(),
                license: Some(license),
                request_id: String::new(),
            }))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Streams `messages` (records per message) as one upload scanned at
    /// the tests' pinned start.
    pub async fn upload(
        &self,
        upload_id: &str,
        messages: Vec<Vec<InventoryRecord>>,
    ) -> Result<IngestInventoryResponse, Status> {
        self.upload_at(upload_id, estate_e2e::pinned_now(), messages)
            .await
    }

    pub async fn upload_at(
        &self,
        upload_id: &str,
        scan_time: chrono::DateTime<chrono::Utc>,
        messages: Vec<Vec<InventoryRecord>>,
    ) -> Result<IngestInventoryResponse, Status> {
        let mut requests = Vec::new();
        for (index, records) in messages.into_iter().enumerate() {
            let first = index == 0;
            requests.push(IngestInventoryRequest {
                parent: if first {
                    self.customer.clone()
                } else {
                    String::new()
                },
                upload_id: if first {
                    upload_id.into()
                } else {
                    String::new()
                },
                scan_time: first.then(|| to_timestamp(scan_time)),
                records,
            });
        }
        self.inventory()
            .ingest_inventory(self.request(tokio_stream::iter(requests)))
            .await
            .map(tonic::Response::into_inner)
    }
}

pub fn computer(hostname: &str, processors: i32) -> InventoryRecord {
    InventoryRecord {
        kind: Some(inventory_record::Kind::Computer(ComputerRecord {
            hostname: hostname.into(),
            processors,
            cores: processors * 4,
            ..Default::default()
        })),
    }
}

pub fn installation(hostname: &str, application: &Application) -> InventoryRecord {
    InventoryRecord {
        kind: Some(inventory_record::Kind::Installation(InstallationRecord {
            hostname: hostname.into(),
            application: application.name.clone(),
        })),
    }
}
