//! Compliance runs: read the estate in one snapshot, calculate with the
//! pure engine (`estate-compliance`) off the async threads, store the
//! results under the run. A run that fails is recorded as failed and leaves
//! the last good results in place.

pub mod chunks;
pub mod load;
pub mod reports;
pub mod rows;
pub mod schedule;
pub mod store;
mod uuid_pairs;

use estate_proto::names::CustomerId;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use estate_compliance::Phase;
use estate_errors::ApiError;
use tokio::sync::mpsc;
use tracing::Instrument as _;

use crate::AppState;
pub use store::Run;

/// What a calculation reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Reading,
    Engine(Phase),
    Storing,
}

/// A progress report: the step, and work done of the total in it.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub step: Step,
    pub done: u64,
    pub total: u64,
}

/// Where progress goes: reports are dropped, never waited for, when the
/// receiver is slow or gone, so a client that stops listening does not
/// stop or slow the run.
#[derive(Debug, Clone, Default)]
pub struct Reporter(pub Option<mpsc::Sender<Progress>>);

impl Reporter {
    fn report(&self, step: Step, done: u64, total: u64) {
        if let Some(sender) = &self.0 {
            let _ = sender.try_send(Progress { step, done, total });
        }
    }
}

/// Records a new running run; FAILED_PRECONDITION `CALCULATION_RUNNING`
/// while another one runs for the customer or, with
/// `due_unless_started_after`, when one started after that instant.
pub async fn start(
    state: &AppState,
    customer_id: CustomerId,
    trigger: &str,
    due_unless_started_after: Option<DateTime<Utc>>,
) -> Result<Run, ApiError> {
    let client = estate_db::connection(&state.pool).await?;
    store::start(
        &**client,
        customer_id,
        trigger,
        state.clock.now(),
        due_unless_started_after,
    )
    .await?
    .ok_or_else(|| ApiError::FailedPrecondition {
        violation: "CALCULATION_RUNNING",
        subject: format!("customers/{customer_id}"),
        description: "a compliance calculation for this customer is running; \
                      wait for it to finish"
            .into(),
    })
}

/// Calculates and stores `run` (from [`start`]); a failure is recorded on
/// the run, and the last good results stay.
pub async fn finish(state: &AppState, run: Run, reporter: Reporter) -> Result<Run, ApiError> {
    // A trace of its own (the call that started it may end first), linked
    // to the span that started it; read, compute and store are its
    // children.
    let span = tracing::info_span!(
        parent: None,
        "compliance.run",
        otel.name = "compliance run",
        customer_id = %run.customer_id,
        run = %run.id,
        trigger = %run.trigger,
        computers = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    span.follows_from(tracing::Span::current());
    let trigger = run.trigger.clone();
    let started = std::time::Instant::now();
    let finished = finish_run(state, run, reporter)
        .instrument(span.clone())
        .await;
    let outcome = if finished.is_ok() {
        "succeeded"
    } else {
        "failed"
    };
    if let Err(error) = &finished {
        span.record("otel.status_code", "error");
        span.record("otel.status_description", error.to_string());
    }
    let labels = [("trigger", trigger), ("outcome", outcome.to_string())];
    metrics::counter!("estate_compliance_runs_total", &labels).increment(1);
    metrics::histogram!("estate_compliance_run_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    finished
}

async fn finish_run(state: &AppState, run: Run, reporter: Reporter) -> Result<Run, ApiError> {
    let customer_id = run.customer_id;
    // The lease is renewed while the calculation runs; whether the run
    // is still this process's is decided where it is stored (`succeed`
    // only ends a run that is still running), not by a renewal that may
    // race with that commit.
    let calculated = tokio::select! {
        calculated = run_calculation(state, &run, reporter) => calculated,
        never = keep_lease(state, &run) => match never {},
    };
    match calculated {
        Ok(succeeded) => Ok(succeeded),
        Err(error) => {
            tracing::warn!(%customer_id, run = %run.id, ?error, "compliance calculation failed");
            // A fresh connection: the failure may have been this one's.
            let failed = async {
                let client = estate_db::connection(&state.pool).await?;
                store::fail(&**client, &run, &reason(&run, &error), state.clock.now()).await?;
                Ok::<_, ApiError>(())
            };
            if let Err(failure) = failed.await {
                tracing::error!(%customer_id, run = %run.id, %failure, "could not record a failed run");
            }
            Err(error)
        }
    }
}

/// Renews `run`'s lease while it calculates; returns only when the run
/// is no longer this process's: never; it stops renewing when the run is
/// no longer running (ended, or taken over after the lease ran out while
/// the database was unreachable).
async fn keep_lease(state: &AppState, run: &Run) -> std::convert::Infallible {
    loop {
        tokio::time::sleep(store::RENEW_EVERY).await;
        let renewed = async {
            let client = estate_db::connection(&state.pool).await?;
            Ok::<_, ApiError>(store::renew(&**client, run).await?)
        };
        match renewed.await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(customer_id = %run.customer_id, run = %run.id, "compliance run no longer running; lease no longer renewed");
                return std::future::pending().await;
            }
            // Tried again next time; the lease outlasts a few failures.
            Err(error) => {
                tracing::warn!(customer_id = %run.customer_id, run = %run.id, %error, "renewing a compliance run's lease failed")
            }
        }
    }
}

