//! Telemetry for every binary: `tracing` logs (text for people, JSON in
//! containers), optional OpenTelemetry trace export over OTLP/gRPC when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace-context propagation
//! helpers so one trace follows a call gateway → service → service.

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

/// Keeps the trace exporter alive; dropping it flushes pending spans, so
/// hold it until the process has finished serving.
#[must_use = "dropping the guard stops trace export"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("failed to flush traces: {error}");
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` filters (default `info`);
/// OTLP export is enabled when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Must be
/// called from within a Tokio runtime (the OTLP exporter needs one).
pub fn init(service_name: &'static str, format: LogFormat) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt_layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .flatten_event(true)
            .boxed(),
    };

    let provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
            if endpoint.starts_with("https://") {
                builder = builder.with_tls_config(otlp_tls(&endpoint)?);
            }
            let exporter = builder.build().map_err(|error| {
                anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT ({endpoint}): {error}")
            })?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(service_name)
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        _ => None,
    };
    let otel_layer = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name)));

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

/// TLS for an `https://` collector: the PEM CA of
/// `OTEL_EXPORTER_OTLP_CERTIFICATE` (the specification's variable) when
/// set, else the system's roots.
fn otlp_tls(endpoint: &str) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    let host = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| {
            uri.host()
                .map(|host| host.trim_matches(['[', ']']).to_string())
        })
        .ok_or_else(|| anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT ({endpoint}): no host"))?;
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

struct HeaderExtractor<'a>(&'a http::HeaderMap);

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

/// Makes `span` a child of the W3C trace context carried by `headers`
/// (`traceparent`/`tracestate`), when there is one.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let context = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    });
    // Fails only when no OpenTelemetry layer is installed: nothing to link.
    let _ = span.set_parent(context);
}

/// Writes the current span's trace context into outgoing `headers`, so the
/// next hop joins the same trace.
pub fn inject_current_context(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}
