//! SPEC section 1, access grants: who sees which customer, through every
//! service, and how fast access ends.

use chrono::Duration;
use estate_e2e::with_key;
use estate_proto::customers::access_grants_service_client::AccessGrantsServiceClient;
use estate_proto::customers::beacons_service_client::BeaconsServiceClient;
use estate_proto::customers::sync_service_client::SyncServiceClient;
use estate_proto::customers::{
    AccessGrant, AccessMode, DeleteAccessGrantRequest, DeleteOrganizationRequest,
    GetCustomerDetailsRequest, GetOrganizationRequest, ListBeaconsRequest,
    ListOrganizationsRequest, Organization, RelationshipOwner, Role, SetCustomerFavoriteRequest,
    SyncCustomerRequest, UpdateAccessGrantRequest, UpdateOrganizationRequest,
};
use estate_proto::licensing::ListLicensesRequest;
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use tonic::Code;

use crate::assert_code;
use crate::world::World;

fn as_customer(organization: &Organization) -> String {
    organization
        .name
        .replacen("organizations/", "customers/", 1)
}

/// Whether `key` can read `customer`'s licenses (licensing service) and
/// the customer itself (customers service); both must agree.
async fn reads_customer_data(world: &World, key: &str, customer: &Organization) -> bool {
    let licensing = LicensesServiceClient::new(world.channel.clone())
        .list_licenses(with_key(
            ListLicensesRequest {
                parent: as_customer(customer),
                ..Default::default()
            },
            key,
        ))
        .await;
    let organization = world
        .organizations()
        .get_organization(with_key(
            GetOrganizationRequest {
                name: customer.name.clone(),
            },
            key,
        ))
        .await;
    for outcome in [
        licensing.as_ref().err().map(tonic::Status::code),
        organization.as_ref().err().map(tonic::Status::code),
    ] {
        assert!(
            matches!(outcome, None | Some(Code::PermissionDenied)),
            "unexpected outcome {outcome:?}"
        );
    }
    assert_eq!(
        licensing.is_ok(),
        organization.is_ok(),
        "licensing and customers disagree about access to {}",
        customer.name
    );
    licensing.is_ok()
}

#[tokio::test]
async fn a_partner_never_sees_a_customer_without_effective_access_through_any_rpc() {
    let world = World::build().await;
    // `owned` grants access to partner 2 only (it sits below partner 1).
    world
        .set_grant(&world.owned, &world.partner_2, AccessMode::Continuous, None)
        .await;
    let key_1 = world.key(&world.partner_1, &["admin"]).await;
    let key_2 = world.key(&world.partner_2, &["admin"]).await;

    assert!(reads_customer_data(&world, &key_1, &world.managed_1).await);
    assert!(!reads_customer_data(&world, &key_1, &world.managed_2).await);
    assert!(!reads_customer_data(&world, &key_1, &world.owned).await);
    assert!(reads_customer_data(&world, &key_2, &world.managed_2).await);
    assert!(reads_customer_data(&world, &key_2, &world.owned).await);
    assert!(!reads_customer_data(&world, &key_2, &world.managed_1).await);

    // Overviews list exactly the customers with a grant (the disabled one
    // as "access disabled", without data).
    let names = |rows: Vec<estate_proto::customers::CustomerOverview>| {
        let mut names: Vec<String> = rows.into_iter().map(|row| row.customer).collect();
        names.sort();
        names
    };
    let mut expected_1 = vec![world.managed_1.name.clone(), world.owned.name.clone()];
    expected_1.sort();
    assert_eq!(
        names(world.overview(&world.partner_1, &key_1).await),
        expected_1
    );
    let mut expected_2 = vec![world.managed_2.name.clone(), world.owned.name.clone()];
    expected_2.sort();
    assert_eq!(
        names(world.overview(&world.partner_2, &key_2).await),
        expected_2
    );
    // ... and not another partner's overview.
    assert_code(
        world
            .overview_client()
            .list_customer_overviews(with_key(
                estate_proto::customers::ListCustomerOverviewsRequest {
                    parent: world.partner_2.name.clone(),
                    ..Default::default()
                },
                &key_1,
            ))
            .await,
        Code::PermissionDenied,
    );

    // Listing its children, partner 1 does not see the customer that
    // granted it nothing.
    let children = world
        .organizations()
        .list_organizations(with_key(
            ListOrganizationsRequest {
                parent: world.partner_1.name.clone(),
                ..Default::default()
            },
            &key_1,
        ))
        .await
        .unwrap()
        .into_inner()
        .organizations;
    let children: Vec<String> = children.into_iter().map(|child| child.name).collect();
    assert_eq!(children, vec![world.managed_1.name.clone()]);

    // Details, beacons, sync and favorites of another partner's customer.
    let mut overview = world.overview_client();
    assert_code(
        overview
            .get_customer_details(with_key(
                GetCustomerDetailsRequest {
                    parent: world.partner_1.name.clone(),
                    customer: world.managed_2.name.clone(),
                },
                &key_1,
            ))
            .await,
        Code::NotFound,
    );
    assert_code(
        overview
            .set_customer_favorite(with_key(
                SetCustomerFavoriteRequest {
                    parent: world.partner_1.name.clone(),
                    customer: world.managed_2.name.clone(),
                    favorite: true,
                },
                &key_1,
            ))
            .await,
        Code::NotFound,
    );
    assert_code(
        BeaconsServiceClient::new(world.channel.clone())
            .list_beacons(with_key(
                ListBeaconsRequest {
                    parent: world.managed_2.name.clone(),
                    ..Default::default()
                },
                &key_1,
            ))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        SyncServiceClient::new(world.channel.clone())
            .sync_customer(with_key(
                SyncCustomerRequest {
                    name: world.owned.name.clone(),
                },
                &key_1,
            ))
            .await,
        Code::PermissionDenied,
    );
    // The row partner 1 has for `owned` (access disabled) opens nothing.
    assert_code(
        overview
            .get_customer_details(with_key(
                GetCustomerDetailsRequest {
                    parent: world.partner_1.name.clone(),
                    customer: world.owned.name.clone(),
                },
                &key_1,
            ))
            .await,
        Code::PermissionDenied,
    );
}

