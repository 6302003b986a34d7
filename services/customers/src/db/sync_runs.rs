//! Sync runs and the snapshots successful runs leave behind.

use chrono::{DateTime, Duration, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::{OrganizationId, SyncRunId};
use tokio_postgres::types::Json;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::rules::overview::Snapshot;
use crate::rules::status::RunState;

#[derive(Debug, Clone)]
pub struct SyncRun {
    pub id: SyncRunId,
    pub customer_id: OrganizationId,
    /// `schedule` or `on_demand`.
    pub trigger: String,
    pub state: RunState,
    pub create_time: DateTime<Utc>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub error: String,
    pub unavailable_sources: Vec<String>,
}

const COLUMNS: &str = "id, customer_id, trigger, state, create_time, start_time, end_time, error, \
     unavailable_sources";

fn from_row(row: &Row) -> SyncRun {
    SyncRun {
        id: row.get("id"),
        customer_id: row.get("customer_id"),
        trigger: row.get("trigger"),
        state: RunState::parse(row.get("state")),
        create_time: row.get("create_time"),
        start_time: row.get("start_time"),
        end_time: row.get("end_time"),
        error: row.get("error"),
        unavailable_sources: row.get("unavailable_sources"),
    }
}

/// Queues a run for the customer, or returns the one already queued or
/// running (and `false`).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.sync_runs::queue", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn queue(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    trigger: &str,
    now: DateTime<Utc>,
) -> Result<(SyncRun, bool), DbError> {
    let statement = format!(
        "INSERT INTO sync_runs (id, customer_id, trigger, state, create_time)
         VALUES ($1, $2, $3, 'queued', $4)
         ON CONFLICT (customer_id) WHERE state IN ('queued', 'running') DO NOTHING
         RETURNING {COLUMNS}"
    );
    let active = format!(
        "SELECT {COLUMNS} FROM sync_runs
         WHERE customer_id = $1 AND state IN ('queued', 'running')"
    );
    // The active run can end between the insert and the read: then the
    // insert is tried again (twice at most; a third miss is a conflict).
    for _ in 0..2 {
        if let Some(row) = client
            .query_opt(&statement, &[&Uuid::now_v7(), &customer_id, &trigger, &now])
            .await?
        {
            return Ok((from_row(&row), true));
        }
        if let Some(row) = client.query_opt(&active, &[&customer_id]).await? {
            return Ok((from_row(&row), false));
        }
    }
    Err(DbError::Conflict)
}

