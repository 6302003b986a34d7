//! Runs and their stored results. Rows are written with binary COPY; the
//! rows of runs before the latest successful one are pruned after it
//! commits (see [`prune`]).

use estate_proto::names::CustomerId;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use estate_compliance::{Compliance, InvalidReason, LicenseStatus, Outcome, Quantity, Transfer};
use estate_db::DbError;
use estate_errors::ApiError;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use super::chunks::{
    CONSUMERS_PER_CHUNK, Chunk, ENTRIES_PER_CHUNK, NodeFigures, StoredResult, pack,
};
use super::load::Loaded;
use super::rows::{
    ComplianceRow, Figures, InvalidRow, LicenseRow, TransferRow, consumer_status_code, i64_of,
};

/// A stored run.
#[derive(Debug, Clone)]
pub struct Run {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub state: String,
    pub trigger: String,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub error: String,
    pub computers: i64,
    pub installations: i64,
    pub licenses: i64,
    pub totals: Figures,
    /// Applications whose coverage falls short of their requirement.
    pub applications_short: i64,
}

impl From<&Compliance> for Figures {
    fn from(compliance: &Compliance) -> Self {
        Self {
            initial_requirement: i64_of(compliance.initial_requirement),
            adjustments: compliance.adjustments,
            requirement: i64_of(compliance.requirement),
            coverage: i64_of(compliance.coverage),
            compliance: compliance.compliance,
            unlimited: compliance.unlimited,
        }
    }
}

const RUN_COLUMNS: &str = "customer_id, id, state, trigger, start_time, end_time, error,
     computers, installations, licenses, initial_requirement, adjustments, requirement,
     coverage, compliance, unlimited, applications_short";

fn run_from_row(row: &Row) -> Run {
    Run {
        customer_id: row.get(0),
        id: row.get(1),
        state: row.get(2),
        trigger: row.get(3),
        start_time: row.get(4),
        end_time: row.get(5),
        error: row.get(6),
        computers: row.get(7),
        installations: row.get(8),
        licenses: row.get(9),
        totals: Figures {
            initial_requirement: row.get(10),
            adjustments: row.get(11),
            requirement: row.get(12),
            coverage: row.get(13),
            compliance: row.get(14),
            unlimited: row.get(15),
        },
        applications_short: row.get(16),
    }
}

/// A calculation started before leases existed and left running this
/// long is taken to have died with its process.
const ABANDONED_AFTER: &str = "1 hour";

/// How long a run's lease lasts without renewal: a run whose process died
/// blocks its customer at most this long.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(15);

/// How often a running calculation renews its lease.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Records a new running run, or returns `None` while another one runs or,
/// with `due_unless_started_after`, when a run started after that instant
/// (so a scheduler acting on a stale list does not calculate twice). A
/// running run whose lease ran out (its process died) is recorded as
/// failed first, with the reason.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.store::start", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn start(
    client: &impl GenericClient,
    customer_id: CustomerId,
    trigger: &str,
    now: DateTime<Utc>,
    due_unless_started_after: Option<DateTime<Utc>>,
) -> Result<Option<Run>, DbError> {
    client
        .execute(
            &format!(
                "UPDATE compliance_runs
                 SET state = 'failed', end_time = $2,
                     error = 'abandoned: the process calculating it stopped before it finished \
                              (its lease ran out at ' \
                              || coalesce(to_char(lease_expires AT TIME ZONE 'UTC', \
                                                  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'an unknown time') \
                              || '); calculate again'
                 WHERE customer_id = $1 AND state = 'running'
                   AND (lease_expires < clock_timestamp()
                        OR (lease_expires IS NULL
                            AND start_time < $2::timestamptz - interval '{ABANDONED_AFTER}'))"
            ),
            &[&customer_id, &now],
        )
        .await?;
    let row = client
        .query_opt(
            &format!(
                "INSERT INTO compliance_runs
                     (customer_id, id, state, trigger, start_time, lease_expires)
                 SELECT $1, $2, 'running', $3, $4, clock_timestamp() + $6::text::interval
                 WHERE $5::timestamptz IS NULL OR NOT EXISTS (
                     SELECT 1 FROM compliance_runs r
                     WHERE r.customer_id = $1 AND r.start_time > $5)
                 ON CONFLICT (customer_id) WHERE state = 'running' DO NOTHING
                 RETURNING {RUN_COLUMNS}"
            ),
            &[
                &customer_id,
                &Uuid::now_v7(),
                &trigger,
                &now,
                &due_unless_started_after,
                &lease_interval(),
            ],
        )
        .await?;
    Ok(row.as_ref().map(run_from_row))
}

fn lease_interval() -> String {
    format!("{} milliseconds", LEASE.as_millis())
}

/// Extends a running run's lease; `false` when the run no longer runs
/// (another process took it over, or it ended).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.store::renew", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn renew(client: &impl GenericClient, run: &Run) -> Result<bool, DbError> {
    let renewed = client
        .execute(
            "UPDATE compliance_runs SET lease_expires = clock_timestamp() + $3::text::interval
             WHERE customer_id = $1 AND id = $2 AND state = 'running'",
            &[&run.customer_id, &run.id, &lease_interval()],
        )
        .await?;
    Ok(renewed == 1)
}

