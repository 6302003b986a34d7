//! Metrics: recorded through the `metrics` facade anywhere in the
//! platform, rendered as Prometheus text by `metrics-exporter-prometheus`
//! on a separate admin port per process (never through the gateway).
//!
//! The same metrics can be pushed over OTLP too ([`crate::push`]).
//!
//! Gauges that describe a state (pool sizes, queue depths) are sampled
//! when the endpoint is scraped, by the samplers registered with
//! [`sample_while`], so they are never stale and cost nothing between scrapes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Buckets (seconds) of every duration histogram: 1 ms to 5 min.
const DURATION_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Buckets of message counts per call.
const MESSAGE_BUCKETS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];
/// Buckets of sizes counted in rows or computers.
const SIZE_BUCKETS: [f64; 9] = [
    10.0,
    100.0,
    1_000.0,
    5_000.0,
    10_000.0,
    50_000.0,
    100_000.0,
    500_000.0,
    1_000_000.0,
];

/// Samples state gauges; false once what it samples is gone.
type Sampler = Box<dyn Fn() -> bool + Send + Sync>;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static SAMPLERS: Mutex<Vec<Sampler>> = Mutex::new(Vec::new());

/// Installs the process's recorder (once; later calls return the first
/// handle). Until it is installed, recording anything is a no-op.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    install_with(None)
}

/// Installs the process's recorder, also feeding `push` (OTLP) when
/// given; once, like [`install`].
pub fn install_with(push: Option<crate::push::Bridge>) -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        if push.is_some() {
            anyhow::bail!(
                "metrics were installed before OTLP push was set up: nothing would be pushed"
            );
        }
        return Ok(handle.clone());
    }
    let recorder = builder()?.build_recorder();
    let handle = recorder.handle();
    let installed = match push {
        Some(push) => metrics::set_global_recorder(
            metrics_util::layers::FanoutBuilder::default()
                .add_recorder(recorder)
                .add_recorder(push)
                .build(),
        )
        .is_ok(),
        None => metrics::set_global_recorder(recorder).is_ok(),
    };
    if installed {
        let _ = HANDLE.set(handle.clone());
        describe();
        Ok(handle)
    } else {
        HANDLE
            .get()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed"))
    }
}

/// The Prometheus exporter configured with the platform's buckets; for a
/// recorder of one's own (benchmarks).
pub fn builder() -> anyhow::Result<PrometheusBuilder> {
    Ok(PrometheusBuilder::new()
        .set_buckets(&DURATION_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix(MESSAGES.into()), &MESSAGE_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix(SIZES.into()), &SIZE_BUCKETS)?)
}

/// Suffixes of the histograms that count messages and sizes.
const MESSAGES: &str = "_per_rpc";
const SIZES: &str = "_size";

/// The buckets of histogram `name` (as [`builder`] sets them).
pub(crate) fn buckets(name: &str) -> &'static [f64] {
    if name.ends_with(MESSAGES) {
        &MESSAGE_BUCKETS
    } else if name.ends_with(SIZES) {
        &SIZE_BUCKETS
    } else {
        &DURATION_BUCKETS
    }
}

/// Registers `sample`, run on `owner` before every scrape to set state
/// gauges, for as long as `owner` lives (the sampler holds it weakly and
/// is dropped with it).
pub fn sample_while<T: Send + Sync + 'static>(
    owner: &Arc<T>,
    sample: impl Fn(&T) + Send + Sync + 'static,
) {
    let owner = Arc::downgrade(owner);
    SAMPLERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Box::new(move || match owner.upgrade() {
            Some(owner) => {
                sample(&owner);
                true
            }
            None => false,
        }));
}

/// The Prometheus text of everything recorded so far.
pub fn render(handle: &PrometheusHandle) -> String {
    run_samplers();
    handle.render()
}

/// Sets the state gauges (before a scrape or a push).
pub(crate) fn run_samplers() {
    SAMPLERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|sampler| sampler());
}

