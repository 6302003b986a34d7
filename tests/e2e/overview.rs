//! SPEC section 1, the partner overview: statuses from grants and syncs,
//! expirations from entitlements, beacons, sorting, filtering, favorites,
//! paging and CSV export.

use chrono::Duration;
use estate_e2e::with_key;
use estate_proto::customers::beacons_service_client::BeaconsServiceClient;
use estate_proto::customers::members_service_client::MembersServiceClient;
use estate_proto::customers::{
    AccessMode, Beacon, BeaconStatus, Capability, CustomerStatus, ExpirationStatus,
    ExportCustomerOverviewsRequest, ListCustomerOverviewsRequest, ListEntitlementsRequest,
    ListMembersRequest, Organization, OverviewFilter, RecordBeaconHeartbeatRequest,
    RegisterBeaconRequest, RelationshipOwner, RemoveMemberRequest, Role,
    SetCustomerFavoriteRequest, SetEntitlementRequest, SyncState, UpcomingExpirationKind,
};
use tonic::Code;

use estate_proto::licensing::compliance_service_client::ComplianceServiceClient;
use estate_proto::licensing::{AssignmentType, CalculateComplianceRequest};

use crate::assert_code;
use crate::estate::{Estate, computer, installation};
use crate::world::World;

fn timestamp(instant: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: 0,
    }
}