/// A customer due for calculation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub customer_id: CustomerId,
    /// When its last run started; none for a customer never calculated.
    pub last_start: Option<DateTime<Utc>>,
    /// When its estate was created (its root node).
    pub estate_created: DateTime<Utc>,
}

impl Due {
    /// How late its calculation is at `now`, for a schedule of `interval`:
    /// it fell due `interval` after its last run started, or, never
    /// calculated, as soon as its estate existed.
    pub fn lag(&self, interval: chrono::Duration, now: DateTime<Utc>) -> chrono::Duration {
        let due_at = self
            .last_start
            .map_or(self.estate_created, |last_start| last_start + interval);
        (now - due_at).max(chrono::Duration::zero())
    }
}

/// Customers with an estate (a root node) and no run started after
/// `since`, those calculated longest ago first, at most `limit`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.store::due", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn due(
    client: &impl GenericClient,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, DbError> {
    let rows = client
        .query(
            // Run ids are time-ordered: the latest run is one primary-key
            // probe, however many runs a customer has had.
            "SELECT n.customer_id, last.last_start, n.create_time
             FROM org_nodes n
             LEFT JOIN LATERAL (
                 SELECT r.start_time AS last_start
                 FROM compliance_runs r WHERE r.customer_id = n.customer_id
                 ORDER BY r.id DESC LIMIT 1
             ) last ON true
             WHERE n.parent_id IS NULL
               AND (last.last_start IS NULL OR last.last_start <= $1)
             ORDER BY last.last_start NULLS FIRST, n.customer_id
             LIMIT $2",
            &[&since, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Due {
            customer_id: row.get(0),
            last_start: row.get(1),
            estate_created: row.get(2),
        })
        .collect())
}

/// Marks a run failed unless it is no longer running (a run whose
/// success committed before the caller learned of it stays succeeded).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.store::fail", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn fail(
    client: &impl GenericClient,
    run: &Run,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE compliance_runs SET state = 'failed', end_time = $3, error = $4
             WHERE customer_id = $1 AND id = $2 AND state = 'running'",
            &[&run.customer_id, &run.id, &now, &error],
        )
        .await?;
    Ok(())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.store::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<Run>, DbError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {RUN_COLUMNS} FROM compliance_runs WHERE customer_id = $1 AND id = $2"
            ),
            &[&customer_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(run_from_row))
}

/// The latest successful run: the one whose results reports read.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.store::latest", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn latest(
    client: &impl GenericClient,
    customer_id: CustomerId,
) -> Result<Option<Run>, DbError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {RUN_COLUMNS} FROM compliance_runs
                 WHERE customer_id = $1 AND state = 'succeeded' ORDER BY id DESC LIMIT 1"
            ),
            &[&customer_id],
        )
        .await?;
    Ok(row.as_ref().map(run_from_row))
}

