//! Creates under a race (AIP-155): the same request with the same
//! `request_id` sent many times at once makes one resource, and every
//! call gets it; the same `request_id` with a different request is
//! refused. Also the get-or-create paths that concurrent first uses hit
//! (a new user's email, a new application family).

use std::future::Future;
use std::sync::Arc;

use estate_e2e::with_key;
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::billing::product_licenses_service_client::ProductLicensesServiceClient;
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{
    CreateCustomerAccountRequest, CreatePartnerRequest, CreateProductLicenseRequest,
    CreateServicePlanRequest, CustomerAccount, LicenseType, Partner, PartnerType, ProductLicense,
    ServicePlan,
};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::api_keys_service_client::ApiKeysServiceClient;
use estate_proto::customers::beacons_service_client::BeaconsServiceClient;
use estate_proto::customers::members_service_client::MembersServiceClient;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{
    AddMemberRequest, ApiKey, BatchCreateOrganizationsRequest, Beacon, CreateApiKeyRequest,
    CreateOrganizationRequest, ListOrganizationsRequest, Organization, RegisterBeaconRequest, Role,
};
use estate_proto::licensing::agreements_service_client::AgreementsServiceClient;
use estate_proto::licensing::compliance_service_client::ComplianceServiceClient;
use estate_proto::licensing::{
    Agreement, AgreementKind, Application, AssignmentType, CreateAgreementRequest,
    CreateApplicationRequest, CreateExclusionRequest, CreateLicenseRequest, CreateOrgNodeRequest,
    Exclusion, ListApplicationsRequest, ListFamiliesRequest, OrgNode,
};
use tonic::{Code, Response, Status};

use crate::abuse::tenant;
use crate::billing::Distribution;
use crate::estate::{Estate, computer};

/// How many identical calls race.
const RACERS: usize = 12;

/// Sends `request` `RACERS` times at once through `call`; every call
/// must succeed. The responses.
async fn race<Req, Resp, F, Fut>(request: Req, call: F) -> Vec<Resp>
where
    Req: Clone + Send + 'static,
    Resp: Send + 'static,
    F: Fn(Req) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send,
{
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let calls: Vec<_> = (0..RACERS)
        .map(|_| {
            let (call, request, start) = (call.clone(), request.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                call(request).await
            })
        })
        .collect();
    let mut responses = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(response) => responses.push(response.into_inner()),
            Err(status) => panic!("a racing duplicate failed: {status:?}"),
        }
    }
    responses
}

/// Asserts every response names one and the same resource.
#[track_caller]
fn one_resource(names: impl IntoIterator<Item = String>) -> String {
    let mut names: Vec<String> = names.into_iter().collect();
    names.dedup();
    assert_eq!(names.len(), 1, "{names:?}");
    names.remove(0)
}

