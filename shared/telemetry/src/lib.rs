//! Telemetry for every binary: `tracing` logs (text for people, JSON in
//! containers, with trace ids), optional OpenTelemetry trace export over
//! OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, W3C trace-context
//! propagation so one trace follows a call gateway → service → service,
//! Prometheus metrics ([`metrics`]) and the per-call observation every
//! server and internal client shares ([`rpc`]).

pub mod logs;
pub mod metrics;
pub mod push;
pub mod rpc;
pub mod sampling;

use std::io::IsTerminal as _;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?}, expected text or json"
            )),
        }
    }
}

/// Keeps the trace exporters alive; dropping it flushes pending spans, so
/// hold it until the process has finished serving.
#[must_use = "dropping the guard stops trace export"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    providers: Vec<SdkTracerProvider>,
    meters: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        for provider in self.providers.drain(..) {
            if let Err(error) = provider.shutdown() {
                eprintln!("failed to flush traces: {error}");
            }
        }
        if let Some(meters) = self.meters.take()
            && let Err(error) = meters.shutdown()
        {
            eprintln!("failed to push the last metrics: {error}");
        }
    }
}

/// Which services a process runs, for the names its traces report under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// One service (`estate-billing`, …): every span is that service's.
    One(&'static str),
    /// The whole platform in one process (`estate all`): each span reports
    /// under the service whose server or worker it belongs to.
    All,
}

/// The services of the platform: (the name traces report under, the
/// crate whose spans are its own, the target its request spans use).
pub const SERVICES: [(&str, &str, &str); 4] = [
    ("estate-gateway", "estate_gateway", "estate::gateway"),
    ("estate-customers", "estate_customers", "estate::customers"),
    ("estate-licensing", "estate_licensing", "estate::licensing"),
    ("estate-billing", "estate_billing", "estate::billing"),
];

/// Installs the global subscriber. `RUST_LOG` filters (default `info`);
/// OTLP export is enabled when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, under
/// `OTEL_SERVICE_NAME` when set, else the service's own name, with
/// `OTEL_RESOURCE_ATTRIBUTES` added. Metrics are pushed over OTLP too when
/// `OTEL_METRICS_EXPORTER` lists `otlp` ([`push`]). JSON lines inside a traced call carry
/// its `trace_id` and `span_id`. Must be called from within a Tokio
/// runtime (the OTLP exporter needs one).
pub fn init(services: Services, format: LogFormat) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = level_filter(std::env::var("RUST_LOG").ok().as_deref());
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.is_empty());
    sampling::set(sampling::sampler_from_env(endpoint.is_some())?);
    let (layers, mut guard) = layers(services, format, std::io::stdout, endpoint.as_deref())?;
    if push::requested()? {
        let name = match services {
            Services::One(name) => name,
            Services::All => "estate",
        };
        let meters = push::meter_provider(resource(name))?;
        metrics::install_with(Some(push::bridge(&meters)))?;
        guard.meters = Some(meters);
    }
    // The level filter sits above sampling, so a callsite it turns off
    // (libraries' trace spans) stays off for good instead of being asked
    // about at every span sampling might want to see.
    tracing_subscriber::registry()
        .with(sampling::Sampling)
        .with(filter)
        .with(layers)
        .try_init()?;
    Ok(guard)
}

/// The level filter `RUST_LOG` asks for (default `info`; unreadable
/// directives fall back to it). Plain `target=level` directives become a
/// [`Targets`](tracing_subscriber::filter::Targets) filter, decided once
/// per callsite; only directives on spans or fields (`[span{field}]=…`)
/// need an `EnvFilter`, which takes a shared lock on every span entered
/// and left to track them.
pub fn level_filter<S>(directives: Option<&str>) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let info = || {
        tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::INFO)
            .boxed()
    };
    match directives.map(str::trim) {
        None | Some("") => info(),
        Some(directives) if !directives.contains(['[', '{']) => directives
            .parse::<tracing_subscriber::filter::Targets>()
            .map_or_else(|_| info(), Layer::boxed),
        Some(directives) => EnvFilter::try_new(directives).map_or_else(|_| info(), Layer::boxed),
    }
}

/// Layers of a subscriber over `S`.
pub type Layers<S> = Vec<Box<dyn Layer<S> + Send + Sync>>;

/// What the OpenTelemetry layer sees: spans, and only the events a trace
/// should carry (warnings and errors). Info lines such as the access log
/// are logs, not span events: recording each as an event on its span
/// cost CPU on every call for nothing the logs do not already hold.
fn spans_and_warnings()
-> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|metadata| {
        metadata.is_span() || *metadata.level() <= tracing::Level::WARN
    })
}