/// Runs newest first, after `before` (a run id) when given.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.store::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Run>, DbError> {
    let rows = client
        .query(
            &format!(
                "SELECT {RUN_COLUMNS} FROM compliance_runs
                 WHERE customer_id = $1 AND ($2::uuid IS NULL OR id < $2)
                 ORDER BY id DESC LIMIT $3"
            ),
            &[&customer_id, &before, &limit],
        )
        .await?;
    Ok(rows.iter().map(run_from_row).collect())
}

fn license_status(status: LicenseStatus) -> &'static str {
    match status {
        LicenseStatus::Valid => "valid",
        LicenseStatus::Archived => "archived",
        LicenseStatus::Incomplete => "incomplete",
        LicenseStatus::ExpiredSubscription => "expired_subscription",
        LicenseStatus::MetricMismatch => "metric_mismatch",
    }
}

pub(crate) fn invalid_reason(reason: InvalidReason) -> &'static str {
    match reason {
        InvalidReason::WrongConsumerKind => "wrong_consumer_kind",
        InvalidReason::InactiveComputer => "inactive_computer",
        InvalidReason::NotInstalled => "not_installed",
        InvalidReason::NotUsed => "not_used",
        InvalidReason::TooManyProcessors => "too_many_processors",
        InvalidReason::ExceedsLicenseQuantity => "exceeds_license_quantity",
        InvalidReason::Excess => "excess",
    }
}

/// A part of a run's results, written whole in one transaction. The
/// calculation hands the parts out to its connections, each taking the
/// next when it is done with one (see `run_calculation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The run's key arrays and the consumer results.
    Consumers,
    /// License results and invalid assignments.
    Licenses,
    Nodes,
    /// Application and family results.
    Figures,
    Transfers,
}

impl Part {
    /// Every part, in the order connections take them: the consumer
    /// results are the largest from 100k computers on; at 10k the 10,000
    /// license rows are, and the rest follow by their measured size.
    pub const ALL: [Part; 5] = [
        Part::Consumers,
        Part::Licenses,
        Part::Nodes,
        Part::Figures,
        Part::Transfers,
    ];
}

/// Writes one part of `outcome` under `run` in `transaction`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "licensing.store::write_part", otel.kind = "client", db.system.name = "postgresql"))]
pub async fn write_part(
    transaction: &Transaction<'_>,
    run: &Run,
    loaded: &Arc<Loaded>,
    outcome: &Arc<Outcome>,
    part: Part,
) -> Result<(), ApiError> {
    match part {
        Part::Consumers => write_consumers(transaction, run, loaded.clone(), outcome.clone()).await,
        Part::Licenses => Ok(write_licenses(transaction, run, loaded, outcome).await?),
        Part::Nodes => Ok(write_nodes(transaction, run, loaded, outcome).await?),
        Part::Figures => Ok(write_application_figures(transaction, run, loaded, outcome).await?),
        Part::Transfers => Ok(write_transfers(transaction, run, loaded, outcome).await?),
    }
}

/// Writes the application and family results, each list in id order,
/// in chunks.
async fn write_application_figures(
    transaction: &Transaction<'_>,
    run: &Run,
    loaded: &Loaded,
    outcome: &Outcome,
) -> Result<(), DbError> {
    let estate = &loaded.estate;
    let family_of = |application: u32| {
        loaded.family_ids[estate.applications[application as usize].family as usize]
    };
    let applications = outcome.applications.iter().map(|row| ComplianceRow {
        node: None,
        application: Some(loaded.application_ids[row.application as usize]),
        family: family_of(row.application),
        figures: Figures::from(&row.compliance),
    });
    let families = outcome.families.iter().map(|row| ComplianceRow {
        node: None,
        application: None,
        family: loaded.family_ids[row.family as usize],
        figures: Figures::from(&row.compliance),
    });
    for (table, mut rows) in [
        (
            "compliance_application_results",
            applications.collect::<Vec<_>>(),
        ),
        ("compliance_family_results", families.collect()),
    ] {
        rows.sort_unstable_by_key(ComplianceRow::id);
        write_positioned(transaction, run, table, &rows).await?;
    }
    Ok(())
}

