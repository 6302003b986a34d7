//! The sync worker: queues scheduled runs per data region, executes queued
//! runs (gathering estate figures from licensing and licenses-and-usage
//! figures from billing over gRPC), and keeps time-dependent overview rows
//! current.
//!
//! A run is claimed with `FOR UPDATE SKIP LOCKED`, so several replicas
//! share the queue. A dependency that fails (unreachable, slow, erroring)
//! fails the run with its reason and never the service; a dependency that
//! answers UNIMPLEMENTED (its side is not built yet) leaves its part of the
//! snapshot unavailable rather than invented, and the run succeeds.

use estate_proto::names::{OrganizationId, SyncRunId};
use std::sync::Arc;
use std::time::Duration;

use estate_auth::{CallerToken, Principal, TokenSigner};
use estate_clock::SharedClock;
use estate_proto::internal::estate_summary_service_client::EstateSummaryServiceClient;
use estate_proto::internal::license_usage_summary_service_client::LicenseUsageSummaryServiceClient;
use estate_proto::internal::{GetEstateSummaryRequest, GetLicenseUsageSummaryRequest};
use estate_transport::Balanced;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::db::{overview, sync_runs};
use crate::rules::overview::{
    ApplicationFigures, ComplianceFigures, ComputerFigures, ProductFigures, SaasFigures, Snapshot,
};

/// When scheduled runs happen: every `default_interval`, or per data
/// region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSchedule {
    pub default_interval: chrono::Duration,
    pub regions: Vec<(String, chrono::Duration)>,
}

impl SyncSchedule {
    /// Daily everywhere.
    pub fn daily() -> Self {
        Self {
            default_interval: chrono::Duration::days(1),
            regions: Vec::new(),
        }
    }

    /// Parses `24h` or `24h,eu=12h,us=2d`: a default interval, then
    /// per-region ones (units s, m, h, d); `off` disables the schedule.
    pub fn parse(spec: &str) -> anyhow::Result<Option<Self>> {
        if spec.trim() == "off" {
            return Ok(None);
        }
        let mut parts = spec.split(',').map(str::trim);
        let default_interval = estate_clock::parse_interval(parts.next().unwrap_or_default())
            .map_err(anyhow::Error::msg)?;
        let mut regions = Vec::new();
        for part in parts {
            let (region, interval) = part
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("{part:?} is not region=interval"))?;
            regions.push((
                region.to_string(),
                estate_clock::parse_interval(interval).map_err(anyhow::Error::msg)?,
            ));
        }
        Ok(Some(Self {
            default_interval,
            regions,
        }))
    }
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// `None`: on-demand runs only.
    pub schedule: Option<SyncSchedule>,
    /// How often the worker looks for due work when nobody wakes it.
    pub poll_interval: Duration,
    /// Runs executed at once.
    pub concurrency: usize,
    /// Deadline of each call to licensing and billing.
    pub call_timeout: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            schedule: Some(SyncSchedule::daily()),
            poll_interval: Duration::from_secs(30),
            concurrency: 4,
            call_timeout: Duration::from_secs(10),
        }
    }
}

/// A run left running this long was abandoned by a worker that died.
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(10);
/// Work items per tick, so one tick never holds a connection for long.
const BATCH: i64 = 500;

pub struct Worker {
    pub pool: estate_db::Pool,
    pub clock: SharedClock,
    pub signer: TokenSigner,
    pub licensing: EstateSummaryServiceClient<Balanced>,
    pub billing: LicenseUsageSummaryServiceClient<Balanced>,
    pub config: SyncConfig,
    pub wakeup: Arc<Notify>,
}

