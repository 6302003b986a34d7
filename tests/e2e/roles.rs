//! No one hands out more than they hold: members, keys and personal keys
//! over every pair of (caller's role, role handed out), in the caller's
//! own organization and in a customer reached through a grant.

use estate_e2e::{Platform, with_key};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::api_keys_service_client::ApiKeysServiceClient;
use estate_proto::customers::entitlements_service_client::EntitlementsServiceClient;
use estate_proto::customers::members_service_client::MembersServiceClient;
use estate_proto::customers::{
    AddMemberRequest, ApiKey, CreateApiKeyRequest, ListEntitlementsRequest, Member,
    RemoveMemberRequest, Role, UpdateMemberRequest,
};
use tonic::Code;
use tonic::transport::Channel;

struct Org {
    platform: Platform,
    channel: Channel,
    /// `organizations/{uuid}` of a managed customer, and of its partner.
    customer: String,
    partner: String,
}

impl Org {
    async fn build() -> Self {
        let platform = Platform::spawn().await.unwrap();
        let distributor = platform
            .create_organization("", OrganizationKind::Distributor, "Distributor")
            .await
            .unwrap();
        let partner = platform
            .create_organization(&distributor.name, OrganizationKind::Partner, "Partner")
            .await
            .unwrap();
        let customer = platform
            .create_organization(&partner.name, OrganizationKind::Customer, "Customer")
            .await
            .unwrap();
        let channel = platform.gateway_channel().await.unwrap();
        Self {
            platform,
            channel,
            customer: customer.name,
            partner: partner.name,
        }
    }

