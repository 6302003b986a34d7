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

use crate::compliance::chunks::{NodeFigures, unpack};
use crate::compliance::reports::{InvalidRow, RunKeys};
use crate::compliance::store::{Figures, Run};

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

/// A compliance report's header: its key columns, then the figures.
fn figures_header(keys: &[&'static str]) -> Vec<&'static str> {
    keys.iter().chain(FIGURE_HEADERS).copied().collect()
}

/// A compliance report: its key columns, then the figures.
fn figures(
    keys: &[&'static str],
    key_columns: &str,
    table: &str,
    order: &str,
) -> (Vec<&'static str>, Option<String>) {
    let statement = format!(
        "SELECT {key_columns}, {FIGURE_COLUMNS} FROM {table}
         WHERE customer_id = $1 AND run_id = $2 ORDER BY {order}"
    );
    (figures_header(keys), Some(statement))
}

/// The report's header and query. Every query reads `$1` customer, `$2`
/// run and returns text columns in header order (reports stored in
/// chunks have none: see [`export_chunks`]).
fn report(report: ComplianceReport) -> (Vec<&'static str>, Option<String>) {
    match report {
        ComplianceReport::Nodes => (figures_header(&["node", "application", "family"]), None),
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
            (header, Some(statement))
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
            None,
        ),
    }
}

/// CSV written in chunks of about [`CHUNK`] bytes to a report stream.
struct Chunks<'a> {
    writer: csv::Writer<Vec<u8>>,
    sender: &'a mpsc::Sender<Result<ReportChunk, Status>>,
}

impl<'a> Chunks<'a> {
    fn new(sender: &'a mpsc::Sender<Result<ReportChunk, Status>>) -> Self {
        Self {
            writer: csv::Writer::from_writer(Vec::with_capacity(CHUNK * 2)),
            sender,
        }
    }

    /// Writes one record; `false` when the client went away.
    async fn write<I>(&mut self, record: I) -> Result<bool, ApiError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.writer
            .write_record(record)
            .map_err(ApiError::internal)?;
        if self.writer.get_ref().len() < CHUNK {
            return Ok(true);
        }
        let full = std::mem::replace(&mut self.writer, csv::Writer::from_writer(Vec::new()));
        let data = full.into_inner().map_err(ApiError::internal)?;
        Ok(self.sender.send(Ok(ReportChunk { data })).await.is_ok())
    }

    /// Sends what is left.
    async fn finish(mut self) -> Result<(), ApiError> {
        self.writer.flush().map_err(ApiError::internal)?;
        let data = self.writer.into_inner().map_err(ApiError::internal)?;
        let _ = self.sender.send(Ok(ReportChunk { data })).await;
        Ok(())
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
    let mut chunks = Chunks::new(sender);
    if !chunks.write(&header).await? {
        return Ok(());
    }
    match (run, statement) {
        (None, _) => {}
        (Some(run), None) => {
            if !export_chunks(client, customer_id, run, kind, &mut chunks).await? {
                return Ok(());
            }
        }
        (Some(run), Some(statement)) => {
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
                if !chunks.write(&fields).await? {
                    return Ok(()); // The client went away.
                }
            }
        }
    }
    chunks.finish().await
}

/// A report stored in chunks (nodes, migration V6; invalid assignments,
/// V8), decoded here in list order; `false` when the client went away.
async fn export_chunks(
    client: &impl GenericClient,
    customer_id: Uuid,
    run: &Run,
    kind: ComplianceReport,
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
    let keys = match kind {
        ComplianceReport::Nodes => match RunKeys::read(client, customer_id, run.id).await? {
            Some(keys) => keys,
            None => return Ok(true),
        },
        _ => RunKeys::default(),
    };
    let statement = match kind {
        ComplianceReport::Nodes => {
            "SELECT node_id::text, data FROM compliance_node_results
             WHERE customer_id = $1 AND run_id = $2 ORDER BY node_id"
        }
        _ => {
            "SELECT '', data FROM compliance_invalid_assignments
             WHERE customer_id = $1 AND run_id = $2 ORDER BY first_position"
        }
    };
    let parameters: [&(dyn ToSql + Sync); 2] = [&customer_id, &run.id];
    let rows = client
        .query_raw(statement, parameters)
        .await
        .map_err(DbError::from)?;
    pin_mut!(rows);
    let text = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    while let Some(row) = rows.next().await {
        let row = row.map_err(DbError::from)?;
        let records: Vec<Vec<String>> = match kind {
            ComplianceReport::Nodes => {
                let node: String = row.get(0);
                let stored: Vec<NodeFigures> = unpack(row.get(1)).map_err(ApiError::internal)?;
                stored
                    .iter()
                    .map(|stored| {
                        let application = stored.application as i32;
                        let figures = Figures::from(stored);
                        vec![
                            node.clone(),
                            keys.application(application).to_string(),
                            keys.family_of(application).to_string(),
                            figures.initial_requirement.to_string(),
                            figures.adjustments.to_string(),
                            figures.requirement.to_string(),
                            figures.coverage.to_string(),
                            figures.compliance.to_string(),
                            figures.unlimited.to_string(),
                        ]
                    })
                    .collect()
            }
            _ => {
                let stored: Vec<InvalidRow> = unpack(row.get(1)).map_err(ApiError::internal)?;
                stored
                    .into_iter()
                    .map(|invalid| {
                        vec![
                            invalid.assignment_id.to_string(),
                            invalid.license_id.to_string(),
                            text(invalid.computer_id),
                            text(invalid.user_id),
                            invalid.reason,
                            invalid.units.to_string(),
                        ]
                    })
                    .collect()
            }
        };
        for record in &records {
            if !chunks.write(record).await? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