impl Worker {
    /// Runs until `stop` is cancelled; a run in progress then is cut and
    /// recovered as abandoned later.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            if let Err(error) = self.tick().await {
                tracing::warn!(error = format!("{error:#}"), "sync worker tick failed");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wakeup.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// One round: recover abandoned runs, queue scheduled ones, refresh
    /// rows that time changed, then execute everything queued.
    async fn tick(self: &Arc<Self>) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut client = self.pool.get().await?;
        let transaction = tokio_postgres::Client::transaction(&mut client).await?;
        let mut touched = sync_runs::fail_abandoned(&transaction, ABANDONED_AFTER, now).await?;
        if let Some(schedule) = &self.config.schedule {
            let named: Vec<String> = schedule.regions.iter().map(|(r, _)| r.clone()).collect();
            for (region, interval) in &schedule.regions {
                touched.extend(
                    sync_runs::queue_due(&transaction, Some(region), &[], *interval, now, BATCH)
                        .await?,
                );
            }
            touched.extend(
                sync_runs::queue_due(
                    &transaction,
                    None,
                    &named,
                    schedule.default_interval,
                    now,
                    BATCH,
                )
                .await?,
            );
        }
        // One refresh: it locks its customers, in order only within a call.
        touched.extend(overview::due(&transaction, None, now, BATCH).await?);
        overview::refresh(&transaction, &touched, now).await?;
        transaction.commit().await?;
        drop(client);
        self.record_depth().await?;
        let executed = self.execute_queued().await;
        // The round's runs are done whatever this reading does.
        if let Err(error) = self.record_depth().await {
            tracing::debug!(
                error = format!("{error:#}"),
                "measuring the sync queue failed"
            );
        }
        executed
    }

    /// Sets the queue-depth gauges: at each round, as each run ends, and
    /// when the round's runs are done, so a long round does not leave the
    /// depth it started with on the gauge.
    async fn record_depth(&self) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        let (queued, running) = sync_runs::depth(&**client).await?;
        metrics::gauge!("estate_sync_queue_depth", "state" => "queued").set(queued as f64);
        metrics::gauge!("estate_sync_queue_depth", "state" => "running").set(running as f64);
        Ok(())
    }

    async fn execute_queued(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut running = JoinSet::new();
        loop {
            while running.len() < self.config.concurrency.max(1) {
                let client = self.pool.get().await?;
                // Both summary calls run at once, each within the call
                // timeout; the rest is one short transaction.
                let lease = self.config.call_timeout * 2 + Duration::from_secs(10);
                let Some(run) = sync_runs::claim(&**client, self.clock.now(), lease).await? else {
                    break;
                };
                let worker = self.clone();
                // Each run is a trace of its own: its calls to licensing
                // and billing are its children.
                let span = tracing::info_span!(
                    parent: None,
                    "sync.run",
                    otel.name = "sync run",
                    run = %run.id,
                    customer = %run.customer_id,
                );
                running.spawn(async move { worker.execute(run).await }.instrument(span));
            }
            let ended = running.join_next().await;
            if ended.is_some()
                && let Err(error) = self.record_depth().await
            {
                tracing::debug!(
                    error = format!("{error:#}"),
                    "measuring the sync queue failed"
                );
            }
            match ended {
                None => return Ok(()),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => {
                    tracing::warn!(error = format!("{error:#}"), "recording a sync run failed");
                }
                Some(Err(panic)) => tracing::error!(error = %panic, "a sync run panicked"),
            }
        }
    }

    async fn execute(&self, run: sync_runs::SyncRun) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let token = CallerToken(self.signer.sign(&Principal::service("customers")));
        let organization_id = run.customer_id.to_string();
        let estate = {
            let mut licensing = self.licensing.clone();
            let mut request = estate_auth::forward(
                GetEstateSummaryRequest {
                    organization_id: organization_id.clone(),
                },
                &token,
            );
            request.set_timeout(self.config.call_timeout);
            async move { licensing.get_estate_summary(request).await }
        };
        let usage = {
            let mut billing = self.billing.clone();
            let mut request =
                estate_auth::forward(GetLicenseUsageSummaryRequest { organization_id }, &token);
            request.set_timeout(self.config.call_timeout);
            async move { billing.get_license_usage_summary(request).await }
        };
        let (estate, usage) = tokio::join!(estate, usage);
        let gathered = gather(estate, usage);
        let now = self.clock.now();
        let mut client = self.pool.get().await?;
        let transaction = tokio_postgres::Client::transaction(&mut client).await?;
        match &gathered {
            Ok((snapshot, unavailable)) => {
                sync_runs::succeed(&transaction, &run, snapshot, unavailable, now).await?;
            }
            Err(reason) => sync_runs::fail(&transaction, run.id, reason, now).await?,
        }
        overview::refresh(&transaction, &[run.customer_id], now).await?;
        transaction.commit().await?;
        log_outcome(run.id, run.customer_id, &gathered, started.elapsed());
        Ok(())
    }
}