/// Serves `GET /metrics` (Prometheus text) on `listener` until the
/// process ends; any other path is 404.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    let handle = Arc::new(handle);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let handle = handle.clone();
                async move {
                    let response = if request.uri().path() == "/metrics" {
                        hyper::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                            .body(Full::new(Bytes::from(render(&handle))))
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"metrics are at /metrics\n")))
                    };
                    Ok::<_, Infallible>(response.unwrap_or_default())
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `address` (the value of `setting`) and serves metrics there in
/// the background; returns the bound address.
pub async fn listen(setting: &str, address: SocketAddr) -> anyhow::Result<SocketAddr> {
    let handle = install()?;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("{setting}={address}: cannot listen: {error}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, handle));
    Ok(bound)
}

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A histogram; `seconds` when it measures time.
    Histogram {
        seconds: bool,
    },
}

/// Every metric the platform exports (Prometheus names), with its kind
/// and help. Dashboards and alert rules may query only these (a test
/// checks `deploy/observability/`), and nothing is recorded outside it.
pub const CATALOG: &[(&str, Kind, &str)] = &[
    // RPCs (OpenTelemetry RPC conventions; labels rpc_system, rpc_service,
    // rpc_method, rpc_grpc_status_code, and server or peer).
    (
        "rpc_server_call_duration_seconds",
        Kind::Histogram { seconds: true },
        "Duration of inbound RPCs, by service, method and gRPC status code; its count is the request count",
    ),
    (
        "rpc_client_call_duration_seconds",
        Kind::Histogram { seconds: true },
        "Duration of outbound (internal) RPCs, by service, method and gRPC status code",
    ),
    (
        "rpc_server_active_requests",
        Kind::Gauge,
        "Inbound RPCs in flight",
    ),
    (
        "rpc_client_active_requests",
        Kind::Gauge,
        "Outbound RPCs in flight",
    ),
    (
        "rpc_server_requests_per_rpc",
        Kind::Histogram { seconds: false },
        "Request messages per inbound RPC",
    ),
    (
        "rpc_server_responses_per_rpc",
        Kind::Histogram { seconds: false },
        "Response messages per inbound RPC",
    ),
    (
        "rpc_client_requests_per_rpc",
        Kind::Histogram { seconds: false },
        "Request messages per outbound RPC",
    ),
    (
        "rpc_client_responses_per_rpc",
        Kind::Histogram { seconds: false },
        "Response messages per outbound RPC",
    ),
    // The gateway and internal channels.
    (
        "estate_gateway_credential_cache_total",
        Kind::Counter,
        "Credential lookups at the gateway, by result (hit, miss)",
    ),
    (
        "estate_gateway_auth_failures_total",
        Kind::Counter,
        "Calls the gateway refused before routing, by reason",
    ),
    (
        "estate_dependency_up",
        Kind::Gauge,
        "Whether a dependency of a server can serve (1 yes, 0 no): its database, the customers service, and for the gateway each backend",
    ),
    (
        "estate_client_endpoints",
        Kind::Gauge,
        "Replicas an internal channel knows, by target service and state (ready, set_aside)",
    ),
    // Database (OpenTelemetry database-client conventions; label pool_name).
    (
        "db_client_connection_count",
        Kind::Gauge,
        "Pooled database connections, by pool and state (idle, used)",
    ),
    (
        "db_client_connection_max",
        Kind::Gauge,
        "Most connections a pool opens",
    ),
    (
        "db_client_connection_pending_requests",
        Kind::Gauge,
        "Calls waiting for a pooled database connection",
    ),
    (
        "db_client_connection_wait_time_seconds",
        Kind::Histogram { seconds: true },
        "Time taken to get a connection from the pool",
    ),
    (
        "db_client_connection_timeouts_total",
        Kind::Counter,
        "Connection requests that gave up waiting for the pool",
    ),
    (
        "db_client_errors_total",
        Kind::Counter,
        "Failed database statements, by SQLSTATE class",
    ),
    // Compliance (licensing).
    (
        "estate_compliance_runs_total",
        Kind::Counter,
        "Compliance runs ended, by trigger and outcome",
    ),
    (
        "estate_compliance_run_duration_seconds",
        Kind::Histogram { seconds: true },
        "Duration of compliance runs, by trigger and outcome",
    ),
    (
        "estate_compliance_phase_duration_seconds",
        Kind::Histogram { seconds: true },
        "Duration of a compliance run's phases (read, compute, store)",
    ),
    (
        "estate_compliance_estate_size",
        Kind::Histogram { seconds: false },
        "Computers in the estates calculated",
    ),
    (
        "estate_compliance_scheduler_lag_seconds",
        Kind::Gauge,
        "How late the most overdue customer's scheduled calculation is",
    ),
    (
        "estate_compliance_scheduler_due",
        Kind::Gauge,
        "Customers due for a scheduled calculation at the last round",
    ),
    // Ingestion (licensing).
    (
        "estate_ingest_rows_total",
        Kind::Counter,
        "Inventory records stored, by kind",
    ),
    // Synchronization (customers).
    (
        "estate_sync_runs_total",
        Kind::Counter,
        "Sync runs ended, by outcome",
    ),
    (
        "estate_sync_run_duration_seconds",
        Kind::Histogram { seconds: true },
        "Duration of sync runs, by outcome",
    ),
    (
        "estate_sync_queue_depth",
        Kind::Gauge,
        "Sync runs queued and running",
    ),
    // Billing.
    (
        "estate_billing_auto_submissions_total",
        Kind::Counter,
        "Usage reports auto-submitted when overdue",
    ),
    (
        "estate_billing_auto_submission_failures_total",
        Kind::Counter,
        "Rounds of auto-submission that failed",
    ),
    (
        "estate_billing_usage_reports",
        Kind::Gauge,
        "Usage reports by status",
    ),
    (
        "estate_billing_usage_report_saves_total",
        Kind::Counter,
        "Usage reports saved, by the status saved",
    ),
];

