//! CSV export of the latest successful run's reports. The report's stored
//! results are read first, whole but as stored (compressed chunks), and
//! the connection given back; they are then decoded and streamed as CSV
//! at the client's pace, so a slow or stalled client holds memory for a
//! bounded time, never a database connection.

use estate_db::DbError;
use estate_errors::ApiError;
use estate_proto::licensing::{ComplianceReport, ReportChunk};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_postgres::GenericClient;
use tonic::Status;
use uuid::Uuid;

use crate::compliance::chunks::{NodeFigures, unpack};
use std::time::Duration;

use crate::compliance::reports::{self, ComplianceRow, InvalidRow, Level, LicenseRow, RunKeys};
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

/// How long a client may leave a chunk untaken before the export is
/// abandoned (it holds the report's stored bytes in memory meanwhile).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

impl<'a> Chunks<'a> {
    fn new(sender: &'a mpsc::Sender<Result<ReportChunk, Status>>) -> Self {
        Self {
            writer: csv::Writer::from_writer(Vec::with_capacity(CHUNK * 2)),
            sender,
        }
    }

    /// Writes one record; `false` when the client went away or stopped
    /// reading.
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
        Ok(self.send(data).await)
    }

    async fn send(&self, data: Vec<u8>) -> bool {
        match tokio::time::timeout(SEND_TIMEOUT, self.sender.send(Ok(ReportChunk { data }))).await {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                tracing::info!("compliance export abandoned: the client stopped reading");
                false
            }
        }
    }

    /// Sends what is left.
    async fn finish(mut self) -> Result<(), ApiError> {
        self.writer.flush().map_err(ApiError::internal)?;
        let full = std::mem::replace(&mut self.writer, csv::Writer::from_writer(Vec::new()));
        let data = full.into_inner().map_err(ApiError::internal)?;
        self.send(data).await;
        Ok(())
    }
}

/// A report's stored results, read whole (compressed, as stored) so the
/// database connection is given back before the client reads a byte.
pub struct StoredReport {
    kind: ComplianceReport,
    content: Content,
}

enum Content {
    /// Before the first run: the header only.
    Nothing,
    /// One row per application or family, sorted worst first.
    Figures(Level, Vec<ComplianceRow>),
    /// Each node's stored figures, in node order, and the run's keys.
    Nodes(RunKeys, Vec<(Uuid, Vec<u8>)>),
    /// The stored chunks of a list, in list order.
    List(Vec<Vec<u8>>),
}

/// Reads `kind` of `run` (an empty report before the first run).
pub async fn read(
    client: &impl GenericClient,
    customer_id: Uuid,
    run: Option<&Run>,
    kind: ComplianceReport,
) -> Result<StoredReport, ApiError> {
    let Some(run) = run else {
        return Ok(StoredReport {
            kind,
            content: Content::Nothing,
        });
    };
    let content = match kind {
        ComplianceReport::Applications | ComplianceReport::Unspecified => {
            figures(client, customer_id, run, Level::Application).await?
        }
        ComplianceReport::Families => figures(client, customer_id, run, Level::Family).await?,
        ComplianceReport::Nodes => match RunKeys::read(client, customer_id, run.id).await? {
            None => Content::Nothing,
            Some(keys) => {
                let rows = client
                    .query(
                        "SELECT node_id, data FROM compliance_node_results
                         WHERE customer_id = $1 AND run_id = $2 ORDER BY node_id",
                        &[&customer_id, &run.id],
                    )
                    .await
                    .map_err(DbError::from)?;
                Content::Nodes(
                    keys,
                    rows.iter().map(|row| (row.get(0), row.get(1))).collect(),
                )
            }
        },
        ComplianceReport::InvalidAssignments => Content::List(
            reports::invalid_list(customer_id, run.id)
                .stored(client)
                .await?,
        ),
        ComplianceReport::Licenses | ComplianceReport::UnassignedLicenses => Content::List(
            reports::license_list(customer_id, run.id)
                .stored(client)
                .await?,
        ),
    };
    Ok(StoredReport { kind, content })
}

