//! SPEC section 3: partners and their customers (accounts opened for
//! organizations of the customers service, the partner status rules:
//! suspended is read-only, canceled is final, and who sees what) and
//! service plans (unique names, enable/disable, end of sale), product
//! licenses (status by period, type and usage) and usage reports.

use estate_e2e::{Platform, with_key};
use estate_proto::billing::dashboard_service_client::DashboardServiceClient;
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::billing::product_licenses_service_client::ProductLicensesServiceClient;
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{
    CancelPartnerRequest, ReactivatePartnerRequest, SuspendPartnerRequest,
};
use estate_proto::billing::{
    CreateCustomerAccountRequest, CreatePartnerRequest, CreateProductLicenseRequest,
    CreateServicePlanRequest, CustomerAccount, DistributorDashboard, EndServicePlanSaleRequest,
    Figure, GetDistributorDashboardRequest, GetPartnerRequest, Granularity, LicenseType,
    ListCustomerAccountsRequest, ListPartnersRequest, ListProductLicensesRequest,
    ListServicePlansRequest, Partner, PartnerStatus, PartnerType, ProductLicense,
    ProductLicenseStatus, ReportUsageRequest, ServicePlan, SetCustomerAccountEnabledRequest,
    UpdatePartnerRequest, UpdateServicePlanRequest, UsageReport,
};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::Organization;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::assert_code;

/// A distributor with partners, each with customers, and keys for each.
pub(crate) struct Distribution {
    pub platform: Platform,
    pub channel: Channel,
    pub distributor: Organization,
    pub distributor_key: String,
}

impl Distribution {
    pub async fn build() -> Self {
        Self::build_with(estate_e2e::Options::default()).await
    }

    pub async fn build_with(options: estate_e2e::Options) -> Self {
        let platform = Platform::spawn_with(options).await.unwrap();
        let distributor = platform
            .create_organization("", OrganizationKind::Distributor, "Northwind")
            .await
            .unwrap();
        let distributor_key = platform
            .create_api_key(&distributor.name, &["admin"])
            .await
            .unwrap();
        let channel = platform.gateway_channel().await.unwrap();
        Self {
            platform,
            channel,
            distributor,
            distributor_key,
        }
    }

    pub fn partners(&self) -> PartnersServiceClient<Channel> {
        PartnersServiceClient::new(self.channel.clone())
    }

    /// `distributors/{id}`.
    pub fn parent(&self) -> String {
        self.distributor
            .name
            .replacen("organizations/", "distributors/", 1)
    }

    /// A partner organization below the distributor, of `kind` in the
    /// customers service.
    pub async fn partner_organization(&self, name: &str, kind: PartnerType) -> Organization {
        let request = estate_proto::customers::CreateOrganizationRequest {
            parent: self.distributor.name.clone(),
            organization: Some(Organization {
                kind: OrganizationKind::Partner.into(),
                display_name: name.into(),
                partner_type: kind.into(),
                ..Default::default()
            }),
            request_id: String::new(),
            initial_owner: estate_e2e::initial_owner(&self.distributor.name, name),
        };
        estate_proto::customers::organizations_service_client::OrganizationsServiceClient::new(
            self.channel.clone(),
        )
        .create_organization(with_key(request, &self.platform.admin_key))
        .await
        .unwrap()
        .into_inner()
    }

