//! CSV export of the latest successful run's reports, streamed in chunks
//! straight from the database. Only the application and family reports,
//! one row per application or family, are held whole, to sort them.

use estate_db::DbError;
use estate_errors::ApiError;
use estate_proto::licensing::{ComplianceReport, ReportChunk};
use futures::{StreamExt, pin_mut};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tonic::Status;
use uuid::Uuid;

use crate::compliance::chunks::{NodeFigures, unpack};
use crate::compliance::reports::{self, InvalidRow, Level, LicenseRow, Positioned, RunKeys};
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
    match kind {
        ComplianceReport::Applications | ComplianceReport::Unspecified => {
            export_figures(client, customer_id, run, Level::Application, chunks).await
        }
        ComplianceReport::Families => {
            export_figures(client, customer_id, run, Level::Family, chunks).await
        }
        ComplianceReport::Nodes => export_nodes(client, customer_id, run, chunks).await,
        ComplianceReport::InvalidAssignments => {
            let list = reports::invalid_list(customer_id, run.id);
            export_list(client, &list, chunks, invalid_records).await
        }
        ComplianceReport::Licenses | ComplianceReport::UnassignedLicenses => {
            let only_unassigned = kind == ComplianceReport::UnassignedLicenses;
            let list = reports::license_list(customer_id, run.id);
            export_list(client, &list, chunks, |rows| {
                license_records(rows, only_unassigned)
            })
            .await
        }
    }
}

/// A report stored as a list in chunks (migrations V8, V9), written a
/// chunk at a time as `records` makes it; `false` when the client went
/// away.
async fn export_list<T: DeserializeOwned>(
    client: &impl GenericClient,
    list: &Positioned,
    chunks: &mut Chunks<'_>,
    records: impl Fn(Vec<T>) -> Vec<Vec<String>>,
) -> Result<bool, ApiError> {
    let stored = list.chunks(client).await?;
    pin_mut!(stored);
    while let Some(entries) = stored.next().await {
        for record in &records(entries?) {
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
/// sorted here, worst first.
async fn export_figures(
    client: &impl GenericClient,
    customer_id: Uuid,
    run: &Run,
    level: Level,
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
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

/// A value's CSV text; empty when there is none.
fn text(value: Option<impl ToString>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

/// The node report (migration V6): each node's row in node order, its
/// applications' figures decoded here; `false` when the client went away.
async fn export_nodes(
    client: &impl GenericClient,
    customer_id: Uuid,
    run: &Run,
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
    let Some(keys) = RunKeys::read(client, customer_id, run.id).await? else {
        return Ok(true);
    };
    let parameters: [&(dyn ToSql + Sync); 2] = [&customer_id, &run.id];
    let rows = client
        .query_raw(
            "SELECT node_id, data FROM compliance_node_results
             WHERE customer_id = $1 AND run_id = $2 ORDER BY node_id",
            parameters,
        )
        .await
        .map_err(DbError::from)?;
    pin_mut!(rows);
    while let Some(row) = rows.next().await {
        let row = row.map_err(DbError::from)?;
        let node = row.get::<_, Uuid>(0).to_string();
        let stored: Vec<NodeFigures> = unpack(row.get(1)).map_err(ApiError::internal)?;
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
