//! PostgreSQL for every service: a connection pool pinned to the service's
//! own schema, migrations run by refinery under an advisory lock (so several
//! replicas starting together migrate once), the one place SQLSTATEs become
//! domain errors, and keyset pagination helpers.

mod idempotency;
mod paging;
mod pool;
mod sorting;
pub mod tls;

pub use deadpool_postgres::Object as Connection;
pub use idempotency::{Created, RequestKey, create_once, replayed};
pub use paging::{PageRequest, decode_page_token, encode_page_token};
pub use pool::Pool;
pub use sorting::{SortColumn, SortValue, SortedPage, filter_fingerprint, valid_value};
pub use tls::{Database, DatabaseUrlError};
pub use tokio_postgres;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use estate_errors::ApiError;
use tokio_postgres::error::SqlState;

/// How long a call waits for a pooled connection (or a new one) before it
/// fails with UNAVAILABLE instead of hanging.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements running longer than this are cancelled by the server, so a
/// lock wait or a runaway query cannot hold a call (and a connection)
/// forever. Bulk paths that need longer raise it for their transaction.
const STATEMENT_TIMEOUT_MS: u32 = 30_000;

/// Builds a pool whose connections resolve unqualified names in `schema`
/// first. Connections are opened lazily, so a database that is down makes
/// calls fail with UNAVAILABLE rather than the service refuse to start.
pub fn pool(database_url: &str, schema: &str, max_size: usize) -> anyhow::Result<Pool> {
    let Database {
        mut config, tls, ..
    } = Database::parse(database_url)?;
    config.options(format!(
        "-c search_path={schema} -c statement_timeout={STATEMENT_TIMEOUT_MS}"
    ));
    config.application_name(format!("estate-{schema}"));
    config.connect_timeout(POOL_TIMEOUT);
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let inner = deadpool_postgres::Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()?;
    Ok(Pool::new(inner, schema))
}

/// Applies `runner`'s migrations to `schema`, creating the schema if needed.
/// Holds a session advisory lock keyed by the schema meanwhile, so
/// concurrent starts (replicas, an init container) apply each migration once.
pub async fn migrate(
    database_url: &str,
    schema: &str,
    runner: refinery::Runner,
) -> anyhow::Result<()> {
    let database = Database::parse(database_url)?;
    let (mut client, connection) = database
        .config
        .connect(database.tls.clone())
        .await
        .map_err(|error| anyhow::anyhow!("{}: cannot connect: {error}", tls::SETTING))?;
    let connection = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "migration connection closed with an error");
        }
    });
    let lock_key = format!("estate-migrate-{schema}");
    lock_migrations(&client, &database, schema, &lock_key).await?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
        ))
        .await?;
    let report = runner.run_async(&mut client).await;
    client
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock_key])
        .await?;
    drop(client);
    let _ = connection.await;
    let report = report?;
    for migration in report.applied_migrations() {
        tracing::info!(schema, migration = %migration, "applied migration");
    }
    Ok(())
}

/// Takes the migration lock of `schema`, saying who holds it and for how
/// long this process has waited while it waits (another replica or an
/// init container migrating), so a backend that is bound but not yet
/// serving says why.
async fn lock_migrations(
    client: &tokio_postgres::Client,
    database: &Database,
    schema: &str,
    lock_key: &str,
) -> anyhow::Result<()> {
    let got: bool = client
        .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock_key])
        .await?
        .get(0);
    if got {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&lock_key];
    let wait = client.execute("SELECT pg_advisory_lock(hashtext($1))", &parameters);
    tokio::pin!(wait);
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            result = &mut wait => {
                result?;
                tracing::info!(schema, waited_s = started.elapsed().as_secs(), "migration lock taken");
                return Ok(());
            }
            _ = ticks.tick() => {
                let holder = holder_of_migration_lock(database, lock_key).await;
                tracing::info!(
                    schema,
                    waited_s = started.elapsed().as_secs(),
                    holder = %holder.unwrap_or_else(|| "unknown".into()),
                    "waiting for the migration lock: another process is migrating this schema"
                );
            }
        }
    }
}

/// Who holds the migration lock, asked over a short second connection
/// (the first is blocked waiting for it).
async fn holder_of_migration_lock(database: &Database, lock_key: &str) -> Option<String> {
    let (client, connection) = database.config.connect(database.tls.clone()).await.ok()?;
    let connection = tokio::spawn(connection);
    let holder = client
        .query_opt(
            "SELECT coalesce(nullif(a.application_name, ''), 'a session') || ' (pid ' || a.pid \
             || ', ' || coalesce(a.client_addr::text, 'local') || ', since ' \
             || to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') || ')' \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objid::bigint = \
             (hashtext($1)::bigint & 4294967295)",
            &[&lock_key],
        )
        .await
        .ok()
        .flatten()
        .map(|row| row.get::<_, String>(0));
    drop(client);
    let _ = connection.await;
    holder
}