/// Gives partner 1 access to the owned customer for a period that began
/// a day ago and ends an hour after the pinned time.
async fn grant_owned_for_an_hour(world: &World) {
    let now = estate_e2e::pinned_now();
    world
        .set_grant(
            &world.owned,
            &world.partner_1,
            AccessMode::Period,
            Some((now - Duration::days(1), now + Duration::hours(1))),
        )
        .await;
}

#[tokio::test]
async fn disabling_deleting_or_ending_a_grant_stops_customer_data_on_the_next_call() {
    let world = World::build().await;
    let key = world
        .key(&world.partner_1, &["authorized_partner_user"])
        .await;
    world
        .set_grant(&world.owned, &world.partner_1, AccessMode::Continuous, None)
        .await;
    assert!(reads_customer_data(&world, &key, &world.owned).await);

    // Disabled: the very next call is refused, in every service. No cache
    // stands between a grant change and the access decision; only the
    // gateway's 3-second credential cache applies, and to keys only.
    world
        .set_grant(&world.owned, &world.partner_1, AccessMode::Disabled, None)
        .await;
    assert!(!reads_customer_data(&world, &key, &world.owned).await);

    // A period: in effect from its start, over at its end.
    grant_owned_for_an_hour(&world).await;
    assert!(reads_customer_data(&world, &key, &world.owned).await);
    world.platform.clock.advance(Duration::hours(1));
    assert!(!reads_customer_data(&world, &key, &world.owned).await);
    assert_eq!(
        world.row(&world.partner_1, &world.owned).await.status,
        estate_proto::customers::CustomerStatus::AccessDisabled as i32
    );

    // Deleted: gone from the overview too.
    world
        .set_grant(&world.owned, &world.partner_1, AccessMode::Continuous, None)
        .await;
    assert!(reads_customer_data(&world, &key, &world.owned).await);
    AccessGrantsServiceClient::new(world.channel.clone())
        .delete_access_grant(with_key(
            DeleteAccessGrantRequest {
                name: format!(
                    "{}/accessGrants/{}",
                    world.owned.name,
                    world.partner_1.name.trim_start_matches("organizations/")
                ),
            },
            world.admin(),
        ))
        .await
        .unwrap();
    assert!(!reads_customer_data(&world, &key, &world.owned).await);
    let rows = world.overview(&world.partner_1, world.admin()).await;
    assert!(rows.iter().all(|row| row.customer != world.owned.name));
}

