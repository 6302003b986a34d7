//! SPEC section 1, organizations: bulk creation, deletion, owners,
//! updates with etags.

use estate_e2e::{initial_owner, with_key};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::members_service_client::MembersServiceClient;
use estate_proto::customers::{
    BatchCreateOrganizationsRequest, CreateOrganizationRequest, DeleteOrganizationRequest,
    ListMembersRequest, ListOrganizationsRequest, Organization, RemoveMemberRequest, Role,
    UpdateMemberRequest, UpdateOrganizationRequest,
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::assert_code;
use crate::world::World;

fn customer(parent: &str, index: usize) -> CreateOrganizationRequest {
    let display_name = format!("Customer {index}");
    CreateOrganizationRequest {
        parent: String::new(),
        organization: Some(Organization {
            kind: OrganizationKind::Customer.into(),
            display_name: display_name.clone(),
            external_id: format!("C-{index}"),
            ..Default::default()
        }),
        request_id: format!("batch-{index}"),
        initial_owner: initial_owner(parent, &display_name),
    }
}

async fn children(world: &World, parent: &Organization) -> usize {
    world
        .organizations()
        .list_organizations(with_key(
            ListOrganizationsRequest {
                parent: parent.name.clone(),
                page_size: 1000,
                ..Default::default()
            },
            world.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .organizations
        .len()
}

#[tokio::test]
async fn bulk_creation_takes_at_most_100_and_is_all_or_nothing() {
    let world = World::build().await;
    let parent = world.partner_2.clone();
    let batch = |creates: Vec<CreateOrganizationRequest>| BatchCreateOrganizationsRequest {
        parent: parent.name.clone(),
        requests: creates,
    };
    let mut organizations = world.organizations();
    let before = children(&world, &parent).await;

    // 101 is refused outright.
    let too_many = (0..101).map(|i| customer(&parent.name, i)).collect();
    let status = assert_code(
        organizations
            .batch_create_organizations(with_key(batch(too_many), world.admin()))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("1..100"), "{status:?}");

    // One bad row refuses the batch, and the error names it.
    let mut creates: Vec<_> = (0..3).map(|i| customer(&parent.name, i)).collect();
    creates[1].organization.as_mut().unwrap().display_name = String::new();
    creates[2].initial_owner = None;
    let status = assert_code(
        organizations
            .batch_create_organizations(with_key(batch(creates), world.admin()))
            .await,
        Code::InvalidArgument,
    );
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect();
    assert_eq!(
        fields,
        [
            "requests[1].organization.display_name",
            "requests[2].initial_owner"
        ]
    );
    assert_eq!(children(&world, &parent).await, before);

    // An external id already used below the parent refuses the batch too.
    let mut creates: Vec<_> = (0..2).map(|i| customer(&parent.name, i)).collect();
    creates[1].organization.as_mut().unwrap().external_id = "C-taken".into();
    let mut taken = customer(&parent.name, 500);
    taken.parent = parent.name.clone();
    taken.organization.as_mut().unwrap().external_id = "C-taken".into();
    taken.request_id = String::new();
    organizations
        .create_organization(with_key(taken, world.admin()))
        .await
        .unwrap();
    let status = assert_code(
        organizations
            .batch_create_organizations(with_key(batch(creates), world.admin()))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        status
            .message()
            .contains("requests[1].organization.external_id"),
        "{status:?}"
    );
    assert_eq!(children(&world, &parent).await, before + 1);

    // Exactly 100 are created, in order, and a retry replays them.
    let creates: Vec<_> = (0..100).map(|i| customer(&parent.name, i)).collect();
    let created = organizations
        .batch_create_organizations(with_key(batch(creates.clone()), world.admin()))
        .await
        .unwrap()
        .into_inner()
        .organizations;
    assert_eq!(created.len(), 100);
    assert_eq!(created[42].external_id, "C-42");
    let replayed = organizations
        .batch_create_organizations(with_key(batch(creates), world.admin()))
        .await
        .unwrap()
        .into_inner()
        .organizations;
    assert_eq!(replayed, created);
    assert_eq!(children(&world, &parent).await, before + 101);
}

#[tokio::test]
async fn an_organization_with_children_cannot_be_deleted() {
    let world = World::build().await;
    let mut organizations = world.organizations();
    let delete = |organization: &Organization| DeleteOrganizationRequest {
        name: organization.name.clone(),
        etag: String::new(),
    };
    let status = assert_code(
        organizations
            .delete_organization(with_key(delete(&world.partner_2), world.admin()))
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("child"), "{status:?}");
    // The way out it names is one the API offers.
    assert!(
        status.message().contains("delete its children first")
            && !status.message().contains("or move"),
        "{status:?}"
    );
    organizations
        .delete_organization(with_key(delete(&world.managed_2), world.admin()))
        .await
        .unwrap();
    organizations
        .delete_organization(with_key(delete(&world.partner_2), world.admin()))
        .await
        .unwrap();
    assert_code(
        organizations
            .get_organization(with_key(
                estate_proto::customers::GetOrganizationRequest {
                    name: world.partner_2.name.clone(),
                },
                world.admin(),
            ))
            .await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn every_child_organization_has_an_owner_and_keeps_one() {
    let world = World::build().await;
    let mut organizations = world.organizations();
    let mut ownerless = customer(&world.partner_1.name, 1);
    ownerless.parent = world.partner_1.name.clone();
    ownerless.initial_owner = None;
    let status = assert_code(
        organizations
            .create_organization(with_key(ownerless, world.admin()))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("initial_owner"), "{status:?}");

    let mut members = MembersServiceClient::new(world.channel.clone());
    let listed = members
        .list_members(with_key(
            ListMembersRequest {
                parent: world.managed_1.name.clone(),
                ..Default::default()
            },
            world.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role, Role::Owner as i32);
    let first_owner = listed[0].name.clone();

    // The last owner can be neither demoted nor removed.
    let demote = UpdateMemberRequest {
        name: first_owner.clone(),
        role: Role::Admin.into(),
    };
    assert_code(
        members
            .update_member(with_key(demote.clone(), world.admin()))
            .await,
        Code::FailedPrecondition,
    );
    let remove = RemoveMemberRequest {
        name: first_owner.clone(),
    };
    let status = assert_code(
        members
            .remove_member(with_key(remove.clone(), world.admin()))
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("owner"), "{status:?}");

    // With a second owner, the first may go.
    world
        .add_member(&world.managed_1, "second@example.com", Role::Owner)
        .await
        .unwrap();
    members
        .remove_member(with_key(remove, world.admin()))
        .await
        .unwrap();
}

#[tokio::test]
async fn updates_change_only_masked_fields_and_refuse_stale_etags() {
    let world = World::build().await;
    let mut organizations = world.organizations();
    let update = |etag: &str, description: &str| UpdateOrganizationRequest {
        organization: Some(Organization {
            name: world.managed_1.name.clone(),
            display_name: "ignored: not in the mask".into(),
            description: description.into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: estate_e2e::mask(&["description"]),
    };
    let updated = organizations
        .update_organization(with_key(
            update(&world.managed_1.etag, "first"),
            world.admin(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.description, "first");
    assert_eq!(updated.display_name, world.managed_1.display_name);
    assert_ne!(updated.etag, world.managed_1.etag);
    // The old etag is stale now, even within the same clock tick.
    assert_code(
        organizations
            .update_organization(with_key(
                update(&world.managed_1.etag, "second"),
                world.admin(),
            ))
            .await,
        Code::FailedPrecondition,
    );
    let mut bad_mask = update("", "x");
    bad_mask.update_mask = estate_e2e::mask(&["kind"]);
    assert_code(
        organizations
            .update_organization(with_key(bad_mask, world.admin()))
            .await,
        Code::InvalidArgument,
    );
    // The overview shows the new name at once.
    let mut rename = update("", "x");
    rename.organization.as_mut().unwrap().display_name = "Managed One".into();
    rename.update_mask = estate_e2e::mask(&["display_name"]);
    organizations
        .update_organization(with_key(rename, world.admin()))
        .await
        .unwrap();
    assert_eq!(
        world
            .row(&world.partner_1, &world.managed_1)
            .await
            .display_name,
        "Managed One"
    );
}

/// Organizations nest at most 32 levels deep: the access rule walks the
/// whole way up from any of them, so a customer's key reaches its deepest
/// tier, and nothing is created below it.
#[tokio::test]
async fn trees_stop_at_32_levels_and_access_sees_the_whole_way_up() {
    use estate_proto::customers::GetOrganizationRequest;

    let platform = estate_e2e::Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let partner = platform
        .create_organization(&distributor.name, OrganizationKind::Partner, "P")
        .await
        .unwrap();
    let top_customer = platform
        .create_organization(&partner.name, OrganizationKind::Customer, "Tier 3")
        .await
        .unwrap();
    let mut deepest = top_customer.clone();
    for depth in 4..=32 {
        deepest = platform
            .create_organization(
                &deepest.name,
                OrganizationKind::Customer,
                &format!("Tier {depth}"),
            )
            .await
            .unwrap();
    }
    let status = platform
        .create_organization(&deepest.name, OrganizationKind::Customer, "Tier 33")
        .await
        .unwrap_err();
    let status = status
        .downcast_ref::<tonic::Status>()
        .expect("a status")
        .clone();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(
        details.precondition_failure().unwrap().violations[0].r#type,
        "TREE_TOO_DEEP"
    );
    let key = platform
        .create_api_key(&top_customer.name, &["member"])
        .await
        .unwrap();
    let mut organizations =
        estate_proto::customers::organizations_service_client::OrganizationsServiceClient::new(
            platform.gateway_channel().await.unwrap(),
        );
    let found = organizations
        .get_organization(with_key(
            GetOrganizationRequest {
                name: deepest.name.clone(),
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.display_name, "Tier 32");
}
