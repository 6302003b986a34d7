//! Scheduled compliance runs: every customer with an estate is calculated
//! at least once per interval, without anyone asking. A customer is due
//! when no run of any kind (on demand, scheduled, failed) started within
//! the interval, so a customer whose runs fail is retried once per
//! interval rather than in a loop. Replicas may all run the scheduler: the
//! one-run-per-customer rule makes a second replica skip a customer
//! another is calculating.

use std::sync::Arc;
use std::time::Duration;

use estate_errors::ApiError;
use tokio_util::sync::CancellationToken;

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
    // service is up (and a demo has loaded its data).
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(schedule.poll_interval) => {}
        }
        if let Err(error) = tick(&state, interval, schedule.batch, &stop).await {
            tracing::warn!(%error, "scheduled compliance round failed");
        }
    }
}

/// One round: calculate every customer due now, up to `batch`.
async fn tick(
    state: &AppState,
    interval: chrono::Duration,
    batch: i64,
    stop: &CancellationToken,
) -> Result<(), ApiError> {
    let due = {
        let client = estate_db::connection(&state.pool).await?;
        store::due(&**client, state.clock.now() - interval, batch).await?
    };
    for customer_id in due {
        if stop.is_cancelled() {
            break;
        }
        match super::calculate(state, customer_id, "scheduled", Reporter::default()).await {
            Ok(run) => {
                tracing::info!(%customer_id, run = %run.id, "scheduled compliance run succeeded")
            }
            // Another replica, or a client, is calculating it right now.
            Err(ApiError::FailedPrecondition { .. }) => {}
            // Recorded as a failed run; the next round moves on.
            Err(error) => tracing::warn!(%customer_id, %error, "scheduled compliance run failed"),
        }
    }
    Ok(())
}
