//! The compliance calculation through the API: worked examples of SPEC
//! section 2 calculated by `CalculateCompliance` over a real estate in
//! PostgreSQL, and read back through the reports.

use estate_e2e::Platform;
use estate_proto::licensing::compliance_service_client::ComplianceServiceClient;
use estate_proto::licensing::{
    Application, AssignLicenseRequest, Assignment, AssignmentType, CalculateComplianceRequest,
    CalculationPhase, ComplianceFigures, ComplianceLevel, ComplianceReport, ComplianceRun,
    ConsumerStatus, CreateExclusionRequest, Exclusion, ExportComplianceReportRequest,
    InvalidReason, InventoryRecord, ListComplianceRequest, ListComputersRequest,
    ListConsumerComplianceRequest, ListInvalidAssignmentsRequest, ListLicenseComplianceRequest,
    ListUsersRequest, Metric, RunState, UsageRecord, UserRecord, inventory_record,
};
use estate_proto::time::to_timestamp;
use tonic::Code;
use tonic::transport::Channel;

use crate::assert_code;
use crate::estate::{Estate, computer, installation};
use crate::estate_rules::customer_estate;

fn compliance(estate: &Estate) -> ComplianceServiceClient<Channel> {
    ComplianceServiceClient::new(estate.channel.clone())
}