/// The pool of a service: migrates `schema` first when `migrations` are
/// given (off when an init container has done it).
pub async fn open(
    database_url: &str,
    schema: &str,
    migrations: Option<refinery::Runner>,
    max_size: usize,
) -> anyhow::Result<Pool> {
    if let Some(runner) = migrations {
        migrate(database_url, schema, runner).await?;
    }
    pool(database_url, schema, max_size)
}

/// Whether the database answers a trivial statement through `pool`.
pub async fn ping(pool: &Pool) -> Result<(), String> {
    let client = pool
        .get()
        .await
        .map_err(|error| format!("no connection: {error}"))?;
    client
        .simple_query("SELECT 1")
        .await
        .map(|_| ())
        .map_err(|error| format!("the database does not answer: {error}"))
}

/// Takes a connection from the pool; failing to get one means the database
/// is unreachable, which clients see as UNAVAILABLE.
pub async fn connection(pool: &Pool) -> Result<Connection, ApiError> {
    pool.get().await.map_err(|error| ApiError::Unavailable {
        dependency: "database",
        source: Box::new(error),
    })
}

/// A connection only when the pool has one free now (idle, or room to
/// open one), without waiting for another user to return theirs: for
/// work that can do without it.
pub async fn connection_if_free(pool: &Pool) -> Option<Connection> {
    pool.get_if_free().await
}

/// What a failed statement means for the caller. Call sites say which
/// conflicts they expect; everything else is internal or unavailable.
pub fn classify(error: tokio_postgres::Error) -> DbError {
    // SQLSTATE classes are the first two characters (23 integrity, 40
    // transaction rollback, 57 operator intervention, 08 connection, …).
    let class = match error.code() {
        Some(code) => code.code().get(..2).unwrap_or("??").to_string(),
        None if error.is_closed() => "closed".to_string(),
        None => "none".to_string(),
    };
    metrics::counter!("db_client_errors_total", "sqlstate_class" => class).increment(1);
    match error.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => DbError::UniqueViolation {
            constraint: error
                .as_db_error()
                .and_then(|db| db.constraint())
                .unwrap_or_default()
                .to_string(),
        },
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => DbError::ForeignKeyViolation,
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            DbError::Conflict
        }
        None if error.is_closed() => DbError::Unavailable(error),
        // The server is shutting down or refusing connections, or the
        // connection broke (classes 57P and 08): unavailable, not a bug.
        Some(code) if code.code().starts_with("57P") || code.code().starts_with("08") => {
            DbError::Unavailable(error)
        }
        _ => DbError::Other(error),
    }
}

/// A classified database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint (named) was violated.
    #[error("unique constraint {constraint} violated")]
    UniqueViolation { constraint: String },
    /// A row referenced a missing row, or a referenced row is still in use.
    #[error("foreign key violated")]
    ForeignKeyViolation,
    /// A concurrent change got in the way (a serialization failure, a
    /// deadlock the server broke, a row gone between two statements): the
    /// transaction may be retried.
    #[error("concurrent change")]
    Conflict,
    /// A request id was used before for a different request.
    #[error("request id {request_id} was used for a different request")]
    RequestIdReused { request_id: String },
    /// The connection is gone.
    #[error("database connection closed")]
    Unavailable(#[source] tokio_postgres::Error),
    /// Anything else: a bug or an unexpected state.
    #[error("database error")]
    Other(#[source] tokio_postgres::Error),
}

impl From<DbError> for ApiError {
    /// The default meaning of a failure nobody at the call site expected.
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(source) => ApiError::Unavailable {
                dependency: "database",
                source: Box::new(source),
            },
            DbError::Conflict => {
                ApiError::Aborted("a concurrent change got in the way".to_string())
            }
            DbError::RequestIdReused { request_id } => ApiError::FailedPrecondition {
                violation: "REQUEST_ID_REUSED",
                subject: format!("request_id {}", estate_errors::quote(&request_id)),
                description: "this request_id was used for a different request; a retry must \
                              repeat the first request exactly, a new request needs a new \
                              request_id"
                    .into(),
            },
            other => ApiError::internal(other),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        classify(error)
    }
}

/// Starts a transaction on a pooled connection.
pub async fn transaction(
    client: &mut Connection,
) -> Result<tokio_postgres::Transaction<'_>, ApiError> {
    tokio_postgres::Client::transaction(client)
        .await
        .map_err(|error| ApiError::from(DbError::from(error)))
}

/// Commits, reporting a failure as the database's.
pub async fn commit(transaction: tokio_postgres::Transaction<'_>) -> Result<(), ApiError> {
    transaction
        .commit()
        .await
        .map_err(|error| ApiError::from(DbError::from(error)))
}

impl From<DbError> for tonic::Status {
    /// Lets handlers apply `?` to storage calls directly; the meaning is
    /// that of `ApiError::from`.
    fn from(error: DbError) -> Self {
        ApiError::from(error).into()
    }
}
