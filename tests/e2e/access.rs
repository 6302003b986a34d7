//! Tenancy through every service: an organization's keys reach that
//! organization and what lies below it, nothing else.

use estate_e2e::{Platform, with_key};
use estate_proto::billing::ListServicePlansRequest;
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{GetOrganizationRequest, ListOrganizationsRequest};
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use estate_proto::licensing::{
    AssignmentType, CreateLicenseRequest, GetLicenseRequest, License, ListLicensesRequest, Metric,
    Quantity, quantity,
};
use tonic::Code;

use crate::assert_code;
use crate::estate::Estate;

fn as_customer(organization: &str) -> String {
    organization.replacen("organizations/", "customers/", 1)
}

#[tokio::test]
async fn a_partner_reaches_its_own_customers_and_never_another_partners() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let partner_a = platform
        .create_organization(&distributor.name, OrganizationKind::Partner, "A")
        .await
        .unwrap();
    let partner_b = platform
        .create_organization(&distributor.name, OrganizationKind::Partner, "B")
        .await
        .unwrap();
    let customer_a = platform
        .create_organization(&partner_a.name, OrganizationKind::Customer, "A1")
        .await
        .unwrap();
    let customer_b = platform
        .create_organization(&partner_b.name, OrganizationKind::Customer, "B1")
        .await
        .unwrap();
    let key_a = platform
        .create_api_key(&partner_a.name, &["admin"])
        .await
        .unwrap();

    let channel = platform.gateway_channel().await.unwrap();
    let mut organizations = OrganizationsServiceClient::new(channel.clone());
    let mut licenses = LicensesServiceClient::new(channel.clone());
    let mut plans = ServicePlansServiceClient::new(channel.clone());

    // Own customer: visible and writable.
    organizations
        .get_organization(with_key(
            GetOrganizationRequest {
                name: customer_a.name.clone(),
            },
            &key_a,
        ))
        .await
        .unwrap();
    let estate_a = Estate::new(channel.clone(), &key_a, &customer_a.name);
    let office = estate_a.application("Office", "2021").await;
    let root = estate_a.root().await;
    estate_a
        .create_license(Estate::complete_license(
            &office,
            &root,
            AssignmentType::Organization,
            10,
        ))
        .await
        .unwrap();
    // Names nothing of either tenant, so only authorization can refuse it.
    let license = License {
        metric: Metric::Installations.into(),
        quantity: Some(Quantity {
            kind: Some(quantity::Kind::Count(10)),
        }),
        ..Default::default()
    };

    // The other partner's customer: denied in every service and every verb.
    let other = |name: &str| GetOrganizationRequest {
        name: name.to_string(),
    };
    assert_code(
        organizations
            .get_organization(with_key(other(&customer_b.name), &key_a))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        organizations
            .get_organization(with_key(other(&partner_b.name), &key_a))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        organizations
            .get_organization(with_key(other(&distributor.name), &key_a))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        organizations
            .list_organizations(with_key(
                ListOrganizationsRequest {
                    parent: partner_b.name.clone(),
                    ..Default::default()
                },
                &key_a,
            ))
            .await,
        Code::PermissionDenied,
    );
    let foreign = CreateLicenseRequest {
        parent: as_customer(&customer_b.name),
        license: Some(license),
        request_id: String::new(),
    };
    assert_code(
        licenses.create_license(with_key(foreign, &key_a)).await,
        Code::PermissionDenied,
    );
    assert_code(
        licenses
            .list_licenses(with_key(
                ListLicensesRequest {
                    parent: as_customer(&customer_b.name),
                    ..Default::default()
                },
                &key_a,
            ))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        plans
            .list_service_plans(with_key(
                ListServicePlansRequest {
                    parent: distributor
                        .name
                        .replacen("organizations/", "distributors/", 1),
                    ..Default::default()
                },
                &key_a,
            ))
            .await,
        Code::PermissionDenied,
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_license_id_guessed_from_another_tenant_is_not_found_under_ones_own() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let partner = platform
        .create_organization(&distributor.name, OrganizationKind::Partner, "P")
        .await
        .unwrap();
    let mine = platform
        .create_organization(&partner.name, OrganizationKind::Customer, "Mine")
        .await
        .unwrap();
    let theirs = platform
        .create_organization(&distributor.name, OrganizationKind::Customer, "Theirs")
        .await
        .unwrap();
    let key = platform
        .create_api_key(&partner.name, &["admin"])
        .await
        .unwrap();
    let channel = platform.gateway_channel().await.unwrap();
    let mut licenses = LicensesServiceClient::new(channel.clone());
    let their_estate = Estate::new(channel, &platform.admin_key, &theirs.name);
    let application = their_estate.application("Theirs", "1").await;
    let root = their_estate.root().await;
    let created = their_estate
        .create_license(Estate::complete_license(
            &application,
            &root,
            AssignmentType::User,
            1,
        ))
        .await
        .unwrap();
    let license_id = created.name.rsplit('/').next().unwrap();
    // The partner asks for the other tenant's license id under its own
    // customer: the row exists, but not for this tenant.
    let guessed = format!("{}/licenses/{license_id}", as_customer(&mine.name));
    assert_code(
        licenses
            .get_license(with_key(GetLicenseRequest { name: guessed }, &key))
            .await,
        Code::NotFound,
    );
    assert_code(
        licenses
            .get_license(with_key(GetLicenseRequest { name: created.name }, &key))
            .await,
        Code::PermissionDenied,
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_member_key_reads_but_cannot_write() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let key = platform
        .create_api_key(&distributor.name, &["member"])
        .await
        .unwrap();
    let mut organizations =
        OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    organizations
        .get_organization(with_key(
            GetOrganizationRequest {
                name: distributor.name.clone(),
            },
            &key,
        ))
        .await
        .unwrap();
    let request = estate_proto::customers::CreateOrganizationRequest {
        parent: distributor.name.clone(),
        organization: Some(estate_proto::customers::Organization {
            kind: OrganizationKind::Partner.into(),
            display_name: "P".into(),
            ..Default::default()
        }),
        request_id: String::new(),
        initial_owner: estate_e2e::initial_owner(&distributor.name, "P"),
    };
    assert_code(
        organizations
            .create_organization(with_key(request, &key))
            .await,
        Code::PermissionDenied,
    );
    platform.shutdown().await.unwrap();
}

/// A calculation writes results and prunes older ones: readers (a
/// customer's member, a view-only partner) may read the results, never
/// start one.
#[tokio::test]
async fn starting_a_compliance_calculation_needs_write_access() {
    use estate_proto::customers::{AccessMode, RelationshipOwner};
    use estate_proto::licensing::compliance_service_client::ComplianceServiceClient;
    use estate_proto::licensing::{CalculateComplianceRequest, GetComplianceRunRequest};

    let world = crate::world::World::build().await;
    let calculate = |customer: &str, key: String| {
        let (channel, parent) = (world.channel.clone(), as_customer(customer));
        async move {
            let mut stream = ComplianceServiceClient::new(channel)
                .calculate_compliance(with_key(CalculateComplianceRequest { parent }, &key))
                .await?
                .into_inner();
            while stream.message().await?.is_some() {}
            Ok::<_, tonic::Status>(())
        }
    };
    // A customer-owned relationship, granted: the partner is view-only.
    let owned = world
        .create_customer(
            &world.partner_1.name.clone(),
            "Viewed",
            RelationshipOwner::Customer,
        )
        .await;
    world
        .set_grant(&owned, &world.partner_1, AccessMode::Continuous, None)
        .await;
    let partner_user = world
        .key(&world.partner_1, &["authorized_partner_user"])
        .await;
    let member = world.key(&world.managed_1, &["member"]).await;
    for (customer, key) in [
        (&owned, partner_user.clone()),
        (&world.managed_1, member.clone()),
    ] {
        assert_code(calculate(&customer.name, key).await, Code::PermissionDenied);
    }
    // Writers may; the readers still read what they made.
    calculate(
        &world.managed_1.name,
        world.key(&world.managed_1, &["admin"]).await,
    )
    .await
    .unwrap();
    calculate(&world.managed_1.name, partner_user.clone())
        .await
        .unwrap();
    ComplianceServiceClient::new(world.channel.clone())
        .get_compliance_run(with_key(
            GetComplianceRunRequest {
                name: format!(
                    "{}/complianceRuns/latest",
                    as_customer(&world.managed_1.name)
                ),
            },
            &member,
        ))
        .await
        .unwrap();
}

/// SAM Core is what a parent sells for the licensing service: without it
/// active, the customer's own keys (and its partner's) change nothing
/// there, with a clear FAILED_PRECONDITION naming the capability; reading
/// existing data stays, and the platform's administrators may still
/// repair data.
#[tokio::test]
async fn licensing_changes_need_an_active_sam_core_entitlement() {
    use estate_proto::customers::entitlements_service_client::EntitlementsServiceClient;
    use estate_proto::licensing::catalog_service_client::CatalogServiceClient;
    let platform = Platform::spawn().await.unwrap();
    let channel = platform.gateway_channel().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let customer = platform
        .create_organization(&distributor.name, OrganizationKind::Customer, "C")
        .await
        .unwrap();
    let key = platform
        .create_api_key(&customer.name, &["admin"])
        .await
        .unwrap();
    let estate = Estate::new(channel.clone(), &key, &customer.name);
    let admin = Estate::new(channel.clone(), &platform.admin_key, &customer.name);
    // Entitled (the fixture sells SAM Core): changes are taken.
    estate.application("Office", "1").await;

    let mut entitlements = EntitlementsServiceClient::new(channel.clone());
    let expiring = estate_proto::customers::SetEntitlementRequest {
        parent: customer.name.clone(),
        capability: estate_proto::customers::Capability::SamCore.into(),
        expire_time: Some(prost_types::Timestamp {
            seconds: (estate_e2e::pinned_now() + chrono::Duration::days(1)).timestamp(),
            nanos: 0,
        }),
    };
    entitlements
        .set_entitlement(with_key(expiring, &platform.admin_key))
        .await
        .unwrap();
    estate.application("Office", "2").await;
    platform.clock.advance(chrono::Duration::days(2));

    let create = |estate: &Estate, version: &str| {
        let request = estate.request(estate_proto::licensing::CreateApplicationRequest {
            parent: estate.customer.clone(),
            application: Some(estate_proto::licensing::Application {
                manufacturer: "Contoso".into(),
                display_name: format!("Visio {version}"),
                family_display_name: "Visio".into(),
                version: version.into(),
                default_metric: estate_proto::licensing::Metric::Installations.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        });
        let mut client = CatalogServiceClient::new(channel.clone());
        async move { client.create_application(request).await }
    };
    // Expired: refused, naming the capability; reads stay.
    let status = assert_code(create(&estate, "1").await, Code::FailedPrecondition);
    let details = tonic_types::StatusExt::get_error_details(&status);
    let violation = &details.precondition_failure().unwrap().violations[0];
    assert_eq!(violation.r#type, "CAPABILITY_MISSING");
    assert_eq!(
        violation.subject,
        format!("{}/entitlements/sam-core", customer.name)
    );
    assert!(status.message().contains("SAM Core"), "{status:?}");
    CatalogServiceClient::new(channel.clone())
        .list_applications(
            estate.request(estate_proto::licensing::ListApplicationsRequest {
                parent: estate.customer.clone(),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    // The platform's administrators are not bound.
    create(&admin, "2").await.unwrap();

    // Deleted outright: the same.
    let delete = estate_proto::customers::DeleteEntitlementRequest {
        name: format!("{}/entitlements/sam-core", customer.name),
    };
    entitlements
        .delete_entitlement(with_key(delete, &platform.admin_key))
        .await
        .unwrap();
    assert_code(create(&estate, "3").await, Code::FailedPrecondition);
    platform.shutdown().await.unwrap();
}
