//! The billing service's background work, beside its handlers: overdue
//! usage reports auto-submitted, partner standings delivered until the
//! customers service confirms them, the usage-report gauge kept current.

use std::sync::Arc;
use std::time::Duration;

use estate_errors::ApiError;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::rules::statuses::{Stored, UsageStatus};

/// The background work, until `stop`: auto-submits overdue usage reports
/// every `poll_interval`, and delivers unconfirmed partner status changes
/// to the customers service every [`crate::STANDING_RETRY_INTERVAL`]. Replicas
/// may all run it: each report is claimed with `SKIP LOCKED`, and a status
/// delivered twice is applied once.
pub(crate) async fn run(state: Arc<AppState>, poll_interval: Duration, stop: CancellationToken) {
    let start = tokio::time::Instant::now();
    let mut reports = tokio::time::interval_at(start + poll_interval, poll_interval);
    let mut standings = tokio::time::interval(crate::STANDING_RETRY_INTERVAL);
    for interval in [&mut reports, &mut standings] {
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = reports.tick() => {
                match auto_submit(&state).await {
                    Ok(0) => {}
                    Ok(count) => {
                        metrics::counter!("estate_billing_auto_submissions_total")
                            .increment(count);
                        tracing::info!(count, "usage reports auto-submitted");
                    }
                    Err(error) => {
                        metrics::counter!("estate_billing_auto_submission_failures_total")
                            .increment(1);
                        tracing::warn!(%error, "auto-submitting usage reports failed");
                    }
                }
                count_usage_reports(&state).await;
            }
            _ = standings.tick() => match crate::standings::deliver_standings(&state).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "partner standings delivered"),
                Err(error) => tracing::warn!(%error, "delivering partner standings failed"),
            },
        }
    }
}

/// Submits overdue usage reports of every distributor, as the platform;
/// how many.
async fn auto_submit(state: &AppState) -> Result<u64, ApiError> {
    let now = state.clock.now();
    let client = estate_db::connection(&state.pool).await?;
    Ok(crate::db::reports::auto_submit(&**client, now.date_naive(), now).await?)
}

/// Sets the usage-reports-by-status gauge (each poll; a failure only
/// leaves the last counts).
async fn count_usage_reports(state: &AppState) {
    let counted = async {
        let client = estate_db::connection(&state.pool).await?;
        Ok::<_, estate_errors::ApiError>(
            crate::db::reports::usage_counts_by_status(&**client).await?,
        )
    };
    match counted.await {
        Ok(counts) => {
            // Every status is set, so one no report has any more reads 0
            // instead of its last count.
            for &status in UsageStatus::ALL {
                let count = counts
                    .iter()
                    .find(|(counted, _)| *counted == status)
                    .map_or(0, |(_, count)| *count);
                metrics::gauge!("estate_billing_usage_reports", "status" => status.column())
                    .set(count as f64);
            }
        }
        Err(error) => tracing::debug!(%error, "counting usage reports failed"),
    }
}