/// Help texts and units of the platform's metrics.
fn describe() {
    for &(name, kind, help) in CATALOG {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram { seconds: true } => {
                metrics::describe_histogram!(name, metrics::Unit::Seconds, help)
            }
            Kind::Histogram { seconds: false } => metrics::describe_histogram!(name, help),
        }
    }
}

/// The catalog's name of a Prometheus series name (`…_bucket`, `…_sum`,
/// `…_count` are a histogram's).
pub fn base_name(series: &str) -> &str {
    ["_bucket", "_count", "_sum"]
        .iter()
        .find_map(|suffix| series.strip_suffix(suffix))
        .filter(|base| CATALOG.iter().any(|(name, _, _)| name == base))
        .unwrap_or(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels whose names look like metrics'.
    const LABELS: [&str; 4] = [
        "rpc_system",
        "rpc_service",
        "rpc_method",
        "rpc_grpc_status_code",
    ];

    /// The metric names `text` (a dashboard, alert rules) mentions.
    fn mentioned(text: &str) -> std::collections::BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| {
                ["rpc_", "db_client_", "estate_"]
                    .iter()
                    .any(|prefix| word.starts_with(prefix))
                    && !LABELS.contains(word)
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn dashboards_and_alerts_query_only_exported_metrics() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/observability");
        let dashboard = std::fs::read_to_string(root.join("grafana-dashboard.json")).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
        assert!(
            parsed["panels"]
                .as_array()
                .is_some_and(|panels| panels.len() >= 8)
        );
        let rules = std::fs::read_to_string(root.join("alert-rules.yaml")).unwrap();
        let mut queried = mentioned(&dashboard);
        queried.extend(mentioned(&rules));
        assert!(queried.len() >= 12, "{queried:?}");
        for metric in &queried {
            let base = base_name(metric);
            assert!(
                CATALOG.iter().any(|(name, _, _)| *name == base),
                "deploy/observability queries {metric}, which no service exports"
            );
        }
        // And the dashboards cover the golden signals of each area.
        for needed in [
            "rpc_server_call_duration_seconds_count",
            "rpc_server_call_duration_seconds_bucket",
            "db_client_connection_pending_requests",
            "estate_compliance_phase_duration_seconds_bucket",
            "estate_compliance_scheduler_lag_seconds",
            "estate_sync_runs_total",
        ] {
            assert!(queried.contains(needed), "nothing queries {needed}");
        }
    }

    #[test]
    fn histogram_series_map_to_their_metric() {
        assert_eq!(
            base_name("rpc_server_call_duration_seconds_bucket"),
            "rpc_server_call_duration_seconds"
        );
        assert_eq!(
            base_name("estate_sync_runs_total"),
            "estate_sync_runs_total"
        );
        assert_eq!(base_name("unknown_count"), "unknown_count");
    }
}