/// Marks the run succeeded with its totals, in `transaction`; returns the
/// run as now stored. Commit it only once every [`Part`] has committed.
/// Refused (the transaction must roll back) when the run is no longer
/// running, e.g. taken as abandoned by a newer run meanwhile.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.store::succeed", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn succeed(
    transaction: &Transaction<'_>,
    run: &Run,
    loaded: &Loaded,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<Run, DbError> {
    let customer = run.customer_id;
    let run_id = run.id;
    let estate = &loaded.estate;
    // Unlimited only when every application is (see the proto).
    let mut totals = match outcome.applications.is_empty() {
        true => Compliance::default(),
        false => Compliance::TOTAL,
    };
    let mut applications_short = 0_i64;
    for row in &outcome.applications {
        totals.add_row(&row.compliance);
        applications_short += i64::from(row.compliance.compliance < 0);
    }
    let totals = Figures::from(&totals);
    let stored = transaction
        .query_one(
            &format!(
                "UPDATE compliance_runs SET state = 'succeeded', end_time = $3,
                     computers = $4, installations = $5, licenses = $6,
                     initial_requirement = $7, adjustments = $8, requirement = $9,
                     coverage = $10, compliance = $11, unlimited = $12,
                     applications_short = $13
                 WHERE customer_id = $1 AND id = $2 AND state = 'running'
                 RETURNING {RUN_COLUMNS}"
            ),
            &[
                &customer,
                &run_id,
                &now,
                &(estate.computers.len() as i64),
                &(estate.installations.len() as i64),
                &((loaded.license_ids.len() + loaded.unusable_licenses.len()) as i64),
                &totals.initial_requirement,
                &totals.adjustments,
                &totals.requirement,
                &totals.coverage,
                &totals.compliance,
                &totals.unlimited,
                &applications_short,
            ],
        )
        .await?;
    Ok(run_from_row(&stored))
}

/// Deletes the result rows of the runs of `customer_id` before its
/// previous successful one. Reports read the latest successful run; the
/// one before it stays so that a report that chose it just before the
/// latest committed still finds every row of it across its pages and
/// queries. It runs after a run commits, outside it, so a run's time is
/// its own results, not the older ones' removal. Only older runs' rows
/// go: a newer run still in flight may already have committed some of its
/// [`Part`]s, and run ids are time-ordered.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.store::prune", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn prune(client: &impl GenericClient, customer_id: CustomerId) -> Result<u64, DbError> {
    let mut deleted = 0;
    for table in [
        "compliance_node_results",
        "compliance_application_results",
        "compliance_family_results",
        "compliance_license_results",
        "compliance_invalid_assignments",
        "compliance_consumer_results",
        "compliance_run_keys",
        "compliance_transfers",
    ] {
        deleted += client
            .execute(
                &format!(
                    "DELETE FROM {table} WHERE customer_id = $1 AND run_id < (
                         SELECT id FROM compliance_runs
                         WHERE customer_id = $1 AND state = 'succeeded'
                         ORDER BY id DESC OFFSET 1 LIMIT 1)"
                ),
                &[&customer_id],
            )
            .await?;
    }
    Ok(deleted)
}

/// Writes one row per node (`compliance_node_results`): the engine's rows come
/// sorted by node and application, so each node's are one run of the
/// vector, in application order.
async fn write_nodes(
    transaction: &Transaction<'_>,
    run: &Run,
    loaded: &Loaded,
    outcome: &Outcome,
) -> Result<(), DbError> {
    let mut copy = Copy::start(
        transaction,
        "compliance_node_results (customer_id, run_id, node_id, applications, data)",
        &[Type::UUID, Type::UUID, Type::UUID, Type::INT4, Type::BYTEA],
    )
    .await?;
    let mut figures: Vec<NodeFigures> = Vec::new();
    for rows in outcome.nodes.chunk_by(|a, b| a.node == b.node) {
        figures.clear();
        figures.extend(rows.iter().map(|row| {
            let compliance = &row.compliance;
            NodeFigures {
                application: key_number(row.application) as u32,
                initial_requirement: compliance.initial_requirement,
                adjustments: compliance.adjustments,
                requirement: compliance.requirement,
                coverage: compliance.coverage,
                compliance: compliance.compliance,
                unlimited: compliance.unlimited,
            }
        }));
        copy.write(&[
            &run.customer_id,
            &run.id,
            &loaded.node_ids[rows[0].node as usize],
            &(figures.len() as i32),
            &pack(&figures),
        ])
        .await?;
    }
    copy.finish().await
}

