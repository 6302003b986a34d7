//! What observability costs: the same calls with metrics and tracing off
//! and on, in one run, rounds alternating (off-on, on-off, …) so drift on
//! a shared machine hits both sides alike.
//!
//! "On" is what a production process runs: the Prometheus recorder, and
//! the subscriber `ESTATE_LOG_FORMAT=json` installs (`estate_telemetry::
//! layers`: info level, one JSON access-log line per call written here to
//! a sink, OpenTelemetry spans so lines carry trace ids, sampling as
//! `OTEL_TRACES_SAMPLER` says: set it to trace as an exporting process
//! would; spans are built but not exported, as export happens off the
//! request path in batches). "Off" is the same process with both switched
//! off at their entry points.
//!
//! Each line gives throughput off and on, and this process's CPU time per
//! call (client, gateway and services; PostgreSQL runs apart and does the
//! same work either way): `off/on` of CPU per call is the throughput the
//! CPU allows with observability on, steadier than calls per second when
//! other work shares the machine.
//!
//! Run: `cargo bench -p estate-e2e --bench observability_overhead`
//! (needs DATABASE_URL or a server on 127.0.0.1:5432, like the tests).
//! Knobs: ESTATE_LOAD_SECONDS (per side, default 6),
//! ESTATE_LOAD_CONCURRENCY (default 32), ESTATE_OBSERVE_ONLY (`metrics` or
//! `tracing`: switch only that one; `nothing`: switch neither, to see the
//! comparison's own noise), ESTATE_OBSERVE_FIXED (`on` or `off`: that
//! state on both sides, to profile one side alone),
//! OTEL_TRACES_SAMPLER(_ARG).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use estate_e2e::{Platform, with_key, with_token};
use estate_proto::billing::ListPartnersRequest;
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::common::OrganizationKind;
use estate_proto::customers::GetOrganizationRequest;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Rounds per side: an even number, so each side runs first as often.
const ROUNDS: u32 = 4;

/// Whether metrics and tracing record (`ESTATE_OBSERVE_ONLY=metrics` or
/// `tracing` keeps the other off, to see which costs what).
static ON: AtomicBool = AtomicBool::new(false);
static METRICS: AtomicBool = AtomicBool::new(true);
static TRACING: AtomicBool = AtomicBool::new(true);

fn metrics_on() -> bool {
    ON.load(Ordering::Relaxed) && METRICS.load(Ordering::Relaxed)
}

/// The Prometheus recorder, bypassed while off. Handles are registered
/// once and kept (servers cache theirs), so each one checks the switch
/// when it records.
struct Switch(metrics_exporter_prometheus::PrometheusRecorder);

/// A handle that records only while metrics are on.
struct Switched<T>(T);

impl CounterFn for Switched<Counter> {
    fn increment(&self, value: u64) {
        if metrics_on() {
            self.0.increment(value);
        }
    }
    fn absolute(&self, value: u64) {
        if metrics_on() {
            self.0.absolute(value);
        }
    }
}

impl GaugeFn for Switched<Gauge> {
    fn increment(&self, value: f64) {
        if metrics_on() {
            self.0.increment(value);
        }
    }
    fn decrement(&self, value: f64) {
        if metrics_on() {
            self.0.decrement(value);
        }
    }
    fn set(&self, value: f64) {
        if metrics_on() {
            self.0.set(value);
        }
    }
}

impl HistogramFn for Switched<Histogram> {
    fn record(&self, value: f64) {
        if metrics_on() {
            self.0.record(value);
        }
    }
}

impl Recorder for Switch {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Switched(self.0.register_counter(key, metadata))))
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Switched(self.0.register_gauge(key, metadata))))
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Switched(self.0.register_histogram(key, metadata))))
    }
}

fn install() -> anyhow::Result<estate_telemetry::TelemetryGuard> {
    let recorder = estate_telemetry::metrics::builder()?.build_recorder();
    metrics::set_global_recorder(Switch(recorder))
        .map_err(|_| anyhow::anyhow!("a recorder is installed"))?;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    // The subscriber `estate billing` (say) runs with ESTATE_LOG_FORMAT=json
    // at the default level, writing to a sink instead of stdout.
    let (layers, guard) = estate_telemetry::layers(
        estate_telemetry::Services::One("estate-bench"),
        estate_telemetry::LogFormat::Json,
        std::io::sink,
        None,
    )?;
    let switch = tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
        ON.load(Ordering::Relaxed) && TRACING.load(Ordering::Relaxed)
    });
    let exporting = std::env::var("OTEL_TRACES_SAMPLER").is_ok();
    estate_telemetry::sampling::set(estate_telemetry::sampling::sampler_from_env(exporting)?);
    // As `estate_telemetry::init` stacks them: sampling, the level filter,
    // then the layers (behind the benchmark's switch).
    tracing_subscriber::registry()
        .with(estate_telemetry::sampling::Sampling)
        .with(estate_telemetry::level_filter(None))
        .with(layers.with_filter(switch))
        .try_init()?;
    Ok(guard)
}

