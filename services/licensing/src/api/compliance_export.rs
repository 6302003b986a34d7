//! CSV export of the latest successful run's reports, streamed in chunks
//! straight from the database (rows are never all held in memory).

use estate_db::DbError;
use estate_errors::ApiError;
use estate_proto::licensing::{ComplianceReport, ReportChunk};
use futures::{StreamExt, pin_mut};
use tokio::sync::mpsc;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tonic::Status;
use uuid::Uuid;

use crate::compliance::store::Run;

/// Bytes per streamed chunk (about).
const CHUNK: usize = 64 * 1024;

const FIGURE_HEADERS: &[&str] = &[
    "initial_requirement",
    "adjustments",
    "requirement",
    "coverage",
    "compliance",
    "unlimited",
];
const FIGURE_COLUMNS: &str = "initial_requirement::text, adjustments::text, requirement::text,
     coverage::text, compliance::text, unlimited::text";

/// A compliance report: its key columns, then the figures.
fn figures(
    keys: &[&'static str],
    key_columns: &str,
    table: &str,
    order: &str,
) -> (Vec<&'static str>, String) {
    let header = keys.iter().chain(FIGURE_HEADERS).copied().collect();
    let statement = format!(
        "SELECT {key_columns}, {FIGURE_COLUMNS} FROM {table}
         WHERE customer_id = $1 AND run_id = $2 ORDER BY {order}"
    );
    (header, statement)
}

/// The report's header and query. Every query reads `$1` customer, `$2`
/// run and returns text columns in header order.
fn report(report: ComplianceReport) -> (Vec<&'static str>, String) {
    match report {
        ComplianceReport::Applications | ComplianceReport::Unspecified => figures(
            &["application", "family"],
            "application_id::text, family_id::text",
            "compliance_application_results",
            "compliance, application_id",
        ),
        ComplianceReport::Families => figures(
            &["family"],
            "family_id::text",
            "compliance_family_results",
            "compliance, family_id",
        ),
        ComplianceReport::Nodes => figures(
            &["node", "application", "family"],
            "node_id::text, application_id::text, family_id::text",
            "compliance_node_results",
            "node_id, application_id",
        ),
        ComplianceReport::Licenses | ComplianceReport::UnassignedLicenses => {
            let only_unassigned = if report == ComplianceReport::UnassignedLicenses {
                "AND unassigned > 0"
            } else {
                ""
            };
            let header = vec![
                "license",
                "status",
                "effective_quantity",
                "taken_by_upgrades",
                "used",
                "surplus",
                "assigned",
                "unassigned",
                "invalid_assignments",
                "invalid_units",
            ];
            let statement = format!(
                "SELECT license_id::text, status, coalesce(effective_quantity::text, ''),
                        taken_by_upgrades::text, used::text, surplus::text, assigned::text,
                        coalesce(unassigned::text, ''), invalid_assignments::text,
                        invalid_units::text
                 FROM compliance_license_results
                 WHERE customer_id = $1 AND run_id = $2 {only_unassigned}
                 ORDER BY license_id"
            );
            (header, statement)
        }
        ComplianceReport::InvalidAssignments => (
            vec![
                "assignment",
                "license",
                "computer",
                "user",
                "reason",
                "units",
            ],
            "SELECT assignment_id::text, license_id::text, coalesce(computer_id::text, ''),
                    coalesce(user_id::text, ''), reason, units::text
             FROM compliance_invalid_assignments WHERE customer_id = $1 AND run_id = $2
             ORDER BY assignment_id, reason"
                .into(),
        ),
    }
}

/// Streams `report` of `run` (an empty file with its header before the
/// first run) as CSV chunks on `sender`.
pub async fn export(
    client: &impl GenericClient,
    customer_id: Uuid,
    run: Option<&Run>,
    kind: ComplianceReport,
    sender: &mpsc::Sender<Result<ReportChunk, Status>>,
) -> Result<(), ApiError> {
    let (header, statement) = report(kind);
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(CHUNK * 2));
    writer.write_record(&header).map_err(ApiError::internal)?;
    if let Some(run) = run {
        let parameters: [&(dyn ToSql + Sync); 2] = [&customer_id, &run.id];
        let rows = client
            .query_raw(&statement, parameters)
            .await
            .map_err(DbError::from)?;
        pin_mut!(rows);
        let mut fields: Vec<String> = Vec::with_capacity(header.len());
        while let Some(row) = rows.next().await {
            let row = row.map_err(DbError::from)?;
            fields.clear();
            fields.extend((0..header.len()).map(|index| row.get::<_, String>(index)));
            writer.write_record(&fields).map_err(ApiError::internal)?;
            if writer.get_ref().len() >= CHUNK {
                let full = std::mem::replace(&mut writer, csv::Writer::from_writer(Vec::new()));
                let data = full.into_inner().map_err(ApiError::internal)?;
                if sender.send(Ok(ReportChunk { data })).await.is_err() {
                    return Ok(()); // The client went away.
                }
            }
        }
    }
    writer.flush().map_err(ApiError::internal)?;
    let data = writer.into_inner().map_err(ApiError::internal)?;
    let _ = sender.send(Ok(ReportChunk { data })).await;
    Ok(())
}