/// Writes the license results in license id order, in chunks,
/// and the invalid assignments.
async fn write_licenses(
    transaction: &Transaction<'_>,
    run: &Run,
    loaded: &Loaded,
    outcome: &Outcome,
) -> Result<(), DbError> {
    // The engine has a result for each license it was given, in order.
    debug_assert_eq!(outcome.licenses.len(), loaded.license_ids.len());
    let mut licenses: Vec<LicenseRow> = outcome
        .licenses
        .iter()
        .zip(&loaded.license_ids)
        .map(|(result, id)| LicenseRow {
            license_id: *id,
            status: license_status(result.status).to_owned(),
            effective_quantity: match result.effective_quantity {
                Quantity::Count(count) => Some(i64_of(count)),
                Quantity::Unlimited => None,
            },
            taken_by_upgrades: i64_of(result.taken_by_upgrades),
            used: i64_of(result.used),
            surplus: i64_of(result.surplus),
            assigned: i64_of(result.assigned),
            unassigned: result.unassigned.map(i64_of),
            invalid_assignments: i64::from(result.invalid_assignments),
            invalid_units: i64_of(result.invalid_units),
        })
        .chain(loaded.unusable_licenses.iter().map(|id| LicenseRow {
            license_id: *id,
            status: license_status(LicenseStatus::Incomplete).to_owned(),
            effective_quantity: None,
            taken_by_upgrades: 0,
            used: 0,
            surplus: 0,
            assigned: 0,
            unassigned: None,
            invalid_assignments: 0,
            invalid_units: 0,
        }))
        .collect();
    licenses.sort_unstable_by_key(|row| row.license_id);
    write_positioned(transaction, run, "compliance_license_results", &licenses).await?;

    // By assignment, then reason as stored (the order the list pages in).
    let mut invalid: Vec<InvalidRow> = outcome
        .invalid_assignments
        .iter()
        .map(|invalid| {
            let assignment = &loaded.estate.assignments[invalid.assignment as usize];
            let (computer_id, user_id) = consumer_ids(loaded, assignment.consumer);
            InvalidRow {
                assignment_id: loaded.assignment_ids[invalid.assignment as usize],
                license_id: loaded.license_ids[assignment.license as usize],
                computer_id,
                user_id,
                reason: invalid_reason(invalid.reason).to_owned(),
                units: i64_of(invalid.units),
            }
        })
        .collect();
    invalid.sort_by(|a, b| (a.assignment_id, &a.reason).cmp(&(b.assignment_id, &b.reason)));
    write_positioned(transaction, run, "compliance_invalid_assignments", &invalid).await
}

/// Writes `entries` in chunks of [`ENTRIES_PER_CHUNK`] into `table` (a
/// positioned-chunk table of `schema.sql`, keyed by run and position),
/// each chunk under the list position of its first entry.
async fn write_positioned<T: serde::Serialize>(
    transaction: &Transaction<'_>,
    run: &Run,
    table: &str,
    entries: &[T],
) -> Result<(), DbError> {
    let mut copy = Copy::start(
        transaction,
        &format!("{table} (customer_id, run_id, first_position, entries, data)"),
        &[Type::UUID, Type::UUID, Type::INT8, Type::INT4, Type::BYTEA],
    )
    .await?;
    for (index, chunk) in entries.chunks(ENTRIES_PER_CHUNK).enumerate() {
        copy.write(&[
            &run.customer_id,
            &run.id,
            &((index * ENTRIES_PER_CHUNK) as i64),
            &(chunk.len() as i32),
            &pack(chunk),
        ])
        .await?;
    }
    copy.finish().await
}