fn log_outcome(
    run: SyncRunId,
    customer: OrganizationId,
    gathered: &Result<(Snapshot, Vec<String>), String>,
    elapsed: Duration,
) {
    let elapsed_ms = elapsed.as_millis() as u64;
    let outcome = if gathered.is_ok() {
        "succeeded"
    } else {
        "failed"
    };
    metrics::counter!("estate_sync_runs_total", "outcome" => outcome).increment(1);
    metrics::histogram!("estate_sync_run_duration_seconds", "outcome" => outcome)
        .record(elapsed.as_secs_f64());
    match gathered {
        Ok((_, unavailable)) => {
            tracing::info!(%run, %customer, elapsed_ms, unavailable = ?unavailable, "sync succeeded");
        }
        Err(reason) => tracing::warn!(%run, %customer, elapsed_ms, reason, "sync failed"),
    }
}

type Answer<T> = Result<tonic::Response<T>, tonic::Status>;

/// The snapshot and the sources that could not provide theirs, or why the
/// run failed.
fn gather(
    estate: Answer<estate_proto::internal::GetEstateSummaryResponse>,
    usage: Answer<estate_proto::internal::GetLicenseUsageSummaryResponse>,
) -> Result<(Snapshot, Vec<String>), String> {
    let mut snapshot = Snapshot::default();
    let mut unavailable = Vec::new();
    match estate.map(tonic::Response::into_inner) {
        Ok(summary) => {
            snapshot.computers = summary.computers.map(|c| ComputerFigures {
                total: c.total,
                inventoried_within_7_days: c.inventoried_within_7_days,
                not_inventoried_for_over_7_days: c.not_inventoried_for_over_7_days,
                quarantined: c.quarantined,
                inactive: c.inactive,
            });
            snapshot.applications = summary.applications.map(|a| ApplicationFigures {
                total: a.total,
                licensable: a.licensable,
                denied_installed: a.denied_installed,
            });
            snapshot.saas = summary.saas.map(|s| SaasFigures {
                applications: s.applications,
                active_users_30_days: s.active_users_30_days,
            });
            // Figures without the time they were calculated at are not shown.
            snapshot.compliance = summary.compliance.and_then(|c| {
                Some(ComplianceFigures {
                    calculated_time: estate_proto::time::from_timestamp(
                        c.calculated_time.as_ref()?,
                    )?,
                    requirement: c.requirement,
                    coverage: c.coverage,
                    compliance: c.compliance,
                    applications_short: c.applications_short,
                })
            });
        }
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            unavailable.push("licensing".to_string());
        }
        Err(status) => return Err(dependency_failure("licensing", &status)),
    }
    match usage.map(tonic::Response::into_inner) {
        Ok(summary) => {
            snapshot.license_usage = Some(
                summary
                    .products
                    .into_iter()
                    .map(|p| ProductFigures {
                        product: p.product,
                        quantity_purchased: p.quantity_purchased,
                        highest_usage_30_days: p.highest_usage_30_days,
                    })
                    .collect(),
            );
        }
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            unavailable.push("billing".to_string());
        }
        Err(status) => return Err(dependency_failure("billing", &status)),
    }
    Ok((snapshot, unavailable))
}

fn dependency_failure(dependency: &str, status: &tonic::Status) -> String {
    format!(
        "{dependency} service: {:?}: {}",
        status.code(),
        status.message()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_a_default_and_per_region_intervals() {
        let schedule = SyncSchedule::parse("24h, eu=12h, us=2d").unwrap().unwrap();
        assert_eq!(schedule.default_interval, chrono::Duration::hours(24));
        assert_eq!(
            schedule.regions,
            vec![
                ("eu".to_string(), chrono::Duration::hours(12)),
                ("us".to_string(), chrono::Duration::days(2)),
            ]
        );
        assert_eq!(SyncSchedule::parse("off").unwrap(), None);
        assert!(SyncSchedule::parse("daily").is_err());
        assert!(SyncSchedule::parse("0h").is_err());
        assert!(SyncSchedule::parse("24h,eu").is_err());
    }

    #[test]
    fn unimplemented_sources_are_unavailable_not_invented() {
        let (snapshot, unavailable) = gather(
            Err(tonic::Status::unimplemented("not yet")),
            Err(tonic::Status::unimplemented("not yet")),
        )
        .unwrap();
        assert_eq!(snapshot, Snapshot::default());
        assert_eq!(unavailable, ["licensing", "billing"]);
    }

    #[test]
    fn a_failing_dependency_fails_the_run_with_its_reason() {
        let reason = gather(
            Err(tonic::Status::unavailable("connection refused")),
            Err(tonic::Status::unimplemented("not yet")),
        )
        .unwrap_err();
        assert!(reason.contains("licensing"), "{reason}");
        assert!(reason.contains("connection refused"), "{reason}");
    }
}
