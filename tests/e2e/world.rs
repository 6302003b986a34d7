//! A small channel for the customers-and-access tests: one distributor,
//! two partners and three customers, with typed clients through the
//! gateway.
//!
//! - `managed_1`: a customer partner 1 manages (managed, continuous grant).
//! - `managed_2`: a customer partner 2 manages.
//! - `owned`: a customer below partner 1 that owns its relationship; it
//!   starts with a disabled grant to partner 1.

use estate_e2e::{Platform, initial_owner, with_key};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::access_grants_service_client::AccessGrantsServiceClient;
use estate_proto::customers::api_keys_service_client::ApiKeysServiceClient;
use estate_proto::customers::customer_overview_service_client::CustomerOverviewServiceClient;
use estate_proto::customers::entitlements_service_client::EntitlementsServiceClient;
use estate_proto::customers::members_service_client::MembersServiceClient;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::sync_service_client::SyncServiceClient;
use estate_proto::customers::{
    AccessGrant, AccessMode, AddMemberRequest, ApiKey, CreateAccessGrantRequest,
    CreateApiKeyRequest, CreateOrganizationRequest, CustomerOverview, GetSyncRunRequest,
    ListCustomerOverviewsRequest, ListMembersRequest, Organization, RelationshipOwner, Role,
    SyncCustomerRequest, SyncRun, SyncState, UpdateAccessGrantRequest,
};
use tonic::transport::Channel;

pub struct World {
    pub platform: Platform,
    pub channel: Channel,
    pub distributor: Organization,
    pub partner_1: Organization,
    pub partner_2: Organization,
    pub managed_1: Organization,
    pub managed_2: Organization,
    pub owned: Organization,
}

impl World {
    pub async fn build() -> World {
        let platform = Platform::spawn().await.unwrap();
        let distributor = platform
            .create_organization("", OrganizationKind::Distributor, "Distributor")
            .await
            .unwrap();
        let partner_1 = platform
            .create_organization(&distributor.name, OrganizationKind::Partner, "Partner 1")
            .await
            .unwrap();
        let partner_2 = platform
            .create_organization(&distributor.name, OrganizationKind::Partner, "Partner 2")
            .await
            .unwrap();
        let managed_1 = platform
            .create_organization(&partner_1.name, OrganizationKind::Customer, "Managed 1")
            .await
            .unwrap();
        let managed_2 = platform
            .create_organization(&partner_2.name, OrganizationKind::Customer, "Managed 2")
            .await
            .unwrap();
        let channel = platform.gateway_channel().await.unwrap();
        let mut world = World {
            channel,
            distributor,
            partner_1,
            partner_2,
            managed_1,
            managed_2,
            owned: Organization::default(),
            platform,
        };
        world.owned = world
            .create_customer(
                &world.partner_1.name.clone(),
                "Owned",
                RelationshipOwner::Customer,
            )
            .await;
        world
    }

    /// Takes SAM Core (which every customer made through the platform
    /// fixture holds, with its parents) from every organization of the
    /// world, for tests that start from no entitlements at all.
    pub async fn clear_entitlements(&self) {
        let organizations = [
            &self.managed_1,
            &self.managed_2,
            &self.owned,
            &self.partner_1,
            &self.partner_2,
            &self.distributor,
        ];
        for organization in organizations {
            let request = estate_proto::customers::DeleteEntitlementRequest {
                name: format!("{}/entitlements/sam-core", organization.name),
            };
            let deleted = self
                .entitlements()
                .delete_entitlement(with_key(request, self.admin()))
                .await;
            if let Err(status) = deleted {
                assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
            }
        }
    }

    pub fn admin(&self) -> &str {
        &self.platform.admin_key
    }

    pub async fn create_customer(
        &self,
        partner: &str,
        display_name: &str,
        owner: RelationshipOwner,
    ) -> Organization {
        let request = CreateOrganizationRequest {
            parent: partner.into(),
            organization: Some(Organization {
                kind: OrganizationKind::Customer.into(),
                display_name: display_name.into(),
                relationship_owner: owner.into(),
                ..Default::default()
            }),
            request_id: String::new(),
            initial_owner: initial_owner(partner, display_name),
        };
        self.organizations()
            .create_organization(with_key(request, self.admin()))
            .await
            .unwrap()
            .into_inner()
    }

    /// A key of `organization` with `roles`.
    pub async fn key(&self, organization: &Organization, roles: &[&str]) -> String {
        self.platform
            .create_api_key(&organization.name, roles)
            .await
            .unwrap()
    }

