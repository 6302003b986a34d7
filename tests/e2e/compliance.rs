//! The compliance calculation through the API: worked examples of SPEC
//! section 2 calculated by `CalculateCompliance` over a real estate in
//! PostgreSQL, and read back through the reports.

use estate_e2e::Platform;
use estate_proto::licensing::agreements_service_client::AgreementsServiceClient;
use estate_proto::licensing::compliance_service_client::ComplianceServiceClient;
use estate_proto::licensing::license_policy_service_client::LicensePolicyServiceClient;
use estate_proto::licensing::{
    Agreement, AgreementKind, ArchiveLicenseRequest, CreateAgreementRequest,
    GetLicensingSettingsRequest, LicenseComplianceStatus, LicensingSettings, Period,
    UnarchiveLicenseRequest, UpdateLicenseRequest, UpdateLicensingSettingsRequest,
};
use estate_proto::licensing::{
    Application, AssignLicenseRequest, Assignment, AssignmentType, CalculateComplianceRequest,
    CalculationPhase, ComplianceFigures, ComplianceLevel, ComplianceReport, ComplianceRow,
    ComplianceRun, ConsumerStatus, CreateExclusionRequest, Exclusion,
    ExportComplianceReportRequest, GetComplianceRunRequest, InvalidAssignment, InvalidReason,
    InventoryRecord, LicenseCompliance, ListComplianceRequest, ListComplianceRunsRequest,
    ListComputersRequest, ListConsumerComplianceRequest, ListInvalidAssignmentsRequest,
    ListLicenseComplianceRequest, ListTransfersRequest, ListUsersRequest, Metric, RunState,
    RunTrigger, Transfer, UsageRecord, UserRecord, inventory_record, transfer,
};
use estate_proto::time::to_timestamp;
use futures::StreamExt;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

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