async fn figures(
    client: &impl GenericClient,
    customer_id: Uuid,
    run: &Run,
    level: Level,
) -> Result<Content, ApiError> {
    let mut rows = reports::all_figures(client, customer_id, run.id, level).await?;
    rows.sort_unstable_by_key(|row| (row.figures.compliance, row.application, row.family));
    Ok(Content::Figures(level, rows))
}

/// Streams `report` as CSV chunks on `sender`, decoding stored chunks as
/// it goes; stops when the client goes away or stops reading.
pub async fn export(
    report: StoredReport,
    sender: &mpsc::Sender<Result<ReportChunk, Status>>,
) -> Result<(), ApiError> {
    let mut chunks = Chunks::new(sender);
    if !chunks.write(header(report.kind)).await? {
        return Ok(());
    }
    let finished = match report.content {
        Content::Nothing => true,
        Content::Figures(level, rows) => export_figures(level, &rows, &mut chunks).await?,
        Content::Nodes(keys, nodes) => export_nodes(&keys, &nodes, &mut chunks).await?,
        Content::List(stored) => match report.kind {
            ComplianceReport::InvalidAssignments => {
                export_list(&stored, &mut chunks, invalid_records).await?
            }
            kind => {
                let only_unassigned = kind == ComplianceReport::UnassignedLicenses;
                export_list(&stored, &mut chunks, |rows| {
                    license_records(rows, only_unassigned)
                })
                .await?
            }
        },
    };
    if !finished {
        return Ok(()); // The client went away.
    }
    chunks.finish().await
}

/// A report stored as a list in chunks (migrations V8, V9), written a
/// chunk at a time as `records` makes it; `false` when the client went
/// away.
async fn export_list<T: DeserializeOwned>(
    stored: &[Vec<u8>],
    chunks: &mut Chunks<'_>,
    records: impl Fn(Vec<T>) -> Vec<Vec<String>>,
) -> Result<bool, ApiError> {
    for chunk in stored {
        let entries: Vec<T> = unpack(chunk).map_err(ApiError::internal)?;
        for record in &records(entries) {
            if !chunks.write(record).await? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The CSV records of invalid assignments.
fn invalid_records(rows: Vec<InvalidRow>) -> Vec<Vec<String>> {
    rows.into_iter()
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

/// The CSV records of license results (only those with unassigned units
/// when `only_unassigned`).
fn license_records(rows: Vec<LicenseRow>, only_unassigned: bool) -> Vec<Vec<String>> {
    rows.into_iter()
        .filter(|row| !only_unassigned || row.has_unassigned())
        .map(|row| {
            vec![
                row.license_id.to_string(),
                row.status,
                text(row.effective_quantity),
                row.taken_by_upgrades.to_string(),
                row.used.to_string(),
                row.surplus.to_string(),
                row.assigned.to_string(),
                text(row.unassigned),
                row.invalid_assignments.to_string(),
                row.invalid_units.to_string(),
            ]
        })
        .collect()
}

/// The application or family report: one row per application or family,
/// worst first.
async fn export_figures(
    level: Level,
    rows: &[ComplianceRow],
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
    for row in rows {
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

/// A value's CSV text; empty when there is none.
fn text(value: Option<impl ToString>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

/// The node report (migration V6): each node's row in node order, its
/// applications' figures decoded here; `false` when the client went away.
async fn export_nodes(
    keys: &RunKeys,
    nodes: &[(Uuid, Vec<u8>)],
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
    for (node, data) in nodes {
        let node = node.to_string();
        let stored: Vec<NodeFigures> = unpack(data).map_err(ApiError::internal)?;
        for stored in &stored {
            let application = stored.application as i32;
            let mut record = vec![
                node.clone(),
                keys.application(application).to_string(),
                keys.family_of(application).to_string(),
            ];
            record.extend(figure_fields(&Figures::from(stored)));
            if !chunks.write(&record).await? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
