//! CSV export of the latest successful run's reports, streamed in chunks
//! straight from the database. Only the application and family reports,
//! one row per application or family, are held whole, to sort them.

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
use crate::compliance::reports::{self, InvalidRow, Level, LicenseRow, RunKeys};
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
/// A report's header: its key columns, then the figures.
fn figures_header(keys: &[&'static str]) -> Vec<&'static str> {
    keys.iter().chain(FIGURE_HEADERS).copied().collect()
}

/// The report's header.
fn header(report: ComplianceReport) -> Vec<&'static str> {
    match report {
        ComplianceReport::Nodes => figures_header(&["node", "application", "family"]),
        ComplianceReport::Applications | ComplianceReport::Unspecified => {
            figures_header(&["application", "family"])
        }
        ComplianceReport::Families => figures_header(&["family"]),
        ComplianceReport::Licenses | ComplianceReport::UnassignedLicenses => vec![
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
        ],
        ComplianceReport::InvalidAssignments => vec![
            "assignment",
            "license",
            "computer",
            "user",
            "reason",
            "units",
        ],
    }
}

/// The figures' CSV fields, in [`FIGURE_HEADERS`] order.
fn figure_fields(figures: &Figures) -> [String; 6] {
    [
        figures.initial_requirement.to_string(),
        figures.adjustments.to_string(),
        figures.requirement.to_string(),
        figures.coverage.to_string(),
        figures.compliance.to_string(),
        figures.unlimited.to_string(),
    ]
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
    let mut chunks = Chunks::new(sender);
    if !chunks.write(header(kind)).await? {
        return Ok(());
    }
    if let Some(run) = run
        && !export_rows(client, customer_id, run, kind, &mut chunks).await?
    {
        return Ok(()); // The client went away.
    }
    chunks.finish().await
}

/// Writes the report's rows; `false` when the client went away.
async fn export_rows(
    client: &impl GenericClient,
    customer_id: Uuid,
    run: &Run,
    kind: ComplianceReport,
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
    let level = match kind {
        ComplianceReport::Applications | ComplianceReport::Unspecified => Level::Application,
        ComplianceReport::Families => Level::Family,
        _ => return export_chunks(client, customer_id, run, kind, chunks).await,
    };
    // One row per application or family: sorted here, worst first.
    let mut rows = reports::all_figures(client, customer_id, run.id, level).await?;
    rows.sort_unstable_by_key(|row| (row.figures.compliance, row.application, row.family));
    for row in &rows {
        let keys = match level {
            Level::Application => vec![text(row.application), row.family.to_string()],
            Level::Family => vec![row.family.to_string()],
        };
        if !chunks
            .write(keys.into_iter().chain(figure_fields(&row.figures)))
            .await?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn text(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// A report stored in chunks read in list order and written as they come
/// (nodes, migration V6; invalid assignments, V8; licenses, V9); `false`
/// when the client went away.
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
            "SELECT data, node_id FROM compliance_node_results
             WHERE customer_id = $1 AND run_id = $2 ORDER BY node_id"
        }
        ComplianceReport::InvalidAssignments => {
            "SELECT data, NULL::uuid FROM compliance_invalid_assignments
             WHERE customer_id = $1 AND run_id = $2 ORDER BY first_position"
        }
        _ => {
            "SELECT data, NULL::uuid FROM compliance_license_results
             WHERE customer_id = $1 AND run_id = $2 ORDER BY first_position"
        }
    };
    let only_unassigned = kind == ComplianceReport::UnassignedLicenses;
    let parameters: [&(dyn ToSql + Sync); 2] = [&customer_id, &run.id];
    let rows = client
        .query_raw(statement, parameters)
        .await
        .map_err(DbError::from)?;
    pin_mut!(rows);
    let quantity = |value: Option<i64>| value.map(|value| value.to_string()).unwrap_or_default();
    while let Some(row) = rows.next().await {
        let row = row.map_err(DbError::from)?;
        let data: &[u8] = row.get(0);
        let node = text(row.get(1));
        let records: Vec<Vec<String>> = match kind {
            ComplianceReport::Nodes => {
                let stored: Vec<NodeFigures> = unpack(data).map_err(ApiError::internal)?;
                stored
                    .iter()
                    .map(|stored| {
                        let application = stored.application as i32;
                        let mut record = vec![
                            node.clone(),
                            keys.application(application).to_string(),
                            keys.family_of(application).to_string(),
                        ];
                        record.extend(figure_fields(&Figures::from(stored)));
                        record
                    })
                    .collect()
            }
            ComplianceReport::InvalidAssignments => {
                let stored: Vec<InvalidRow> = unpack(data).map_err(ApiError::internal)?;
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
            _ => {
                let stored: Vec<LicenseRow> = unpack(data).map_err(ApiError::internal)?;
                stored
                    .into_iter()
                    .filter(|row| !only_unassigned || row.unassigned.is_some_and(|units| units > 0))
                    .map(|row| {
                        vec![
                            row.license_id.to_string(),
                            row.status,
                            quantity(row.effective_quantity),
                            row.taken_by_upgrades.to_string(),
                            row.used.to_string(),
                            row.surplus.to_string(),
                            row.assigned.to_string(),
                            quantity(row.unassigned),
                            row.invalid_assignments.to_string(),
                            row.invalid_units.to_string(),
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