/// The rows of the latest run at `level`, with the run they come from.
async fn rows(
    estate: &Estate,
    level: ComplianceLevel,
    filter: ListComplianceRequest,
) -> (String, Vec<ComplianceRow>) {
    let response = compliance(estate)
        .list_compliance(estate.request(ListComplianceRequest {
            parent: estate.customer.clone(),
            level: level.into(),
            ..filter
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(response.next_page_token.is_empty(), "one page holds them");
    (response.run, response.rows)
}

/// The figures of one row of the latest run at `level`.
async fn figures(
    estate: &Estate,
    level: ComplianceLevel,
    filter: ListComplianceRequest,
) -> Vec<ComplianceFigures> {
    rows(estate, level, filter)
        .await
        .1
        .into_iter()
        .map(|row| row.figures.unwrap())
        .collect()
}

/// Every row of the latest run, at every level, with the run they come
/// from.
async fn every_row(estate: &Estate) -> (String, Vec<ComplianceRow>) {
    let mut run = None;
    let mut all = Vec::new();
    for level in [
        ComplianceLevel::Application,
        ComplianceLevel::Family,
        ComplianceLevel::Node,
    ] {
        let (from, rows) = rows(estate, level, Default::default()).await;
        assert_eq!(run.get_or_insert_with(|| from.clone()), &from);
        all.extend(rows);
    }
    (run.unwrap(), all)
}

/// (requirement, coverage, compliance).
fn outcome(figures: &ComplianceFigures) -> (i64, i64, i64) {
    (figures.requirement, figures.coverage, figures.compliance)
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
    let (first_run, first_rows) = every_row(&estate).await;
    let (_, second) = calculate(&estate).await;
    let (second_run, second_rows) = every_row(&estate).await;
    assert_eq!(first.totals.unwrap().compliance, -10);
    assert_eq!(first.totals, second.totals);
    // Two runs, row for row the same.
    assert_eq!(
        (first_run.as_str(), second_run.as_str()),
        (first.name.as_str(), second.name.as_str())
    );
    assert_ne!(first.name, second.name);
    assert_eq!(first_rows, second_rows);
    // Exact versions first, then downgrades in ascending version order
    // (the engine's matching rule): version 10 takes 50, version 8 its
    // 30, and version 9 gets the 20 left, ten short.
    let (_, applications) = rows(&estate, ComplianceLevel::Application, Default::default()).await;
    let mut by_application: Vec<(String, (i64, i64, i64))> = applications
        .iter()
        .map(|row| {
            (
                row.application.clone(),
                outcome(row.figures.as_ref().unwrap()),
            )
        })
        .collect();
    by_application.sort();
    let mut expected = vec![
        (v10.name.clone(), (50, 50, 0)),
        (v9.name.clone(), (30, 20, -10)),
        (v8.name.clone(), (30, 30, 0)),
    ];
    expected.sort();
    assert_eq!(by_application, expected);
    let (_, shortfalls) = rows(
        &estate,
        ComplianceLevel::Application,
        ListComplianceRequest {
            only_shortfalls: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(shortfalls.len(), 1);
    assert_eq!(shortfalls[0].application, v9.name, "{shortfalls:?}");
    assert_eq!(
        outcome(shortfalls[0].figures.as_ref().unwrap()),
        (30, 20, -10)
    );
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
    ten_user_licenses_with_five_assigned(&platform).await;
}

/// A run takes a third connection for its result parts only when the pool
/// has one free; with two (both held while storing) the two write every
/// part, license results included, with the same results.
#[tokio::test]
async fn with_no_connection_to_spare_a_run_still_stores_its_license_results() {
    let platform = Platform::spawn_with(estate_e2e::Options {
        backend_database_pool_size: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    ten_user_licenses_with_five_assigned(&platform).await;
}

async fn ten_user_licenses_with_five_assigned(platform: &Platform) {
    let estate = customer_estate(platform, "Contoso").await;
    let root = estate.root().await;
    let mut crm = estate.application("CRM", "7").await;
    crm.default_metric = Metric::Users.into();
    estate
        .catalog()
        .update_application(
            estate.request(estate_proto::licensing::UpdateApplicationRequest {
                application: Some(crm.clone()),
                update_mask: estate_e2e::mask(&["default_metric"]),
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
    assert_eq!(
        invalid[0].message,
        "1 unit assigned to a computer where nothing the license covers is installed"
    );
    // The license's assignments carry the alert themselves.
    let assignments = estate
        .licenses()
        .list_assignments(
            estate.request(estate_proto::licensing::ListAssignmentsRequest {
                parent: license.name.clone(),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_inner()
        .assignments;
    let alerts: Vec<(&str, Vec<&str>)> = assignments
        .iter()
        .map(|assignment| {
            (
                assignment.computer.as_str(),
                assignment
                    .alerts
                    .iter()
                    .map(|alert| alert.message.as_str())
                    .collect(),
            )
        })
        .collect();
    assert!(
        alerts.contains(&(computers[0].name.as_str(), vec![])),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&(
            computers[1].name.as_str(),
            vec!["1 unit assigned to a computer where nothing the license covers is installed"]
        )),
        "{alerts:?}"
    );

    // The CSV report lists the license with its invalid column.
    let mut stream = compliance(&estate)
        .export_compliance_report(estate.request(ExportComplianceReportRequest {
            parent: estate.customer.clone(),
            columns: Vec::new(),
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
        "license,license_name,status,effective_quantity,taken_by_upgrades,used,surplus,assigned,unassigned,invalid_assignments,invalid_units"
    );
    let id = license.name.rsplit('/').next().unwrap();
    assert_eq!(lines[1], format!("{id},Word 2021,valid,2,0,1,0,2,0,1,1"));

    // Reports people read: names beside ids, in the columns the caller
    // chooses, in its order.
    let export = |report: ComplianceReport, columns: &[&str]| {
        let request = estate.request(ExportComplianceReportRequest {
            parent: estate.customer.clone(),
            report: report.into(),
            columns: columns.iter().map(|column| column.to_string()).collect(),
        });
        let mut client = compliance(&estate);
        async move {
            let mut stream = client.export_compliance_report(request).await?.into_inner();
            let mut csv = Vec::new();
            while let Some(chunk) = stream.message().await? {
                csv.extend(chunk.data);
            }
            Ok::<_, tonic::Status>(String::from_utf8(csv).unwrap())
        }
    };
    let invalid_csv = export(
        ComplianceReport::InvalidAssignments,
        &["computer_name", "license_name", "reason_text", "units"],
    )
    .await
    .unwrap();
    assert_eq!(
        invalid_csv.lines().collect::<Vec<_>>(),
        [
            "computer_name,license_name,reason_text,units",
            "without-word,Word 2021,1 unit assigned to a computer where nothing the license \
             covers is installed,1",
        ]
    );
    let applications = export(
        ComplianceReport::Applications,
        &["application_name", "version", "manufacturer", "compliance"],
    )
    .await
    .unwrap();
    assert_eq!(
        applications.lines().next(),
        Some("application_name,version,manufacturer,compliance")
    );
    assert!(
        applications
            .lines()
            .any(|line| line.starts_with("Word 2021,2021,")),
        "{applications}"
    );
    let status = assert_code(
        export(
            ComplianceReport::Licenses,
            &["license", "colour", "license"],
        )
        .await,
        Code::InvalidArgument,
    );
    let fields: Vec<String> = status
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect();
    assert_eq!(fields, ["columns[1]", "columns[2]"]);
}

/// What the latest run of `estate` holds, for comparing customers: the
/// run's counts and totals, and the applications, families, nodes,
/// licenses and computers its results name.
#[derive(Debug, PartialEq, Eq)]
struct Holdings {
    read: (i64, i64, i64),
    totals: (i64, i64, i64),
    applications: Vec<(String, (i64, i64, i64))>,
    families: Vec<(String, (i64, i64, i64))>,
    nodes: Vec<(String, String, (i64, i64, i64))>,
    licenses: Vec<String>,
    consumers: Vec<(String, String)>,
}

async fn holdings(estate: &Estate, run: &ComplianceRun) -> Holdings {
    let figures_of = |row: &ComplianceRow| outcome(row.figures.as_ref().unwrap());
    let (from, applications) = rows(estate, ComplianceLevel::Application, Default::default()).await;
    assert_eq!(from, run.name);
    let (_, families) = rows(estate, ComplianceLevel::Family, Default::default()).await;
    let (_, nodes) = rows(estate, ComplianceLevel::Node, Default::default()).await;
    let licenses = compliance(estate)
        .list_license_compliance(estate.request(ListLicenseComplianceRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(licenses.run, run.name);
    let consumers = consumer_pages(estate, Default::default(), 1000).await;
    Holdings {
        read: (run.computers, run.installations, run.licenses),
        totals: outcome(&run.totals.unwrap_or_default()),
        applications: applications
            .iter()
            .map(|row| (row.application.clone(), figures_of(row)))
            .collect(),
        families: families
            .iter()
            .map(|row| (row.family.clone(), figures_of(row)))
            .collect(),
        nodes: nodes
            .iter()
            .map(|row| (row.node.clone(), row.application.clone(), figures_of(row)))
            .collect(),
        licenses: licenses
            .licenses
            .into_iter()
            .map(|license| license.license)
            .collect(),
        consumers: consumers
            .into_iter()
            .map(|row| (row.computer, row.application))
            .collect(),
    }
}

/// Office 10 on `computers` computers of `estate` with one license of
/// `quantity` owned by its root; returns the application, the license
/// and the computers' names.
async fn office_estate(
    estate: &Estate,
    prefix: &str,
    computers: usize,
    quantity: i64,
) -> (Application, String, Vec<String>) {
    let office = estate.application("Office", "10").await;
    let root = estate.root().await;
    let mut records = Vec::new();
    for index in 0..computers {
        let hostname = format!("{prefix}-{index}");
        records.push(computer(&hostname, 1));
        records.push(installation(&hostname, &office));
    }
    estate
        .upload(&format!("{prefix}-upload"), vec![records])
        .await
        .unwrap();
    let license = estate
        .create_license(license_of(
            &office,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            quantity,
            false,
        ))
        .await
        .unwrap();
    let mut names: Vec<String> = estate
        .computers(ListComputersRequest {
            order_by: "hostname".into(),
            ..Default::default()
        })
        .await
        .into_iter()
        .map(|computer| computer.name)
        .collect();
    names.sort();
    (office, license.name, names)
}

#[tokio::test]
async fn another_customers_compliance_is_neither_calculated_nor_read() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let other = customer_estate(&platform, "Fabrikam").await;
    // Fabrikam has an estate of its own, named as Contoso's will be:
    // Office 10 on three computers, five licensed.
    let (their_office, their_license, their_computers) =
        office_estate(&other, "fabrikam", 3, 5).await;
    let their_root = other.root().await;
    let (_, run) = calculate(&other).await;
    let fabrikam = Holdings {
        read: (3, 3, 1),
        totals: (3, 5, 2),
        applications: vec![(their_office.name.clone(), (3, 5, 2))],
        families: vec![(their_office.family.clone(), (3, 5, 2))],
        nodes: vec![(
            their_root.name.clone(),
            their_office.name.clone(),
            (3, 5, 2),
        )],
        licenses: vec![their_license.clone()],
        consumers: their_computers
            .iter()
            .map(|computer| (computer.clone(), their_office.name.clone()))
            .collect(),
    };
    assert_eq!(holdings(&other, &run).await, fabrikam);

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
    // Its own, calculated over an empty estate, is empty and its own:
    // nothing of Fabrikam's is read.
    let (_, run) = calculate(&contoso).await;
    assert!(run.name.starts_with(&estate.customer));
    assert_eq!(
        holdings(&contoso, &run).await,
        Holdings {
            read: (0, 0, 0),
            totals: (0, 0, 0),
            applications: vec![],
            families: vec![],
            nodes: vec![],
            licenses: vec![],
            consumers: vec![],
        }
    );

    // With an estate of its own (Office 10 on two computers, one
    // licensed), its figures are exactly its own.
    let (our_office, our_license, our_computers) = office_estate(&contoso, "contoso", 2, 1).await;
    let our_root = contoso.root().await;
    assert_ne!(our_office.name, their_office.name);
    let (_, run) = calculate(&contoso).await;
    assert!(run.name.starts_with(&estate.customer));
    assert_eq!(
        holdings(&contoso, &run).await,
        Holdings {
            read: (2, 2, 1),
            totals: (2, 1, -1),
            applications: vec![(our_office.name.clone(), (2, 1, -1))],
            families: vec![(our_office.family.clone(), (2, 1, -1))],
            nodes: vec![(our_root.name, our_office.name.clone(), (2, 1, -1))],
            licenses: vec![our_license],
            consumers: our_computers
                .iter()
                .map(|computer| (computer.clone(), our_office.name.clone()))
                .collect(),
        }
    );

    // And the reverse: Fabrikam, calculated again, is still only its own.
    let (_, run) = calculate(&other).await;
    assert_eq!(holdings(&other, &run).await, fabrikam);
}

/// (license, status, units used) of every license in the latest run.
async fn license_statuses(estate: &Estate) -> Vec<(String, LicenseComplianceStatus, i64)> {
    let mut statuses: Vec<_> = compliance(estate)
        .list_license_compliance(estate.request(ListLicenseComplianceRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .licenses
        .into_iter()
        .map(|license| (license.license.clone(), license.status(), license.used))
        .collect();
    statuses.sort();
    statuses
}

/// The sorted `(license, status, used)` rows `license_statuses` answers.
fn sorted<const N: usize>(
    rows: [(&String, LicenseComplianceStatus, i64); N],
) -> Vec<(String, LicenseComplianceStatus, i64)> {
    let mut rows: Vec<_> = rows
        .into_iter()
        .map(|(license, status, used)| (license.clone(), status, used))
        .collect();
    rows.sort();
    rows
}

/// The run's (requirement, coverage, compliance) per application.
async fn per_application(estate: &Estate) -> Vec<(String, (i64, i64, i64))> {
    let (_, rows) = rows(estate, ComplianceLevel::Application, Default::default()).await;
    let mut outcomes: Vec<_> = rows
        .iter()
        .map(|row| {
            (
                row.application.clone(),
                outcome(row.figures.as_ref().unwrap()),
            )
        })
        .collect();
    outcomes.sort();
    outcomes
}

fn by_application<const N: usize>(
    outcomes: [(&Application, (i64, i64, i64)); N],
) -> Vec<(String, (i64, i64, i64))> {
    let mut outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|(application, outcome)| (application.name.clone(), outcome))
        .collect();
    outcomes.sort();
    outcomes
}

#[tokio::test]
async fn archived_and_incomplete_licenses_cover_nothing_until_restored() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let word = estate.application("Word", "2021").await;
    let excel = estate.application("Excel", "2021").await;
    estate
        .upload(
            "u-1",
            vec![vec![
                computer("pc-1", 1),
                installation("pc-1", &word),
                installation("pc-1", &excel),
            ]],
        )
        .await
        .unwrap();
    let license = estate
        .create_license(license_of(
            &word,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            1,
            false,
        ))
        .await
        .unwrap();
    let (_, run) = calculate(&estate).await;
    assert_eq!(outcome(&run.totals.unwrap()), (2, 1, -1));
    assert_eq!(
        per_application(&estate).await,
        by_application([(&word, (1, 1, 0)), (&excel, (1, 0, -1))])
    );
    assert_eq!(
        license_statuses(&estate).await,
        sorted([(&license.name, LicenseComplianceStatus::Valid, 1)])
    );

    // Archived, it covers nothing, and the report says why.
    let mut licenses = estate.licenses();
    licenses
        .archive_license(estate.request(ArchiveLicenseRequest {
            name: license.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let (_, run) = calculate(&estate).await;
    assert_eq!(outcome(&run.totals.unwrap()), (2, 0, -2));
    assert_eq!(
        per_application(&estate).await,
        by_application([(&word, (1, 0, -1)), (&excel, (1, 0, -1))])
    );
    assert_eq!(
        license_statuses(&estate).await,
        sorted([(&license.name, LicenseComplianceStatus::Archived, 0)])
    );

    // Unarchived, it covers again.
    licenses
        .unarchive_license(estate.request(UnarchiveLicenseRequest {
            name: license.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let (_, run) = calculate(&estate).await;
    assert_eq!(outcome(&run.totals.unwrap()), (2, 1, -1));
    assert_eq!(
        license_statuses(&estate).await,
        sorted([(&license.name, LicenseComplianceStatus::Valid, 1)])
    );

    // An incomplete license (saved without a purchase date) covers
    // nothing either, until it is completed.
    let mut policy = LicensePolicyServiceClient::new(estate.channel.clone());
    let settings = policy
        .get_licensing_settings(estate.request(GetLicensingSettingsRequest {
            name: format!("{}/licensingSettings", estate.customer),
        }))
        .await
        .unwrap()
        .into_inner();
    policy
        .update_licensing_settings(estate.request(UpdateLicensingSettingsRequest {
            settings: Some(LicensingSettings {
                allow_incomplete_licenses: true,
                ..settings
            }),
        }))
        .await
        .unwrap();
    let mut draft = license_of(
        &excel,
        &root,
        AssignmentType::Organization,
        Metric::Installations,
        1,
        false,
    );
    draft.purchase_date = String::new();
    let incomplete = estate.create_license(draft).await.unwrap();
    assert!(incomplete.incomplete);
    assert_eq!(incomplete.missing_fields, ["purchase_date"]);
    let (_, run) = calculate(&estate).await;
    assert_eq!(outcome(&run.totals.unwrap()), (2, 1, -1));
    assert_eq!(
        per_application(&estate).await,
        by_application([(&word, (1, 1, 0)), (&excel, (1, 0, -1))])
    );
    assert_eq!(
        license_statuses(&estate).await,
        sorted([
            (&license.name, LicenseComplianceStatus::Valid, 1),
            (&incomplete.name, LicenseComplianceStatus::Incomplete, 0),
        ])
    );
    let completed = licenses
        .update_license(estate.request(UpdateLicenseRequest {
            license: Some(estate_proto::licensing::License {
                name: incomplete.name.clone(),
                purchase_date: "2026-02-01".into(),
                ..Default::default()
            }),
            update_mask: estate_e2e::mask(&["purchase_date"]),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!completed.incomplete, "{completed:?}");
    let (_, run) = calculate(&estate).await;
    assert_eq!(outcome(&run.totals.unwrap()), (2, 2, 0));
    assert_eq!(
        license_statuses(&estate).await,
        sorted([
            (&license.name, LicenseComplianceStatus::Valid, 1),
            (&incomplete.name, LicenseComplianceStatus::Valid, 1),
        ])
    );
}

#[tokio::test]
async fn a_subscription_license_expires_with_its_subscription_agreements_period() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    // Word's license is on a subscription agreement for 2026, whose period
    // overrides the license's own (March 2026 to February 2027); Excel's,
    // with the same period, is on no agreement.
    let word = estate.application("Word", "2021").await;
    let excel = estate.application("Excel", "2021").await;
    let records = || {
        vec![vec![
            computer("pc-1", 1),
            installation("pc-1", &word),
            installation("pc-1", &excel),
        ]]
    };
    estate.upload("scan-0", records()).await.unwrap();
    let agreement = AgreementsServiceClient::new(estate.channel.clone())
        .create_agreement(estate.request(CreateAgreementRequest {
            parent: estate.customer.clone(),
            agreement: Some(Agreement {
                display_name: "Microsoft 365".into(),
                kind: AgreementKind::Software.into(),
                period: Some(Period {
                    start_date: "2026-01-01".into(),
                    end_date: "2026-12-31".into(),
                }),
                subscription: true,
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let subscription = |application: &Application, agreement: &str| {
        let mut license = license_of(
            application,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            1,
            false,
        );
        license.subscription = Some(Period {
            start_date: "2026-03-01".into(),
            end_date: "2027-02-28".into(),
        });
        license.agreement = agreement.into();
        license
    };
    let on_agreement = estate
        .create_license(subscription(&word, &agreement.name))
        .await
        .unwrap();
    let effective = on_agreement.effective_subscription.as_ref().unwrap();
    assert_eq!(
        (effective.start_date.as_str(), effective.end_date.as_str()),
        ("2026-01-01", "2026-12-31")
    );
    let standalone = estate
        .create_license(subscription(&excel, ""))
        .await
        .unwrap();

    // At `at`, rescanned then (so the computer stays active), the run's
    // totals, per-application outcomes and license statuses.
    let at = |time: chrono::DateTime<chrono::Utc>, scan: &'static str| {
        let estate = estate.clone();
        let platform = &platform;
        let records = records();
        async move {
            platform.clock.set(time);
            estate.upload_at(scan, time, records).await.unwrap();
            let (_, run) = calculate(&estate).await;
            (
                outcome(&run.totals.unwrap()),
                per_application(&estate).await,
                license_statuses(&estate).await,
            )
        }
    };
    let utc = |y, m, d, h, min| {
        use chrono::TimeZone;
        chrono::Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    };
    use LicenseComplianceStatus::{ExpiredSubscription, Valid};

    // Today (2026-11-23) and the agreement's last day: both cover.
    for (time, scan) in [
        (estate_e2e::pinned_now(), "scan-1"),
        (utc(2026, 12, 31, 23, 59), "scan-2"),
    ] {
        assert_eq!(
            at(time, scan).await,
            (
                (2, 2, 0),
                by_application([(&word, (1, 1, 0)), (&excel, (1, 1, 0))]),
                sorted([(&on_agreement.name, Valid, 1), (&standalone.name, Valid, 1)]),
            ),
            "{time}"
        );
    }
    // The agreement's period has ended, the license's own has not: Word's
    // license has expired with the agreement; Excel's still covers.
    for (time, scan) in [
        (utc(2027, 1, 1, 0, 0), "scan-3"),
        (utc(2027, 2, 15, 12, 0), "scan-4"),
    ] {
        assert_eq!(
            at(time, scan).await,
            (
                (2, 1, -1),
                by_application([(&word, (1, 0, -1)), (&excel, (1, 1, 0))]),
                sorted([
                    (&on_agreement.name, ExpiredSubscription, 0),
                    (&standalone.name, Valid, 1)
                ]),
            ),
            "{time}"
        );
    }
    // Past the license's own period, Excel's has expired too.
    assert_eq!(
        at(utc(2027, 3, 1, 0, 0), "scan-5").await,
        (
            (2, 0, -2),
            by_application([(&word, (1, 0, -1)), (&excel, (1, 0, -1))]),
            sorted([
                (&on_agreement.name, ExpiredSubscription, 0),
                (&standalone.name, ExpiredSubscription, 0)
            ]),
        )
    );
}

/// The customer's uuid in `estate.customer` (`customers/{uuid}`).
fn customer_id(estate: &Estate) -> uuid::Uuid {
    estate.customer["customers/".len()..].parse().unwrap()
}

#[tokio::test]
async fn a_minimum_per_computer_raises_each_computers_core_requirement() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let server = estate
        .application_by("SQL Server", "2022", Metric::Cores)
        .await;
    // 4 and 16 cores (processors × 4).
    estate
        .upload(
            "cores-1",
            vec![vec![
                computer("small", 1),
                installation("small", &server),
                computer("large", 4),
                installation("large", &server),
            ]],
        )
        .await
        .unwrap();
    let mut license = license_of(
        &server,
        &root,
        AssignmentType::Organization,
        Metric::Cores,
        30,
        false,
    );
    license.minimum_per_computer = 8;
    let created = estate.create_license(license.clone()).await.unwrap();
    assert_eq!(created.minimum_per_computer, 8);

    let (_, run) = calculate(&estate).await;
    let totals = run.totals.unwrap();
    // The small computer counts 8, not 4; the large one its own 16.
    assert_eq!(
        (totals.requirement, totals.compliance),
        (24, 6),
        "{totals:?}"
    );

    // Only core and processor licenses have a minimum, and it is bounded.
    let per_processor = estate
        .application_by("SQL Server", "2019", Metric::Processors)
        .await;
    let mut processors = license.clone();
    processors.application = per_processor.name.clone();
    processors.metric = Metric::Processors.into();
    let processors = estate.create_license(processors).await.unwrap();
    assert_eq!(processors.minimum_per_computer, 8);
    for (metric, minimum, reason) in [
        (
            Metric::Installations,
            8,
            "applies only to PROCESSORS and CORES",
        ),
        (Metric::Cores, 1025, "between 0 and 1024"),
    ] {
        let mut bad = license.clone();
        bad.metric = metric.into();
        bad.minimum_per_computer = minimum;
        if metric == Metric::Installations {
            // An application it can cover, so the minimum is the fault.
            bad.application = estate.application("Word", "2021").await.name;
        }
        let status = assert_code(estate.create_license(bad).await, Code::InvalidArgument);
        let violations = status.get_error_details().bad_request().unwrap().clone();
        assert!(
            violations
                .field_violations
                .iter()
                .any(
                    |violation| violation.field == "license.minimum_per_computer"
                        && violation.description.contains(reason)
                ),
            "{violations:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_run_is_recorded_and_the_last_good_results_stay() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let office = estate.application("Office", "10").await;
    estate
        .upload(
            "office-1",
            vec![vec![computer("a", 1), installation("a", &office)]],
        )
        .await
        .unwrap();
    let (_, good) = calculate(&estate).await;
    assert_eq!(good.totals.as_ref().unwrap().compliance, -1);
    let good_consumers = consumer_pages(&estate, Default::default(), 1000).await;
    assert_eq!(good_consumers.len(), 1);
    assert_eq!(good_consumers[0].status(), ConsumerStatus::NotCovered);

    // The database refuses the results of the next run: a real storage
    // failure after the estate was read and calculated.
    let database = platform.database.connect().await.unwrap();
    database
        .batch_execute(
            "ALTER TABLE licensing.compliance_node_results
             ADD CONSTRAINT refuse_results CHECK (false) NOT VALID",
        )
        .await
        .unwrap();
    estate
        .create_license(license_of(
            &office,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            1,
            false,
        ))
        .await
        .unwrap();
    let status = compliance(&estate)
        .calculate_compliance(estate.request(CalculateComplianceRequest {
            parent: estate.customer.clone(),
        }))
        .await;
    let failure = match status {
        Err(status) => status,
        Ok(response) => {
            let mut stream = response.into_inner();
            loop {
                match stream.message().await {
                    Ok(Some(message)) => assert!(message.run.is_none(), "{message:?}"),
                    Ok(None) => panic!("the stream ended without an error"),
                    Err(status) => break status,
                }
            }
        }
    };
    assert_ne!(failure.code(), Code::Ok);

    let listed = runs(&estate).await;
    let failed = listed
        .iter()
        .find(|run| run.state() == RunState::Failed)
        .expect("the failed run is listed");
    // Recorded with its id; a storage failure's internals stay in the log.
    let run_id = failed.name.rsplit('/').next().unwrap();
    assert_eq!(
        failed.error,
        format!("internal error: the licensing service's log has the cause (run {run_id})")
    );
    assert!(failed.end_time.is_some());

    // The latest results are still the good run's: one short.
    let latest = compliance(&estate)
        .get_compliance_run(estate.request(GetComplianceRunRequest {
            name: format!("{}/complianceRuns/latest", estate.customer),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.name, good.name);
    let nodes = figures(&estate, ComplianceLevel::Node, Default::default()).await;
    assert_eq!(nodes[0].compliance, -1, "{nodes:?}");
    // Consumer results, written on another connection, are the good
    // run's too, not the failed run's (which would cover the computer).
    assert_eq!(
        consumer_pages(&estate, Default::default(), 1000).await,
        good_consumers
    );

    // Once storage works again, the next run replaces them.
    database
        .batch_execute(
            "ALTER TABLE licensing.compliance_node_results DROP CONSTRAINT refuse_results",
        )
        .await
        .unwrap();
    let (_, fixed) = calculate(&estate).await;
    assert_eq!(fixed.totals.unwrap().compliance, 0);
    let nodes = figures(&estate, ComplianceLevel::Node, Default::default()).await;
    assert_eq!(nodes[0].compliance, 0, "{nodes:?}");
}

#[tokio::test]
async fn one_calculation_runs_per_customer_and_an_abandoned_one_stops_blocking_after_an_hour() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let other = customer_estate(&platform, "Fabrikam").await;
    // A calculation that started at the pinned time and has not finished
    // (as a crashed server leaves it).
    let database = platform.database.connect().await.unwrap();
    database
        .execute(
            "INSERT INTO licensing.compliance_runs (customer_id, id, state, trigger, start_time)
             VALUES ($1, gen_random_uuid(), 'running', 'on_demand', $2)",
            &[&customer_id(&estate), &estate_e2e::pinned_now()],
        )
        .await
        .unwrap();
    let refused = compliance(&estate)
        .calculate_compliance(estate.request(CalculateComplianceRequest {
            parent: estate.customer.clone(),
        }))
        .await;
    let status = assert_code(refused, Code::FailedPrecondition);
    let details = status.get_error_details();
    let violations = &details.precondition_failure().unwrap().violations;
    assert_eq!(violations[0].r#type, "CALCULATION_RUNNING");
    assert_eq!(violations[0].subject, estate.customer);
    // Another customer is not held up.
    let (_, run) = calculate(&other).await;
    assert_eq!(run.state(), RunState::Succeeded);

    // 59 minutes later it still blocks; past the hour it is abandoned.
    platform.clock.advance(chrono::Duration::minutes(59));
    let refused = compliance(&estate)
        .calculate_compliance(estate.request(CalculateComplianceRequest {
            parent: estate.customer.clone(),
        }))
        .await;
    assert_code(refused, Code::FailedPrecondition);
    platform.clock.advance(chrono::Duration::minutes(2));
    let (_, run) = calculate(&estate).await;
    assert_eq!(run.state(), RunState::Succeeded);
    let listed = runs(&estate).await;
    let abandoned: Vec<_> = listed
        .iter()
        .filter(|run| run.state() == RunState::Failed)
        .collect();
    assert_eq!(abandoned.len(), 1, "{listed:?}");
    assert!(abandoned[0].error.contains("abandoned"), "{abandoned:?}");
}

#[tokio::test]
async fn a_run_whose_process_died_stops_blocking_when_its_lease_runs_out() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let database = platform.database.connect().await.unwrap();
    // A calculation whose process is alive: its lease is in the future,
    // however long ago it started.
    database
        .execute(
            "INSERT INTO licensing.compliance_runs
                 (customer_id, id, state, trigger, start_time, lease_expires)
             VALUES ($1, gen_random_uuid(), 'running', 'on_demand', $2,
                     clock_timestamp() + interval '1 minute')",
            &[
                &customer_id(&estate),
                &(estate_e2e::pinned_now() - chrono::Duration::hours(3)),
            ],
        )
        .await
        .unwrap();
    let refused = compliance(&estate)
        .calculate_compliance(estate.request(CalculateComplianceRequest {
            parent: estate.customer.clone(),
        }))
        .await;
    assert_code(refused, Code::FailedPrecondition);

    // Its process is killed (kill -9 in the store phase): nobody renews
    // the lease, which runs out. The next calculation, on demand or
    // scheduled, takes over at once, without waiting an hour, and the dead
    // run reads failed with the reason.
    database
        .execute(
            "UPDATE licensing.compliance_runs SET lease_expires = clock_timestamp() - interval '1 second'
             WHERE customer_id = $1 AND state = 'running'",
            &[&customer_id(&estate)],
        )
        .await
        .unwrap();
    let (_, run) = calculate(&estate).await;
    assert_eq!(run.state(), RunState::Succeeded);
    let listed = runs(&estate).await;
    let dead: Vec<_> = listed
        .iter()
        .filter(|run| run.state() == RunState::Failed)
        .collect();
    assert_eq!(dead.len(), 1, "{listed:?}");
    assert!(
        dead[0]
            .error
            .contains("abandoned: the process calculating it stopped"),
        "{dead:?}"
    );
    // A run that finished holds no lease any more.
    let held: i64 = database
        .query_one(
            "SELECT count(*) FROM licensing.compliance_runs
             WHERE customer_id = $1 AND state = 'running'",
            &[&customer_id(&estate)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 0);
}

async fn runs(estate: &Estate) -> Vec<ComplianceRun> {
    compliance(estate)
        .list_compliance_runs(estate.request(ListComplianceRunsRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .runs
}

/// Waits until `estate` has `count` ended runs.
async fn wait_for_runs(estate: &Estate, count: usize) -> Vec<ComplianceRun> {
    for _ in 0..400 {
        let listed = runs(estate).await;
        if listed.len() >= count && listed.iter().all(|run| run.state() != RunState::Running) {
            return listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("never had {count} ended runs: {:?}", runs(estate).await);
}

/// A platform calculating every customer daily, polling every 20 ms, with
/// one customer (Contoso) and its Office application, not yet inventoried.
async fn daily_schedule() -> (Platform, Estate, Application) {
    let platform = Platform::spawn_with(estate_e2e::Options {
        compliance_schedule: estate_licensing::ComplianceSchedule {
            interval: Some(chrono::Duration::hours(24)),
            poll_interval: std::time::Duration::from_millis(20),
            batch: 16,
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let office = estate.application("Office", "10").await;
    (platform, estate, office)
}

/// One computer with Office installed: the customer has an estate.
async fn upload_office(estate: &Estate, office: &Application) {
    estate
        .upload(
            "office-1",
            vec![vec![computer("a", 1), installation("a", office)]],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn every_customer_is_calculated_once_per_scheduled_interval() {
    let (platform, estate, office) = daily_schedule().await;
    upload_office(&estate, &office).await;

    let first = wait_for_runs(&estate, 1).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].trigger(), RunTrigger::Scheduled);
    assert_eq!(first[0].state(), RunState::Succeeded, "{first:?}");
    // Many polls later, within the interval: nothing more.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(runs(&estate).await.len(), 1);

    // An on-demand run counts: the next scheduled one comes a full
    // interval after it, not after the scheduled one.
    platform.clock.advance(chrono::Duration::hours(12));
    calculate(&estate).await;
    platform.clock.advance(chrono::Duration::hours(13));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(runs(&estate).await.len(), 2);
    platform.clock.advance(chrono::Duration::hours(11));
    let listed = wait_for_runs(&estate, 3).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let triggers: Vec<RunTrigger> = listed.iter().map(ComplianceRun::trigger).collect();
    assert_eq!(
        triggers
            .iter()
            .filter(|t| **t == RunTrigger::Scheduled)
            .count(),
        2,
        "{triggers:?}"
    );
}

/// A scheduled round with customers due is a span of its own (the root of
/// its trace), saying how many were due and how late the latest was; a
/// poll with nothing due opens none.
#[tokio::test]
async fn a_scheduled_round_is_a_span_of_its_own_and_an_idle_poll_opens_none() {
    let (spans, _capturing) = crate::observed::Spans::capture();
    let (_platform, estate, office) = daily_schedule().await;
    // Many polls, nobody due yet (no inventory).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        spans.named("compliance.round").is_empty(),
        "{:?}",
        spans.named("compliance.round")
    );

    upload_office(&estate, &office).await;
    wait_for_runs(&estate, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let rounds = spans.named("compliance.round");
    assert_eq!(
        rounds.len(),
        1,
        "one round had work: {rounds:?} among {} spans",
        spans.count()
    );
    let round = &rounds[0];
    assert_eq!(round.fields["due"], "1", "{round:?}");
    assert_eq!(round.fields["otel.name"], "scheduled compliance round");
    // Never calculated: late since the estate was created, by the
    // pinned clock (no time passed).
    assert_eq!(round.fields["lag_seconds"], "0", "{round:?}");
    assert!(
        !round.fields.contains_key("otel.status_code"),
        "a round that succeeded is not an error: {round:?}"
    );
}

/// Every row of a list, fetched by `page` (a page token to the page's rows
/// and the next token) `page_size` at a time.
async fn every_page<T, Page>(page_size: i32, mut page: impl FnMut(String) -> Page) -> Vec<T>
where
    Page: std::future::Future<Output = (Vec<T>, String)>,
{
    let mut rows = Vec::new();
    let mut page_token = String::new();
    loop {
        let (page, next) = page(page_token).await;
        assert!(page.len() <= page_size as usize);
        rows.extend(page);
        if next.is_empty() {
            return rows;
        }
        page_token = next;
    }
}

/// Every consumer result of the latest run, `page_size` at a time.
async fn consumer_pages(
    estate: &Estate,
    filter: ListConsumerComplianceRequest,
    page_size: i32,
) -> Vec<estate_proto::licensing::ConsumerCompliance> {
    every_page(page_size, |page_token| {
        let request = estate.request(ListConsumerComplianceRequest {
            parent: estate.customer.clone(),
            page_size,
            page_token,
            ..filter.clone()
        });
        async move {
            let page = compliance(estate)
                .list_consumer_compliance(request)
                .await
                .unwrap()
                .into_inner();
            (page.consumers, page.next_page_token)
        }
    })
    .await
}

#[tokio::test]
async fn consumer_results_page_through_every_consumer_and_application_once() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let word = estate.application("Word", "2024").await;
    let excel = estate.application("Excel", "2024").await;
    let visio = estate.application("Visio", "2024").await;
    // Seven computers with Word and Excel, every other one with Visio:
    // 18 (computer, application) results, Visio's short of licenses.
    let mut records = Vec::new();
    for index in 0..7 {
        let hostname = format!("pc-{index}");
        records.push(computer(&hostname, 1));
        records.push(installation(&hostname, &word));
        records.push(installation(&hostname, &excel));
        if index % 2 == 0 {
            records.push(installation(&hostname, &visio));
        }
    }
    estate.upload("office", vec![records]).await.unwrap();
    for (application, count) in [(&word, 7), (&excel, 7), (&visio, 2)] {
        estate
            .create_license(license_of(
                application,
                &root,
                AssignmentType::Organization,
                Metric::Installations,
                count,
                false,
            ))
            .await
            .unwrap();
    }
    calculate(&estate).await;

    let all = consumer_pages(&estate, Default::default(), 1000).await;
    assert_eq!(all.len(), 18);
    // By computer, then application; pages of 4 give the same rows.
    let keys: Vec<_> = all
        .iter()
        .map(|row| (row.computer.clone(), row.application.clone()))
        .collect();
    let computers: Vec<_> = keys.iter().map(|(computer, _)| computer.clone()).collect();
    let mut sorted = computers.clone();
    sorted.sort();
    assert_eq!(computers, sorted);
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, keys, "each (computer, application) once, in order");
    let paged = consumer_pages(&estate, Default::default(), 4).await;
    assert_eq!(paged, all);

    // Filters apply across pages: Visio's four installations, two covered.
    let visio_rows = consumer_pages(
        &estate,
        ListConsumerComplianceRequest {
            application: visio.name.clone(),
            ..Default::default()
        },
        1,
    )
    .await;
    assert_eq!(visio_rows.len(), 4);
    assert!(visio_rows.iter().all(|row| row.application == visio.name));
    let short = consumer_pages(
        &estate,
        ListConsumerComplianceRequest {
            application: visio.name.clone(),
            status: ConsumerStatus::NotCovered.into(),
            ..Default::default()
        },
        1,
    )
    .await;
    assert_eq!(short.len(), 2);
    assert!(short.iter().all(|row| row.licenses.is_empty()));
    let covered = consumer_pages(
        &estate,
        ListConsumerComplianceRequest {
            status: ConsumerStatus::Covered.into(),
            ..Default::default()
        },
        5,
    )
    .await;
    assert_eq!(covered.len(), 16);
    assert!(covered.iter().all(|row| row.licenses.len() == 1));

    // A token is only good for the filter it was made under.
    let first = compliance(&estate)
        .list_consumer_compliance(estate.request(ListConsumerComplianceRequest {
            parent: estate.customer.clone(),
            page_size: 2,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_token_refused(
        compliance(&estate)
            .list_consumer_compliance(estate.request(ListConsumerComplianceRequest {
                parent: estate.customer.clone(),
                page_size: 2,
                page_token: first.next_page_token.clone(),
                status: ConsumerStatus::Covered.into(),
                ..Default::default()
            }))
            .await,
    );

    // A computer's id given as a user selects nothing.
    let as_user = consumer_pages(
        &estate,
        ListConsumerComplianceRequest {
            user: format!("{}/users/{}", estate.customer, id_of(&all[0].computer)),
            ..Default::default()
        },
        10,
    )
    .await;
    assert!(as_user.is_empty(), "{as_user:?}");

    // Nor is a token good for the next run.
    calculate(&estate).await;
    assert_token_refused(
        compliance(&estate)
            .list_consumer_compliance(estate.request(ListConsumerComplianceRequest {
                parent: estate.customer.clone(),
                page_size: 2,
                page_token: first.next_page_token,
                ..Default::default()
            }))
            .await,
    );
}

/// Every node-level row of the latest run, `page_size` at a time.
async fn node_pages(
    estate: &Estate,
    filter: ListComplianceRequest,
    page_size: i32,
) -> Vec<ComplianceRow> {
    level_pages(estate, ComplianceLevel::Node, filter, page_size).await
}

/// Every row of the latest run at `level`, `page_size` at a time.
async fn level_pages(
    estate: &Estate,
    level: ComplianceLevel,
    filter: ListComplianceRequest,
    page_size: i32,
) -> Vec<ComplianceRow> {
    every_page(page_size, |page_token| {
        let request = estate.request(ListComplianceRequest {
            parent: estate.customer.clone(),
            level: level.into(),
            page_size,
            page_token,
            ..filter.clone()
        });
        async move {
            let page = compliance(estate)
                .list_compliance(request)
                .await
                .unwrap()
                .into_inner();
            (page.rows, page.next_page_token)
        }
    })
    .await
}

/// Every license result of the latest run under `filter`, `page_size` at
/// a time.
async fn license_pages(
    estate: &Estate,
    filter: ListLicenseComplianceRequest,
    page_size: i32,
) -> Vec<LicenseCompliance> {
    every_page(page_size, |page_token| {
        let request = estate.request(ListLicenseComplianceRequest {
            parent: estate.customer.clone(),
            page_size,
            page_token,
            ..filter.clone()
        });
        async move {
            let page = compliance(estate)
                .list_license_compliance(request)
                .await
                .unwrap()
                .into_inner();
            (page.licenses, page.next_page_token)
        }
    })
    .await
}

/// `rows` in the order `order_by` (a figure or the id column, then the
/// application's or family's id; `desc` reverses) sorts them.
fn sorted_by(rows: &[ComplianceRow], order_by: &str) -> Vec<ComplianceRow> {
    let mut words = order_by.split(' ');
    let column = words.next().unwrap_or_default();
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|row| {
        let figures = row.figures.unwrap();
        let value = match column {
            "" | "compliance" => figures.compliance,
            "requirement" => figures.requirement,
            "coverage" => figures.coverage,
            _ => 0,
        };
        let id = if row.application.is_empty() {
            id_of(&row.family).to_owned()
        } else {
            id_of(&row.application).to_owned()
        };
        (value, id)
    });
    if words.next() == Some("desc") {
        sorted.reverse();
    }
    sorted
}

/// A figures CSV line: the key columns' ids, then the figures.
fn figures_line(keys: &[&str], figures: ComplianceFigures) -> String {
    let f = figures;
    let keys: Vec<&str> = keys.iter().map(|name| id_of(name)).collect();
    format!(
        "{},{},{},{},{},{},{}",
        keys.join(","),
        f.initial_requirement,
        f.adjustments,
        f.requirement,
        f.coverage,
        f.compliance,
        f.unlimited
    )
}

#[tokio::test]
async fn application_family_and_license_results_sort_page_filter_and_export_alike() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let word_2024 = estate.application("Word", "2024").await;
    let word_2021 = estate.application("Word", "2021").await;
    let excel = estate.application("Excel", "2024").await;
    let visio = estate.application("Visio", "2024").await;
    let project = estate.application("Project", "2024").await;
    // Six computers: Word 2024 on 0-2, Word 2021 on 3-4, Excel on 0-4,
    // Visio on 0, Project on 1-2; 5 has nothing.
    let installed: [&[&Application]; 6] = [
        &[&word_2024, &excel, &visio],
        &[&word_2024, &excel, &project],
        &[&word_2024, &excel, &project],
        &[&word_2021, &excel],
        &[&word_2021, &excel],
        &[],
    ];
    let mut records = Vec::new();
    for (index, applications) in installed.iter().enumerate() {
        let hostname = format!("pc-{index}");
        records.push(computer(&hostname, 1));
        records.extend(applications.iter().map(|app| installation(&hostname, app)));
    }
    estate.upload("lists", vec![records]).await.unwrap();
    let computers = estate
        .computers(ListComputersRequest {
            order_by: "hostname".into(),
            ..Default::default()
        })
        .await;
    let organization = |application: &Application, count: i64| {
        license_of(
            application,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            count,
            false,
        )
    };
    estate
        .create_license(organization(&word_2024, 2))
        .await
        .unwrap();
    estate
        .create_license(organization(&excel, 5))
        .await
        .unwrap();
    // Visio: 3 computer licenses, 1 assigned (2 unassigned); Excel: 1
    // assigned to the computer without Excel (invalid).
    for (application, count, computer) in [(&visio, 3, 0), (&excel, 1, 5)] {
        let license = estate
            .create_license(license_of(
                application,
                &root,
                AssignmentType::Computer,
                Metric::Installations,
                count,
                false,
            ))
            .await
            .unwrap();
        estate
            .licenses()
            .assign_license(estate.request(AssignLicenseRequest {
                parent: license.name.clone(),
                assignment: Some(Assignment {
                    computer: computers[computer].name.clone(),
                    quantity: 1,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap();
    }
    calculate(&estate).await;

    // Applications: Word 2024 -1, Word 2021 -2, Excel 0, Visio 0, Project
    // -2; compliance and requirement (Word 2021 and Project: 2) tie.
    let applications = level_pages(
        &estate,
        ComplianceLevel::Application,
        Default::default(),
        1000,
    )
    .await;
    let compliance_of = |application: &Application| {
        applications
            .iter()
            .find(|row| row.application == application.name)
            .map(|row| outcome(&row.figures.unwrap()))
    };
    assert_eq!(
        compliance_of(&word_2024),
        Some((3, 2, -1)),
        "{applications:#?}"
    );
    assert_eq!(compliance_of(&word_2021), Some((2, 0, -2)));
    assert_eq!(compliance_of(&excel), Some((5, 5, 0)));
    assert_eq!(compliance_of(&visio), Some((1, 1, 0)));
    assert_eq!(compliance_of(&project), Some((2, 0, -2)));
    // By compliance, then id, unless asked otherwise.
    assert_eq!(applications, sorted_by(&applications, ""));
    for order_by in [
        "compliance desc",
        "requirement",
        "requirement desc",
        "coverage",
        "application desc",
    ] {
        let request = ListComplianceRequest {
            order_by: order_by.into(),
            ..Default::default()
        };
        for page_size in [1, 2] {
            assert_eq!(
                level_pages(
                    &estate,
                    ComplianceLevel::Application,
                    request.clone(),
                    page_size
                )
                .await,
                sorted_by(&applications, order_by),
                "{order_by}, pages of {page_size}"
            );
        }
    }
    // Filters select what filtering the whole list selects, across pages.
    type Keep<'a> = &'a dyn Fn(&ComplianceRow) -> bool;
    let filters: [(ListComplianceRequest, Keep<'_>); 5] = [
        (
            ListComplianceRequest {
                family: word_2024.family.clone(),
                ..Default::default()
            },
            &|row| row.family == word_2024.family,
        ),
        (
            ListComplianceRequest {
                application: visio.name.clone(),
                ..Default::default()
            },
            &|row| row.application == visio.name,
        ),
        (
            ListComplianceRequest {
                only_shortfalls: true,
                order_by: "requirement desc".into(),
                ..Default::default()
            },
            &|row| row.figures.unwrap().compliance < 0,
        ),
        (
            ListComplianceRequest {
                family: excel.family.clone(),
                application: visio.name.clone(),
                ..Default::default()
            },
            &|_| false,
        ),
        (
            ListComplianceRequest {
                node: root.name.clone(),
                ..Default::default()
            },
            &|_| false,
        ),
    ];
    for (filter, keep) in filters {
        let kept: Vec<ComplianceRow> = applications
            .iter()
            .filter(|row| keep(row))
            .cloned()
            .collect();
        assert_eq!(
            level_pages(&estate, ComplianceLevel::Application, filter.clone(), 1).await,
            sorted_by(&kept, &filter.order_by),
            "{filter:?}"
        );
    }
    // A token is only good for the sort it was made under.
    let first = compliance(&estate)
        .list_compliance(estate.request(ListComplianceRequest {
            parent: estate.customer.clone(),
            page_size: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_token_refused(
        compliance(&estate)
            .list_compliance(estate.request(ListComplianceRequest {
                parent: estate.customer.clone(),
                page_size: 1,
                page_token: first.next_page_token,
                order_by: "requirement".into(),
                ..Default::default()
            }))
            .await,
    );

    // Families: Word -3, Excel 0, Visio 0, Project -2.
    let families = level_pages(&estate, ComplianceLevel::Family, Default::default(), 1000).await;
    let family_compliance: Vec<(String, i64)> = families
        .iter()
        .map(|row| (row.family.clone(), row.figures.unwrap().compliance))
        .collect();
    assert_eq!(family_compliance.len(), 4, "{families:#?}");
    assert_eq!(family_compliance[0], (word_2024.family.clone(), -3));
    assert_eq!(family_compliance[1], (project.family.clone(), -2));
    assert_eq!(families, sorted_by(&families, ""));
    for order_by in ["family", "coverage desc"] {
        let request = ListComplianceRequest {
            order_by: order_by.into(),
            ..Default::default()
        };
        assert_eq!(
            level_pages(&estate, ComplianceLevel::Family, request, 1).await,
            sorted_by(&families, order_by),
            "{order_by}"
        );
    }

    // The CSV reports: worst first, then by id, like the default sort.
    let lines = export_lines(&estate, ComplianceReport::Applications).await;
    assert_eq!(
        lines[0],
        "application,family,initial_requirement,adjustments,requirement,coverage,\
         compliance,unlimited"
    );
    let expected: Vec<String> = applications
        .iter()
        .map(|row| figures_line(&[&row.application, &row.family], row.figures.unwrap()))
        .collect();
    assert_eq!(lines[1..], expected);
    let lines = export_lines(&estate, ComplianceReport::Families).await;
    let expected: Vec<String> = families
        .iter()
        .map(|row| figures_line(&[&row.family], row.figures.unwrap()))
        .collect();
    assert_eq!(lines[1..], expected);

    // Licenses: by license id, in pages of one as in one page.
    let licenses = license_pages(&estate, Default::default(), 1000).await;
    let names: Vec<&str> = licenses.iter().map(|row| row.license.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!((names.len(), &names), (4, &sorted));
    assert_eq!(
        license_pages(&estate, Default::default(), 1).await,
        licenses
    );
    type KeepLicense<'a> = &'a dyn Fn(&LicenseCompliance) -> bool;
    let filters: [(ListLicenseComplianceRequest, KeepLicense<'_>); 2] = [
        (
            ListLicenseComplianceRequest {
                only_unassigned: true,
                ..Default::default()
            },
            &|row| row.unassigned.is_some_and(|units| units > 0),
        ),
        (
            ListLicenseComplianceRequest {
                only_with_invalid_assignments: true,
                ..Default::default()
            },
            &|row| row.invalid_assignments > 0,
        ),
    ];
    for (filter, keep) in filters {
        let kept: Vec<LicenseCompliance> =
            licenses.iter().filter(|row| keep(row)).cloned().collect();
        assert_eq!(kept.len(), 1, "{licenses:#?}");
        assert_eq!(
            license_pages(&estate, filter.clone(), 1).await,
            kept,
            "{filter:?}"
        );
    }
    // A token of one filter is refused under another.
    let first = compliance(&estate)
        .list_license_compliance(estate.request(ListLicenseComplianceRequest {
            parent: estate.customer.clone(),
            page_size: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_token_refused(
        compliance(&estate)
            .list_license_compliance(estate.request(ListLicenseComplianceRequest {
                parent: estate.customer.clone(),
                page_size: 1,
                page_token: first.next_page_token,
                only_unassigned: true,
                ..Default::default()
            }))
            .await,
    );
    // The CSV reports list the same licenses in the same order.
    let exported = |lines: Vec<String>| -> Vec<String> {
        lines[1..]
            .iter()
            .map(|line| line.split(',').next().unwrap().to_owned())
            .collect()
    };
    let ids = |rows: &[LicenseCompliance]| -> Vec<String> {
        rows.iter()
            .map(|row| id_of(&row.license).to_owned())
            .collect()
    };
    assert_eq!(
        exported(export_lines(&estate, ComplianceReport::Licenses).await),
        ids(&licenses)
    );
    let unassigned: Vec<LicenseCompliance> = licenses
        .iter()
        .filter(|row| row.unassigned.is_some_and(|units| units > 0))
        .cloned()
        .collect();
    assert_eq!(
        exported(export_lines(&estate, ComplianceReport::UnassignedLicenses).await),
        ids(&unassigned)
    );
}

/// Every transfer of the latest run, `page_size` at a time.
async fn transfer_pages(estate: &Estate, license: &str, page_size: i32) -> Vec<Transfer> {
    every_page(page_size, |page_token| {
        let request = estate.request(ListTransfersRequest {
            parent: estate.customer.clone(),
            page_size,
            page_token,
            license: license.into(),
        });
        async move {
            let page = compliance(estate)
                .list_transfers(request)
                .await
                .unwrap()
                .into_inner();
            (page.transfers, page.next_page_token)
        }
    })
    .await
}

/// Every invalid assignment of the latest run, `page_size` at a time.
async fn invalid_pages(estate: &Estate, license: &str, page_size: i32) -> Vec<InvalidAssignment> {
    every_page(page_size, |page_token| {
        let request = estate.request(ListInvalidAssignmentsRequest {
            parent: estate.customer.clone(),
            page_size,
            page_token,
            license: license.into(),
        });
        async move {
            let page = compliance(estate)
                .list_invalid_assignments(request)
                .await
                .unwrap()
                .into_inner();
            (page.invalid_assignments, page.next_page_token)
        }
    })
    .await
}

/// The id columns of `report` (no names), as these tests compare exports
/// with the list RPCs' names.
fn id_columns(report: ComplianceReport) -> Vec<String> {
    let figures = "initial_requirement,adjustments,requirement,coverage,compliance,unlimited";
    let columns = match report {
        ComplianceReport::Nodes => format!("node,application,family,{figures}"),
        ComplianceReport::Families => format!("family,{figures}"),
        ComplianceReport::Licenses | ComplianceReport::UnassignedLicenses => {
            "license,status,effective_quantity,taken_by_upgrades,used,surplus,assigned,\
             unassigned,invalid_assignments,invalid_units"
                .to_string()
        }
        ComplianceReport::InvalidAssignments => {
            "assignment,license,computer,user,reason,units".to_string()
        }
        _ => format!("application,family,{figures}"),
    };
    columns.split(',').map(str::to_owned).collect()
}

/// The CSV lines of `report` of the latest run, header first, its id
/// columns only.
async fn export_lines(estate: &Estate, report: ComplianceReport) -> Vec<String> {
    let mut stream = compliance(estate)
        .export_compliance_report(estate.request(ExportComplianceReportRequest {
            parent: estate.customer.clone(),
            columns: id_columns(report),
            report: report.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        csv.extend(chunk.data);
    }
    String::from_utf8(csv)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A page token used where it does not belong (another list, sort or
/// filter) is refused, naming the field.
fn assert_token_refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    let status = assert_code(result, Code::InvalidArgument);
    assert!(status.message().contains("page_token"), "{status:?}");
}

/// The last segment of a resource name: the id.
fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap()
}

#[tokio::test]
async fn node_results_page_sort_filter_and_export_alike() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let east = estate.node(&root, "East", false).await;
    let west = estate.node(&root, "West", false).await;
    let word_2024 = estate.application("Word", "2024").await;
    let word_2021 = estate.application("Word", "2021").await;
    let excel = estate.application("Excel", "2024").await;
    // Root: Word 2024 on two computers; East: Word 2024 and Excel on three;
    // West: Word 2021 and Excel on two.
    let mut records = Vec::new();
    for (node, prefix, count, applications) in [
        (&root, "root", 2, vec![&word_2024]),
        (&east, "east", 3, vec![&word_2024, &excel]),
        (&west, "west", 2, vec![&word_2021, &excel]),
    ] {
        for index in 0..count {
            let hostname = format!("{prefix}-{index}");
            let mut record = computer(&hostname, 1);
            if let Some(inventory_record::Kind::Computer(computer)) = &mut record.kind {
                computer.node = if node.name == root.name {
                    String::new()
                } else {
                    node.name.clone()
                };
            }
            records.push(record);
            for application in &applications {
                records.push(installation(&hostname, application));
            }
        }
    }
    estate.upload("nodes", vec![records]).await.unwrap();
    for (application, count) in [(&word_2024, 3), (&excel, 10)] {
        let mut license = license_of(
            application,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            count,
            true,
        );
        license.automatic_allocation = true;
        estate.create_license(license).await.unwrap();
    }
    calculate(&estate).await;

    let all = node_pages(&estate, Default::default(), 1000).await;
    let requirement = |node: &str, application: &str| {
        all.iter()
            .find(|row| row.node == node && row.application == application)
            .map(|row| row.figures.unwrap().requirement)
    };
    assert_eq!(
        requirement(&root.name, &word_2024.name),
        Some(2),
        "{all:#?}"
    );
    assert_eq!(requirement(&east.name, &word_2024.name), Some(3));
    assert_eq!(requirement(&east.name, &excel.name), Some(3));
    assert_eq!(requirement(&west.name, &word_2021.name), Some(2));
    assert_eq!(requirement(&west.name, &excel.name), Some(2));
    assert_eq!(requirement(&root.name, &excel.name).unwrap_or(0), 0);
    // Three Word licenses for seven installations: four short in all.
    let word_compliance: i64 = all
        .iter()
        .filter(|row| row.application != excel.name)
        .map(|row| row.figures.unwrap().compliance)
        .sum();
    assert_eq!(word_compliance, -4, "{all:#?}");
    // By node id, then application id; each family named.
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|row| (id_of(&row.node).into(), id_of(&row.application).into()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted);
    for row in &all {
        let family = if row.application == excel.name {
            &excel.family
        } else {
            &word_2024.family
        };
        assert_eq!(&row.family, family, "{row:?}");
    }

    // Pages of one or two give the same rows; descending reverses them.
    assert_eq!(node_pages(&estate, Default::default(), 1).await, all);
    assert_eq!(node_pages(&estate, Default::default(), 2).await, all);
    let descending = ListComplianceRequest {
        order_by: "node desc".into(),
        ..Default::default()
    };
    let mut reversed = node_pages(&estate, descending, 2).await;
    reversed.reverse();
    assert_eq!(reversed, all);

    // Filters select what filtering the whole list selects, across pages.
    type Keep<'a> = &'a dyn Fn(&ComplianceRow) -> bool;
    let filters: [(ListComplianceRequest, Keep<'_>); 5] = [
        (
            ListComplianceRequest {
                node: east.name.clone(),
                ..Default::default()
            },
            &|row| row.node == east.name,
        ),
        (
            ListComplianceRequest {
                family: word_2024.family.clone(),
                ..Default::default()
            },
            &|row| row.family == word_2024.family,
        ),
        (
            ListComplianceRequest {
                application: excel.name.clone(),
                ..Default::default()
            },
            &|row| row.application == excel.name,
        ),
        (
            ListComplianceRequest {
                family: excel.family.clone(),
                application: word_2021.name.clone(),
                ..Default::default()
            },
            &|_| false,
        ),
        (
            ListComplianceRequest {
                only_shortfalls: true,
                ..Default::default()
            },
            &|row| row.figures.unwrap().compliance < 0,
        ),
    ];
    for (filter, keep) in filters {
        let expected: Vec<ComplianceRow> = all.iter().filter(|row| keep(row)).cloned().collect();
        assert_eq!(
            node_pages(&estate, filter.clone(), 1).await,
            expected,
            "{filter:?}"
        );
    }

    // The CSV report has the same rows in the same order.
    let lines = export_lines(&estate, ComplianceReport::Nodes).await;
    assert_eq!(
        lines[0],
        "node,application,family,initial_requirement,adjustments,requirement,coverage,\
         compliance,unlimited"
    );
    let expected: Vec<String> = all
        .iter()
        .map(|row| {
            let f = row.figures.unwrap();
            format!(
                "{},{},{},{},{},{},{},{},{}",
                id_of(&row.node),
                id_of(&row.application),
                id_of(&row.family),
                f.initial_requirement,
                f.adjustments,
                f.requirement,
                f.coverage,
                f.compliance,
                f.unlimited
            )
        })
        .collect();
    assert_eq!(lines[1..], expected);

    // Transfers: both licenses' automatic allocations to the nodes; pages
    // of one give the whole list, the license filter its part.
    let transfers = transfer_pages(&estate, "", 1000).await;
    assert!(
        transfers
            .iter()
            .all(|transfer| transfer.kind() == transfer::Kind::Allocation),
        "{transfers:#?}"
    );
    assert_eq!(transfer_pages(&estate, "", 1).await, transfers);
    let word_license = transfers[0].license.clone();
    // A transfers token is no invalid-assignments token.
    let first_transfer = compliance(&estate)
        .list_transfers(estate.request(ListTransfersRequest {
            parent: estate.customer.clone(),
            page_size: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!first_transfer.next_page_token.is_empty());
    assert_token_refused(
        compliance(&estate)
            .list_invalid_assignments(estate.request(ListInvalidAssignmentsRequest {
                parent: estate.customer.clone(),
                page_size: 1,
                page_token: first_transfer.next_page_token,
                ..Default::default()
            }))
            .await,
    );
    let of_word: Vec<Transfer> = transfers
        .iter()
        .filter(|transfer| transfer.license == word_license)
        .cloned()
        .collect();
    assert!(of_word.len() < transfers.len());
    assert_eq!(transfer_pages(&estate, &word_license, 1).await, of_word);

    // A token is only good for the sort and filter it was made under.
    let first = compliance(&estate)
        .list_compliance(estate.request(ListComplianceRequest {
            parent: estate.customer.clone(),
            level: ComplianceLevel::Node.into(),
            page_size: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    for other in [
        ListComplianceRequest {
            only_shortfalls: true,
            ..Default::default()
        },
        ListComplianceRequest {
            order_by: "node desc".into(),
            ..Default::default()
        },
    ] {
        assert_token_refused(
            compliance(&estate)
                .list_compliance(estate.request(ListComplianceRequest {
                    parent: estate.customer.clone(),
                    level: ComplianceLevel::Node.into(),
                    page_size: 1,
                    page_token: first.next_page_token.clone(),
                    ..other
                }))
                .await,
        );
    }
}

#[tokio::test]
async fn consumer_results_page_and_filter_across_stored_chunks() {
    // Results are stored 1,000 consumers to a chunk: 2,100 computers
    // make three chunks, which pages, tokens and filters must cross.
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let word = estate.application("Word", "2024").await;
    let messages: Vec<Vec<InventoryRecord>> = (0..2100)
        .collect::<Vec<_>>()
        .chunks(500)
        .map(|indices| {
            indices
                .iter()
                .flat_map(|index| {
                    let hostname = format!("pc-{index:04}");
                    [computer(&hostname, 1), installation(&hostname, &word)]
                })
                .collect()
        })
        .collect();
    estate.upload("fleet", messages).await.unwrap();
    estate
        .create_license(license_of(
            &word,
            &root,
            AssignmentType::Organization,
            Metric::Installations,
            1000,
            false,
        ))
        .await
        .unwrap();
    calculate(&estate).await;

    let all = consumer_pages(&estate, Default::default(), 1000).await;
    assert_eq!(all.len(), 2100);
    let computers: Vec<&str> = all.iter().map(|row| row.computer.as_str()).collect();
    assert!(
        computers.windows(2).all(|pair| pair[0] < pair[1]),
        "one row per computer, in id order"
    );
    assert_eq!(consumer_pages(&estate, Default::default(), 333).await, all);

    // A computer in each chunk is found on its own.
    for index in [0, 999, 1000, 1500, 2099] {
        let one = consumer_pages(
            &estate,
            ListConsumerComplianceRequest {
                computer: all[index].computer.clone(),
                ..Default::default()
            },
            10,
        )
        .await;
        assert_eq!(one, vec![all[index].clone()], "computer {index}");
    }

    // 1,000 covered, 1,100 not, whichever pages they come in.
    for (status, count) in [
        (ConsumerStatus::Covered, 1000),
        (ConsumerStatus::NotCovered, 1100),
    ] {
        let expected: Vec<_> = all
            .iter()
            .filter(|row| row.status() == status)
            .cloned()
            .collect();
        assert_eq!(expected.len(), count);
        let filtered = consumer_pages(
            &estate,
            ListConsumerComplianceRequest {
                status: status.into(),
                ..Default::default()
            },
            250,
        )
        .await;
        assert_eq!(filtered, expected, "{status:?}");
    }

    // 1,100 assignments of an application no computer has: invalid, in
    // two chunks of the stored list, paged across them and exported.
    let visio = estate.application("Visio", "2024").await;
    let license = estate
        .create_license(license_of(
            &visio,
            &root,
            AssignmentType::Computer,
            Metric::Installations,
            1100,
            false,
        ))
        .await
        .unwrap();
    let assignments = all[..1100].iter().map(|row| {
        let request = estate.request(AssignLicenseRequest {
            parent: license.name.clone(),
            assignment: Some(Assignment {
                computer: row.computer.clone(),
                quantity: 1,
                ..Default::default()
            }),
        });
        let mut licenses = estate.licenses();
        async move { licenses.assign_license(request).await.unwrap() }
    });
    futures::stream::iter(assignments)
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    calculate(&estate).await;
    let invalid = invalid_pages(&estate, "", 1000).await;
    assert_eq!(invalid.len(), 1100);
    assert!(
        invalid
            .iter()
            .all(|row| row.reason() == InvalidReason::NotInstalled)
    );
    let assignments: Vec<&str> = invalid.iter().map(|row| id_of(&row.assignment)).collect();
    assert!(assignments.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(invalid_pages(&estate, "", 300).await, invalid);
    assert_eq!(invalid_pages(&estate, &license.name, 700).await, invalid);
    let word_license = compliance(&estate)
        .list_license_compliance(estate.request(ListLicenseComplianceRequest {
            parent: estate.customer.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .licenses
        .into_iter()
        .find(|row| row.license != license.name)
        .unwrap()
        .license;
    assert!(invalid_pages(&estate, &word_license, 10).await.is_empty());
    let lines = export_lines(&estate, ComplianceReport::InvalidAssignments).await;
    assert_eq!(lines[0], "assignment,license,computer,user,reason,units");
    let expected: Vec<String> = invalid
        .iter()
        .map(|row| {
            format!(
                "{},{},{},,not_installed,1",
                id_of(&row.assignment),
                id_of(&row.license),
                id_of(&row.computer)
            )
        })
        .collect();
    assert_eq!(lines[1..], expected);
}
