//! Metrics: recorded through the `metrics` facade anywhere in the
//! platform, rendered as Prometheus text by `metrics-exporter-prometheus`
//! on a separate admin port per process (never through the gateway).
//!
//! Gauges that describe a state (pool sizes, queue depths) are sampled
//! when the endpoint is scraped, by the samplers registered with
//! [`on_scrape`], so they are never stale and cost nothing between scrapes.

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

type Sampler = Box<dyn Fn() + Send + Sync>;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static SAMPLERS: Mutex<Vec<Sampler>> = Mutex::new(Vec::new());

/// Installs the process's recorder (once; later calls return the first
/// handle). Until it is installed, recording anything is a no-op.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = builder()?.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_ok() {
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
        .set_buckets_for_metric(Matcher::Suffix("_per_rpc".into()), &MESSAGE_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_size".into()), &SIZE_BUCKETS)?)
}

/// Registers `sampler`, run before every scrape to set state gauges.
pub fn on_scrape(sampler: impl Fn() + Send + Sync + 'static) {
    SAMPLERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Box::new(sampler));
}

/// The Prometheus text of everything recorded so far.
pub fn render(handle: &PrometheusHandle) -> String {
    for sampler in SAMPLERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        sampler();
    }
    handle.render()
}

/// Serves `GET /metrics` (Prometheus text) on `listener` until the
/// process ends; any other path is 404.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    let handle = Arc::new(handle);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
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

/// Help texts and units of the platform's metrics.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    for side in ["server", "client"] {
        let (name, help): (&'static str, &'static str) = match side {
            "server" => (
                "rpc_server_call_duration_seconds",
                "Duration of inbound RPCs, by service, method and gRPC status code",
            ),
            _ => (
                "rpc_client_call_duration_seconds",
                "Duration of outbound (internal) RPCs, by service, method and gRPC status code",
            ),
        };
        describe_histogram!(name, Unit::Seconds, help);
    }
    describe_gauge!("rpc_server_active_requests", "Inbound RPCs in flight");
    describe_gauge!("rpc_client_active_requests", "Outbound RPCs in flight");
    describe_histogram!(
        "rpc_server_requests_per_rpc",
        "Request messages per inbound RPC"
    );
    describe_histogram!(
        "rpc_server_responses_per_rpc",
        "Response messages per inbound RPC"
    );
    describe_histogram!(
        "rpc_client_requests_per_rpc",
        "Request messages per outbound RPC"
    );
    describe_histogram!(
        "rpc_client_responses_per_rpc",
        "Response messages per outbound RPC"
    );
    describe_counter!(
        "estate_gateway_credential_cache_total",
        "Credential lookups at the gateway, by result (hit, miss)"
    );
    describe_counter!(
        "estate_gateway_auth_failures_total",
        "Calls the gateway refused before routing, by reason"
    );
    describe_gauge!(
        "estate_dependency_up",
        "Whether a dependency of a server can serve (1 yes, 0 no): its database, the \
         customers service, and for the gateway each backend"
    );
    describe_gauge!(
        "estate_client_endpoints",
        "Replicas an internal channel knows, by target service and state (ready, set_aside)"
    );
    describe_gauge!(
        "db_client_connection_count",
        "Pooled database connections, by pool and state (idle, used)"
    );
    describe_gauge!("db_client_connection_max", "Most connections a pool opens");
    describe_gauge!(
        "db_client_connection_pending_requests",
        "Calls waiting for a pooled database connection"
    );
    describe_histogram!(
        "db_client_connection_wait_time_seconds",
        Unit::Seconds,
        "Time taken to get a connection from the pool"
    );
    describe_counter!(
        "db_client_connection_timeouts_total",
        "Connection requests that gave up waiting for the pool"
    );
    describe_counter!(
        "db_client_errors_total",
        "Failed database statements, by SQLSTATE class"
    );
}