/// Why a run failed, as its readers see it: the error itself when it is
/// the caller's to know, never the internals of a storage failure (those
/// are logged with the run's id above).
fn reason(run: &Run, error: &ApiError) -> String {
    match error {
        ApiError::Internal(_) | ApiError::Unavailable { .. } => format!(
            "internal error: the licensing service's log has the cause (run {})",
            run.id
        ),
        other => other.to_string(),
    }
}

/// Deletes the results of the customer's runs before the previous
/// successful one (see [`store::prune`]); a failure only leaves them for
/// the next run's pruning.
pub async fn prune(state: &AppState, customer_id: CustomerId) {
    let pruned = async {
        let client = estate_db::connection(&state.pool).await?;
        Ok::<_, ApiError>(store::prune(&**client, customer_id).await?)
    };
    match pruned.await {
        Ok(rows) => tracing::debug!(%customer_id, rows, "older compliance results deleted"),
        Err(error) => {
            tracing::warn!(%customer_id, %error, "deleting older compliance results failed")
        }
    }
}

/// Reads, calculates and stores `run`. No connection is held while the
/// engine calculates: the read's are given back before, the store's taken
/// after.
async fn run_calculation(state: &AppState, run: &Run, reporter: Reporter) -> Result<Run, ApiError> {
    reporter.report(Step::Reading, 0, 1);
    let now = state.clock.now();
    let phase = Instant::now();
    let loaded = read_estate(state, run, now)
        .instrument(tracing::info_span!("compliance.read"))
        .await?;
    reporter.report(Step::Reading, 1, 1);
    let computers = loaded.estate.computers.len();
    tracing::Span::current().record("computers", computers);
    metrics::histogram!("estate_compliance_estate_size", "unit" => "computers")
        .record(computers as f64);
    phase_took("read", phase);

    let engine_reporter = reporter.clone();
    let compute = tracing::info_span!("compliance.compute", computers);
    let phase = Instant::now();
    let (loaded, outcome) = tokio::task::spawn_blocking(move || {
        let _entered = compute.enter();
        let outcome = estate_compliance::calculate_with_progress(
            &loaded.estate,
            &mut |phase, done, total| engine_reporter.report(Step::Engine(phase), done, total),
        );
        (loaded, outcome)
    })
    .await
    .map_err(ApiError::internal)?;
    phase_took("compute", phase);
    let phase = Instant::now();
    let stored = store_results(state, run, loaded, outcome, &reporter)
        .instrument(tracing::info_span!("compliance.store"))
        .await;
    phase_took("store", phase);
    stored
}

/// Records how long a phase of a run took.
fn phase_took(phase: &'static str, started: Instant) {
    metrics::histogram!("estate_compliance_phase_duration_seconds", "phase" => phase)
        .record(started.elapsed().as_secs_f64());
}