fn consumer_ids(
    loaded: &Loaded,
    consumer: estate_compliance::Consumer,
) -> (Option<Uuid>, Option<Uuid>) {
    match consumer {
        estate_compliance::Consumer::Computer(index) => {
            (Some(loaded.computer_ids[index as usize]), None)
        }
        estate_compliance::Consumer::User(index) => (None, Some(loaded.user_ids[index as usize])),
    }
}

/// Writes the run's key arrays and its consumer results in chunks (the
/// `compliance_run_keys` and `compliance_consumer_results` tables of `schema.sql`, encoded
/// by [`super::chunks`]). Encoding the chunks is most of the
/// work, so it runs on a blocking thread (the machine's other core) while
/// this task streams the finished chunks into the COPY. Rows of a run that
/// then fails are never read (reports read the latest successful run) and
/// are pruned like older runs' rows.
async fn write_consumers(
    transaction: &Transaction<'_>,
    run: &Run,
    loaded: Arc<Loaded>,
    outcome: Arc<Outcome>,
) -> Result<(), ApiError> {
    let (customer, run_id) = (run.customer_id, run.id);
    let application_families: Vec<i32> = loaded
        .estate
        .applications
        .iter()
        .map(|application| key_number(application.family))
        .collect();
    // A few chunks in flight: enough to keep both sides busy, little memory.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<EncodedChunk>(4);
    // When this task stops early, the receiver goes and the encoder with it.
    let encoder = tokio::task::spawn_blocking({
        let loaded = loaded.clone();
        move || {
            encode_consumers(&loaded, &outcome, |chunk| {
                sender.blocking_send(chunk).is_ok()
            })
        }
    });
    transaction
        .execute(
            "INSERT INTO compliance_run_keys (customer_id, run_id, application_ids, license_ids,
                 family_ids, application_families)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &customer,
                &run_id,
                &loaded.application_ids,
                &loaded.license_ids,
                &loaded.family_ids,
                &application_families,
            ],
        )
        .await
        .map_err(DbError::from)?;
    let mut copy = Copy::start(
        transaction,
        "compliance_consumer_results (customer_id, run_id, first_consumer, last_consumer,
         consumers, data)",
        &[
            Type::UUID,
            Type::UUID,
            Type::UUID,
            Type::UUID,
            Type::INT4,
            Type::BYTEA,
        ],
    )
    .await?;
    while let Some(chunk) = receiver.recv().await {
        copy.write(&[
            &customer,
            &run_id,
            &chunk.first,
            &chunk.last,
            &chunk.consumers,
            &chunk.data,
        ])
        .await?;
    }
    // The encoder ends when it has sent every chunk; a panic there must
    // not pass for a complete set.
    encoder.await.map_err(ApiError::internal)?;
    copy.finish().await?;
    Ok(())
}

/// One encoded chunk of consumer results, as stored.
struct EncodedChunk {
    first: Uuid,
    last: Uuid,
    consumers: i32,
    data: Vec<u8>,
}