/// Queues a scheduled run for every customer whose latest run was queued
/// more than `interval` ago (or that never ran), in `region`. Returns the
/// customers queued.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.sync_runs::queue_due", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn queue_due(
    client: &impl GenericClient,
    region: Option<&str>,
    excluded_regions: &[String],
    interval: Duration,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<OrganizationId>, DbError> {
    let due = client
        .query(
            "SELECT o.id FROM organizations o
             WHERE o.kind = 'customer'
               AND ($1::text IS NULL OR o.data_region = $1)
               AND NOT (o.data_region = ANY($2))
               AND NOT EXISTS (
                   SELECT 1 FROM sync_runs r
                   WHERE r.customer_id = o.id AND r.create_time > $3::timestamptz - $4::text::interval)
             LIMIT $5",
            &[
                &region,
                &excluded_regions,
                &now,
                &format!("{} seconds", interval.num_seconds()),
                &limit,
            ],
        )
        .await?;
    let customers: Vec<OrganizationId> = due.iter().map(|row| row.get(0)).collect();
    // Run ids are UUIDv7 (time-ordered) like every other id, which
    // PostgreSQL 15 cannot generate, so they are made here.
    let ids: Vec<Uuid> = customers.iter().map(|_| Uuid::now_v7()).collect();
    let rows = client
        .query(
            "INSERT INTO sync_runs (id, customer_id, trigger, state, create_time)
             SELECT id, customer_id, 'schedule', 'queued', $3
             FROM unnest($1::uuid[], $2::uuid[]) AS due (id, customer_id)
             ON CONFLICT (customer_id) WHERE state IN ('queued', 'running') DO NOTHING
             RETURNING customer_id",
            &[&ids, &customers, &now],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Claims the oldest queued run, marking it running and held for `lease`
/// (the longest the run can take: its worker is dead after that).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.sync_runs::claim", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn claim(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    lease: std::time::Duration,
) -> Result<Option<SyncRun>, DbError> {
    let statement = format!(
        "UPDATE sync_runs SET state = 'running', start_time = $1,
             lease_expires = clock_timestamp() + $2::text::interval
         WHERE id = (SELECT id FROM sync_runs WHERE state = 'queued'
                     ORDER BY create_time, id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    );
    let lease = format!("{} milliseconds", lease.as_millis());
    let row = client.query_opt(&statement, &[&now, &lease]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Fails runs whose lease ran out (their worker died), or, claimed before
/// leases, left running longer than `limit`, so the customer can sync
/// again. Returns their customers.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.sync_runs::fail_abandoned", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn fail_abandoned(
    client: &impl GenericClient,
    limit: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<OrganizationId>, DbError> {
    let rows = client
        .query(
            "UPDATE sync_runs SET state = 'failed', end_time = $1,
                 error = 'the run was interrupted before it finished'
             WHERE state = 'running'
               AND (lease_expires < clock_timestamp()
                    OR (lease_expires IS NULL AND start_time < $1::timestamptz - $2::text::interval))
             RETURNING customer_id",
            &[&now, &format!("{} seconds", limit.num_seconds())],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Ends a running run as succeeded, storing its snapshot.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.sync_runs::succeed", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn succeed(
    client: &impl GenericClient,
    run: &SyncRun,
    snapshot: &Snapshot,
    unavailable_sources: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    // Only a run still running: one whose lease ran out was failed by
    // another worker, and a late answer does not overwrite that.
    let ended = client
        .execute(
            "UPDATE sync_runs SET state = 'succeeded', end_time = $2, unavailable_sources = $3
             WHERE id = $1 AND state = 'running'",
            &[&run.id, &now, &unavailable_sources],
        )
        .await?;
    if ended == 0 {
        return Ok(());
    }
    client
        .execute(
            "INSERT INTO sync_snapshots
                 (run_id, customer_id, taken_time, computers, applications, saas, license_usage,
                  compliance)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &run.id,
                &run.customer_id,
                &now,
                &snapshot.computers.map(Json),
                &snapshot.applications.map(Json),
                &snapshot.saas.map(Json),
                &snapshot.license_usage.as_ref().map(Json),
                &snapshot.compliance.map(Json),
            ],
        )
        .await?;
    Ok(())
}

/// Ends a running run as failed with its reason.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.sync_runs::fail", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn fail(
    client: &impl GenericClient,
    run_id: SyncRunId,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE sync_runs SET state = 'failed', end_time = $2, error = $3
             WHERE id = $1 AND state = 'running'",
            &[&run_id, &now, &error],
        )
        .await?;
    Ok(())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.sync_runs::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    id: SyncRunId,
) -> Result<Option<SyncRun>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM sync_runs WHERE customer_id = $1 AND id = $2");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// A customer's runs, newest first.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.sync_runs::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    page: &PageRequest,
) -> Result<Vec<SyncRun>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM sync_runs
         WHERE customer_id = $1 AND id < coalesce($2::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
         ORDER BY id DESC LIMIT $3"
    );
    let rows = client
        .query(
            &statement,
            &[&customer_id, &page.after, &page.fetch_limit()],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// How many runs wait in the queue and how many run now (for the queue
/// depth gauges).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.sync_runs::depth", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn depth(client: &impl GenericClient) -> Result<(i64, i64), DbError> {
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE state = 'queued'),
                    count(*) FILTER (WHERE state = 'running')
             FROM sync_runs WHERE state IN ('queued', 'running')",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
