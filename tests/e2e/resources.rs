//! The first-cut resources: validation with field violations, idempotent
//! creates, pagination, uniqueness.

use estate_e2e::{Platform, with_key};
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{CreateServicePlanRequest, LicenseType, ServicePlan};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{
    CreateOrganizationRequest, GetOrganizationRequest, ListOrganizationsRequest, Organization,
};
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use estate_proto::licensing::{
    CreateLicenseRequest, License, ListLicensesRequest, Metric, Quantity, Unlimited, quantity,
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::assert_code;

fn field_violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|violation| (violation.field.clone(), violation.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_input_is_answered_with_every_offending_field_and_why() {
    let platform = Platform::spawn().await.unwrap();
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    let request = CreateOrganizationRequest {
        parent: String::new(),
        organization: Some(Organization {
            kind: OrganizationKind::Unspecified.into(),
            display_name: String::new(),
            description: "x".repeat(4097),
            external_id: "e".repeat(257),
            ..Default::default()
        }),
        request_id: String::new(),
        initial_owner: None,
    };
    let status = assert_code(
        client
            .create_organization(with_key(request, &platform.admin_key))
            .await,
        Code::InvalidArgument,
    );
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(
        fields,
        [
            "organization.display_name",
            "organization.description",
            "organization.external_id",
            "organization.kind"
        ]
    );

    let status = assert_code(
        client
            .get_organization(with_key(
                GetOrganizationRequest {
                    name: "organizations/nope".into(),
                },
                &platform.admin_key,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_violations(&status)[0].0, "name");

    let mut licenses = LicensesServiceClient::new(platform.gateway_channel().await.unwrap());
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let request = CreateLicenseRequest {
        parent: distributor.name.replacen("organizations/", "customers/", 1),
        license: Some(License {
            metric: Metric::Installations.into(),
            quantity: Some(Quantity {
                kind: Some(quantity::Kind::Count(-1)),
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let status = assert_code(
        licenses
            .create_license(with_key(request, &platform.admin_key))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_violations(&status)[0].0, "license.quantity.count");
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_create_retried_with_the_same_request_id_creates_once() {
    let platform = Platform::spawn().await.unwrap();
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    let request = || CreateOrganizationRequest {
        parent: String::new(),
        organization: Some(Organization {
            kind: OrganizationKind::Distributor.into(),
            display_name: "Once".into(),
            ..Default::default()
        }),
        request_id: "retry-me".into(),
        initial_owner: None,
    };
    let first = client
        .create_organization(with_key(request(), &platform.admin_key))
        .await
        .unwrap();
    let second = client
        .create_organization(with_key(request(), &platform.admin_key))
        .await
        .unwrap();
    assert_eq!(first.get_ref().name, second.get_ref().name);
    let stored: i64 = platform
        .database
        .connect()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM customers.organizations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn external_ids_are_unique_per_parent_only() {
    let platform = Platform::spawn().await.unwrap();
    let first = platform
        .create_organization("", OrganizationKind::Distributor, "A")
        .await
        .unwrap();
    let second = platform
        .create_organization("", OrganizationKind::Distributor, "B")
        .await
        .unwrap();
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    let create = |parent: &str| CreateOrganizationRequest {
        parent: parent.into(),
        organization: Some(Organization {
            kind: OrganizationKind::Partner.into(),
            display_name: "P".into(),
            external_id: "EXT-1".into(),
            ..Default::default()
        }),
        request_id: String::new(),
        initial_owner: estate_e2e::initial_owner(parent, "P"),
    };
    client
        .create_organization(with_key(create(&first.name), &platform.admin_key))
        .await
        .unwrap();
    client
        .create_organization(with_key(create(&second.name), &platform.admin_key))
        .await
        .unwrap();
    assert_code(
        client
            .create_organization(with_key(create(&first.name), &platform.admin_key))
            .await,
        Code::AlreadyExists,
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn lists_page_through_every_row_exactly_once() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let mut created = Vec::new();
    for index in 0..5 {
        let partner = platform
            .create_organization(
                &distributor.name,
                OrganizationKind::Partner,
                &format!("P{index}"),
            )
            .await
            .unwrap();
        created.push(partner.name);
    }
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let response = client
            .list_organizations(with_key(
                ListOrganizationsRequest {
                    parent: distributor.name.clone(),
                    page_size: 2,
                    page_token,
                },
                &platform.admin_key,
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(
            response
                .organizations
                .into_iter()
                .map(|organization| organization.name),
        );
        if response.next_page_token.is_empty() {
            break;
        }
        page_token = response.next_page_token;
    }
    assert_eq!(seen, created);
    assert_eq!(pages, 3);

    let status = assert_code(
        client
            .list_organizations(with_key(
                ListOrganizationsRequest {
                    parent: distributor.name.clone(),
                    page_size: 2,
                    page_token: "forged".into(),
                },
                &platform.admin_key,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_violations(&status)[0].0, "page_token");
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unlimited_license_is_stored_as_unlimited_not_as_a_number() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let customer = platform
        .create_organization(&distributor.name, OrganizationKind::Customer, "C")
        .await
        .unwrap();
    let parent = customer.name.replacen("organizations/", "customers/", 1);
    let channel = platform.gateway_channel().await.unwrap();
    let mut licenses = LicensesServiceClient::new(channel.clone());
    let estate = crate::estate::Estate::new(channel, &platform.admin_key, &customer.name);
    let reader = estate.application("Acrobat Reader", "2024").await;
    let root = estate.root().await;
    let mut license = crate::estate::Estate::complete_license(
        &reader,
        &root,
        estate_proto::licensing::AssignmentType::Site,
        1,
    );
    license.metric = Metric::Site.into();
    license.quantity = Some(Quantity {
        kind: Some(quantity::Kind::Unlimited(Unlimited {})),
    });
    let request = CreateLicenseRequest {
        parent: parent.clone(),
        license: Some(license),
        request_id: String::new(),
    };
    licenses
        .create_license(with_key(request, &platform.admin_key))
        .await
        .unwrap();
    let listed = licenses
        .list_licenses(with_key(
            ListLicensesRequest {
                parent,
                ..Default::default()
            },
            &platform.admin_key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.licenses[0].quantity,
        Some(Quantity {
            kind: Some(quantity::Kind::Unlimited(Unlimited {}))
        })
    );
    let stored = platform
        .database
        .connect()
        .await
        .unwrap()
        .query_one("SELECT quantity, unlimited FROM licensing.licenses", &[])
        .await
        .unwrap();
    assert_eq!(stored.get::<_, Option<i64>>(0), None);
    assert!(stored.get::<_, bool>(1));
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn service_plan_names_are_unique_per_distributor() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let mut plans = ServicePlansServiceClient::new(platform.gateway_channel().await.unwrap());
    let create = || CreateServicePlanRequest {
        parent: distributor
            .name
            .replacen("organizations/", "distributors/", 1),
        service_plan: Some(ServicePlan {
            display_name: "SAM Core".into(),
            product: "sam-core".into(),
            license_type: LicenseType::Full.into(),
            unit_type: "device".into(),
            initial_period_months: 12,
            expiration_notification_days: 30,
            enabled: true,
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let created = plans
        .create_service_plan(with_key(create(), &platform.admin_key))
        .await
        .unwrap()
        .into_inner();
    assert!(created.name.contains("/servicePlans/"));
    let status = assert_code(
        plans
            .create_service_plan(with_key(create(), &platform.admin_key))
            .await,
        Code::AlreadyExists,
    );
    assert!(status.message().contains("SAM Core"), "{status:?}");
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn each_service_accepts_only_tenants_of_its_kind() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let partner = platform
        .create_organization(&distributor.name, OrganizationKind::Partner, "P")
        .await
        .unwrap();
    let channel = platform.gateway_channel().await.unwrap();

    // Licenses belong to customers, not to partners.
    let mut licenses = LicensesServiceClient::new(channel.clone());
    let request = CreateLicenseRequest {
        parent: partner.name.replacen("organizations/", "customers/", 1),
        license: Some(License {
            metric: Metric::Installations.into(),
            quantity: Some(Quantity {
                kind: Some(quantity::Kind::Count(1)),
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let status = assert_code(
        licenses
            .create_license(with_key(request, &platform.admin_key))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        field_violations(&status),
        [(
            "parent".to_string(),
            "names a partner organization; expected a customer".to_string()
        )]
    );

    // Service plans belong to distributors; an organization that does not
    // exist is refused too, even for an administrator.
    let mut plans = ServicePlansServiceClient::new(channel);
    let list = |parent: String| {
        with_key(
            estate_proto::billing::ListServicePlansRequest {
                parent,
                ..Default::default()
            },
            &platform.admin_key,
        )
    };
    assert_code(
        plans
            .list_service_plans(list(partner.name.replacen(
                "organizations/",
                "distributors/",
                1,
            )))
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        plans
            .list_service_plans(list(format!("distributors/{}", uuid::Uuid::now_v7())))
            .await,
        Code::PermissionDenied,
    );
    platform.shutdown().await.unwrap();
}