/// Encodes the consumer results in chunks, in consumer id order
/// (computers and users alike), handing each to `emit` until it returns
/// false. The engine's rows come sorted by consumer, so each consumer's
/// are one run of the vector.
fn encode_consumers(
    loaded: &Loaded,
    outcome: &Outcome,
    mut emit: impl FnMut(EncodedChunk) -> bool,
) {
    let results = &outcome.consumers;
    let mut consumers: Vec<(Uuid, bool, &[estate_compliance::ConsumerResult])> = results
        .rows
        .chunk_by(|a, b| a.consumer == b.consumer)
        .map(|rows| {
            let (computer, user) = consumer_ids(loaded, rows[0].consumer);
            (computer.or(user).unwrap_or_default(), user.is_some(), rows)
        })
        .collect();
    consumers.sort_unstable_by_key(|(id, _, _)| *id);
    // Each consumer's covering licenses as numbers, and where each of its
    // results' start (buffers reused across consumers).
    let (mut licenses, mut starts): (Vec<u32>, Vec<usize>) = Default::default();
    for part in consumers.chunks(CONSUMERS_PER_CHUNK) {
        let mut chunk = Chunk::default();
        for (id, is_user, rows) in part {
            licenses.clear();
            starts.clear();
            for row in *rows {
                starts.push(licenses.len());
                licenses.extend(
                    results
                        .coverings_of(row)
                        .iter()
                        .map(|covering| key_number(covering.license) as u32),
                );
            }
            starts.push(licenses.len());
            chunk.push(
                *id,
                *is_user,
                rows.iter()
                    .zip(starts.windows(2))
                    .map(|(row, range)| StoredResult {
                        application: key_number(row.application) as u32,
                        requirement: row.requirement,
                        covered: row.covered,
                        status: consumer_status_code(row.status) as u8,
                        licenses: &licenses[range[0]..range[1]],
                    }),
            );
        }
        let Some((first, last)) = chunk.bounds() else {
            continue;
        };
        let encoded = EncodedChunk {
            first,
            last,
            consumers: chunk.consumer_count() as i32,
            data: chunk.encode(),
        };
        if !emit(encoded) {
            return;
        }
    }
}

/// An engine index as a 1-based number into a run's key array.
fn key_number(index: u32) -> i32 {
    saturating_i32(index.saturating_add(1))
}

fn saturating_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

async fn write_transfers(
    transaction: &Transaction<'_>,
    run: &Run,
    loaded: &Loaded,
    outcome: &Outcome,
) -> Result<(), DbError> {
    let license = |index: u32| loaded.license_ids[index as usize];
    let node = |index: u32| Some(loaded.node_ids[index as usize]);
    let application = |index: u32| Some(loaded.application_ids[index as usize]);
    let none = || TransferRow {
        kind: String::new(),
        license_id: Uuid::nil(),
        base_id: None,
        node_id: None,
        from_application_id: None,
        to_application_id: None,
        units: 0,
    };
    let transfers: Vec<TransferRow> = outcome
        .transfers
        .iter()
        .map(|transfer| match *transfer {
            Transfer::Upgrade {
                base,
                upgrade,
                units,
            } => TransferRow {
                kind: "upgrade".into(),
                license_id: license(upgrade),
                base_id: Some(license(base)),
                units: i64_of(units),
                ..none()
            },
            Transfer::Allocation {
                license: index,
                node: to,
                units,
            } => TransferRow {
                kind: "allocation".into(),
                license_id: license(index),
                node_id: node(to),
                units: i64_of(units),
                ..none()
            },
            Transfer::Downgrade {
                license: index,
                from_application,
                to_application,
                node: at,
                units,
            } => TransferRow {
                kind: "downgrade".into(),
                license_id: license(index),
                node_id: node(at),
                from_application_id: application(from_application),
                to_application_id: application(to_application),
                units: i64_of(units),
                ..none()
            },
        })
        .collect();
    write_positioned(transaction, run, "compliance_transfers", &transfers).await
}

/// A binary COPY into one table.
struct Copy {
    writer: std::pin::Pin<Box<BinaryCopyInWriter>>,
}

impl Copy {
    async fn start(
        transaction: &Transaction<'_>,
        table: &str,
        types: &[Type],
    ) -> Result<Self, DbError> {
        let sink = transaction
            .copy_in(&format!("COPY {table} FROM STDIN BINARY"))
            .await?;
        Ok(Self {
            writer: Box::pin(BinaryCopyInWriter::new(sink, types)),
        })
    }

    async fn write(&mut self, row: &[&(dyn ToSql + Sync)]) -> Result<(), DbError> {
        self.writer.as_mut().write(row).await?;
        Ok(())
    }

    async fn finish(mut self) -> Result<(), DbError> {
        self.writer.as_mut().finish().await?;
        Ok(())
    }
}