/// Stores a calculated run's results (see [`run_calculation`]).
async fn store_results(
    state: &AppState,
    run: &Run,
    loaded: load::Loaded,
    outcome: Result<estate_compliance::Outcome, estate_compliance::EstateError>,
    reporter: &Reporter,
) -> Result<Run, ApiError> {
    let outcome = outcome
        .map_err(|error| ApiError::internal(format!("the estate is inconsistent: {error:?}")))?;
    // Shared with the thread that encodes the consumer results.
    let (loaded, outcome) = (Arc::new(loaded), Arc::new(outcome));

    // The results are written in parts (`store::Part`) on two connections,
    // three when the pool has one free right now (a run never waits on
    // other users for it). Each connection takes the next part until none
    // is left, so the work spreads evenly at every size. This connection
    // then marks the run succeeded, and commits only after the others
    // have: a run that says it succeeded has all its results. When a part
    // fails, the transactions still open are dropped, which rolls them
    // back; a connection that had already committed its parts leaves them
    // as rows of a failed run, which reports never read and pruning
    // deletes.
    let mut client = estate_db::connection(&state.pool).await?;
    let second_client = estate_db::connection(&state.pool).await?;
    let third_client = estate_db::connection_if_free(&state.pool).await;
    let parts = Parts {
        run,
        loaded: &loaded,
        outcome: &outcome,
        reporter,
        next: AtomicUsize::new(0),
        written: std::sync::Mutex::new(0),
    };
    reporter.report(Step::Storing, 0, store::Part::ALL.len() as u64);
    let write_on =
        |client| on_own_connection(client, async |transaction| parts.write(transaction).await);
    let second = write_on(second_client);
    let third = async {
        match third_client {
            Some(client) => write_on(client).await,
            None => Ok(()),
        }
    };
    let here = async {
        let transaction = estate_db::transaction(&mut client).await?;
        set_store_timeout(&transaction).await?;
        parts.write(&transaction).await?;
        let succeeded =
            store::succeed(&transaction, run, &loaded, &outcome, state.clock.now()).await?;
        Ok::<_, ApiError>((transaction, succeeded))
    };
    let ((), (), (transaction, succeeded)) = tokio::try_join!(second, third, here)?;
    estate_db::commit(transaction).await?;
    Ok(succeeded)
}

/// The customer's estate, read on two connections at once in one
/// snapshot (the second imports the first's, which stays open until both
/// are done); both are given back before this returns.
async fn read_estate(
    state: &AppState,
    run: &Run,
    now: chrono::DateTime<Utc>,
) -> Result<load::Loaded, ApiError> {
    let mut client = estate_db::connection(&state.pool).await?;
    // An estate nobody has touched yet still has its root node.
    crate::db::nodes::ensure_root(&**client, run.customer_id, now).await?;
    let mut second_client = estate_db::connection(&state.pool).await?;
    let transaction = read_transaction(&mut client).await?;
    let snapshot: String = transaction
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(estate_db::DbError::from)?
        .get(0);
    let second = read_transaction(&mut second_client).await?;
    second
        .batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
        .await
        .map_err(estate_db::DbError::from)?;
    let loaded = load::load(&transaction, &second, run.customer_id, now).await?;
    estate_db::commit(second).await?;
    estate_db::commit(transaction).await?;
    Ok(loaded)
}

/// A run's result parts, handed out to the connections writing them.
struct Parts<'a> {
    run: &'a Run,
    loaded: &'a Arc<load::Loaded>,
    outcome: &'a Arc<estate_compliance::Outcome>,
    reporter: &'a Reporter,
    /// The next part of [`store::Part::ALL`] to hand out.
    next: AtomicUsize,
    written: std::sync::Mutex<u64>,
}

impl Parts<'_> {
    /// Writes the next part in `transaction` until none is left.
    async fn write(&self, transaction: &tokio_postgres::Transaction<'_>) -> Result<(), ApiError> {
        let total = store::Part::ALL.len() as u64;
        while let Some(&part) = store::Part::ALL.get(self.next.fetch_add(1, Ordering::Relaxed)) {
            store::write_part(transaction, self.run, self.loaded, self.outcome, part).await?;
            // Counted and reported under the lock, so reports never go back.
            let mut written = self
                .written
                .lock()
                .expect("the count's lock is never poisoned");
            *written += 1;
            self.reporter.report(Step::Storing, *written, total);
        }
        Ok(())
    }
}

/// A read-only repeatable-read transaction: one snapshot for every read.
async fn read_transaction(
    client: &mut estate_db::Connection,
) -> Result<tokio_postgres::Transaction<'_>, ApiError> {
    Ok(tokio_postgres::Client::build_transaction(client)
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(estate_db::DbError::from)?)
}

/// Runs `write` in a transaction of its own on `client`, and commits.
async fn on_own_connection(
    mut client: estate_db::Connection,
    write: impl AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let transaction = estate_db::transaction(&mut client).await?;
    set_store_timeout(&transaction).await?;
    write(&transaction).await?;
    estate_db::commit(transaction).await?;
    Ok(())
}

/// Storing a large estate's results takes longer than the pool's default
/// statement timeout allows.
async fn set_store_timeout(transaction: &tokio_postgres::Transaction<'_>) -> Result<(), ApiError> {
    transaction
        .execute("SET LOCAL statement_timeout = '30min'", &[])
        .await
        .map_err(estate_db::DbError::from)?;
    Ok(())
}