/// A refresh never takes an overview row back in time. A writer whose
/// clock reads a little earlier than the row's last refresh (a scheduler
/// pass that read it before, a replica running behind) still brings in its
/// facts, but at the row's later time; otherwise a grant that has ended
/// would show as in effect again until the next change.
#[tokio::test]
async fn an_overview_row_never_goes_back_in_time() {
    let world = World::build().await;
    grant_owned_for_an_hour(&world).await;
    world.platform.clock.advance(Duration::hours(1));
    let ended = world.row(&world.partner_1, &world.owned).await;
    assert_eq!(
        ended.status,
        estate_proto::customers::CustomerStatus::AccessDisabled as i32
    );

    world.platform.clock.advance(-Duration::minutes(1));
    world
        .organizations()
        .update_organization(with_key(
            UpdateOrganizationRequest {
                organization: Some(Organization {
                    name: world.owned.name.clone(),
                    display_name: "Owned, renamed".into(),
                    ..Default::default()
                }),
                update_mask: estate_e2e::mask(&["display_name"]),
            },
            world.admin(),
        ))
        .await
        .unwrap();
    let renamed = world.row(&world.partner_1, &world.owned).await;
    assert_eq!(renamed.display_name, "Owned, renamed");
    assert_eq!(
        renamed.status,
        estate_proto::customers::CustomerStatus::AccessDisabled as i32,
        "{renamed:?}"
    );
}