/// The layers of a process's subscriber (below its level filter): log
/// lines written to `writer`, and OpenTelemetry spans, exported to
/// `endpoint` when given. Benchmarks build the same subscriber with it.
///
/// What a span costs is kept low, as every call opens several: JSON lines
/// see events only (the trace id links a line to its spans, so no span's
/// fields are formatted on the way), and spans carry no source location,
/// thread or busy/idle timing.
pub fn layers<S, W>(
    services: Services,
    format: LogFormat,
    writer: W,
    endpoint: Option<&str>,
) -> anyhow::Result<(Layers<S>, TelemetryGuard)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let mut layers: Layers<S> = Vec::new();
    match format {
        LogFormat::Text => layers.push(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stdout().is_terminal())
                .with_writer(writer)
                .boxed(),
        ),
        LogFormat::Json => layers.push(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                .event_format(logs::WithTraceIds(
                    tracing_subscriber::fmt::format()
                        .json()
                        .with_current_span(false)
                        .with_span_list(false)
                        .flatten_event(true),
                ))
                .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                    metadata.is_event()
                }))
                .boxed(),
        ),
    }

    // Spans are traced when they are exported, and in JSON logs (which
    // carry trace ids) even when they are not.
    let traced = endpoint.is_some() || format == LogFormat::Json;
    sampling::set_traced(traced);
    let mut providers = Vec::new();
    if traced {
        // Entering a span need not make its context OpenTelemetry's
        // current one (nothing here reads that; a call's context travels
        // by `inject_context`), which saves work on every poll of every
        // instrumented future. In a process running every service, it is
        // what starts a span with its own service's tracer, so it stays.
        let activate = services == Services::All;
        let otel_layer = |provider: &SdkTracerProvider, name: &'static str| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(name))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_context_activation(activate)
        };
        match services {
            Services::One(name) => {
                let provider = tracer_provider(name, endpoint)?;
                layers.push(
                    otel_layer(&provider, name)
                        .with_filter(tracing_subscriber::filter::FilterExt::and(
                            spans_and_warnings(),
                            sampling::SampledOnly,
                        ))
                        .boxed(),
                );
                providers.push(provider);
            }
            Services::All => {
                layers.push(logs::ServiceTagger.boxed());
                for (name, _, _) in SERVICES {
                    let provider = tracer_provider(name, endpoint)?;
                    layers.push(
                        otel_layer(&provider, name)
                            .with_filter(tracing_subscriber::filter::FilterExt::and(
                                tracing_subscriber::filter::FilterExt::and(
                                    logs::ServiceSpans { service: name },
                                    spans_and_warnings(),
                                ),
                                sampling::SampledOnly,
                            ))
                            .boxed(),
                    );
                    providers.push(provider);
                }
            }
        }
    }
    Ok((
        layers,
        TelemetryGuard {
            providers,
            meters: None,
        },
    ))
}