/// CPU time this process has used so far (user + system), from
/// `/proc/self/stat` (in clock ticks of 10 ms; rounds last seconds).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Calls of `concurrency` callers repeating `call` for `duration`: how
/// many, in how long, using how much of this process's CPU.
async fn round<F, Fut>(concurrency: usize, duration: Duration, call: F) -> (u64, Duration, Duration)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let cpu = cpu_time();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let call = call.clone();
        workers.spawn(async move {
            let mut calls = 0;
            while Instant::now() < deadline {
                call().await;
                calls += 1;
            }
            calls
        });
    }
    let mut calls = 0;
    while let Some(done) = workers.join_next().await {
        calls += done.expect("worker");
    }
    (calls, started.elapsed(), cpu_time().saturating_sub(cpu))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "--list") {
        return Ok(()); // `cargo test --benches` asks for a listing; nothing to list.
    }
    let seconds: u64 = std::env::var("ESTATE_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let concurrency: usize = std::env::var("ESTATE_LOAD_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    match std::env::var("ESTATE_OBSERVE_ONLY").as_deref() {
        Ok("metrics") => TRACING.store(false, Ordering::Relaxed),
        Ok("tracing") => METRICS.store(false, Ordering::Relaxed),
        // Both sides alike: what the comparison reads when nothing differs.
        Ok("nothing") => {
            METRICS.store(false, Ordering::Relaxed);
            TRACING.store(false, Ordering::Relaxed);
        }
        _ => {}
    }
    let _provider = install()?;
    let platform = Platform::spawn_with_credential_cache(Duration::from_secs(3)).await?;
    let organization = platform
        .create_organization("", OrganizationKind::Distributor, "Load")
        .await?;
    let distributor = organization.name.replace("organizations/", "distributors/");
    let direct = platform.channel_to(&platform.customers).await?;
    let gateway = platform.gateway_channel().await?;
    let token = platform.admin_token();
    let key = platform.admin_key.clone();

    let backend = {
        let (channel, name, token) = (direct, organization.name.clone(), token);
        move || {
            let mut client = OrganizationsServiceClient::new(channel.clone());
            let request = with_token(GetOrganizationRequest { name: name.clone() }, &token);
            async move {
                client
                    .get_organization(request)
                    .await
                    .expect("call succeeds");
            }
        }
    };
    let through_gateway = {
        let (channel, name, key) = (gateway.clone(), organization.name.clone(), key.clone());
        move || {
            let mut client = OrganizationsServiceClient::new(channel.clone());
            let request = with_key(GetOrganizationRequest { name: name.clone() }, &key);
            async move {
                client
                    .get_organization(request)
                    .await
                    .expect("call succeeds");
            }
        }
    };
    let three_services = {
        let (channel, parent, key) = (gateway, distributor, key);
        move || {
            let mut client = PartnersServiceClient::new(channel.clone());
            let request = with_key(
                ListPartnersRequest {
                    parent: parent.clone(),
                    ..Default::default()
                },
                &key,
            );
            async move {
                client.list_partners(request).await.expect("call succeeds");
            }
        }
    };

    println!("{concurrency} callers, {seconds}s per side, {ROUNDS} rounds each, order alternating");
    println!(
        "{:>38} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
        "path", "off req/s", "on req/s", "on/off", "off µs", "on µs", "off/on"
    );
    let per_round = Duration::from_secs(seconds) / ROUNDS;
    // ESTATE_OBSERVE_FIXED=on|off keeps one state on both sides (to
    // profile one side alone).
    let fixed = std::env::var("ESTATE_OBSERVE_FIXED")
        .ok()
        .map(|state| state == "on");
    macro_rules! compare {
        ($label:expr, $call:expr) => {{
            // Warm-up, both sides.
            for on in [false, true] {
                ON.store(on, Ordering::Relaxed);
                round(4, Duration::from_millis(500), $call.clone()).await;
            }
            let zero = (0, Duration::ZERO, Duration::ZERO);
            let (mut off, mut on) = (zero, zero);
            // Off-on, on-off, …: neither side always runs second (after
            // the other has warmed caches, or into a periodic refresh).
            for pair in 0..ROUNDS {
                let order = if pair % 2 == 0 {
                    [false, true]
                } else {
                    [true, false]
                };
                for state in order {
                    ON.store(fixed.unwrap_or(state), Ordering::Relaxed);
                    let (calls, elapsed, cpu) = round(concurrency, per_round, $call.clone()).await;
                    let total = if state { &mut on } else { &mut off };
                    *total = (total.0 + calls, total.1 + elapsed, total.2 + cpu);
                }
            }
            let rps = |(calls, elapsed, _): (u64, Duration, Duration)| {
                calls as f64 / elapsed.as_secs_f64()
            };
            // CPU per call: steadier than throughput on a shared machine,
            // and what throughput follows when the CPU is the limit.
            let cpu_per_call = |(calls, _, cpu): (u64, Duration, Duration)| {
                cpu.as_secs_f64() * 1e6 / calls.max(1) as f64
            };
            println!(
                "{:>38} {:>9.0} {:>9.0} {:>6.1}% {:>9.1} {:>9.1} {:>6.1}%",
                $label,
                rps(off),
                rps(on),
                100.0 * rps(on) / rps(off),
                cpu_per_call(off),
                cpu_per_call(on),
                100.0 * cpu_per_call(off) / cpu_per_call(on),
            );
        }};
    }
    compare!("customers direct (GetOrganization)", backend);
    compare!("gateway → customers (GetOrganization)", through_gateway);
    compare!("gateway → billing → customers (List)", three_services);
    ON.store(false, Ordering::Relaxed);
    platform.shutdown().await?;
    Ok(())
}
