//! SPEC section 2 up to the compliance calculation: inventory ingestion,
//! computer status, the estate summary, license policy and incomplete
//! licenses, agreements, archiving, allocations and assignments, and
//! tenant isolation of every licensing service.

use estate_auth::{CallerToken, Principal};
use estate_clock::Clock;
use estate_e2e::{Platform, with_token};
use estate_proto::common::OrganizationKind;
use estate_proto::internal::GetEstateSummaryRequest;
use estate_proto::internal::estate_summary_service_client::EstateSummaryServiceClient;
use estate_proto::licensing::agreements_service_client::AgreementsServiceClient;
use estate_proto::licensing::catalog_service_client::CatalogServiceClient;
use estate_proto::licensing::license_policy_service_client::LicensePolicyServiceClient;
use estate_proto::licensing::{
    Agreement, AgreementKind, Allocation, ArchiveLicenseRequest, AssignLicenseRequest, Assignment,
    AssignmentType, ComputerStatus, CreateAgreementRequest, DeleteComputerRequest,
    DeleteOrgNodeRequest, GetApplicationRequest, GetComputerRequest, GetLicensePolicyRequest,
    GetLicenseRequest, GetLicensingSettingsRequest, ListAgreementsRequest, ListComputersRequest,
    ListInstallationsRequest, Period, PolicyField, Quantity, SetLicenseAllocationsRequest,
    UnarchiveLicenseRequest, UpdateApplicationRequest, UpdateLicensePolicyRequest,
    UpdateLicenseRequest, UpdateLicensingSettingsRequest, UpgradeBase, quantity,
};
use tonic::Code;

use crate::assert_code;
use crate::estate::{Estate, computer, installation};

/// A platform with one customer whose estate the administrator manages.
pub(crate) async fn customer_estate(platform: &Platform, name: &str) -> Estate {
    let distributor = platform
        .create_organization(
            "",
            OrganizationKind::Distributor,
            &format!("{name} distribution"),
        )
        .await
        .unwrap();
    let organization = platform
        .create_organization(&distributor.name, OrganizationKind::Customer, name)
        .await
        .unwrap();
    let channel = platform.gateway_channel().await.unwrap();
    Estate::new(channel, &platform.admin_key, &organization.name)
}

fn service_token(platform: &Platform) -> CallerToken {
    CallerToken(platform.signer().sign(&Principal::service("customers")))
}

#[tokio::test]
async fn an_upload_is_all_or_nothing_and_names_each_bad_record() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let upload = vec![
        vec![computer("pc-1", 1), installation("pc-1", &word)],
        vec![
            computer("pc-2", 0),
            installation("pc-3", &word),
            installation("pc-1", &word),
        ],
    ];
    let refused = assert_code(estate.upload("u-1", upload).await, Code::InvalidArgument);
    // Positions count across the stream's messages.
    assert!(
        refused.message().contains("records[2].computer.processors"),
        "{refused:?}"
    );
    assert!(
        refused
            .message()
            .contains("records[3].installation.hostname"),
        "{refused:?}"
    );
    assert!(
        refused
            .message()
            .contains("records[4].installation.application"),
        "{refused:?}"
    );
    let computers = estate
        .inventory()
        .list_computers(estate.request(ListComputersRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        computers.computers.is_empty(),
        "nothing of a refused upload is kept"
    );
}

#[tokio::test]
async fn an_upload_id_is_ingested_once_and_a_rescan_replaces_installations() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let excel = estate.application("Excel", "2021").await;
    let first = vec![vec![
        computer("pc-1", 2),
        installation("pc-1", &word),
        installation("pc-1", &excel),
    ]];
    let stored = estate.upload("u-1", first.clone()).await.unwrap();
    assert_eq!(
        (stored.computers, stored.installations, stored.replayed),
        (1, 2, false)
    );
    let replayed = estate.upload("u-1", first).await.unwrap();
    assert_eq!((replayed.installations, replayed.replayed), (2, true));

    let rescan = vec![vec![computer("pc-1", 2), installation("pc-1", &word)]];
    estate.upload("u-2", rescan).await.unwrap();
    let computers = estate.computers(Default::default()).await;
    assert_eq!(
        computers.len(),
        1,
        "a rescanned computer keeps its identity"
    );
    let installed = estate
        .inventory()
        .list_installations(estate.request(ListInstallationsRequest {
            parent: computers[0].name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .installations;
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].application, word.name);
}