async fn entitle(
    world: &World,
    organization: &Organization,
    capability: Capability,
    expires_in: Option<Duration>,
) -> Result<(), tonic::Status> {
    let request = SetEntitlementRequest {
        parent: organization.name.clone(),
        capability: capability.into(),
        expire_time: expires_in.map(|after| timestamp(estate_e2e::pinned_now() + after)),
    };
    world
        .entitlements()
        .set_entitlement(with_key(request, world.admin()))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn status_follows_access_and_synchronization() {
    let world = World::build().await;
    world.clear_entitlements().await;
    // Access disabled: the customer owns the relationship and granted
    // nothing yet.
    let owned = world.row(&world.partner_1, &world.owned).await;
    assert_eq!(owned.status, CustomerStatus::AccessDisabled as i32);
    assert!(owned.computers.is_none() && owned.licenses_and_usage.is_none());

    // Sync pending: access, but no sync has completed.
    let pending = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(pending.status, CustomerStatus::SyncPending as i32);
    assert!(!pending.sync_pending_overdue);
    // ... flagged once pending for more than 24 hours.
    world
        .platform
        .clock
        .advance(Duration::hours(24) + Duration::seconds(1));
    let overdue = world.row(&world.partner_1, &world.managed_1).await;
    assert!(overdue.sync_pending_overdue);

    // Synced: the run succeeded with both sources; licensing's figures are there,
    // shown to a partner of a customer entitled to SAM Core and hidden
    // from one of a customer that is not.
    for organization in [&world.distributor, &world.partner_1, &world.managed_1] {
        entitle(&world, organization, Capability::SamCore, None)
            .await
            .unwrap();
    }
    // Licensing's figures include the latest compliance calculation: one
    // installation and no license is one application short.
    for customer in [&world.managed_1, &world.managed_2] {
        let estate = Estate::new(world.channel.clone(), world.admin(), &customer.name);
        let application = estate.application("Office", "10").await;
        // Visio is licensed, so only Office is short.
        let covered = estate.application("Visio", "1").await;
        estate
            .upload(
                "office-1",
                vec![vec![
                    computer("pc-1", 1),
                    installation("pc-1", &application),
                    installation("pc-1", &covered),
                ]],
            )
            .await
            .unwrap();
        let root = estate.root().await;
        estate
            .create_license(Estate::complete_license(
                &covered,
                &root,
                AssignmentType::Organization,
                1,
            ))
            .await
            .unwrap();
        let mut progress = ComplianceServiceClient::new(world.channel.clone())
            .calculate_compliance(estate.request(CalculateComplianceRequest {
                parent: estate.customer.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        while progress.message().await.unwrap().is_some() {}
    }
    // Synced an hour after the calculation: the figures keep its time.
    let calculated = estate_clock::Clock::now(world.platform.clock.as_ref());
    world.platform.clock.advance(Duration::hours(1));
    world.sync(&world.managed_2).await;
    let run = world.sync(&world.managed_1).await;
    assert_eq!(run.state, SyncState::Succeeded as i32, "{run:?}");
    assert!(run.unavailable_sources.is_empty(), "{run:?}");
    let synced = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(synced.status, CustomerStatus::Synced as i32);
    assert!(!synced.sync_pending_overdue);
    assert_eq!(synced.days_since_last_sync, Some(0));
    assert!(synced.computers.is_some(), "{synced:?}");
    let compliance = synced.compliance.expect("compliance figures");
    assert_eq!(
        (
            compliance.requirement,
            compliance.coverage,
            compliance.compliance,
            compliance.applications_short
        ),
        (2, 1, -1, 1)
    );
    assert_eq!(compliance.calculated_time, Some(timestamp(calculated)));
    let unentitled = world.row(&world.partner_2, &world.managed_2).await;
    assert_eq!(unentitled.status, CustomerStatus::Synced as i32);
    assert!(unentitled.computers.is_none(), "{unentitled:?}");
    assert!(unentitled.compliance.is_none(), "{unentitled:?}");
    world.platform.clock.advance(Duration::days(3));
    let later = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(later.days_since_last_sync, Some(3));
}

#[tokio::test]
async fn a_failing_dependency_fails_the_run_with_its_reason_not_the_service() {
    let mut world = World::build().await;
    let run = world.sync(&world.managed_1).await;
    assert_eq!(run.state, SyncState::Succeeded as i32, "{run:?}");
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(row.status, CustomerStatus::Synced as i32);
    world.platform.licensing.shutdown().await.unwrap();
    let run = world.sync(&world.managed_1).await;
    assert_eq!(run.state, SyncState::Failed as i32);
    assert!(run.error.contains("licensing service"), "{run:?}");
    // The service still answers, and a failed latest run makes the
    // customer pending again.
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(row.status, CustomerStatus::SyncPending as i32);
}

#[tokio::test]
async fn expirations_come_from_the_customers_entitlements() {
    let world = World::build().await;
    world.clear_entitlements().await;
    // Each parent holds what it assigns.
    entitle(&world, &world.distributor, Capability::SamCore, None)
        .await
        .unwrap();
    entitle(&world, &world.partner_1, Capability::SamCore, None)
        .await
        .unwrap();
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(
        row.upcoming_expiration_kind,
        UpcomingExpirationKind::NoEntitlements as i32
    );
    entitle(
        &world,
        &world.managed_1,
        Capability::SamCore,
        Some(Duration::days(45)),
    )
    .await
    .unwrap();
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(
        row.upcoming_expiration_kind,
        UpcomingExpirationKind::Date as i32
    );
    assert_eq!(
        row.upcoming_expiration_time,
        Some(timestamp(estate_e2e::pinned_now() + Duration::days(45)))
    );
    assert_eq!(
        row.expiration_status,
        ExpirationStatus::ExpiresIn60Days as i32
    );
    // Time alone moves the row: 15 days later it expires within 30 days,
    // 46 days later it has expired, 30 days after that it is gone.
    world.platform.clock.advance(Duration::days(15));
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(
        row.expiration_status,
        ExpirationStatus::ExpiresIn30Days as i32
    );
    world.platform.clock.advance(Duration::days(31));
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(row.expiration_status, ExpirationStatus::Expired as i32);
    assert_eq!(
        row.upcoming_expiration_kind,
        UpcomingExpirationKind::NoExpirations as i32
    );
    world.platform.clock.advance(Duration::days(30));
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(row.expiration_status, ExpirationStatus::None as i32);
    assert_eq!(
        row.upcoming_expiration_kind,
        UpcomingExpirationKind::NoEntitlements as i32
    );
}

#[tokio::test]
async fn only_the_partners_owners_see_expirations_in_the_overview() {
    let world = World::build().await;
    entitle(&world, &world.distributor, Capability::SamCore, None)
        .await
        .unwrap();
    entitle(&world, &world.partner_1, Capability::SamCore, None)
        .await
        .unwrap();
    entitle(
        &world,
        &world.managed_1,
        Capability::SamCore,
        Some(Duration::days(45)),
    )
    .await
    .unwrap();
    let owner = world
        .personal_key(&world.partner_1, "owner@partner-1.test")
        .await;
    let row = |rows: Vec<estate_proto::customers::CustomerOverview>| {
        rows.into_iter()
            .find(|row| row.customer == world.managed_1.name)
            .unwrap()
    };
    let seen = row(world.overview(&world.partner_1, &owner).await);
    assert!(!seen.entitlements_withheld);
    assert_eq!(
        seen.expiration_status,
        ExpirationStatus::ExpiresIn60Days as i32
    );
    for roles in [&["admin"][..], &["member"], &["authorized_partner_user"]] {
        let key = world.key(&world.partner_1, roles).await;
        let withheld = row(world.overview(&world.partner_1, &key).await);
        assert!(withheld.entitlements_withheld, "{roles:?}");
        assert_eq!(withheld.upcoming_expiration_kind, 0, "{roles:?}");
        assert_eq!(withheld.upcoming_expiration_time, None, "{roles:?}");
        assert_eq!(withheld.expiration_status, 0, "{roles:?}");
        // Nor can the order or a filter give it away.
        for (order_by, filter) in [
            ("expiration_status", None),
            ("upcoming_expiration desc", None),
            (
                "",
                Some(OverviewFilter {
                    expiration_statuses: vec![ExpirationStatus::ExpiresIn60Days.into()],
                    ..Default::default()
                }),
            ),
        ] {
            let status = assert_code(
                world
                    .overview_client()
                    .list_customer_overviews(with_key(
                        ListCustomerOverviewsRequest {
                            parent: world.partner_1.name.clone(),
                            order_by: order_by.into(),
                            filter,
                            ..Default::default()
                        },
                        &key,
                    ))
                    .await,
                Code::InvalidArgument,
            );
            assert!(status.message().contains("only owners"), "{status:?}");
        }
    }
}

#[tokio::test]
async fn a_parent_assigns_only_capabilities_it_holds_and_only_owners_see_them() {
    let world = World::build().await;
    world.clear_entitlements().await;
    // Partner 1 holds nothing, so it can assign nothing.
    let status = assert_code(
        entitle(&world, &world.managed_1, Capability::SaasManagement, None).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("does not hold"), "{status:?}");
    entitle(&world, &world.distributor, Capability::SaasManagement, None)
        .await
        .unwrap();
    entitle(&world, &world.partner_1, Capability::SaasManagement, None)
        .await
        .unwrap();
    // Assigned by the partner itself this time.
    let partner_key = world.key(&world.partner_1, &["admin"]).await;
    world
        .entitlements()
        .set_entitlement(with_key(
            SetEntitlementRequest {
                parent: world.managed_1.name.clone(),
                capability: Capability::SaasManagement.into(),
                expire_time: None,
            },
            &partner_key,
        ))
        .await
        .unwrap();
    // A capability that expired is no longer held.
    entitle(
        &world,
        &world.distributor,
        Capability::SamCore,
        Some(Duration::days(-1)),
    )
    .await
    .unwrap();
    assert_code(
        entitle(&world, &world.partner_1, Capability::SamCore, None).await,
        Code::FailedPrecondition,
    );

    let list = |key: &str| {
        let mut entitlements = world.entitlements();
        let request = with_key(
            ListEntitlementsRequest {
                parent: world.managed_1.name.clone(),
            },
            key,
        );
        async move { entitlements.list_entitlements(request).await }
    };
    let owner = world
        .personal_key(&world.managed_1, "owner@managed-1.test")
        .await;
    let admin = world.key(&world.managed_1, &["admin"]).await;
    let listed = list(&owner).await.unwrap().into_inner().entitlements;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].capability, Capability::SaasManagement as i32);
    let status = assert_code(list(&admin).await, Code::PermissionDenied);
    assert!(status.message().contains("only owners"), "{status:?}");
    assert_code(list(&partner_key).await, Code::PermissionDenied);

    // The personal key acts with its user's role at each call: once the
    // owner has left the organization, the key opens nothing.
    world
        .add_member(&world.managed_1, "successor@example.com", Role::Owner)
        .await
        .unwrap();
    let mut members = MembersServiceClient::new(world.channel.clone());
    let leaving = members
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
        .members
        .into_iter()
        .find(|member| member.email == "owner@managed-1.test")
        .unwrap();
    members
        .remove_member(with_key(
            RemoveMemberRequest { name: leaving.name },
            world.admin(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(estate_e2e::TEST_CREDENTIAL_CACHE_TTL * 2).await;
    assert_code(list(&owner).await, Code::Unauthenticated);
}

#[tokio::test]
async fn beacons_report_heartbeats_and_are_counted() {
    let world = World::build().await;
    let key = world.key(&world.managed_1, &["admin"]).await;
    let mut beacons = BeaconsServiceClient::new(world.channel.clone());
    let register = |request_id: &str| RegisterBeaconRequest {
        parent: world.managed_1.name.clone(),
        beacon: Some(Beacon {
            display_name: "HQ".into(),
            version: "7.4.1".into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
    };
    let first = beacons
        .register_beacon(with_key(register("b-1"), &key))
        .await
        .unwrap()
        .into_inner();
    // A retried registration does not count twice.
    beacons
        .register_beacon(with_key(register("b-1"), &key))
        .await
        .unwrap();
    beacons
        .register_beacon(with_key(register("b-2"), &key))
        .await
        .unwrap();
    world.platform.clock.advance(Duration::minutes(5));
    let beat = beacons
        .record_beacon_heartbeat(with_key(
            RecordBeaconHeartbeatRequest {
                name: first.name.clone(),
                status: BeaconStatus::Warning.into(),
                version: "7.5.0".into(),
                status_message: "disk almost full".into(),
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(beat.status, BeaconStatus::Warning as i32);
    assert_eq!(beat.version, "7.5.0");
    assert_eq!(
        beat.last_contact_time,
        Some(timestamp(estate_e2e::pinned_now() + Duration::minutes(5)))
    );
    assert_code(
        beacons
            .record_beacon_heartbeat(with_key(
                RecordBeaconHeartbeatRequest {
                    name: first.name,
                    status: BeaconStatus::Unspecified.into(),
                    ..Default::default()
                },
                &key,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        world
            .row(&world.partner_1, &world.managed_1)
            .await
            .beacon_count,
        2
    );
}

/// A beacon that stops reporting goes silent past its threshold; any
/// beacon problem makes a synced customer WARNING, the overview lists just
/// those customers, and an owner can deregister a beacon.
#[tokio::test]
async fn a_silent_beacon_is_a_problem_the_overview_shows_and_owners_remove() {
    use estate_proto::customers::{BeaconHealth, DeleteBeaconRequest, ListBeaconsRequest};
    let world = World::build().await;
    let key = world.key(&world.managed_1, &["admin"]).await;
    let mut beacons = BeaconsServiceClient::new(world.channel.clone());
    let beacon = beacons
        .register_beacon(with_key(
            RegisterBeaconRequest {
                parent: world.managed_1.name.clone(),
                beacon: Some(Beacon {
                    display_name: "HQ".into(),
                    version: "7.4.1".into(),
                    silent_after: Some(prost_types::Duration {
                        seconds: 3_600,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(beacon.health(), BeaconHealth::Ok);
    world.sync(&world.managed_1).await;
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(
        (row.status(), row.beacon_problem_count),
        (CustomerStatus::Synced, 0)
    );
    let problems_only = |key: &str| {
        let mut client = world.overview_client();
        let request = with_key(
            ListCustomerOverviewsRequest {
                parent: world.partner_1.name.clone(),
                filter: Some(OverviewFilter {
                    beacon_problems_only: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
            key,
        );
        async move {
            client
                .list_customer_overviews(request)
                .await
                .unwrap()
                .into_inner()
                .customer_overviews
                .into_iter()
                .map(|row| row.customer)
                .collect::<Vec<_>>()
        }
    };
    assert!(problems_only(world.admin()).await.is_empty());

    // Silent for an hour: a problem, by time alone.
    world.platform.clock.advance(Duration::minutes(61));
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(
        (row.status(), row.beacon_problem_count),
        (CustomerStatus::Warning, 1)
    );
    assert_eq!(
        problems_only(world.admin()).await,
        vec![world.managed_1.name.clone()]
    );
    let listed = beacons
        .list_beacons(with_key(
            ListBeaconsRequest {
                parent: world.managed_1.name.clone(),
                ..Default::default()
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner()
        .beacons;
    assert_eq!(listed[0].health(), BeaconHealth::Silent);

    // Reporting again: fine again; reporting an error: a problem.
    let beat = |status: BeaconStatus| {
        let mut client = beacons.clone();
        let request = with_key(
            RecordBeaconHeartbeatRequest {
                name: beacon.name.clone(),
                status: status.into(),
                ..Default::default()
            },
            &key,
        );
        async move { client.record_beacon_heartbeat(request).await.unwrap() }
    };
    beat(BeaconStatus::Ok).await;
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(
        (row.status(), row.beacon_problem_count),
        (CustomerStatus::Synced, 0)
    );
    beat(BeaconStatus::Error).await;
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(row.status(), CustomerStatus::Warning);

    // Only owners deregister it.
    let delete = || DeleteBeaconRequest {
        name: beacon.name.clone(),
    };
    assert_code(
        beacons.delete_beacon(with_key(delete(), &key)).await,
        Code::PermissionDenied,
    );
    let owner = world
        .personal_key(&world.managed_1, "owner@managed-1.test")
        .await;
    beacons
        .delete_beacon(with_key(delete(), &owner))
        .await
        .unwrap();
    let row = world.row(&world.partner_1, &world.managed_1).await;
    assert_eq!(
        (row.status(), row.beacon_count, row.beacon_problem_count),
        (CustomerStatus::Synced, 0, 0)
    );
    assert_code(
        beacons.delete_beacon(with_key(delete(), &owner)).await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn the_overview_sorts_filters_pages_pins_favorites_and_exports() {
    let world = World::build().await;
    for name in ["Delta", "alpha", "Charlie", "Bravo"] {
        world
            .create_customer(&world.partner_2.name, name, RelationshipOwner::Partner)
            .await;
    }
    world
        .set_grant(&world.owned, &world.partner_2, AccessMode::Disabled, None)
        .await;
    let synced = world.row(&world.partner_2, &world.managed_2).await;
    world.sync(&world.managed_2).await;
    let key = world.key(&world.partner_2, &["member"]).await;
    let list = |order_by: &str, filter: Option<OverviewFilter>, page_size: i32, token: String| {
        let mut overview = world.overview_client();
        let request = with_key(
            ListCustomerOverviewsRequest {
                parent: world.partner_2.name.clone(),
                page_size,
                page_token: token,
                order_by: order_by.into(),
                filter,
            },
            &key,
        );
        async move { overview.list_customer_overviews(request).await }
    };
    let names = |rows: &[estate_proto::customers::CustomerOverview]| {
        rows.iter()
            .map(|row| row.display_name.clone())
            .collect::<Vec<_>>()
    };

    // By name (byte order), paged two at a time.
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = list("display_name", None, 2, token)
            .await
            .unwrap()
            .into_inner();
        assert!(page.customer_overviews.len() <= 2);
        all.extend(page.customer_overviews);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        names(&all),
        ["Bravo", "Charlie", "Delta", "Managed 2", "Owned", "alpha"]
    );

    // By status, descending: access disabled first, synced last.
    let by_status = list("status desc", None, 100, String::new())
        .await
        .unwrap()
        .into_inner()
        .customer_overviews;
    assert_eq!(by_status[0].display_name, "Owned");
    assert_eq!(by_status.last().unwrap().customer, synced.customer);

    // Filtered by status and by name.
    let pending = list(
        "",
        Some(OverviewFilter {
            statuses: vec![CustomerStatus::SyncPending.into()],
            ..Default::default()
        }),
        100,
        String::new(),
    )
    .await
    .unwrap()
    .into_inner()
    .customer_overviews;
    assert_eq!(names(&pending), ["Bravo", "Charlie", "Delta", "alpha"]);
    let named = list(
        "",
        Some(OverviewFilter {
            display_name_contains: "LPH".into(),
            ..Default::default()
        }),
        100,
        String::new(),
    )
    .await
    .unwrap()
    .into_inner()
    .customer_overviews;
    assert_eq!(names(&named), ["alpha"]);

    // A favorite comes first, whatever the order.
    let charlie = all
        .iter()
        .find(|row| row.display_name == "Charlie")
        .unwrap();
    world
        .overview_client()
        .set_customer_favorite(with_key(
            SetCustomerFavoriteRequest {
                parent: world.partner_2.name.clone(),
                customer: charlie.customer.clone(),
                favorite: true,
            },
            &key,
        ))
        .await
        .unwrap();
    let first_page = list("display_name desc", None, 2, String::new())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&first_page.customer_overviews), ["Charlie", "alpha"]);
    assert!(first_page.customer_overviews[0].favorite);
    let second_page = list("display_name desc", None, 10, first_page.next_page_token)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        names(&second_page.customer_overviews),
        ["Owned", "Managed 2", "Delta", "Bravo"]
    );
    // Favorites are the caller's own: the administrator has none.
    let admin_view = world.overview(&world.partner_2, world.admin()).await;
    assert!(admin_view.iter().all(|row| !row.favorite));

    // Bad input names the field.
    assert_code(
        list("colour", None, 10, String::new()).await,
        Code::InvalidArgument,
    );
    let token = list("status", None, 1, String::new())
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert_code(
        list("display_name", None, 1, token).await,
        Code::InvalidArgument,
    );

    // CSV: a header and one line per row, in the listing's order.
    let mut stream = world
        .overview_client()
        .export_customer_overviews(with_key(
            ExportCustomerOverviewsRequest {
                parent: world.partner_2.name.clone(),
                order_by: "display_name".into(),
                filter: None,
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        csv.extend(chunk.csv);
    }
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(lines[0].starts_with("customer,display_name,external_id,status"));
    assert!(lines[1].contains(",Charlie,"), "{csv}");
    assert!(lines[1].contains(",SYNC_PENDING,"), "{csv}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains(",Managed 2,,SYNCED,"))
    );
}

/// "Access disabled: no data is shown" means none: a partner's row of a
/// customer whose grant is disabled keeps the name, ids and status, and
/// nothing of the customer's beacons, syncs or entitlements, however they
/// change.
#[tokio::test]
async fn a_row_without_access_shows_nothing_but_the_name_ids_and_status() {
    let world = World::build().await;
    // Wide open first: a grant, a beacon, an expiring entitlement, a sync.
    world
        .set_grant(&world.owned, &world.partner_1, AccessMode::Continuous, None)
        .await;
    for holder in [&world.distributor, &world.partner_1] {
        entitle(&world, holder, Capability::SamCore, None)
            .await
            .unwrap();
    }
    entitle(
        &world,
        &world.owned,
        Capability::SamCore,
        Some(Duration::days(20)),
    )
    .await
    .unwrap();
    let key = world.key(&world.owned, &["admin"]).await;
    BeaconsServiceClient::new(world.channel.clone())
        .register_beacon(with_key(
            RegisterBeaconRequest {
                parent: world.owned.name.clone(),
                beacon: Some(Beacon {
                    display_name: "HQ".into(),
                    version: "1".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &key,
        ))
        .await
        .unwrap();
    world.sync(&world.owned).await;
    let open = world.row(&world.partner_1, &world.owned).await;
    assert_eq!(open.beacon_count, 1);
    assert!(open.last_successful_sync_time.is_some());
    assert_eq!(
        open.expiration_status,
        ExpirationStatus::ExpiresIn30Days as i32
    );

    world
        .set_grant(&world.owned, &world.partner_1, AccessMode::Disabled, None)
        .await;
    // The customer keeps working meanwhile.
    BeaconsServiceClient::new(world.channel.clone())
        .register_beacon(with_key(
            RegisterBeaconRequest {
                parent: world.owned.name.clone(),
                beacon: Some(Beacon {
                    display_name: "Branch".into(),
                    version: "1".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &key,
        ))
        .await
        .unwrap();
    world.platform.clock.advance(Duration::days(15));
    let member = world.key(&world.partner_1, &["member"]).await;
    let rows = world.overview(&world.partner_1, &member).await;
    let closed = rows
        .iter()
        .find(|row| row.customer == world.owned.name)
        .expect("the row stays listed");
    assert_eq!(closed.status, CustomerStatus::AccessDisabled as i32);
    assert_eq!(closed.display_name, world.owned.display_name);
    assert_eq!(closed.beacon_count, 0);
    assert_eq!(closed.last_successful_sync_time, None);
    assert_eq!(closed.days_since_last_sync, None);
    // A member sees no entitlement information at all; an owner sees that
    // it is unavailable.
    assert!(closed.entitlements_withheld);
    assert_eq!(
        closed.upcoming_expiration_kind,
        UpcomingExpirationKind::Unspecified as i32
    );
    let owner = world
        .personal_key(&world.partner_1, "owner@partner-1.test")
        .await;
    let rows = world.overview(&world.partner_1, &owner).await;
    let closed = rows
        .iter()
        .find(|row| row.customer == world.owned.name)
        .expect("the row stays listed");
    assert!(!closed.entitlements_withheld);
    assert_eq!(
        closed.upcoming_expiration_kind,
        UpcomingExpirationKind::Unavailable as i32
    );
    assert_eq!(closed.upcoming_expiration_time, None);
    assert_eq!(
        closed.expiration_status,
        ExpirationStatus::Unspecified as i32
    );
    assert!(closed.computers.is_none() && closed.licenses_and_usage.is_none());
    assert!(closed.compliance.is_none() && closed.applications.is_none());
}

/// The SaaS source: applications and users' activity, stored once per
/// upload, gated by the SaaS Management capability, shown in the
/// overview's SaaS group.
#[tokio::test]
async fn saas_activity_feeds_the_overviews_saas_group() {
    use estate_proto::licensing::inventory_service_client::InventoryServiceClient;
    use estate_proto::licensing::{
        IngestSaasActivityRequest, ListSaasApplicationsRequest, SaasActivityRecord,
    };
    let world = World::build().await;
    let key = world.key(&world.managed_1, &["admin"]).await;
    let customer = world
        .managed_1
        .name
        .replacen("organizations/", "customers/", 1);
    let at = |days_ago: i64| {
        Some(timestamp(
            estate_e2e::pinned_now() - Duration::days(days_ago),
        ))
    };
    let record = |application: &str, username: &str, days_ago: i64| SaasActivityRecord {
        application: application.into(),
        vendor: "Vendor".into(),
        username: username.into(),
        last_active_time: at(days_ago),
    };
    let upload = |upload_id: &str, records: Vec<SaasActivityRecord>| {
        let mut client = InventoryServiceClient::new(world.channel.clone());
        let request = with_key(
            IngestSaasActivityRequest {
                parent: customer.clone(),
                upload_id: upload_id.into(),
                records,
            },
            &key,
        );
        async move { client.ingest_saas_activity(request).await }
    };
    let records = vec![
        record("Salesforce", "ada", 1),
        record("Salesforce", "bo", 45),
        record("Slack", "ada", 3),
        record("Slack", "cy", 10),
    ];
    // Without SaaS Management: refused, naming the capability.
    let status = assert_code(
        upload("u-1", records.clone()).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("SaaS Management"), "{status:?}");
    world
        .platform
        .entitle(&world.managed_1.name, "saas-management")
        .await
        .unwrap();
    let stored = upload("u-1", records.clone()).await.unwrap().into_inner();
    assert_eq!(
        (stored.replayed, stored.applications, stored.records),
        (false, 2, 4)
    );
    let again = upload("u-1", records).await.unwrap().into_inner();
    assert!(again.replayed);
    // The same upload id with other records is refused as reused (not by
    // the capability gate, which answers FAILED_PRECONDITION too).
    let reused = assert_code(
        upload("u-1", vec![record("Zoom", "ada", 1)]).await,
        Code::FailedPrecondition,
    );
    let details = tonic_types::StatusExt::get_error_details(&reused);
    let violations = &details.precondition_failure().unwrap().violations;
    assert_eq!(violations[0].r#type, "REQUEST_ID_REUSED", "{reused:?}");
    let listed = InventoryServiceClient::new(world.channel.clone())
        .list_saas_applications(with_key(
            ListSaasApplicationsRequest {
                parent: customer.clone(),
                ..Default::default()
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner()
        .saas_applications;
    let figures: Vec<(&str, i64, i64)> = listed
        .iter()
        .map(|app| {
            (
                app.display_name.as_str(),
                app.users,
                app.active_users_30_days,
            )
        })
        .collect();
    assert!(figures.contains(&("Salesforce", 2, 1)), "{figures:?}");
    assert!(figures.contains(&("Slack", 2, 2)), "{figures:?}");

    // The overview's SaaS group: 2 applications, 2 users active in 30 days.
    world.sync(&world.managed_1).await;
    let row = world.row(&world.partner_1, &world.managed_1).await;
    let saas = row.saas.expect("entitled to SaaS Management");
    assert_eq!((saas.applications, saas.active_users), (2, 2));
}