/// Calculates and returns the phases reported and the finished run.
async fn calculate(estate: &Estate) -> (Vec<CalculationPhase>, ComplianceRun) {
    let mut stream = compliance(estate)
        .calculate_compliance(estate.request(CalculateComplianceRequest {
            parent: estate.customer.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    let mut phases = Vec::new();
    let mut run = None;
    while let Some(message) = stream.message().await.unwrap() {
        assert!(message.done <= message.total, "{message:?}");
        phases.push(message.phase());
        if let Some(finished) = message.run {
            run = Some(finished);
        }
    }
    (phases, run.expect("the last message carries the run"))
}

/// The figures of one row of the latest run at `level`.
async fn figures(
    estate: &Estate,
    level: ComplianceLevel,
    filter: ListComplianceRequest,
) -> Vec<ComplianceFigures> {
    compliance(estate)
        .list_compliance(estate.request(ListComplianceRequest {
            parent: estate.customer.clone(),
            level: level.into(),
            ..filter
        }))
        .await
        .unwrap()
        .into_inner()
        .rows
        .into_iter()
        .map(|row| row.figures.unwrap())
        .collect()
}

fn license_of(
    application: &Application,
    owner: &estate_proto::licensing::OrgNode,
    assignment_type: AssignmentType,
    metric: Metric,
    count: i64,
    downgrade: bool,
) -> estate_proto::licensing::License {
    let mut license = Estate::complete_license(application, owner, assignment_type, count);
    license.metric = metric.into();
    license.downgrade_rights = downgrade;
    license
}

#[tokio::test]
async fn a_version_10_license_with_downgrade_covers_versions_10_9_and_8_in_total() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let v8 = estate.application("Office", "8").await;
    let v9 = estate.application("Office", "9").await;
    let v10 = estate.application("Office", "10").await;
    let mut records = Vec::new();
    for (count, application) in [(50, &v10), (30, &v9), (20, &v8)] {
        for index in 0..count {
            let hostname = format!("{}-{index}", application.version);
            records.push(computer(&hostname, 1));
            records.push(installation(&hostname, application));
        }
    }
    estate.upload("office-1", vec![records]).await.unwrap();
    estate
        .create_license(license_of(
            &v10,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            100,
            true,
        ))
        .await
        .unwrap();

    let (phases, run) = calculate(&estate).await;
    assert_eq!(run.state(), RunState::Succeeded, "{run:?}");
    assert_eq!(phases.first(), Some(&CalculationPhase::Reading));
    assert_eq!(phases.last(), Some(&CalculationPhase::Done));
    assert!(phases.contains(&CalculationPhase::Storing));
    let totals = run.totals.unwrap();
    assert_eq!(
        (totals.requirement, totals.coverage, totals.compliance),
        (100, 100, 0)
    );
    let family = figures(&estate, ComplianceLevel::Family, Default::default()).await;
    assert_eq!(family.len(), 1);
    assert_eq!((family[0].requirement, family[0].coverage), (100, 100));
    // Per application: the 100 units are spread over 10, 9 and 8.
    for (application, requirement) in [(&v10, 50), (&v9, 30), (&v8, 20)] {
        let rows = figures(
            &estate,
            ComplianceLevel::Application,
            ListComplianceRequest {
                application: application.name.clone(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(rows[0].requirement, requirement);
        assert_eq!(rows[0].compliance, 0, "{application:?}: {rows:?}");
    }

    // Ten more installations of version 8: ten short, the same estate
    // gives the same result every time.
    let mut records = Vec::new();
    for index in 0..10 {
        let hostname = format!("late-{index}");
        records.push(computer(&hostname, 1));
        records.push(installation(&hostname, &v8));
    }
    estate.upload("office-2", vec![records]).await.unwrap();
    let (_, first) = calculate(&estate).await;
    let (_, second) = calculate(&estate).await;
    assert_eq!(first.totals.unwrap().compliance, -10);
    assert_eq!(first.totals, second.totals);
    let shortfalls = figures(
        &estate,
        ComplianceLevel::Application,
        ListComplianceRequest {
            only_shortfalls: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(shortfalls.len(), 1);
}

async fn upload_users(estate: &Estate, application: &Application, users: usize) {
    let now = estate_e2e::pinned_now();
    let mut records = Vec::new();
    for index in 0..users {
        let username = format!("user-{index}");
        records.push(InventoryRecord {
            kind: Some(inventory_record::Kind::User(UserRecord {
                username: username.clone(),
                node: String::new(),
            })),
        });
        records.push(InventoryRecord {
            kind: Some(inventory_record::Kind::Usage(UsageRecord {
                username,
                application: application.name.clone(),
                last_used_time: Some(to_timestamp(now - chrono::Duration::days(1))),
            })),
        });
    }
    estate.upload("users-1", vec![records]).await.unwrap();
}

#[tokio::test]
async fn ten_user_licenses_with_five_assigned_cover_five_users() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let mut crm = estate.application("CRM", "7").await;
    crm.default_metric = Metric::Users.into();
    estate
        .catalog()
        .update_application(
            estate.request(estate_proto::licensing::UpdateApplicationRequest {
                application: Some(crm.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["default_metric".into()],
                }),
            }),
        )
        .await
        .unwrap();
    upload_users(&estate, &crm, 6).await;
    let license = estate
        .create_license(license_of(
            &crm,
            &root,
            AssignmentType::User,
            Metric::Users,
            10,
            false,
        ))
        .await
        .unwrap();
    let users = estate
        .users(ListUsersRequest {
            order_by: "username".into(),
            ..Default::default()
        })
        .await;
    for user in &users[..5] {
        estate
            .licenses()
            .assign_license(estate.request(AssignLicenseRequest {
                parent: license.name.clone(),
                assignment: Some(Assignment {
                    user: user.name.clone(),
                    quantity: 1,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap();
    }

    let (_, run) = calculate(&estate).await;
    let totals = run.totals.unwrap();
    assert_eq!(
        (totals.requirement, totals.coverage, totals.compliance),
        (6, 5, -1)
    );
    let licenses = compliance(&estate)
        .list_license_compliance(estate.request(ListLicenseComplianceRequest {
            parent: estate.customer.clone(),
            only_unassigned: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .licenses;
    assert_eq!(licenses.len(), 1);
    assert_eq!((licenses[0].assigned, licenses[0].unassigned), (5, Some(5)));
    assert_eq!(licenses[0].used, 5);

    let consumers = |status: ConsumerStatus| {
        let request = estate.request(ListConsumerComplianceRequest {
            parent: estate.customer.clone(),
            status: status.into(),
            ..Default::default()
        });
        let mut client = compliance(&estate);
        async move {
            client
                .list_consumer_compliance(request)
                .await
                .unwrap()
                .into_inner()
                .consumers
        }
    };
    let covered = consumers(ConsumerStatus::Covered).await;
    assert_eq!(covered.len(), 5);
    assert!(
        covered
            .iter()
            .all(|row| row.licenses == [license.name.clone()])
    );
    let not_covered = consumers(ConsumerStatus::NotCovered).await;
    assert_eq!(not_covered.len(), 1);
    assert_eq!(not_covered[0].user, users[5].name);

    // Excluding the uncovered user is an adjustment, not a smaller initial
    // requirement.
    compliance(&estate)
        .create_exclusion(estate.request(CreateExclusionRequest {
            parent: estate.customer.clone(),
            exclusion: Some(Exclusion {
                user: users[5].name.clone(),
                reason: "contractor, licensed by the agency".into(),
                ..Default::default()
            }),
            request_id: "exclude-1".into(),
        }))
        .await
        .unwrap();
    let (_, run) = calculate(&estate).await;
    let totals = run.totals.unwrap();
    assert_eq!(
        (
            totals.initial_requirement,
            totals.adjustments,
            totals.requirement,
            totals.compliance
        ),
        (6, -1, 5, 0)
    );
}

#[tokio::test]
async fn an_assignment_to_a_computer_without_the_application_is_invalid_and_covers_nothing() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let word = estate.application("Word", "2021").await;
    estate
        .upload(
            "u-1",
            vec![vec![
                computer("with-word", 1),
                installation("with-word", &word),
                computer("without-word", 1),
            ]],
        )
        .await
        .unwrap();
    let computers = estate
        .computers(ListComputersRequest {
            order_by: "hostname".into(),
            ..Default::default()
        })
        .await;
    let license = estate
        .create_license(license_of(
            &word,
            &root,
            AssignmentType::Computer,
            Metric::Installations,
            2,
            false,
        ))
        .await
        .unwrap();
    for computer in &computers {
        estate
            .licenses()
            .assign_license(estate.request(AssignLicenseRequest {
                parent: license.name.clone(),
                assignment: Some(Assignment {
                    computer: computer.name.clone(),
                    quantity: 1,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap();
    }
    let (_, run) = calculate(&estate).await;
    let totals = run.totals.unwrap();
    assert_eq!((totals.requirement, totals.coverage), (1, 1));
    let invalid = compliance(&estate)
        .list_invalid_assignments(estate.request(ListInvalidAssignmentsRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .invalid_assignments;
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(invalid[0].reason(), InvalidReason::NotInstalled);
    assert_eq!(invalid[0].computer, computers[1].name, "without-word");

    // The CSV report lists the license with its invalid column.
    let mut stream = compliance(&estate)
        .export_compliance_report(estate.request(ExportComplianceReportRequest {
            parent: estate.customer.clone(),
            report: ComplianceReport::Licenses.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        csv.extend(chunk.data);
    }
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "license,status,effective_quantity,taken_by_upgrades,used,surplus,assigned,unassigned,invalid_assignments,invalid_units"
    );
    let id = license.name.rsplit('/').next().unwrap();
    assert_eq!(lines[1], format!("{id},valid,2,0,1,0,2,0,1,1"));
}

#[tokio::test]
async fn another_customers_compliance_is_neither_calculated_nor_read() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let other = customer_estate(&platform, "Fabrikam").await;
    calculate(&other).await;
    // A key of Contoso's own organization, with no access to Fabrikam.
    let organization = estate.customer.replacen("customers/", "organizations/", 1);
    let key = platform
        .create_api_key(&organization, &["admin"])
        .await
        .unwrap();
    let contoso = Estate::new(estate.channel.clone(), &key, &organization);
    assert_code(
        compliance(&contoso)
            .calculate_compliance(contoso.request(CalculateComplianceRequest {
                parent: other.customer.clone(),
            }))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        compliance(&contoso)
            .list_compliance(contoso.request(ListComplianceRequest {
                parent: other.customer.clone(),
                ..Default::default()
            }))
            .await,
        Code::PermissionDenied,
    );
    // Its own, calculated over an empty estate, is empty and its own.
    let (_, run) = calculate(&contoso).await;
    assert!(run.name.starts_with(&estate.customer));
}