    async fn add_member(
        &self,
        key: &str,
        organization: &str,
        email: &str,
        role: Role,
    ) -> Result<Member, tonic::Status> {
        MembersServiceClient::new(self.channel.clone())
            .add_member(with_key(
                AddMemberRequest {
                    parent: organization.into(),
                    email: email.into(),
                    display_name: email.into(),
                    role: role.into(),
                },
                key,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// A personal key acting as `member`, made by the administrator.
    async fn personal_key(&self, organization: &str, member: &Member) -> String {
        self.create_key(&self.platform.admin_key, organization, &[], &member.user)
            .await
            .unwrap()
    }

    async fn create_key(
        &self,
        key: &str,
        organization: &str,
        roles: &[&str],
        user: &str,
    ) -> Result<String, tonic::Status> {
        ApiKeysServiceClient::new(self.channel.clone())
            .create_api_key(with_key(
                CreateApiKeyRequest {
                    parent: organization.into(),
                    api_key: Some(ApiKey {
                        display_name: "k".into(),
                        roles: roles.iter().map(|role| role.to_string()).collect(),
                        user: user.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                key,
            ))
            .await
            .map(|response| response.into_inner().key)
    }

    /// A key of `organization` whose caller holds `role` (owners act
    /// through a personal key: no program key carries the owner role).
    async fn caller(&self, organization: &str, role: Role) -> String {
        let admin = &self.platform.admin_key;
        match role {
            Role::Owner => {
                let email = format!("owner-{}@example.test", uuid::Uuid::new_v4());
                let owner = self
                    .add_member(admin, organization, &email, Role::Owner)
                    .await
                    .unwrap();
                self.personal_key(organization, &owner).await
            }
            Role::Admin => self
                .platform
                .create_api_key(organization, &["admin"])
                .await
                .unwrap(),
            Role::Member => self
                .platform
                .create_api_key(organization, &["member"])
                .await
                .unwrap(),
            Role::AuthorizedPartnerUser => self
                .platform
                .create_api_key(organization, &["authorized_partner_user"])
                .await
                .unwrap(),
            Role::Unspecified => unreachable!(),
        }
    }
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Owner => 4,
        Role::Admin => 3,
        Role::AuthorizedPartnerUser => 2,
        Role::Member => 1,
        Role::Unspecified => 0,
    }
}

#[tokio::test]
async fn a_member_is_added_only_with_a_role_at_or_below_the_callers() {
    let org = Org::build().await;
    let customer_roles = [Role::Owner, Role::Admin, Role::Member];
    for held in customer_roles {
        let key = org.caller(&org.customer, held).await;
        for granted in customer_roles {
            let email = format!("{}@example.test", uuid::Uuid::new_v4());
            let added = org.add_member(&key, &org.customer, &email, granted).await;
            // Members cannot change data at all; writers up to their rank.
            let allowed = held != Role::Member && rank(granted) <= rank(held);
            match added {
                Ok(_) => assert!(allowed, "{held:?} added a {granted:?}"),
                Err(status) => {
                    assert!(!allowed, "{held:?} adding {granted:?}: {status:?}");
                    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
                }
            }
        }
    }
    // A partner's authorized user, in the managed customer it reaches:
    // members only.
    let partner_user = org.caller(&org.partner, Role::AuthorizedPartnerUser).await;
    for (granted, allowed) in [
        (Role::Owner, false),
        (Role::Admin, false),
        (Role::Member, true),
    ] {
        let email = format!("{}@example.test", uuid::Uuid::new_v4());
        let added = org
            .add_member(&partner_user, &org.customer, &email, granted)
            .await;
        assert_eq!(added.is_ok(), allowed, "{granted:?}: {added:?}");
    }
}

#[tokio::test]
async fn keys_carry_no_role_above_their_makers_and_personal_keys_none_above_theirs() {
    let org = Org::build().await;
    // Program keys, in the partner: (caller's role, key's role, allowed).
    for (held, role, allowed) in [
        (Role::AuthorizedPartnerUser, "admin", false),
        (Role::AuthorizedPartnerUser, "authorized_partner_user", true),
        (Role::AuthorizedPartnerUser, "member", true),
        (Role::Admin, "admin", true),
        (Role::Admin, "authorized_partner_user", true),
        (Role::Owner, "admin", true),
    ] {
        let key = org.caller(&org.partner, held).await;
        let created = org.create_key(&key, &org.partner, &[role], "").await;
        assert_eq!(
            created.is_ok(),
            allowed,
            "{held:?} making {role}: {created:?}"
        );
        if let Err(status) = created {
            assert_eq!(status.code(), Code::PermissionDenied);
        }
    }
    // A personal key for someone who holds more is refused.
    let admin = org.caller(&org.customer, Role::Admin).await;
    let owner = org
        .add_member(
            &org.platform.admin_key,
            &org.customer,
            "boss@example.test",
            Role::Owner,
        )
        .await
        .unwrap();
    let status = org
        .create_key(&admin, &org.customer, &[], &owner.user)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

#[tokio::test]
async fn an_admin_cannot_make_itself_an_owner_through_a_new_member_or_a_promotion() {
    let org = Org::build().await;
    let admin = org.caller(&org.customer, Role::Admin).await;
    let entitlements = |key: String| {
        let channel = org.channel.clone();
        let parent = org.customer.clone();
        async move {
            EntitlementsServiceClient::new(channel)
                .list_entitlements(with_key(ListEntitlementsRequest { parent }, &key))
                .await
        }
    };
    // The path the attack took: add an owner, mint its personal key.
    let status = org
        .add_member(&admin, &org.customer, "me-too@example.test", Role::Owner)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A member the admin may key, promoted later by an owner: the admin's
    // key for it never acts above admin.
    let helper = org
        .add_member(&admin, &org.customer, "helper@example.test", Role::Member)
        .await
        .unwrap();
    let helper_key = org
        .create_key(&admin, &org.customer, &[], &helper.user)
        .await
        .unwrap();
    let owner = org.caller(&org.customer, Role::Owner).await;
    MembersServiceClient::new(org.channel.clone())
        .update_member(with_key(
            UpdateMemberRequest {
                name: format!(
                    "{}/members/{}",
                    org.customer,
                    helper.user.trim_start_matches("users/")
                ),
                role: Role::Owner.into(),
            },
            &owner,
        ))
        .await
        .unwrap();
    // Past the gateway's credential cache.
    tokio::time::sleep(estate_e2e::TEST_CREDENTIAL_CACHE_TTL * 2).await;
    let status = entitlements(helper_key).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // The owner's own keys do see them.
    entitlements(owner.clone()).await.unwrap();
    // And the admin can neither demote nor remove an owner.
    let members = MembersServiceClient::new(org.channel.clone());
    let helper_name = format!(
        "{}/members/{}",
        org.customer,
        helper.user.trim_start_matches("users/")
    );
    let status = members
        .clone()
        .update_member(with_key(
            UpdateMemberRequest {
                name: helper_name.clone(),
                role: Role::Member.into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = members
        .clone()
        .remove_member(with_key(RemoveMemberRequest { name: helper_name }, &admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}