    /// Opens the partner account of a new partner organization.
    pub async fn partner(&self, name: &str, kind: PartnerType, acquired: &str) -> Partner {
        let organization = self.partner_organization(name, kind).await;
        self.partners()
            .create_partner(with_key(
                CreatePartnerRequest {
                    parent: self.parent(),
                    partner: Some(Partner {
                        organization: organization.name,
                        r#type: kind.into(),
                        acquisition_date: acquired.into(),
                        region: "EMEA".into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &self.distributor_key,
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// Opens the account of a new customer organization below `partner`.
    pub async fn customer(&self, partner: &Partner, name: &str) -> CustomerAccount {
        let organization = self
            .platform
            .create_organization(&partner.organization, OrganizationKind::Customer, name)
            .await
            .unwrap();
        self.partners()
            .create_customer_account(with_key(
                CreateCustomerAccountRequest {
                    parent: partner.name.clone(),
                    customer: Some(CustomerAccount {
                        organization: organization.name,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &self.distributor_key,
            ))
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn transition(
        &self,
        partner: &Partner,
        to: PartnerStatus,
    ) -> Result<Partner, tonic::Status> {
        let name = partner.name.clone();
        let key = &self.distributor_key;
        let mut client = self.partners();
        match to {
            PartnerStatus::Suspended => {
                let request = SuspendPartnerRequest {
                    name,
                    etag: String::new(),
                };
                client.suspend_partner(with_key(request, key)).await
            }
            PartnerStatus::Active => {
                let request = ReactivatePartnerRequest {
                    name,
                    etag: String::new(),
                };
                client.reactivate_partner(with_key(request, key)).await
            }
            _ => {
                let request = CancelPartnerRequest {
                    name,
                    etag: String::new(),
                };
                client.cancel_partner(with_key(request, key)).await
            }
        }
        .map(tonic::Response::into_inner)
    }
}

/// A dashboard figure's count.
pub(crate) fn count(figure: &Option<Figure>) -> i64 {
    figure.as_ref().expect("a figure").count
}

/// The dashboard of `distributor` (`distributors/{uuid}`) as `key` sees it.
pub(crate) async fn dashboard(
    channel: &Channel,
    distributor: &str,
    granularity: Granularity,
    key: &str,
) -> Result<DistributorDashboard, tonic::Status> {
    DashboardServiceClient::new(channel.clone())
        .get_distributor_dashboard(with_key(
            GetDistributorDashboardRequest {
                name: format!("{distributor}/dashboard"),
                acquisition_granularity: granularity.into(),
            },
            key,
        ))
        .await
        .map(tonic::Response::into_inner)
}

impl Distribution {
    /// This distributor's dashboard as `key` sees it.
    pub async fn dashboard(
        &self,
        granularity: Granularity,
        key: &str,
    ) -> Result<DistributorDashboard, tonic::Status> {
        dashboard(&self.channel, &self.parent(), granularity, key).await
    }
}

fn precondition(status: &tonic::Status) -> (String, String) {
    let details = status.get_error_details();
    let violation = &details
        .precondition_failure()
        .expect("precondition")
        .violations[0];
    (violation.r#type.clone(), violation.description.clone())
}

#[tokio::test]
async fn a_partner_account_is_opened_only_for_a_partner_organization_of_the_distributor() {
    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    assert_eq!(partner.status(), PartnerStatus::Active);
    assert_eq!(partner.acquisition_date, "2026-03-01");
    assert!(partner.name.starts_with(&world.parent()));

    // Another distributor's partner, a customer organization, and the
    // same organization twice are all refused.
    let other = world
        .platform
        .create_organization("", OrganizationKind::Distributor, "Other")
        .await
        .unwrap();
    let foreign = world
        .platform
        .create_organization(&other.name, OrganizationKind::Partner, "Foreign")
        .await
        .unwrap();
    // Directly below the distributor, so only its kind is wrong.
    let customer = world
        .platform
        .create_organization(
            &world.distributor.name,
            OrganizationKind::Customer,
            "Fabrikam",
        )
        .await
        .unwrap();
    let open = |organization: &str, acquired: &str| {
        with_key(
            CreatePartnerRequest {
                parent: world.parent(),
                partner: Some(Partner {
                    organization: organization.into(),
                    // Unset: the organization's own partner type.
                    r#type: PartnerType::Unspecified.into(),
                    acquisition_date: acquired.into(),
                    region: "EMEA".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &world.distributor_key,
        )
    };
    for organization in [&foreign.name, &customer.name] {
        let status = assert_code(
            world
                .partners()
                .create_partner(open(organization, ""))
                .await,
            Code::InvalidArgument,
        );
        assert!(
            status.message().contains("partner.organization"),
            "{status:?}"
        );
    }
    assert_code(
        world
            .partners()
            .create_partner(open(&partner.organization, ""))
            .await,
        Code::AlreadyExists,
    );
    // A future acquisition date is refused, naming the field.
    let fresh = world
        .partner_organization("Later", PartnerType::Reseller)
        .await;
    let status = assert_code(
        world
            .partners()
            .create_partner(open(&fresh.name, "2099-01-01"))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("partner.acquisition_date"),
        "{status:?}"
    );
    // A type other than the organization's is refused.
    let mut other_type = open(&fresh.name, "");
    other_type.get_mut().partner.as_mut().unwrap().r#type = PartnerType::Msp.into();
    let status = assert_code(
        world.partners().create_partner(other_type).await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("partner.type"), "{status:?}");
    // Without a date, the account is acquired today (the pinned clock),
    // and without a type it is the organization's.
    let today = world
        .partners()
        .create_partner(open(&fresh.name, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        today.acquisition_date,
        estate_e2e::pinned_now().format("%Y-%m-%d").to_string()
    );
    assert_eq!(today.r#type(), PartnerType::Reseller);
}

#[tokio::test]
async fn a_suspended_partner_is_read_only_and_a_canceled_one_is_final() {
    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Fabrikam").await;
    assert!(customer.enabled);
    let update = |partner: &Partner| {
        with_key(
            UpdatePartnerRequest {
                partner: Some(Partner {
                    name: partner.name.clone(),
                    region: "APAC".into(),
                    ..Default::default()
                }),
                update_mask: estate_e2e::mask(&["region"]),
                etag: String::new(),
            },
            &world.distributor_key,
        )
    };
    let disable = || {
        with_key(
            SetCustomerAccountEnabledRequest {
                name: customer.name.clone(),
                enabled: false,
                etag: String::new(),
            },
            &world.distributor_key,
        )
    };

    // Active: editable.
    let updated = world
        .partners()
        .update_partner(update(&partner))
        .await
        .unwrap();
    assert_eq!(updated.into_inner().region, "APAC");

    // Suspended: reads work, changes are refused naming the state.
    let suspended = world
        .transition(&partner, PartnerStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(suspended.status(), PartnerStatus::Suspended);
    let status = assert_code(
        world.partners().update_partner(update(&partner)).await,
        Code::FailedPrecondition,
    );
    let (violation, description) = precondition(&status);
    assert_eq!(violation, "PARTNER_NOT_ACTIVE");
    assert!(description.contains("suspended"), "{description}");
    assert_code(
        world
            .partners()
            .set_customer_account_enabled(disable())
            .await,
        Code::FailedPrecondition,
    );
    // Suspending twice is an illegal transition, naming the current state.
    let status = assert_code(
        world.transition(&partner, PartnerStatus::Suspended).await,
        Code::FailedPrecondition,
    );
    let (violation, description) = precondition(&status);
    assert_eq!(violation, "INVALID_PARTNER_TRANSITION");
    assert!(
        description.contains("the partner is suspended"),
        "{description}"
    );

    // Reactivated: editable again.
    world
        .transition(&partner, PartnerStatus::Active)
        .await
        .unwrap();
    let disabled = world
        .partners()
        .set_customer_account_enabled(disable())
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.enabled);

    // Canceled: final. Nothing changes it, not even reactivation.
    let canceled = world
        .transition(&partner, PartnerStatus::Canceled)
        .await
        .unwrap();
    assert_eq!(canceled.status(), PartnerStatus::Canceled);
    for to in [
        PartnerStatus::Active,
        PartnerStatus::Suspended,
        PartnerStatus::Canceled,
    ] {
        let status = assert_code(
            world.transition(&partner, to).await,
            Code::FailedPrecondition,
        );
        assert!(
            precondition(&status).1.contains("the partner is canceled"),
            "{status:?}"
        );
    }
    let status = assert_code(
        world.partners().update_partner(update(&partner)).await,
        Code::FailedPrecondition,
    );
    assert!(precondition(&status).1.contains("canceled"));
    assert_code(
        world
            .partners()
            .set_customer_account_enabled(disable())
            .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn a_retried_create_returns_what_it_created_even_after_its_preconditions_changed() {
    let world = Distribution::build().await;
    let key = &world.distributor_key;
    // A customer account created with a request id, retried once the
    // partner is suspended (which refuses new accounts).
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let organization = world
        .platform
        .create_organization(
            &partner.organization,
            OrganizationKind::Customer,
            "Fabrikam",
        )
        .await
        .unwrap();
    let create_customer = |request_id: &str| {
        with_key(
            CreateCustomerAccountRequest {
                parent: partner.name.clone(),
                customer: Some(CustomerAccount {
                    organization: organization.name.clone(),
                    ..Default::default()
                }),
                request_id: request_id.into(),
            },
            key,
        )
    };
    let created = world
        .partners()
        .create_customer_account(create_customer("add-fabrikam"))
        .await
        .unwrap()
        .into_inner();
    world
        .transition(&partner, PartnerStatus::Suspended)
        .await
        .unwrap();
    let retried = world
        .partners()
        .create_customer_account(create_customer("add-fabrikam"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, created);
    // A new request is still refused.
    assert_code(
        world
            .partners()
            .create_customer_account(create_customer("add-fabrikam-again"))
            .await,
        Code::FailedPrecondition,
    );

    // A partner account opened with a request id, retried once its
    // organization is gone from the customers service.
    let organization = world
        .partner_organization("Litware", PartnerType::Reseller)
        .await;
    let open = |request_id: &str| {
        with_key(
            CreatePartnerRequest {
                parent: world.parent(),
                partner: Some(Partner {
                    organization: organization.name.clone(),
                    r#type: PartnerType::Reseller.into(),
                    acquisition_date: "2026-04-01".into(),
                    region: "EMEA".into(),
                    ..Default::default()
                }),
                request_id: request_id.into(),
            },
            key,
        )
    };
    let opened = world
        .partners()
        .create_partner(open("open-litware"))
        .await
        .unwrap()
        .into_inner();
    estate_proto::customers::organizations_service_client::OrganizationsServiceClient::new(
        world.channel.clone(),
    )
    .delete_organization(with_key(
        estate_proto::customers::DeleteOrganizationRequest {
            name: organization.name.clone(),
            etag: String::new(),
        },
        &world.platform.admin_key,
    ))
    .await
    .unwrap();
    let retried = world
        .partners()
        .create_partner(open("open-litware"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, opened);
    let status = assert_code(
        world
            .partners()
            .create_partner(open("open-litware-again"))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("partner.organization"),
        "{status:?}"
    );
}

#[tokio::test]
async fn partners_list_filtered_and_sorted_and_a_partner_sees_only_its_own() {
    let world = Distribution::build().await;
    let early = world
        .partner("Early", PartnerType::Reseller, "2025-01-10")
        .await;
    let late = world.partner("Late", PartnerType::Msp, "2026-10-01").await;
    let middle = world
        .partner("Middle", PartnerType::Msp, "2026-02-01")
        .await;
    world
        .transition(&middle, PartnerStatus::Suspended)
        .await
        .unwrap();
    let list = |request: ListPartnersRequest| {
        let mut client = world.partners();
        let key = world.distributor_key.clone();
        async move {
            client
                .list_partners(with_key(request, &key))
                .await
                .unwrap()
                .into_inner()
                .partners
                .into_iter()
                .map(|partner| partner.name)
                .collect::<Vec<_>>()
        }
    };
    let names = |partners: &[&Partner]| partners.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        list(ListPartnersRequest {
            parent: world.parent(),
            order_by: "acquisition_date desc".into(),
            ..Default::default()
        })
        .await,
        names(&[&late, &middle, &early])
    );
    assert_eq!(
        list(ListPartnersRequest {
            parent: world.parent(),
            statuses: vec![PartnerStatus::Active.into()],
            r#type: PartnerType::Msp.into(),
            ..Default::default()
        })
        .await,
        names(&[&late])
    );
    assert_eq!(
        list(ListPartnersRequest {
            parent: world.parent(),
            acquired_on_or_after: "2026-01-01".into(),
            acquired_on_or_before: "2026-02-01".into(),
            ..Default::default()
        })
        .await,
        names(&[&middle])
    );

    // A partner's own key reads its account and customers, not another
    // partner's, and not the distributor's list.
    let early_customer = world.customer(&early, "Fabrikam").await;
    world.customer(&late, "Tailspin").await;
    let early_key = world
        .platform
        .create_api_key(&early.organization, &["admin"])
        .await
        .unwrap();
    let own = world
        .partners()
        .get_partner(with_key(
            GetPartnerRequest {
                name: early.name.clone(),
            },
            &early_key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.name, early.name);
    assert_code(
        world
            .partners()
            .get_partner(with_key(
                GetPartnerRequest {
                    name: late.name.clone(),
                },
                &early_key,
            ))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        world
            .partners()
            .list_partners(with_key(
                ListPartnersRequest {
                    parent: world.parent(),
                    ..Default::default()
                },
                &early_key,
            ))
            .await,
        Code::PermissionDenied,
    );
    let customers = world
        .partners()
        .list_customer_accounts(with_key(
            ListCustomerAccountsRequest {
                parent: early.name.clone(),
                ..Default::default()
            },
            &early_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(customers, vec![early_customer]);
    // The distributor lists every partner's customers at once.
    let all = world
        .partners()
        .list_customer_accounts(with_key(
            ListCustomerAccountsRequest {
                parent: format!("{}/partners/-", world.parent()),
                ..Default::default()
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(all.len(), 2);
    // A partner may not suspend itself.
    let request = with_key(
        SuspendPartnerRequest {
            name: early.name.clone(),
            etag: String::new(),
        },
        &early_key,
    );
    assert_code(
        world.partners().suspend_partner(request).await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn a_plan_past_its_end_of_sale_is_read_only_and_names_stay_unique() {
    let world = Distribution::build().await;
    let mut plans = ServicePlansServiceClient::new(world.channel.clone());
    let create = |name: &str| {
        with_key(
            CreateServicePlanRequest {
                parent: world.parent(),
                service_plan: Some(ServicePlan {
                    display_name: name.into(),
                    product: "sam-core".into(),
                    license_type: LicenseType::Full.into(),
                    unit_type: "seat".into(),
                    initial_period_months: 12,
                    auto_renewal: true,
                    expiration_notification_days: 30,
                    enabled: true,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &world.distributor_key,
        )
    };
    let basic = plans
        .create_service_plan(create("Basic"))
        .await
        .unwrap()
        .into_inner();
    let premium = plans
        .create_service_plan(create("Premium"))
        .await
        .unwrap()
        .into_inner();
    let update = |plan: &ServicePlan, change: ServicePlan, paths: &[&str]| {
        with_key(
            UpdateServicePlanRequest {
                service_plan: Some(ServicePlan {
                    name: plan.name.clone(),
                    ..change
                }),
                update_mask: estate_e2e::mask(paths),
                etag: String::new(),
            },
            &world.distributor_key,
        )
    };

    // Renaming onto another plan's name is refused; a disabled plan is
    // listed apart from the enabled ones.
    assert_code(
        plans
            .update_service_plan(update(
                &premium,
                ServicePlan {
                    display_name: "Basic".into(),
                    ..Default::default()
                },
                &["display_name"],
            ))
            .await,
        Code::AlreadyExists,
    );
    let disabled = plans
        .update_service_plan(update(&premium, ServicePlan::default(), &["enabled"]))
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.enabled);
    assert_eq!(
        disabled.display_name, "Premium",
        "fields outside the mask stay"
    );
    let enabled = plans
        .list_service_plans(with_key(
            ListServicePlansRequest {
                parent: world.parent(),
                enabled: Some(true),
                ..Default::default()
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .service_plans;
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0].name, basic.name);

    // A bad value names its field.
    let status = assert_code(
        plans
            .update_service_plan(update(
                &basic,
                ServicePlan {
                    initial_period_months: 0,
                    ..Default::default()
                },
                &["initial_period_months"],
            ))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        status
            .message()
            .contains("service_plan.initial_period_months")
    );

    // End of sale: final and read-only.
    let ended = plans
        .end_service_plan_sale(with_key(
            EndServicePlanSaleRequest {
                name: basic.name.clone(),
                etag: basic.etag.clone(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(ended.end_of_sale_time.is_some());
    let status = assert_code(
        plans
            .update_service_plan(update(
                &basic,
                ServicePlan {
                    auto_renewal: false,
                    ..Default::default()
                },
                &["auto_renewal"],
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(precondition(&status).0, "END_OF_SALE");
    let status = assert_code(
        plans
            .end_service_plan_sale(with_key(
                EndServicePlanSaleRequest {
                    name: basic.name.clone(),
                    etag: String::new(),
                },
                &world.distributor_key,
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(precondition(&status).0, "END_OF_SALE");
    // A stale etag is refused before anything changes.
    let status = assert_code(
        plans
            .end_service_plan_sale(with_key(
                EndServicePlanSaleRequest {
                    name: premium.name.clone(),
                    etag: premium.etag.clone(),
                },
                &world.distributor_key,
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(precondition(&status).0, "ETAG_MISMATCH");
}

impl Distribution {
    /// An enabled plan of `product`.
    pub async fn plan(
        &self,
        name: &str,
        license_type: LicenseType,
        auto_renewal: bool,
    ) -> ServicePlan {
        ServicePlansServiceClient::new(self.channel.clone())
            .create_service_plan(with_key(
                CreateServicePlanRequest {
                    parent: self.parent(),
                    service_plan: Some(ServicePlan {
                        display_name: name.into(),
                        product: "sam-core".into(),
                        license_type: license_type.into(),
                        unit_type: "seat".into(),
                        initial_period_months: 12,
                        auto_renewal,
                        expiration_notification_days: 30,
                        enabled: true,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &self.distributor_key,
            ))
            .await
            .unwrap()
            .into_inner()
    }

    pub fn licenses(&self) -> ProductLicensesServiceClient<Channel> {
        ProductLicensesServiceClient::new(self.channel.clone())
    }

    pub async fn sell(
        &self,
        customer: &CustomerAccount,
        plan: &ServicePlan,
        seats: i64,
        start_date: &str,
    ) -> Result<ProductLicense, tonic::Status> {
        self.licenses()
            .create_product_license(with_key(
                CreateProductLicenseRequest {
                    parent: customer.name.clone(),
                    product_license: Some(ProductLicense {
                        service_plan: plan.name.clone(),
                        seats,
                        start_date: start_date.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &self.distributor_key,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn report(
        &self,
        customer: &CustomerAccount,
        date: &str,
        used: i64,
        key: &str,
    ) -> Result<UsageReport, tonic::Status> {
        self.licenses()
            .report_usage(with_key(
                ReportUsageRequest {
                    parent: customer.name.clone(),
                    usage: Some(UsageReport {
                        product: "sam-core".into(),
                        usage_date: date.into(),
                        used_units: used,
                        client_key: key.into(),
                        ..Default::default()
                    }),
                },
                &self.distributor_key,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn statuses(&self, customer: &CustomerAccount) -> Vec<(i64, ProductLicenseStatus)> {
        self.licenses()
            .list_product_licenses(with_key(
                ListProductLicensesRequest {
                    parent: customer.name.clone(),
                    ..Default::default()
                },
                &self.distributor_key,
            ))
            .await
            .unwrap()
            .into_inner()
            .product_licenses
            .into_iter()
            .map(|license| (license.seats, license.status()))
            .collect()
    }
}

/// The tests' today, as `YYYY-MM-DD`, moved by `days`.
fn day(days: i64) -> String {
    (estate_e2e::pinned_now() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn a_product_licenses_status_follows_its_period_its_type_and_the_usage() {
    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Fabrikam").await;
    let full = world.plan("Full", LicenseType::Full, false).await;
    let renewing = world.plan("Renewing", LicenseType::Full, true).await;
    let trial = world.plan("Trial", LicenseType::Trial, false).await;

    // 12-month periods. Ends in 31 days: active (the window is 30 days).
    let ending = world
        .sell(&customer, &full, 10, &day(31 - 365))
        .await
        .unwrap();
    assert_eq!(ending.status(), ProductLicenseStatus::Active, "{ending:?}");
    // Ended yesterday without renewal: expired (sold two days ago, when it
    // was still running: a sale that has ended already is refused); with
    // renewal: a new period.
    let status = assert_code(
        world.sell(&customer, &full, 1, &day(-366)).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("would have ended"), "{status:?}");
    world.platform.clock.advance(chrono::Duration::days(-2));
    world.sell(&customer, &full, 1, &day(-366)).await.unwrap();
    world.platform.clock.advance(chrono::Duration::days(2));
    let ended = world.statuses(&customer).await[1];
    assert_eq!(ended, (1, ProductLicenseStatus::Expired), "{ended:?}");
    let renewed = world
        .sell(&customer, &renewing, 2, &day(-366))
        .await
        .unwrap();
    assert_eq!(
        renewed.status(),
        ProductLicenseStatus::Active,
        "{renewed:?}"
    );
    assert_eq!(renewed.end_date, day(-366 + 365 * 2), "{renewed:?}");
    let tried = world.sell(&customer, &trial, 3, "").await.unwrap();
    assert_eq!(tried.status(), ProductLicenseStatus::Trial);
    assert_eq!(tried.start_date, day(0), "an empty start date is today");

    // One day later the first is within the notification window.
    world.platform.clock.advance(chrono::Duration::days(1));
    assert_eq!(
        world.statuses(&customer).await[0],
        (10, ProductLicenseStatus::ExpiringSoon)
    );
    // Usage outside the 30 days (a day before their first, now that today
    // is day 1), and another customer's, count for nothing.
    world
        .report(&customer, &day(-30), 100, "old")
        .await
        .unwrap();
    let neighbour = world.customer(&partner, "Northwind").await;
    world.report(&neighbour, &day(0), 100, "n-0").await.unwrap();
    assert_eq!(
        world.statuses(&customer).await[0],
        (10, ProductLicenseStatus::ExpiringSoon)
    );
    // Using more than the 15 seats in force (the expired license's seat
    // does not count) on a day of the last 30 exceeds the allocation,
    // except for the expired license.
    world.report(&customer, &day(0), 16, "day-0").await.unwrap();
    let statuses = world.statuses(&customer).await;
    assert_eq!(
        statuses,
        vec![
            (10, ProductLicenseStatus::ExceededAllocation),
            (1, ProductLicenseStatus::Expired),
            (2, ProductLicenseStatus::ExceededAllocation),
            (3, ProductLicenseStatus::ExceededAllocation),
        ]
    );
    // A correction under a new key replaces the day's figure: all 15
    // seats used is within the allocation.
    world
        .report(&customer, &day(0), 15, "day-0-fix")
        .await
        .unwrap();
    assert_eq!(
        world.statuses(&customer).await,
        vec![
            (10, ProductLicenseStatus::ExpiringSoon),
            (1, ProductLicenseStatus::Expired),
            (2, ProductLicenseStatus::Active),
            (3, ProductLicenseStatus::Trial),
        ]
    );
}

#[tokio::test]
async fn usage_reports_are_idempotent_by_key_and_only_sold_plans_take_licenses() {
    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Fabrikam").await;
    let plan = world.plan("Full", LicenseType::Full, false).await;

    let first = world.report(&customer, &day(-3), 5, "k1").await.unwrap();
    world.platform.clock.advance(chrono::Duration::hours(1));
    let retry = world.report(&customer, &day(-3), 5, "k1").await.unwrap();
    assert_eq!(retry, first, "a retry answers the stored report");
    let status = assert_code(
        world.report(&customer, &day(-3), 6, "k1").await,
        Code::FailedPrecondition,
    );
    assert_eq!(precondition(&status).0, "CLIENT_KEY_REUSED");
    let status = assert_code(
        world.report(&customer, &day(1), 6, "k2").await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("usage.usage_date"), "{status:?}");

    // A suspended MSP's customers still report; nothing is sold to them.
    world
        .transition(&partner, PartnerStatus::Suspended)
        .await
        .unwrap();
    world.report(&customer, &day(-2), 4, "k3").await.unwrap();
    let status = assert_code(
        world.sell(&customer, &plan, 1, "").await,
        Code::FailedPrecondition,
    );
    assert_eq!(precondition(&status).0, "PARTNER_NOT_ACTIVE");
    world
        .transition(&partner, PartnerStatus::Active)
        .await
        .unwrap();

    // A plan past its end of sale takes no new licenses.
    ServicePlansServiceClient::new(world.channel.clone())
        .end_service_plan_sale(with_key(
            EndServicePlanSaleRequest {
                name: plan.name.clone(),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();
    let status = assert_code(
        world.sell(&customer, &plan, 1, "").await,
        Code::FailedPrecondition,
    );
    assert_eq!(precondition(&status).0, "END_OF_SALE");
    let status = assert_code(
        world.sell(&customer, &plan, 0, "").await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("product_license.seats"));

    // A canceled partner's customers report no more.
    world
        .transition(&partner, PartnerStatus::Canceled)
        .await
        .unwrap();
    assert_code(
        world.report(&customer, &day(-1), 4, "k4").await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn the_customers_overview_gets_seats_bought_and_the_highest_usage_of_30_days() {
    use estate_proto::internal::GetLicenseUsageSummaryRequest;
    use estate_proto::internal::license_usage_summary_service_client::LicenseUsageSummaryServiceClient;

    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Fabrikam").await;
    let plan = world.plan("Full", LicenseType::Full, false).await;
    world.sell(&customer, &plan, 10, "").await.unwrap();
    world.sell(&customer, &plan, 5, "").await.unwrap();
    // 31 days ago is outside the window; 30 days ago is inside.
    world.report(&customer, &day(-31), 40, "old").await.unwrap();
    world
        .report(&customer, &day(-30), 12, "edge")
        .await
        .unwrap();
    world
        .report(&customer, &day(-1), 9, "recent")
        .await
        .unwrap();

    let channel = world
        .platform
        .channel_to(&world.platform.billing)
        .await
        .unwrap();
    let service = estate_auth::CallerToken(
        world
            .platform
            .signer()
            .sign(&estate_auth::Principal::service("customers")),
    );
    let organization_id = customer.organization["organizations/".len()..].to_string();
    let summary = LicenseUsageSummaryServiceClient::new(channel.clone())
        .get_license_usage_summary(estate_e2e::with_token(
            GetLicenseUsageSummaryRequest {
                organization_id: organization_id.clone(),
            },
            &service,
        ))
        .await
        .unwrap()
        .into_inner()
        .products;
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert_eq!(
        (
            summary[0].product.as_str(),
            summary[0].quantity_purchased,
            summary[0].highest_usage_30_days
        ),
        ("sam-core", 15, 12)
    );
    // Only platform services read it.
    assert_code(
        LicenseUsageSummaryServiceClient::new(channel)
            .get_license_usage_summary(estate_e2e::with_token(
                GetLicenseUsageSummaryRequest { organization_id },
                &world.platform.admin_token(),
            ))
            .await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn products_are_named_by_id_never_by_display_text() {
    let world = Distribution::build().await;
    let status = assert_code(
        ServicePlansServiceClient::new(world.channel.clone())
            .create_service_plan(with_key(
                CreateServicePlanRequest {
                    parent: world.parent(),
                    service_plan: Some(ServicePlan {
                        display_name: "SAM Core".into(),
                        product: "SAM Core".into(),
                        license_type: LicenseType::Full.into(),
                        unit_type: "seat".into(),
                        initial_period_months: 12,
                        enabled: true,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &world.distributor_key,
            ))
            .await,
        Code::InvalidArgument,
    );
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "service_plan.product");
    assert!(
        violations[0].description.contains("e.g. sam-core"),
        "{violations:?}"
    );
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Fabrikam").await;
    let status = assert_code(
        world
            .licenses()
            .report_usage(with_key(
                ReportUsageRequest {
                    parent: customer.name.clone(),
                    usage: Some(UsageReport {
                        product: "Sam--Core".into(),
                        usage_date: "2026-11-01".into(),
                        used_units: 1,
                        client_key: "k".into(),
                        ..Default::default()
                    }),
                },
                &world.distributor_key,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("usage.product"), "{status:?}");
}