#[tokio::test]
async fn a_computer_silent_for_more_than_the_quarantine_period_is_quarantined() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    estate
        .upload("u-1", vec![vec![computer("pc-1", 1)]])
        .await
        .unwrap();
    let mut policy = LicensePolicyServiceClient::new(estate.channel.clone());
    let settings = policy
        .get_licensing_settings(estate.request(GetLicensingSettingsRequest {
            name: format!("{}/licensingSettings", estate.customer),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings.quarantine_after_days, 30);
    policy
        .update_licensing_settings(estate.request(UpdateLicensingSettingsRequest {
            settings: Some(estate_proto::licensing::LicensingSettings {
                quarantine_after_days: 10,
                ..settings
            }),
        }))
        .await
        .unwrap();
    let status = |estate: Estate| async move {
        let listed = estate.computers(Default::default()).await;
        listed[0].status()
    };
    platform.clock.advance(chrono::Duration::days(10));
    assert_eq!(status(estate.clone()).await, ComputerStatus::Active);
    platform.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(status(estate.clone()).await, ComputerStatus::Quarantined);
    let quarantined = estate
        .inventory()
        .list_computers(estate.request(ListComputersRequest {
            parent: estate.customer.clone(),
            status: ComputerStatus::Active.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        quarantined.computers.is_empty(),
        "the status filter follows the clock"
    );
}

#[tokio::test]
async fn the_estate_summary_counts_computers_and_installed_applications() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let game = estate.application("Solitaire", "1").await;
    let free = estate.application("Reader", "1").await;
    let mut catalog = CatalogServiceClient::new(estate.channel.clone());
    for (application, path) in [(&game, "denied"), (&free, "no_license_required")] {
        catalog
            .update_application(estate.request(UpdateApplicationRequest {
                application: Some(estate_proto::licensing::Application {
                    name: application.name.clone(),
                    denied: true,
                    no_license_required: true,
                    ..Default::default()
                }),
                update_mask: estate_e2e::mask(&[path]),
            }))
            .await
            .unwrap();
    }
    estate
        .upload(
            "u-1",
            vec![vec![
                computer("pc-1", 1),
                installation("pc-1", &word),
                installation("pc-1", &game),
                installation("pc-1", &free),
            ]],
        )
        .await
        .unwrap();
    platform.clock.advance(chrono::Duration::days(8));
    estate
        .upload_at(
            "u-2",
            platform.clock.now(),
            vec![vec![computer("pc-2", 1), installation("pc-2", &word)]],
        )
        .await
        .unwrap();
    let mut summaries =
        EstateSummaryServiceClient::new(platform.channel_to(&platform.licensing).await.unwrap());
    let request = GetEstateSummaryRequest {
        organization_id: estate.customer.trim_start_matches("customers/").into(),
    };
    let summary = summaries
        .get_estate_summary(with_token(request.clone(), &service_token(&platform)))
        .await
        .unwrap()
        .into_inner();
    let computers = summary.computers.unwrap();
    assert_eq!(
        (
            computers.total,
            computers.inventoried_within_7_days,
            computers.not_inventoried_for_over_7_days,
            computers.quarantined
        ),
        (2, 1, 1, 0)
    );
    let applications = summary.applications.unwrap();
    assert_eq!(
        (
            applications.total,
            applications.licensable,
            applications.denied_installed
        ),
        (3, 2, 1)
    );
    // Only platform services read summaries.
    assert_code(
        summaries
            .get_estate_summary(with_token(request, &platform.admin_token()))
            .await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn a_required_policy_field_blocks_saving_even_as_an_incomplete_license() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let root = estate.root().await;
    let mut policy = LicensePolicyServiceClient::new(estate.channel.clone());
    let current = policy
        .get_license_policy(estate.request(GetLicensePolicyRequest {
            name: format!("{}/licensePolicy", estate.customer),
        }))
        .await
        .unwrap()
        .into_inner();
    // Every standard field is described, configured or not.
    assert_eq!(current.fields.len(), 5);
    policy
        .update_license_policy(estate.request(UpdateLicensePolicyRequest {
            policy: Some(estate_proto::licensing::LicensePolicy {
                name: current.name.clone(),
                etag: current.etag.clone(),
                fields: vec![PolicyField {
                    field: "vendor".into(),
                    required: true,
                    description: "Who sold it".into(),
                    allowed_values: vec!["Contoso Reseller".into(), "Fabrikam".into()],
                    custom_values_allowed: false,
                }],
            }),
        }))
        .await
        .unwrap();
    let mut settings = LicensePolicyServiceClient::new(estate.channel.clone());
    let current_settings = settings
        .get_licensing_settings(estate.request(GetLicensingSettingsRequest {
            name: format!("{}/licensingSettings", estate.customer),
        }))
        .await
        .unwrap()
        .into_inner();
    settings
        .update_licensing_settings(estate.request(UpdateLicensingSettingsRequest {
            settings: Some(estate_proto::licensing::LicensingSettings {
                allow_incomplete_licenses: true,
                ..current_settings
            }),
        }))
        .await
        .unwrap();

    let mut license = Estate::complete_license(&word, &root, AssignmentType::Organization, 5);
    license.quantity = None;
    let refused = assert_code(
        estate.create_license(license.clone()).await,
        Code::InvalidArgument,
    );
    assert!(refused.message().contains("license.vendor"), "{refused:?}");
    license.vendor = "Someone Else".into();
    let refused = assert_code(
        estate.create_license(license.clone()).await,
        Code::InvalidArgument,
    );
    assert!(refused.message().contains("license policy"), "{refused:?}");
    license.vendor = "Fabrikam".into();
    let saved = estate.create_license(license).await.unwrap();
    assert!(saved.incomplete);
    assert_eq!(saved.missing_fields, vec!["quantity"]);
}

#[tokio::test]
async fn missing_data_is_refused_unless_incomplete_licenses_are_allowed() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let root = estate.root().await;
    let mut license = Estate::complete_license(&word, &root, AssignmentType::Organization, 5);
    license.legal_owner = String::new();
    let refused = assert_code(
        estate.create_license(license.clone()).await,
        Code::InvalidArgument,
    );
    assert!(
        refused.message().contains("license.legal_owner"),
        "{refused:?}"
    );
    license.legal_owner = root.name.clone();
    let saved = estate.create_license(license).await.unwrap();
    assert!(!saved.incomplete && saved.missing_fields.is_empty());
}

#[tokio::test]
async fn assigning_more_than_was_purchased_is_refused_and_deleting_a_consumer_unassigns() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let root = estate.root().await;
    estate
        .upload("u-1", vec![vec![computer("pc-1", 1), computer("pc-2", 1)]])
        .await
        .unwrap();
    let computers = estate.computers(Default::default()).await;
    let license = estate
        .create_license(Estate::complete_license(
            &word,
            &root,
            AssignmentType::Computer,
            3,
        ))
        .await
        .unwrap();
    assert_eq!(license.unassigned, 3);
    let assign = |computer: &str, quantity: i64| AssignLicenseRequest {
        parent: license.name.clone(),
        assignment: Some(Assignment {
            computer: computer.into(),
            quantity,
            ..Default::default()
        }),
    };
    let mut licenses = estate.licenses();
    licenses
        .assign_license(estate.request(assign(&computers[0].name, 2)))
        .await
        .unwrap();
    let refused = assert_code(
        licenses
            .assign_license(estate.request(assign(&computers[1].name, 2)))
            .await,
        Code::FailedPrecondition,
    );
    assert!(refused.message().contains("exceed"), "{refused:?}");
    licenses
        .assign_license(estate.request(assign(&computers[1].name, 1)))
        .await
        .unwrap();
    let read = |estate: Estate, name: String| async move {
        estate
            .licenses()
            .get_license(estate.request(GetLicenseRequest { name }))
            .await
            .unwrap()
            .into_inner()
    };
    let full = read(estate.clone(), license.name.clone()).await;
    assert_eq!((full.assigned, full.unassigned), (3, 0));
    // The quantity cannot drop below what is assigned; raising it frees more.
    let requantify = |count: i64, etag: &str| UpdateLicenseRequest {
        license: Some(estate_proto::licensing::License {
            name: license.name.clone(),
            quantity: Some(Quantity {
                kind: Some(quantity::Kind::Count(count)),
            }),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: estate_e2e::mask(&["quantity"]),
    };
    assert_code(
        licenses
            .update_license(estate.request(requantify(2, &full.etag)))
            .await,
        Code::FailedPrecondition,
    );
    let raised = licenses
        .update_license(estate.request(requantify(5, &full.etag)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (raised.assigned, raised.unassigned, raised.vendor),
        (3, 2, full.vendor.clone())
    );
    assert_code(
        licenses
            .update_license(estate.request(requantify(6, &full.etag)))
            .await,
        Code::FailedPrecondition,
    );

    estate
        .inventory()
        .delete_computer(estate.request(DeleteComputerRequest {
            name: computers[0].name.clone(),
        }))
        .await
        .unwrap();
    let after = read(estate.clone(), license.name.clone()).await;
    assert_eq!((after.assigned, after.unassigned), (1, 4));

    // Organization licenses are never assigned.
    let organization = estate
        .create_license(Estate::complete_license(
            &word,
            &root,
            AssignmentType::Organization,
            3,
        ))
        .await
        .unwrap();
    assert_code(
        licenses
            .assign_license(estate.request(AssignLicenseRequest {
                parent: organization.name,
                ..assign(&computers[1].name, 1)
            }))
            .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn archiving_a_base_alone_makes_its_upgrades_incomplete_and_unarchiving_restores_them() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let v9 = estate.application("Office", "9").await;
    let v10 = estate.application("Office", "10").await;
    let root = estate.root().await;
    let mut agreements = AgreementsServiceClient::new(estate.channel.clone());
    let agreement = agreements
        .create_agreement(estate.request(CreateAgreementRequest {
            parent: estate.customer.clone(),
            agreement: Some(Agreement {
                display_name: "EA 2026".into(),
                kind: AgreementKind::Software.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let mut base_license = Estate::complete_license(&v9, &root, AssignmentType::Organization, 10);
    base_license.agreement = agreement.name.clone();
    let base = estate.create_license(base_license).await.unwrap();
    let mut upgrade_license =
        Estate::complete_license(&v10, &root, AssignmentType::Organization, 4);
    upgrade_license.upgrade_of = vec![UpgradeBase {
        base: base.name.clone(),
        quantity: 4,
    }];
    let upgrade = estate.create_license(upgrade_license).await.unwrap();
    assert!(!upgrade.incomplete);

    let mut licenses = estate.licenses();
    let archived = licenses
        .archive_license(estate.request(ArchiveLicenseRequest {
            name: base.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(archived.incomplete_licenses, vec![upgrade.name.clone()]);
    let read = |estate: Estate, name: String| async move {
        estate
            .licenses()
            .get_license(estate.request(GetLicenseRequest { name }))
            .await
            .unwrap()
            .into_inner()
    };
    let archived_base = read(estate.clone(), base.name.clone()).await;
    assert!(archived_base.archived, "archived licenses stay readable");
    assert!(archived_base.agreement.is_empty());
    let orphan = read(estate.clone(), upgrade.name.clone()).await;
    assert!(orphan.incomplete);
    assert_eq!(orphan.missing_fields, vec!["upgrade_of"]);

    // Now archive the upgrade too (its own group): unarchiving the base
    // alone must name the archived upgrade.
    licenses
        .archive_license(estate.request(ArchiveLicenseRequest {
            name: upgrade.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let refused = assert_code(
        licenses
            .unarchive_license(estate.request(UnarchiveLicenseRequest {
                name: base.name.clone(),
                include_archived_together: true,
                ..Default::default()
            }))
            .await,
        Code::FailedPrecondition,
    );
    assert!(refused.message().contains(&upgrade.name), "{refused:?}");
    let restored = licenses
        .unarchive_license(estate.request(UnarchiveLicenseRequest {
            name: base.name.clone(),
            include_connected_licenses: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(restored.unarchived_licenses.len(), 2);
    let base_back = read(estate.clone(), base.name.clone()).await;
    assert_eq!(
        base_back.agreement, agreement.name,
        "reconnected to its agreement"
    );
    assert!(!read(estate.clone(), upgrade.name.clone()).await.incomplete);

    // Archived with its connections and agreement, the group comes back as
    // one, agreement included.
    let grouped = licenses
        .archive_license(estate.request(ArchiveLicenseRequest {
            name: base.name.clone(),
            include_connected_licenses: true,
            include_agreement: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grouped.archived_licenses.len(), 2);
    assert_eq!(grouped.archived_agreements, vec![agreement.name.clone()]);
    let back = licenses
        .unarchive_license(estate.request(UnarchiveLicenseRequest {
            name: base.name.clone(),
            include_archived_together: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.unarchived_licenses.len(), 2);
    assert_eq!(back.unarchived_agreements, vec![agreement.name.clone()]);
    let listed = agreements
        .list_agreements(estate.request(ListAgreementsRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.agreements[0].license_count, 1,
        "the base is reconnected"
    );

    // Archived from the upgrade (which has no agreement of its own), the
    // base's agreement goes along with the base.
    let from_upgrade = licenses
        .archive_license(estate.request(ArchiveLicenseRequest {
            name: upgrade.name.clone(),
            include_connected_licenses: true,
            include_agreement: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(from_upgrade.archived_licenses.len(), 2);
    assert_eq!(
        from_upgrade.archived_agreements,
        vec![agreement.name.clone()]
    );
}

#[tokio::test]
async fn a_subscription_agreements_period_overrides_its_licenses_and_only_software_agreements_hold_licenses()
 {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let root = estate.root().await;
    let agreements_client = AgreementsServiceClient::new(estate.channel.clone());
    let mut agreements = agreements_client.clone();
    let create = |display_name: &str,
                  kind: AgreementKind,
                  period: Option<(&str, &str)>,
                  subscription: bool| {
        let request = estate.request(CreateAgreementRequest {
            parent: estate.customer.clone(),
            agreement: Some(Agreement {
                display_name: display_name.into(),
                kind: kind.into(),
                period: period.map(|(start, end)| Period {
                    start_date: start.into(),
                    end_date: end.into(),
                }),
                subscription,
                ..Default::default()
            }),
            request_id: String::new(),
        });
        let mut client = agreements_client.clone();
        async move {
            client
                .create_agreement(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let subscription = create(
        "Microsoft 365",
        AgreementKind::Software,
        Some(("2026-01-01", "2026-12-31")),
        true,
    )
    .await
    .unwrap();
    let support = create("Support", AgreementKind::Support, None, false)
        .await
        .unwrap();
    let refused = create("No period", AgreementKind::Software, None, true).await;
    assert_code(refused, Code::InvalidArgument);

    let mut license = Estate::complete_license(&word, &root, AssignmentType::Organization, 5);
    license.subscription = Some(Period {
        start_date: "2026-03-01".into(),
        end_date: "2027-02-28".into(),
    });
    license.agreement = support.name.clone();
    let refused = assert_code(
        estate.create_license(license.clone()).await,
        Code::InvalidArgument,
    );
    assert!(
        refused.message().contains("only software agreements"),
        "{refused:?}"
    );
    license.agreement = subscription.name.clone();
    let saved = estate.create_license(license).await.unwrap();
    let effective = saved.effective_subscription.unwrap();
    assert_eq!(
        (effective.start_date.as_str(), effective.end_date.as_str()),
        ("2026-01-01", "2026-12-31")
    );

    // Offered for a purchase date: software agreements whose period holds it.
    let offered = |date: &str| ListAgreementsRequest {
        parent: estate.customer.clone(),
        offered_for_purchase_date: date.into(),
        ..Default::default()
    };
    let inside = agreements
        .list_agreements(estate.request(offered("2026-06-01")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inside.agreements.len(), 1);
    let outside = agreements
        .list_agreements(estate.request(offered("2027-06-01")))
        .await
        .unwrap()
        .into_inner();
    assert!(outside.agreements.is_empty());
}

#[tokio::test]
async fn manual_allocations_lie_below_the_legal_owner_and_a_used_node_is_not_deleted() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let root = estate.root().await;
    let europe = estate.node(&root, "Europe", true).await;
    let sales = estate.node(&europe, "Sales", false).await;
    let asia = estate.node(&root, "Asia", false).await;
    let license = estate
        .create_license(Estate::complete_license(
            &word,
            &europe,
            AssignmentType::Organization,
            10,
        ))
        .await
        .unwrap();
    let allocate = |node: &str, quantity: i64| SetLicenseAllocationsRequest {
        name: license.name.clone(),
        allocations: vec![Allocation {
            node: node.into(),
            quantity,
        }],
        etag: String::new(),
    };
    let mut licenses = estate.licenses();
    let refused = assert_code(
        licenses
            .set_license_allocations(estate.request(allocate(&asia.name, 2)))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        refused
            .message()
            .contains("below the license's legal owner"),
        "{refused:?}"
    );
    assert_code(
        licenses
            .set_license_allocations(estate.request(allocate(&sales.name, 11)))
            .await,
        Code::InvalidArgument,
    );
    let allocated = licenses
        .set_license_allocations(estate.request(allocate(&sales.name, 4)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allocated.allocations[0].quantity, 4);

    // Only legal nodes own licenses.
    let refused = assert_code(
        estate
            .create_license(Estate::complete_license(
                &word,
                &asia,
                AssignmentType::Organization,
                1,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert!(refused.message().contains("legal"), "{refused:?}");
    // A node with children, licenses or allocations stays.
    for node in [&europe, &sales] {
        assert_code(
            estate
                .nodes()
                .delete_org_node(estate.request(DeleteOrgNodeRequest {
                    name: node.name.clone(),
                    etag: String::new(),
                }))
                .await,
            Code::FailedPrecondition,
        );
    }
    estate
        .nodes()
        .delete_org_node(estate.request(DeleteOrgNodeRequest {
            name: asia.name.clone(),
            etag: String::new(),
        }))
        .await
        .unwrap();
}

#[tokio::test]
async fn no_licensing_call_reaches_another_customers_estate() {
    let platform = Platform::spawn().await.unwrap();
    let mine = customer_estate(&platform, "Mine").await;
    let theirs = customer_estate(&platform, "Theirs").await;
    let their_word = theirs.application("Word", "2021").await;
    theirs
        .upload(
            "u-1",
            vec![vec![
                computer("their-pc", 1),
                installation("their-pc", &their_word),
            ]],
        )
        .await
        .unwrap();
    let their_computer = theirs
        .inventory()
        .list_computers(theirs.request(ListComputersRequest {
            parent: theirs.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .computers
        .remove(0);
    // A key of "Mine" only.
    let owner_key = platform
        .create_api_key(
            &mine.customer.replacen("customers/", "organizations/", 1),
            &["admin"],
        )
        .await
        .unwrap();
    let mine = Estate::new(
        mine.channel.clone(),
        &owner_key,
        &mine.customer.replacen("customers/", "organizations/", 1),
    );
    let my_root = mine.root().await;

    // Under the other customer's name: refused.
    assert_code(
        mine.inventory()
            .get_computer(mine.request(GetComputerRequest {
                name: their_computer.name.clone(),
            }))
            .await,
        Code::PermissionDenied,
    );
    let trespass = Estate {
        customer: theirs.customer.clone(),
        ..mine.clone()
    };
    assert_code(
        trespass.upload("u-x", vec![vec![computer("x", 1)]]).await,
        Code::PermissionDenied,
    );
    // A license well formed for their estate: only authorization refuses it.
    let mut their_license =
        Estate::complete_license(&their_word, &my_root, AssignmentType::Organization, 1);
    their_license.legal_owner = String::new();
    assert_code(
        trespass.create_license(their_license).await,
        Code::PermissionDenied,
    );
    assert_code(
        trespass
            .licenses()
            .list_licenses(
                trespass.request(estate_proto::licensing::ListLicensesRequest {
                    parent: theirs.customer.clone(),
                    ..Default::default()
                }),
            )
            .await,
        Code::PermissionDenied,
    );
    // Their ids guessed under my own name: not found.
    let guessed = their_computer
        .name
        .replace(&theirs.customer, &mine.customer);
    assert_code(
        mine.inventory()
            .get_computer(mine.request(GetComputerRequest { name: guessed }))
            .await,
        Code::NotFound,
    );
    let guessed_application = their_word.name.replace(&theirs.customer, &mine.customer);
    assert_code(
        CatalogServiceClient::new(mine.channel.clone())
            .get_application(mine.request(GetApplicationRequest {
                name: guessed_application.clone(),
            }))
            .await,
        Code::NotFound,
    );
    // Their application in my license or upload: refused, naming the field.
    let mut license =
        Estate::complete_license(&their_word, &my_root, AssignmentType::Organization, 1);
    let refused = assert_code(
        mine.create_license(license.clone()).await,
        Code::InvalidArgument,
    );
    assert!(
        refused.message().contains("license.application"),
        "{refused:?}"
    );
    license.application = guessed_application;
    assert_code(mine.create_license(license).await, Code::InvalidArgument);
    let refused = assert_code(
        mine.upload(
            "u-2",
            vec![vec![
                computer("my-pc", 1),
                installation("my-pc", &their_word),
            ]],
        )
        .await,
        Code::InvalidArgument,
    );
    assert!(
        refused
            .message()
            .contains("records[1].installation.application"),
        "{refused:?}"
    );
}

/// An organization structure has at most 64 levels: creating or moving a
/// node past the deepest is refused, naming the rule.
#[tokio::test]
async fn a_structure_stops_at_64_levels_on_create_and_on_move() {
    use estate_proto::licensing::{OrgNode, UpdateOrgNodeRequest};

    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let mut levels = vec![root.clone()];
    for depth in 1..=63 {
        let below = levels.last().unwrap();
        levels.push(estate.node(below, &format!("Level {depth}"), false).await);
    }
    let deepest = levels[63].clone();
    assert_eq!(deepest.depth, 63);
    let refused = estate
        .nodes()
        .create_org_node(
            estate.request(estate_proto::licensing::CreateOrgNodeRequest {
                parent: estate.customer.clone(),
                org_node: Some(OrgNode {
                    parent: deepest.name.clone(),
                    display_name: "Level 64".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            }),
        )
        .await;
    let status = assert_code(refused, Code::FailedPrecondition);
    assert!(
        status.message().contains("63 levels below its root"),
        "{status:?}"
    );
    // A branch two levels tall fits below level 61, not below level 62.
    let branch = estate.node(&root, "Branch", false).await;
    estate.node(&branch, "Leaf", false).await;
    let move_below = |parent: OrgNode| {
        let estate = estate.clone();
        let branch = branch.clone();
        async move {
            estate
                .nodes()
                .update_org_node(estate.request(UpdateOrgNodeRequest {
                    org_node: Some(OrgNode {
                        name: branch.name.clone(),
                        parent: parent.name,
                        ..Default::default()
                    }),
                    update_mask: estate_e2e::mask(&["parent"]),
                }))
                .await
        }
    };
    assert_code(
        move_below(levels[62].clone()).await,
        Code::FailedPrecondition,
    );
    move_below(levels[61].clone()).await.unwrap();
}

/// Computers carry the reference columns people look them up by, as the
/// beacon reported them last; a bad address is refused naming the field.
#[tokio::test]
async fn computers_carry_operating_system_manufacturer_model_machine_and_address() {
    use estate_proto::licensing::{ComputerRecord, InventoryRecord, Machine, inventory_record};
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let record = |address: &str| InventoryRecord {
        kind: Some(inventory_record::Kind::Computer(ComputerRecord {
            hostname: "pc-01".into(),
            processors: 1,
            cores: 4,
            operating_system: "Windows 11 Enterprise 23H2".into(),
            manufacturer: "Lenovo".into(),
            model: "ThinkPad T14 Gen 4".into(),
            machine: Machine::Virtual.into(),
            ip_address: address.into(),
            ..Default::default()
        })),
    };
    let status = assert_code(
        estate
            .upload("bad-ip", vec![vec![record("10.0.0.300")]])
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("ip_address"), "{status:?}");
    estate
        .upload("good", vec![vec![record("fd00::7")]])
        .await
        .unwrap();
    let computers = estate.computers(ListComputersRequest::default()).await;
    let computer = &computers[0];
    assert_eq!(
        (
            computer.operating_system.as_str(),
            computer.manufacturer.as_str(),
            computer.model.as_str(),
            computer.machine(),
            computer.ip_address.as_str()
        ),
        (
            "Windows 11 Enterprise 23H2",
            "Lenovo",
            "ThinkPad T14 Gen 4",
            Machine::Virtual,
            "fd00::7"
        )
    );
}

/// A license may carry another metric than its application's when that
/// metric can cover it (the engine's rule 1); one that never can is
/// refused at save, naming the metric.
#[tokio::test]
async fn a_license_metric_that_can_never_cover_its_application_is_refused() {
    use estate_proto::licensing::Metric;
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let root = estate.root().await;
    for (metric, saved) in [
        (Metric::Devices, true),
        (Metric::Site, true),
        // Covers whole computers at their processor count.
        (Metric::Processors, true),
        (Metric::Users, false),
        (Metric::ConcurrentUsers, false),
    ] {
        let mut license = Estate::complete_license(&word, &root, AssignmentType::Organization, 5);
        license.metric = metric.into();
        let result = estate.create_license(license).await;
        if saved {
            result.unwrap();
        } else {
            let status = assert_code(result, Code::InvalidArgument);
            assert!(
                status.message().contains("license.metric")
                    && status.message().contains("can never cover"),
                "{metric:?}: {status:?}"
            );
        }
    }
}

/// Seed 002's import: a CSV file, every row checked like CreateLicense,
/// every bad value reported by line and column; all or nothing, or the
/// good rows, as the caller chooses; once per import id.
#[tokio::test]
async fn licenses_import_from_a_csv_file_all_or_nothing_or_the_good_rows_once() {
    use estate_proto::licensing::{ImportLicensesRequest, ImportMode, ListLicensesRequest};
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let word = estate.application("Word", "2021").await;
    let root = estate.root().await;
    let file = format!(
        "application,metric,assignment_type,quantity,legal_owner,purchase_date,downgrade_rights\n\
         {word},installations,organization,10,{root},2026-01-15,true\n\
         {word},litres,organization,ten,{root},2026-01-15,true\n\
         {word},installations,computer,5,{root},2026-13-40,false\n\
         {word},devices,organization,unlimited,{root},2026-02-01,false\n",
        word = word.name,
        root = root.name
    );
    let import = |import_id: &str, mode: ImportMode, file: String| {
        // Two chunks, split mid-row, as a client streams a file.
        let bytes = file.into_bytes();
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        let messages = vec![
            ImportLicensesRequest {
                parent: estate.customer.clone(),
                import_id: import_id.into(),
                mode: mode.into(),
                csv: head.to_vec(),
            },
            ImportLicensesRequest {
                csv: tail.to_vec(),
                ..Default::default()
            },
        ];
        let mut licenses = estate.licenses();
        let request = estate.request(tokio_stream::iter(messages));
        async move {
            licenses
                .import_licenses(request)
                .await
                .map(|r| r.into_inner())
        }
    };
    let count = || {
        let mut licenses = estate.licenses();
        let request = estate.request(ListLicensesRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        });
        async move {
            licenses
                .list_licenses(request)
                .await
                .unwrap()
                .into_inner()
                .licenses
                .len()
        }
    };

    // All or nothing: every bad value named, nothing stored.
    let refused = import("all", ImportMode::AllOrNothing, file.clone())
        .await
        .unwrap();
    assert_eq!(refused.rows, 4);
    assert!(refused.licenses.is_empty());
    let problems: Vec<(i64, &str)> = refused
        .problems
        .iter()
        .map(|problem| (problem.line, problem.field.as_str()))
        .collect();
    assert_eq!(
        problems,
        [(3, "metric"), (3, "quantity"), (4, "purchase_date")],
        "{refused:?}"
    );
    assert_eq!(count().await, 0);

    // The good rows: two stored, the same two problems reported.
    let partial = import("good", ImportMode::GoodRows, file.clone())
        .await
        .unwrap();
    assert_eq!(partial.licenses.len(), 2, "{partial:?}");
    assert_eq!(partial.problems.len(), 3);
    assert_eq!(count().await, 2);
    // Retried: nothing stored twice, the same licenses answered.
    let retried = import("good", ImportMode::GoodRows, file).await.unwrap();
    assert_eq!(retried.licenses, partial.licenses);
    assert_eq!(count().await, 2);

    // A header with an unknown column is reported, line 1.
    let bad_header = import(
        "header",
        ImportMode::GoodRows,
        "application,colour\n".into(),
    )
    .await
    .unwrap();
    assert_eq!(bad_header.problems[0].line, 1);
    assert_eq!(bad_header.problems[0].field, "colour");
}