#[tokio::test]
async fn a_managed_customers_access_cannot_be_changed_or_deleted_by_the_customer() {
    let world = World::build().await;
    let customer_owner = world.key(&world.managed_1, &["admin"]).await;
    let name = format!(
        "{}/accessGrants/{}",
        world.managed_1.name,
        world.partner_1.name.trim_start_matches("organizations/")
    );
    let mut grants = AccessGrantsServiceClient::new(world.channel.clone());
    let status = assert_code(
        grants
            .update_access_grant(with_key(
                UpdateAccessGrantRequest {
                    access_grant: Some(AccessGrant {
                        name: name.clone(),
                        mode: AccessMode::Disabled.into(),
                        ..Default::default()
                    }),
                },
                &customer_owner,
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("managed"), "{status:?}");
    assert_code(
        grants
            .delete_access_grant(with_key(
                DeleteAccessGrantRequest { name: name.clone() },
                &customer_owner,
            ))
            .await,
        Code::FailedPrecondition,
    );
    // A partner cannot grant itself access to a customer-owned customer.
    let partner_key = world.key(&world.partner_1, &["admin"]).await;
    assert_code(
        grants
            .create_access_grant(with_key(
                estate_proto::customers::CreateAccessGrantRequest {
                    parent: world.owned.name.clone(),
                    access_grant: Some(AccessGrant {
                        partner: world.partner_1.name.clone(),
                        mode: AccessMode::Continuous.into(),
                        ..Default::default()
                    }),
                },
                &partner_key,
            ))
            .await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn a_partner_is_view_only_for_a_customer_that_owns_the_relationship() {
    let world = World::build().await;
    world
        .set_grant(&world.owned, &world.partner_1, AccessMode::Continuous, None)
        .await;
    let key = world.key(&world.partner_1, &["admin"]).await;
    let mut organizations = world.organizations();
    let rename = |organization: &Organization| UpdateOrganizationRequest {
        organization: Some(Organization {
            name: organization.name.clone(),
            display_name: "Renamed".into(),
            ..Default::default()
        }),
        update_mask: estate_e2e::mask(&["display_name"]),
    };
    // Managed: the partner edits it.
    organizations
        .update_organization(with_key(rename(&world.managed_1), &key))
        .await
        .unwrap();
    // Customer-owned: readable, but no edit, no delete, no child.
    assert!(reads_customer_data(&world, &key, &world.owned).await);
    let status = assert_code(
        organizations
            .update_organization(with_key(rename(&world.owned), &key))
            .await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("view-only"), "{status:?}");
    assert_code(
        organizations
            .delete_organization(with_key(
                DeleteOrganizationRequest {
                    name: world.owned.name.clone(),
                    etag: String::new(),
                },
                &key,
            ))
            .await,
        Code::PermissionDenied,
    );
    let child = estate_proto::customers::CreateOrganizationRequest {
        parent: world.owned.name.clone(),
        organization: Some(Organization {
            kind: estate_proto::common::OrganizationKind::Customer.into(),
            display_name: "Sub".into(),
            ..Default::default()
        }),
        request_id: String::new(),
        initial_owner: estate_e2e::initial_owner(&world.owned.name, "Sub"),
    };
    assert_code(
        organizations
            .create_organization(with_key(child, &key))
            .await,
        Code::PermissionDenied,
    );
    // Handing the relationship to the partner is the customer's decision.
    let hand_over = UpdateOrganizationRequest {
        organization: Some(Organization {
            name: world.owned.name.clone(),
            relationship_owner: RelationshipOwner::Partner.into(),
            ..Default::default()
        }),
        update_mask: estate_e2e::mask(&["relationship_owner"]),
    };
    assert_code(
        organizations
            .update_organization(with_key(hand_over.clone(), &key))
            .await,
        Code::PermissionDenied,
    );
    let customer_key = world.key(&world.owned, &["admin"]).await;
    organizations
        .update_organization(with_key(hand_over, &customer_key))
        .await
        .unwrap();
    organizations
        .update_organization(with_key(rename(&world.owned), &key))
        .await
        .unwrap();
    // Now that it may write, the partner still cannot take the decision
    // back: only the customer changes who owns its relationship.
    let take_back = UpdateOrganizationRequest {
        organization: Some(Organization {
            name: world.owned.name.clone(),
            relationship_owner: RelationshipOwner::Customer.into(),
            ..Default::default()
        }),
        update_mask: estate_e2e::mask(&["relationship_owner"]),
    };
    let refused = assert_code(
        organizations
            .update_organization(with_key(take_back, &key))
            .await,
        Code::PermissionDenied,
    );
    assert!(
        refused.message().contains("only the customer itself"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn only_authorized_partner_users_open_customer_details() {
    let world = World::build().await;
    let ordinary = world.key(&world.partner_1, &["member"]).await;
    let authorized = world
        .key(&world.partner_1, &["authorized_partner_user"])
        .await;
    // Every partner user sees the overview...
    assert_eq!(world.overview(&world.partner_1, &ordinary).await.len(), 2);
    // ... but only authorized ones open details and data.
    let details = |key: &str| {
        let mut overview = world.overview_client();
        let request = with_key(
            GetCustomerDetailsRequest {
                parent: world.partner_1.name.clone(),
                customer: world.managed_1.name.clone(),
            },
            key,
        );
        async move { overview.get_customer_details(request).await }
    };
    let status = assert_code(details(&ordinary).await, Code::PermissionDenied);
    assert!(status.message().contains("authorized"), "{status:?}");
    assert!(!reads_customer_data(&world, &ordinary, &world.managed_1).await);
    let opened = details(&authorized).await.unwrap().into_inner();
    assert_eq!(
        opened.organization.unwrap().name,
        world.managed_1.name.clone()
    );
    assert!(reads_customer_data(&world, &authorized, &world.managed_1).await);
}

#[tokio::test]
async fn a_person_cannot_be_an_authorized_partner_user_and_a_user_of_that_customer() {
    let world = World::build().await;
    world
        .add_member(
            &world.partner_1,
            "pat@example.com",
            Role::AuthorizedPartnerUser,
        )
        .await
        .unwrap();
    let status = assert_code(
        world
            .add_member(&world.managed_1, "PAT@example.com", Role::Member)
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status
            .message()
            .contains("cannot be both an authorized partner user"),
        "{status:?}"
    );
    // Another partner's customer is fine.
    world
        .add_member(&world.managed_2, "pat@example.com", Role::Member)
        .await
        .unwrap();
    // The other way round: a customer's user cannot become an authorized
    // user of a partner with access to it.
    assert_code(
        world
            .add_member(
                &world.partner_2,
                "pat@example.com",
                Role::AuthorizedPartnerUser,
            )
            .await,
        Code::FailedPrecondition,
    );
    world
        .add_member(&world.partner_2, "pat@example.com", Role::Member)
        .await
        .unwrap();
}