#[track_caller]
fn reused(result: Result<impl std::fmt::Debug, Status>) {
    let status = result.expect_err("a request id reused for another request is refused");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let details = tonic_types::StatusExt::get_error_details(&status);
    let violation = &details.precondition_failure().unwrap().violations[0];
    assert_eq!(violation.r#type, "REQUEST_ID_REUSED", "{status:?}");
}

#[tokio::test]
async fn customers_creates_race_to_one_resource() {
    let platform = estate_e2e::Platform::spawn().await.unwrap();
    let estate = tenant(&platform, "Contoso").await;
    let channel = estate.channel.clone();
    let key = estate.key.clone();
    let customer = estate.customer.replacen("customers/", "organizations/", 1);

    let beacon = RegisterBeaconRequest {
        parent: customer.clone(),
        beacon: Some(Beacon {
            display_name: "Scanner".into(),
            version: "1.0".into(),
            ..Default::default()
        }),
        request_id: "beacon-1".into(),
    };
    let registered = race(beacon.clone(), {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                BeaconsServiceClient::new(channel)
                    .register_beacon(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    one_resource(registered.into_iter().map(|beacon| beacon.name));
    let mut other = beacon.clone();
    other.beacon.as_mut().unwrap().display_name = "Other".into();
    reused(
        BeaconsServiceClient::new(channel.clone())
            .register_beacon(with_key(other, &key))
            .await,
    );

    let api_key = CreateApiKeyRequest {
        parent: customer.clone(),
        api_key: Some(ApiKey {
            display_name: "Export".into(),
            roles: vec!["member".into()],
            ..Default::default()
        }),
        request_id: "key-1".into(),
    };
    let created = race(api_key.clone(), {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                ApiKeysServiceClient::new(channel)
                    .create_api_key(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    // The secret is shown once: to the call that made the key.
    assert_eq!(
        created
            .iter()
            .filter(|response| !response.key.is_empty())
            .count(),
        1
    );
    one_resource(
        created
            .into_iter()
            .map(|response| response.api_key.unwrap().name),
    );

    let sub = |external_id: &str| CreateOrganizationRequest {
        parent: customer.clone(),
        organization: Some(Organization {
            kind: OrganizationKind::Customer.into(),
            display_name: "Subsidiary".into(),
            external_id: external_id.into(),
            ..Default::default()
        }),
        request_id: "sub-1".into(),
        initial_owner: estate_e2e::initial_owner(&customer, "Subsidiary"),
    };
    let organizations = race(sub("ext-1"), {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                OrganizationsServiceClient::new(channel)
                    .create_organization(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    let subsidiary = one_resource(
        organizations
            .into_iter()
            .map(|organization| organization.name),
    );
    reused(
        OrganizationsServiceClient::new(channel.clone())
            .create_organization(with_key(sub("ext-2"), &key))
            .await,
    );

    // A batch repeating that create, and two more, raced: one of each.
    let batch = BatchCreateOrganizationsRequest {
        parent: customer.clone(),
        requests: ["sub-1", "sub-2", "sub-3"]
            .iter()
            .map(|request_id| CreateOrganizationRequest {
                parent: String::new(),
                request_id: request_id.to_string(),
                ..sub(if *request_id == "sub-1" {
                    "ext-1"
                } else {
                    request_id
                })
            })
            .collect(),
    };
    let batches = race(batch, {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                OrganizationsServiceClient::new(channel)
                    .batch_create_organizations(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    let names: Vec<Vec<String>> = batches
        .into_iter()
        .map(|batch| batch.organizations.into_iter().map(|o| o.name).collect())
        .collect();
    let first = one_resource(names.iter().map(|names| names.join(",")));
    assert!(first.starts_with(&format!("{subsidiary},")), "{first}");
    let children = OrganizationsServiceClient::new(channel.clone())
        .list_organizations(with_key(
            ListOrganizationsRequest {
                parent: customer.clone(),
                ..Default::default()
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner()
        .organizations;
    assert_eq!(children.len(), 3, "{children:?}");
}

#[tokio::test]
async fn a_new_email_added_to_many_organizations_at_once_is_one_user() {
    let platform = estate_e2e::Platform::spawn().await.unwrap();
    let mut organizations = Vec::new();
    for index in 0..10 {
        organizations.push(tenant(&platform, &format!("Org {index}")).await);
    }
    let start = Arc::new(tokio::sync::Barrier::new(organizations.len()));
    let calls: Vec<_> = organizations
        .iter()
        .map(|estate| {
            let (channel, key, start) = (estate.channel.clone(), estate.key.clone(), start.clone());
            let parent = estate.customer.replacen("customers/", "organizations/", 1);
            tokio::spawn(async move {
                start.wait().await;
                MembersServiceClient::new(channel)
                    .add_member(with_key(
                        AddMemberRequest {
                            parent,
                            email: "new.person@example.test".into(),
                            display_name: "New Person".into(),
                            role: Role::Member.into(),
                        },
                        &key,
                    ))
                    .await
            })
        })
        .collect();
    let mut users = Vec::new();
    for call in calls {
        users.push(
            call.await
                .unwrap()
                .expect("every add succeeds")
                .into_inner()
                .user,
        );
    }
    one_resource(users);
}

#[tokio::test]
async fn licensing_creates_race_to_one_resource() {
    let platform = estate_e2e::Platform::spawn().await.unwrap();
    let estate = tenant(&platform, "Contoso").await;
    let root = estate.root().await;

    let node = CreateOrgNodeRequest {
        parent: estate.customer.clone(),
        org_node: Some(OrgNode {
            parent: root.name.clone(),
            display_name: "Sales".into(),
            legal: true,
            ..Default::default()
        }),
        request_id: "node-1".into(),
    };
    let nodes = race(node.clone(), {
        let estate = estate.clone();
        move |request| {
            let estate = estate.clone();
            async move {
                estate
                    .nodes()
                    .create_org_node(estate.request(request))
                    .await
            }
        }
    })
    .await;
    one_resource(nodes.into_iter().map(|node| node.name));
    let mut other = node;
    other.org_node.as_mut().unwrap().display_name = "Marketing".into();
    reused(estate.nodes().create_org_node(estate.request(other)).await);

    // A new family, first used by an application raced with itself.
    let application = CreateApplicationRequest {
        parent: estate.customer.clone(),
        application: Some(Application {
            manufacturer: "Contoso".into(),
            family_display_name: "Brand New".into(),
            display_name: "Brand New".into(),
            version: "1".into(),
            default_metric: estate_proto::licensing::Metric::Installations.into(),
            ..Default::default()
        }),
        request_id: "app-1".into(),
    };
    let applications = race(application.clone(), {
        let estate = estate.clone();
        move |request| {
            let estate = estate.clone();
            async move {
                estate
                    .catalog()
                    .create_application(estate.request(request))
                    .await
            }
        }
    })
    .await;
    let application_name = one_resource(applications.iter().map(|a| a.name.clone()));
    // …and the same new family used by different applications at once.
    let versions = race(String::new(), {
        let estate = estate.clone();
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        move |_| {
            let estate = estate.clone();
            let version = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                estate
                    .catalog()
                    .create_application(estate.request(CreateApplicationRequest {
                        parent: estate.customer.clone(),
                        application: Some(Application {
                            manufacturer: "Fabrikam".into(),
                            family_display_name: "Shared".into(),
                            display_name: "Shared".into(),
                            version: format!("{version}"),
                            default_metric: estate_proto::licensing::Metric::Installations.into(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    }))
                    .await
            }
        }
    })
    .await;
    one_resource(versions.into_iter().map(|application| application.family));
    let families = estate
        .catalog()
        .list_families(estate.request(ListFamiliesRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .families;
    assert_eq!(families.len(), 2, "{families:?}");
    let listed = estate
        .catalog()
        .list_applications(estate.request(ListApplicationsRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .applications;
    assert_eq!(listed.len(), 1 + RACERS);

    let agreement = CreateAgreementRequest {
        parent: estate.customer.clone(),
        agreement: Some(Agreement {
            display_name: "EA".into(),
            kind: AgreementKind::Software.into(),
            ..Default::default()
        }),
        request_id: "agreement-1".into(),
    };
    let agreements = race(agreement, {
        let estate = estate.clone();
        move |request| {
            let estate = estate.clone();
            async move {
                AgreementsServiceClient::new(estate.channel.clone())
                    .create_agreement(estate.request(request))
                    .await
            }
        }
    })
    .await;
    one_resource(agreements.into_iter().map(|agreement| agreement.name));

    let application = applications[0].clone();
    let license = CreateLicenseRequest {
        parent: estate.customer.clone(),
        license: Some(Estate::complete_license(
            &application,
            &root,
            AssignmentType::Organization,
            10,
        )),
        request_id: "license-1".into(),
    };
    let licenses = race(license.clone(), {
        let estate = estate.clone();
        move |request| {
            let estate = estate.clone();
            async move {
                estate
                    .licenses()
                    .create_license(estate.request(request))
                    .await
            }
        }
    })
    .await;
    one_resource(licenses.into_iter().map(|license| license.name));
    let mut other = license;
    other.license.as_mut().unwrap().quantity = Some(estate_proto::licensing::Quantity {
        kind: Some(estate_proto::licensing::quantity::Kind::Count(11)),
    });
    reused(
        estate
            .licenses()
            .create_license(estate.request(other))
            .await,
    );

    estate
        .upload("u-1", vec![vec![computer("pc-1", 1)]])
        .await
        .unwrap();
    let computer_name = estate.computers(Default::default()).await[0].name.clone();
    let exclusion = CreateExclusionRequest {
        parent: estate.customer.clone(),
        exclusion: Some(Exclusion {
            computer: computer_name,
            application: application_name,
            reason: "lab machine".into(),
            ..Default::default()
        }),
        request_id: "exclusion-1".into(),
    };
    let exclusions = race(exclusion, {
        let estate = estate.clone();
        move |request| {
            let estate = estate.clone();
            async move {
                ComplianceServiceClient::new(estate.channel.clone())
                    .create_exclusion(estate.request(request))
                    .await
            }
        }
    })
    .await;
    one_resource(exclusions.into_iter().map(|exclusion| exclusion.name));
}

#[tokio::test]
async fn billing_creates_race_to_one_resource() {
    let world = Distribution::build().await;
    let channel = world.channel.clone();
    let key = world.distributor_key.clone();

    let plan = CreateServicePlanRequest {
        parent: world.parent(),
        service_plan: Some(ServicePlan {
            display_name: "SAM Core".into(),
            product: "sam-core".into(),
            license_type: LicenseType::Full.into(),
            unit_type: "seat".into(),
            initial_period_months: 12,
            expiration_notification_days: 30,
            enabled: true,
            ..Default::default()
        }),
        request_id: "plan-1".into(),
    };
    let plans = race(plan.clone(), {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                ServicePlansServiceClient::new(channel)
                    .create_service_plan(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    let plan_name = one_resource(plans.iter().map(|plan| plan.name.clone()));
    let mut other = plan;
    other.service_plan.as_mut().unwrap().display_name = "SAM Core 2".into();
    reused(
        ServicePlansServiceClient::new(channel.clone())
            .create_service_plan(with_key(other, &key))
            .await,
    );

    let organization = world
        .partner_organization("Contoso", PartnerType::Msp)
        .await;
    let partner = CreatePartnerRequest {
        parent: world.parent(),
        partner: Some(Partner {
            organization: organization.name.clone(),
            r#type: PartnerType::Msp.into(),
            acquisition_date: "2026-01-01".into(),
            region: "EMEA".into(),
            ..Default::default()
        }),
        request_id: "partner-1".into(),
    };
    let partners = race(partner, {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                PartnersServiceClient::new(channel)
                    .create_partner(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    let partner = partners[0].clone();
    one_resource(partners.into_iter().map(|partner| partner.name));

    let customer_organization = world
        .platform
        .create_organization(&partner.organization, OrganizationKind::Customer, "Adatum")
        .await
        .unwrap();
    let account = CreateCustomerAccountRequest {
        parent: partner.name.clone(),
        customer: Some(CustomerAccount {
            organization: customer_organization.name,
            ..Default::default()
        }),
        request_id: "customer-1".into(),
    };
    let accounts = race(account, {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                PartnersServiceClient::new(channel)
                    .create_customer_account(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    let account = accounts[0].clone();
    one_resource(accounts.into_iter().map(|account| account.name));

    let sale = CreateProductLicenseRequest {
        parent: account.name.clone(),
        product_license: Some(ProductLicense {
            service_plan: plan_name,
            seats: 10,
            ..Default::default()
        }),
        request_id: "sale-1".into(),
    };
    let sales = race(sale.clone(), {
        let (channel, key) = (channel.clone(), key.clone());
        move |request| {
            let (channel, key) = (channel.clone(), key.clone());
            async move {
                ProductLicensesServiceClient::new(channel)
                    .create_product_license(with_key(request, &key))
                    .await
            }
        }
    })
    .await;
    one_resource(sales.into_iter().map(|sale| sale.name));
    let mut other = sale;
    other.product_license.as_mut().unwrap().seats = 11;
    reused(
        ProductLicensesServiceClient::new(channel.clone())
            .create_product_license(with_key(other, &key))
            .await,
    );
}