/// A tracer provider reporting as `service_name` (unless
/// `OTEL_SERVICE_NAME` names another), exporting to `endpoint` when set.
fn tracer_provider(
    service_name: &'static str,
    endpoint: Option<&str>,
) -> anyhow::Result<SdkTracerProvider> {
    // Sampling is decided once per call (`sampling`), and a span follows
    // its parent: the SDK must not apply OTEL_TRACES_SAMPLER a second time.
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource(service_name))
        .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
            opentelemetry_sdk::trace::Sampler::AlwaysOn,
        )));
    if let Some(endpoint) = endpoint {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
        if endpoint.starts_with("https://") {
            exporter = exporter.with_tls_config(otlp_tls("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)?);
        }
        let exporter = exporter.build().map_err(|error| {
            anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT ({endpoint}): {error}")
        })?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// What telemetry reports as its source: `service_name`, unless
/// `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names another (the
/// builder's detectors read both).
fn resource(service_name: &'static str) -> opentelemetry_sdk::Resource {
    let mut resource = opentelemetry_sdk::Resource::builder();
    let named_by_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|name| !name.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES")
            .is_ok_and(|attributes| attributes.contains("service.name="));
    if !named_by_env {
        resource = resource.with_service_name(service_name);
    }
    resource.build()
}

/// TLS for an `https://` collector (`endpoint`, the value of `variable`):
/// the PEM CA of `OTEL_EXPORTER_OTLP_CERTIFICATE` (the specification's
/// variable) when set, else the system's roots.
fn otlp_tls(variable: &str, endpoint: &str) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    let host = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| {
            uri.host()
                .map(|host| host.trim_matches(['[', ']']).to_string())
        })
        .ok_or_else(|| anyhow::anyhow!("{variable} ({endpoint}): no host"))?;
    let config = tonic::transport::ClientTlsConfig::new().domain_name(host);
    Ok(match std::env::var("OTEL_EXPORTER_OTLP_CERTIFICATE") {
        Ok(path) if !path.is_empty() => {
            let pem = std::fs::read(&path).map_err(|error| {
                anyhow::anyhow!("OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read {path}: {error}")
            })?;
            config.ca_certificate(tonic::transport::Certificate::from_pem(pem))
        }
        _ => config.with_native_roots(),
    })
}

pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Writes the current span's trace context into outgoing `headers`, so the
/// next hop joins the same trace.
pub fn inject_current_context(headers: &mut http::HeaderMap) {
    inject_context(&tracing::Span::current(), headers);
}

/// Writes `span`'s trace context into outgoing `headers`.
pub fn inject_context(span: &tracing::Span, headers: &mut http::HeaderMap) {
    // An unsampled call passes on its trace, not sampled. Otherwise the
    // span is entered first, so it is started by the layer that owns it
    // (in a process running every service, each has its own tracer);
    // asking for the context of a span never entered would start it with
    // the first layer's.
    let unsampled = span.id().as_ref().and_then(sampling::UnsampledIds::of);
    let context = match unsampled {
        Some(ids) => ids.context(),
        None => span.in_scope(|| span.context()),
    };
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Whether a subscriber filtered by `directives` records a
    /// `level` event at `target`.
    fn records(directives: Option<&str>, target: &str, level: tracing::Level) -> bool {
        let subscriber = tracing_subscriber::registry().with(super::level_filter(directives));
        tracing::subscriber::with_default(subscriber, || match (target, level) {
            ("estate_billing::api", tracing::Level::DEBUG) => {
                tracing::enabled!(target: "estate_billing::api", tracing::Level::DEBUG)
            }
            ("estate_billing::api", _) => {
                tracing::enabled!(target: "estate_billing::api", tracing::Level::INFO)
            }
            (_, tracing::Level::DEBUG) => {
                tracing::enabled!(target: "h2::codec", tracing::Level::DEBUG)
            }
            _ => tracing::enabled!(target: "h2::codec", tracing::Level::INFO),
        })
    }

    #[test]
    fn rust_log_directives_filter_as_documented() {
        const DEBUG: tracing::Level = tracing::Level::DEBUG;
        const INFO: tracing::Level = tracing::Level::INFO;
        let cases = [
            (None, "estate_billing::api", INFO, true),
            (None, "estate_billing::api", DEBUG, false),
            (Some(""), "h2::codec", INFO, true),
            (
                Some("estate_billing=debug,h2=warn"),
                "estate_billing::api",
                DEBUG,
                true,
            ),
            (
                Some("estate_billing=debug,h2=warn"),
                "h2::codec",
                INFO,
                false,
            ),
            (Some("warn"), "estate_billing::api", INFO, false),
            // Span directives need EnvFilter; the default level still holds.
            (Some("info,[grpc.request]=debug"), "h2::codec", INFO, true),
            (Some("info,[grpc.request]=debug"), "h2::codec", DEBUG, false),
            // Unreadable directives fall back to info.
            (Some("=nonsense=="), "estate_billing::api", INFO, true),
            (Some("=nonsense=="), "estate_billing::api", DEBUG, false),
        ];
        for (directives, target, level, expected) in cases {
            assert_eq!(
                records(directives, target, level),
                expected,
                "{directives:?} {target} {level}"
            );
        }
    }

    /// An unsampled call's server span is not OpenTelemetry's, yet its
    /// JSON lines carry its trace and span ids, and what it passes on is
    /// that trace, not sampled, with the caller's `tracestate`.
    #[test]
    fn an_unsampled_span_keeps_its_trace_without_an_opentelemetry_span() {
        use opentelemetry::trace::TraceContextExt as _;
        use std::sync::{Arc, Mutex};
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;

        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let (layers, _guard) = super::layers(
            super::Services::One("test"),
            super::LogFormat::Json,
            move || writer.clone(),
            None,
        )
        .unwrap();
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let subscriber = tracing_subscriber::registry()
            .with(super::sampling::Sampling)
            .with(layers);
        let mut incoming = http::HeaderMap::new();
        incoming.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
                .parse()
                .unwrap(),
        );
        incoming.insert("tracestate", "vendor=opaque".parse().unwrap());
        let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&super::HeaderExtractor(&incoming))
        });
        // Process-wide, as a process runs it: a formatter asking for the
        // current dispatcher from inside a scoped one is given none.
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        let mut outgoing = http::HeaderMap::new();
        let span = super::sampling::opening(false, || {
            tracing::info_span!("grpc.server", estate.sampled = false)
        });
        let ids = super::sampling::UnsampledIds::child_of(&caller);
        ids.clone().keep(&span);
        let otel_context = {
            let _entered = span.enter();
            tracing::info!(target: "estate::access", "unsampled call served");
            super::inject_current_context(&mut outgoing);
            span.context()
        };
        assert!(
            !otel_context.span().span_context().is_valid(),
            "the span is not OpenTelemetry's"
        );
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = text
            .lines()
            .find(|line| line.contains("unsampled call served"))
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| panic!("no line of the call: {text}"));
        assert_eq!(
            line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
            "{text}"
        );
        assert_eq!(line["span_id"], ids.span_id.to_string(), "{text}");
        assert_eq!(
            outgoing["traceparent"],
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-00", ids.span_id)
        );
        assert_eq!(outgoing["tracestate"], "vendor=opaque");
    }
}
