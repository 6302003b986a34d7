//! CSV export of the latest successful run's reports. The report's stored
//! results are read first, whole but as stored (compressed chunks), and
//! the connection given back; they are then decoded and streamed as CSV
//! at the client's pace, so a slow or stalled client holds memory for a
//! bounded time, never a database connection.

use estate_proto::names::CustomerId;
use std::collections::HashMap;

use estate_db::DbError;
use estate_errors::ApiError;
use estate_proto::licensing::{ComplianceReport, ReportChunk};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_postgres::GenericClient;
use tonic::Status;
use uuid::Uuid;

use crate::compliance::chunks::{NodeFigures, unpack};
use crate::compliance::rows::{ComplianceRow, Figures, InvalidRow, LicenseRow};
use std::time::Duration;

use crate::compliance::reports::{self, Level, RunKeys};
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
/// A report's header: its key columns, then the figures.
fn figures_header(keys: &[&'static str]) -> Vec<&'static str> {
    keys.iter().chain(FIGURE_HEADERS).copied().collect()
}

/// Every column of a report, in its default order: each id beside the
/// names people read it by.
pub fn header(report: ComplianceReport) -> Vec<&'static str> {
    match report {
        ComplianceReport::Nodes => figures_header(&[
            "node",
            "node_name",
            "application",
            "application_name",
            "version",
            "family",
            "manufacturer",
            "family_name",
        ]),
        ComplianceReport::Applications | ComplianceReport::Unspecified => figures_header(&[
            "application",
            "application_name",
            "version",
            "family",
            "manufacturer",
            "family_name",
        ]),
        ComplianceReport::Families => figures_header(&["family", "manufacturer", "family_name"]),
        ComplianceReport::Licenses | ComplianceReport::UnassignedLicenses => vec![
            "license",
            "license_name",
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
            "license_name",
            "computer",
            "computer_name",
            "user",
            "user_name",
            "reason",
            "reason_text",
            "units",
        ],
    }
}

/// The positions in [`header`] of the `columns` a caller chose, in its
/// order (all when none); INVALID_ARGUMENT naming each unknown column.
pub fn choose(report: ComplianceReport, columns: &[String]) -> Result<Vec<usize>, ApiError> {
    let all = header(report);
    if columns.is_empty() {
        return Ok((0..all.len()).collect());
    }
    let mut violations = estate_errors::Violations::new();
    let mut chosen = Vec::with_capacity(columns.len());
    for (index, column) in columns.iter().enumerate() {
        match all.iter().position(|name| name == column) {
            Some(position) if chosen.contains(&position) => {
                violations.add(format!("columns[{index}]"), "names a column twice");
            }
            Some(position) => chosen.push(position),
            None => violations.add(
                format!("columns[{index}]"),
                format!(
                    "{} is not a column of this report; use any of {}",
                    estate_errors::quote(column),
                    all.join(", ")
                ),
            ),
        }
    }
    violations.finish()?;
    Ok(chosen)
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
    /// The positions of the columns written, in order.
    columns: Vec<usize>,
}

/// How long a client may leave a chunk untaken before the export is
/// abandoned (it holds the report's stored bytes in memory meanwhile).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

impl<'a> Chunks<'a> {
    fn new(sender: &'a mpsc::Sender<Result<ReportChunk, Status>>, columns: Vec<usize>) -> Self {
        Self {
            writer: csv::Writer::from_writer(Vec::with_capacity(CHUNK * 2)),
            sender,
            columns,
        }
    }

    /// Writes the chosen columns of one full record; `false` when the
    /// client went away or stopped reading.
    async fn write<I>(&mut self, record: I) -> Result<bool, ApiError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let full: Vec<I::Item> = record.into_iter().collect();
        let chosen = self
            .columns
            .iter()
            .map(|&position| full.get(position).map_or(&[][..], AsRef::as_ref));
        self.writer
            .write_record(chosen)
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
/// database connection is given back before the client reads a byte,
/// with the names its ids are shown beside (read in the same snapshot).
pub struct StoredReport {
    kind: ComplianceReport,
    content: Content,
    names: Names,
}

/// The names of what a report's ids point at; a missing one (deleted
/// since the run) shows empty.
#[derive(Default)]
struct Names {
    /// Application: display name, version, family.
    applications: HashMap<Uuid, (String, String)>,
    /// Family: manufacturer, display name.
    families: HashMap<Uuid, (String, String)>,
    nodes: HashMap<Uuid, String>,
    computers: HashMap<Uuid, String>,
    users: HashMap<Uuid, String>,
    /// License: its application's or family's name.
    licenses: HashMap<Uuid, String>,
}

impl Names {
    async fn read(
        client: &impl GenericClient,
        customer_id: CustomerId,
        kind: ComplianceReport,
    ) -> Result<Names, DbError> {
        let mut names = Names::default();
        let pairs = |rows: Vec<tokio_postgres::Row>| -> HashMap<Uuid, String> {
            rows.iter().map(|row| (row.get(0), row.get(1))).collect()
        };
        let catalog = matches!(
            kind,
            ComplianceReport::Applications
                | ComplianceReport::Unspecified
                | ComplianceReport::Families
                | ComplianceReport::Nodes
        );
        if catalog {
            let rows = client
                .query(
                    "SELECT id, display_name, version FROM applications WHERE customer_id = $1",
                    &[&customer_id],
                )
                .await?;
            names.applications = rows
                .iter()
                .map(|row| (row.get(0), (row.get(1), row.get(2))))
                .collect();
            let rows = client
                .query(
                    "SELECT id, manufacturer, display_name FROM families WHERE customer_id = $1",
                    &[&customer_id],
                )
                .await?;
            names.families = rows
                .iter()
                .map(|row| (row.get(0), (row.get(1), row.get(2))))
                .collect();
        }
        if kind == ComplianceReport::Nodes {
            names.nodes = pairs(
                client
                    .query(
                        "SELECT id, display_name FROM org_nodes WHERE customer_id = $1",
                        &[&customer_id],
                    )
                    .await?,
            );
        }
        if !catalog {
            names.licenses = pairs(
                client
                    .query(
                        "SELECT l.id, coalesce(a.display_name, f.display_name, '')
                         FROM licenses l
                         LEFT JOIN applications a
                              ON a.customer_id = l.customer_id AND a.id = l.application_id
                         LEFT JOIN families f
                              ON f.customer_id = l.customer_id AND f.id = l.family_id
                         WHERE l.customer_id = $1",
                        &[&customer_id],
                    )
                    .await?,
            );
        }
        if kind == ComplianceReport::InvalidAssignments {
            names.computers = pairs(
                client
                    .query(
                        "SELECT id, hostname FROM computers WHERE customer_id = $1",
                        &[&customer_id],
                    )
                    .await?,
            );
            names.users = pairs(
                client
                    .query(
                        "SELECT id, username FROM users WHERE customer_id = $1",
                        &[&customer_id],
                    )
                    .await?,
            );
        }
        Ok(names)
    }

    fn of(map: &HashMap<Uuid, String>, id: Option<Uuid>) -> String {
        id.and_then(|id| map.get(&id).cloned()).unwrap_or_default()
    }

    /// application, application_name, version, family, manufacturer,
    /// family_name.
    fn application_columns(&self, application: Option<Uuid>, family: Uuid) -> Vec<String> {
        let (name, version) = application
            .and_then(|id| self.applications.get(&id).cloned())
            .unwrap_or_default();
        let mut columns = vec![text(application), name, version];
        columns.extend(self.family_columns(family));
        columns
    }

    /// family, manufacturer, family_name.
    fn family_columns(&self, family: Uuid) -> Vec<String> {
        let (manufacturer, name) = self.families.get(&family).cloned().unwrap_or_default();
        vec![family.to_string(), manufacturer, name]
    }
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
    customer_id: CustomerId,
    run: Option<&Run>,
    kind: ComplianceReport,
) -> Result<StoredReport, ApiError> {
    // Before the first run there is nothing to name.
    let Some(run) = run else {
        return Ok(StoredReport {
            kind,
            content: Content::Nothing,
            names: Names::default(),
        });
    };
    let names = Names::read(client, customer_id, kind).await?;
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
    Ok(StoredReport {
        kind,
        content,
        names,
    })
}

async fn figures(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run: &Run,
    level: Level,
) -> Result<Content, ApiError> {
    let mut rows = reports::all_figures(client, customer_id, run.id, level).await?;
    rows.sort_unstable_by_key(|row| (row.figures.compliance, row.application, row.family));
    Ok(Content::Figures(level, rows))
}

/// Streams `report` as CSV chunks on `sender`, its `columns` (positions
/// in [`header`], from [`choose`]) in that order, decoding stored chunks
/// as it goes; stops when the client goes away or stops reading.
pub async fn export(
    report: StoredReport,
    columns: &[usize],
    sender: &mpsc::Sender<Result<ReportChunk, Status>>,
) -> Result<(), ApiError> {
    let mut chunks = Chunks::new(sender, columns.to_vec());
    if !chunks.write(header(report.kind)).await? {
        return Ok(());
    }
    let names = &report.names;
    let finished = match report.content {
        Content::Nothing => true,
        Content::Figures(level, rows) => export_figures(level, &rows, names, &mut chunks).await?,
        Content::Nodes(keys, nodes) => export_nodes(&keys, &nodes, names, &mut chunks).await?,
        Content::List(stored) => match report.kind {
            ComplianceReport::InvalidAssignments => {
                export_list(&stored, &mut chunks, |rows| invalid_records(rows, names)).await?
            }
            kind => {
                let only_unassigned = kind == ComplianceReport::UnassignedLicenses;
                export_list(&stored, &mut chunks, |rows| {
                    license_records(rows, only_unassigned, names)
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
fn invalid_records(rows: Vec<InvalidRow>, names: &Names) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|invalid| {
            let reason_text = crate::rules::alerts::describe(&invalid.reason, invalid.units);
            vec![
                invalid.assignment_id.to_string(),
                invalid.license_id.to_string(),
                Names::of(&names.licenses, Some(invalid.license_id)),
                text(invalid.computer_id),
                Names::of(&names.computers, invalid.computer_id),
                text(invalid.user_id),
                Names::of(&names.users, invalid.user_id),
                invalid.reason,
                reason_text,
                invalid.units.to_string(),
            ]
        })
        .collect()
}

/// The CSV records of license results (only those with unassigned units
/// when `only_unassigned`).
fn license_records(
    rows: Vec<LicenseRow>,
    only_unassigned: bool,
    names: &Names,
) -> Vec<Vec<String>> {
    rows.into_iter()
        .filter(|row| !only_unassigned || row.has_unassigned())
        .map(|row| {
            vec![
                row.license_id.to_string(),
                Names::of(&names.licenses, Some(row.license_id)),
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
    names: &Names,
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
    for row in rows {
        let keys = match level {
            Level::Application => names.application_columns(row.application, row.family),
            Level::Family => names.family_columns(row.family),
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

/// The node report (the run's compact node results): each node's row in node order, its
/// applications' figures decoded here; `false` when the client went away.
async fn export_nodes(
    keys: &RunKeys,
    nodes: &[(Uuid, Vec<u8>)],
    names: &Names,
    chunks: &mut Chunks<'_>,
) -> Result<bool, ApiError> {
    for (node, data) in nodes {
        let node_name = Names::of(&names.nodes, Some(*node));
        let node = node.to_string();
        let stored: Vec<NodeFigures> = unpack(data).map_err(ApiError::internal)?;
        for stored in &stored {
            let application = stored.application as i32;
            let mut record = vec![node.clone(), node_name.clone()];
            record.extend(names.application_columns(
                Some(keys.application(application)),
                keys.family_of(application),
            ));
            record.extend(figure_fields(&Figures::from(stored)));
            if !chunks.write(&record).await? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