    /// A personal key acting as the member of `organization` with `email`
    /// (with that member's role, whatever it is at the time of a call).
    pub async fn personal_key(&self, organization: &Organization, email: &str) -> String {
        let members = MembersServiceClient::new(self.channel.clone())
            .list_members(with_key(
                ListMembersRequest {
                    parent: organization.name.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
                self.admin(),
            ))
            .await
            .unwrap()
            .into_inner()
            .members;
        let member = members
            .into_iter()
            .find(|member| member.email == email)
            .unwrap_or_else(|| panic!("{email} is not a member of {}", organization.name));
        ApiKeysServiceClient::new(self.channel.clone())
            .create_api_key(with_key(
                CreateApiKeyRequest {
                    parent: organization.name.clone(),
                    api_key: Some(ApiKey {
                        display_name: format!("{email}'s key"),
                        user: member.user,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                self.admin(),
            ))
            .await
            .unwrap()
            .into_inner()
            .key
    }

    /// Adds `email` to `organization` with `role`, as the administrator.
    pub async fn add_member(
        &self,
        organization: &Organization,
        email: &str,
        role: Role,
    ) -> Result<estate_proto::customers::Member, tonic::Status> {
        let request = AddMemberRequest {
            parent: organization.name.clone(),
            email: email.into(),
            display_name: email.into(),
            role: role.into(),
        };
        MembersServiceClient::new(self.channel.clone())
            .add_member(with_key(request, self.admin()))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Sets the grant of `customer` to `partner` (creating it when
    /// missing), as the administrator.
    pub async fn set_grant(
        &self,
        customer: &Organization,
        partner: &Organization,
        mode: AccessMode,
        period: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    ) {
        let timestamp = |instant: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
            seconds: instant.timestamp(),
            nanos: 0,
        };
        let grant = AccessGrant {
            name: format!(
                "{}/accessGrants/{}",
                customer.name,
                partner.name.trim_start_matches("organizations/")
            ),
            partner: partner.name.clone(),
            mode: mode.into(),
            start_time: period.map(|(start, _)| timestamp(start)),
            end_time: period.map(|(_, end)| timestamp(end)),
            ..Default::default()
        };
        let mut grants = AccessGrantsServiceClient::new(self.channel.clone());
        let created = grants
            .create_access_grant(with_key(
                CreateAccessGrantRequest {
                    parent: customer.name.clone(),
                    access_grant: Some(grant.clone()),
                },
                self.admin(),
            ))
            .await;
        match created {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::AlreadyExists => {
                grants
                    .update_access_grant(with_key(
                        UpdateAccessGrantRequest {
                            access_grant: Some(grant),
                        },
                        self.admin(),
                    ))
                    .await
                    .unwrap();
            }
            Err(status) => panic!("grant failed: {status:?}"),
        }
    }

    pub fn organizations(&self) -> OrganizationsServiceClient<Channel> {
        OrganizationsServiceClient::new(self.channel.clone())
    }

    pub fn overview_client(&self) -> CustomerOverviewServiceClient<Channel> {
        CustomerOverviewServiceClient::new(self.channel.clone())
    }

    pub fn entitlements(&self) -> EntitlementsServiceClient<Channel> {
        EntitlementsServiceClient::new(self.channel.clone())
    }

    /// The partner's whole overview as `key` sees it, in name order.
    pub async fn overview(&self, partner: &Organization, key: &str) -> Vec<CustomerOverview> {
        self.overview_client()
            .list_customer_overviews(with_key(
                ListCustomerOverviewsRequest {
                    parent: partner.name.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
                key,
            ))
            .await
            .unwrap()
            .into_inner()
            .customer_overviews
    }

    /// The row of `customer` in the partner's overview.
    pub async fn row(&self, partner: &Organization, customer: &Organization) -> CustomerOverview {
        self.overview(partner, self.admin())
            .await
            .into_iter()
            .find(|row| row.customer == customer.name)
            .unwrap_or_else(|| panic!("{} has no row for {}", partner.name, customer.name))
    }

    /// Syncs `customer` on demand and waits for the run to end.
    pub async fn sync(&self, customer: &Organization) -> SyncRun {
        let mut sync = SyncServiceClient::new(self.channel.clone());
        let run = sync
            .sync_customer(with_key(
                SyncCustomerRequest {
                    name: customer.name.clone(),
                },
                self.admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        for _ in 0..200 {
            let current = sync
                .get_sync_run(with_key(
                    GetSyncRunRequest {
                        name: run.name.clone(),
                    },
                    self.admin(),
                ))
                .await
                .unwrap()
                .into_inner();
            if current.state == SyncState::Succeeded as i32
                || current.state == SyncState::Failed as i32
            {
                return current;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("sync run {} never ended: {run:?}", run.name);
    }
}
