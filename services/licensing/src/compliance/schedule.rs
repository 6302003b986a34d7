//! Scheduled compliance runs: every customer with an estate is calculated
//! at least once per interval, without anyone asking. A customer is due
//! when no run of any kind (on demand, scheduled, failed) started within
//! the interval, so a customer whose runs fail is retried once per
//! interval rather than in a loop. Each replica calculates one customer at
//! a time; replicas may all run the scheduler, since a run starts only if
//! the customer is still due at that moment (checked in the same
//! statement that records it). On shutdown a calculation in progress is
//! abandoned and recorded as failed, rather than left `running` (which
//! would block the customer for an hour).

use std::sync::Arc;
use std::time::Duration;

use estate_errors::ApiError;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{Reporter, store};
use crate::AppState;

/// When compliance is calculated without being asked.
#[derive(Debug, Clone)]
pub struct ComplianceSchedule {
    /// Each customer is calculated at least this often; `None`: on demand
    /// only.
    pub interval: Option<chrono::Duration>,
    /// How often the scheduler looks for due customers.
    pub poll_interval: Duration,
    /// Customers taken per look; they are calculated one after another so
    /// scheduled work never takes more than one core.
    pub batch: i64,
}

impl ComplianceSchedule {
    /// Daily, looking once a minute.
    pub fn daily() -> Self {
        Self {
            interval: Some(chrono::Duration::days(1)),
            poll_interval: Duration::from_secs(60),
            batch: 16,
        }
    }

    /// Parses `24h` (units s, m, h, d) or `off`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let interval = match spec.trim() {
            "off" => None,
            interval => Some(estate_clock::parse_interval(interval)?),
        };
        Ok(Self {
            interval,
            ..Self::daily()
        })
    }
}

/// Calculates due customers until `stop` is cancelled.
pub async fn run(state: Arc<AppState>, schedule: ComplianceSchedule, stop: CancellationToken) {
    let Some(interval) = schedule.interval else {
        return;
    };
    // The first look comes one poll interval after start, once the
    // service is up (and a demo has loaded its data); a full batch means
    // more are due, so the next look follows at once.
    let mut wait = true;
    loop {
        if wait {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(schedule.poll_interval) => {}
            }
        }
        wait = match tick(&state, interval, schedule.batch, &stop).await {
            Ok(calculated) => calculated < schedule.batch,
            Err(error) => {
                tracing::warn!(%error, "scheduled compliance round failed");
                true
            }
        };
        if stop.is_cancelled() {
            return;
        }
    }
}

/// One round: calculate every customer due now, up to `batch`; returns
/// how many were due.
async fn tick(
    state: &AppState,
    interval: chrono::Duration,
    batch: i64,
    stop: &CancellationToken,
) -> Result<i64, ApiError> {
    let due = {
        let client = estate_db::connection(&state.pool).await?;
        store::due(&**client, state.clock.now() - interval, batch).await?
    };
    let count = i64::try_from(due.len()).unwrap_or(i64::MAX);
    // How late the most overdue customer is: a scheduler that cannot keep
    // up shows as a lag that grows.
    let now = state.clock.now();
    let lag = due
        .iter()
        .map(|due| due.lag(interval, now))
        .max()
        .unwrap_or_default();
    metrics::gauge!("estate_compliance_scheduler_lag_seconds")
        .set(lag.num_milliseconds() as f64 / 1000.0);
    metrics::gauge!("estate_compliance_scheduler_due").set(count as f64);
    if due.is_empty() {
        // No span for a round with nothing to do: an idle scheduler
        // leaves no trace per poll.
        return Ok(0);
    }
    // A trace of its own per round with customers due (its status Error
    // when the round fails); each run's own trace follows from it.
    let round = tracing::info_span!(
        parent: None,
        "compliance.round",
        otel.name = "scheduled compliance round",
        due = count,
        lag_seconds = lag.num_seconds(),
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    let calculated = calculate_due(state, due, interval, stop)
        .instrument(round.clone())
        .await;
    if let Err(error) = &calculated {
        round.record("otel.status_code", "error");
        round.record("otel.status_description", error.to_string());
    }
    calculated.map(|()| count)
}

/// Calculates each of `due` that is still due, until `stop`.
async fn calculate_due(
    state: &AppState,
    due: Vec<store::Due>,
    interval: chrono::Duration,
    stop: &CancellationToken,
) -> Result<(), ApiError> {
    for store::Due { customer_id, .. } in due {
        if stop.is_cancelled() {
            break;
        }
        // Still due now: another replica or a client may have calculated
        // it since the list was read.
        let since = state.clock.now() - interval;
        let run = match super::start(state, customer_id, "scheduled", Some(since)).await {
            Ok(run) => run,
            Err(ApiError::FailedPrecondition { .. }) => continue,
            Err(error) => return Err(error),
        };
        let id = run.id;
        let interrupted = run.clone();
        tokio::select! {
            outcome = super::finish(state, run, Reporter::default()) => match outcome {
                Ok(_) => {
                    tracing::info!(%customer_id, run = %id, "scheduled compliance run succeeded");
                    super::prune(state, customer_id).await;
                }
                // Recorded as a failed run; the round moves on.
                Err(error) => tracing::warn!(%customer_id, %error, "scheduled compliance run failed"),
            },
            () = stop.cancelled() => {
                // Dropping the calculation rolls its transaction back.
                let client = estate_db::connection(&state.pool).await?;
                store::fail(
                    &**client,
                    &interrupted,
                    "interrupted: the licensing service stopped",
                    state.clock.now(),
                )
                .await?;
                tracing::info!(%customer_id, run = %id, "scheduled compliance run interrupted by shutdown");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::store::Due;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn lag_counts_from_when_a_customer_fell_due() {
        let now = at("2026-12-06T12:00:00Z");
        let day = Duration::days(1);
        let due = |last_start: Option<&str>, created: &str| Due {
            customer_id: estate_proto::names::CustomerId::default(),
            last_start: last_start.map(at),
            estate_created: at(created),
        };
        let cases = [
            // Calculated 26 h ago on a daily schedule: 2 h late.
            (
                due(Some("2026-12-05T10:00:00Z"), "2026-01-01T00:00:00Z"),
                Duration::hours(2),
            ),
            // Calculated 20 h ago: not late (listed early, say).
            (
                due(Some("2026-12-05T16:00:00Z"), "2026-01-01T00:00:00Z"),
                Duration::zero(),
            ),
            // Never calculated: late since its estate was created.
            (due(None, "2026-12-06T09:30:00Z"), Duration::minutes(150)),
            // Never calculated, created this instant.
            (due(None, "2026-12-06T12:00:00Z"), Duration::zero()),
        ];
        for (due, lag) in cases {
            assert_eq!(due.lag(day, now), lag, "{due:?}");
        }
    }
}
