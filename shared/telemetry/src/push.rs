//! OTLP push of the platform's metrics, beside the Prometheus endpoint,
//! when `OTEL_METRICS_EXPORTER` lists `otlp`.
//!
//! Everything is still recorded once, through the `metrics` facade: a
//! fan-out recorder hands each record to the Prometheus recorder and to
//! [`Bridge`], which keeps counters and gauges in atomics (read by the
//! OpenTelemetry SDK's observable instruments at each export) and records
//! histograms into SDK histograms with the Prometheus side's buckets. Only
//! catalogued metrics ([`CATALOG`]) are exported.
//!
//! Names follow OpenTelemetry: `rpc_server_call_duration_seconds` is
//! pushed as `rpc.server.call.duration` with unit `s`, counters lose their
//! `_total`, and the RPC labels are the conventions' `rpc.*` attributes.
//! A collector that writes Prometheus turns them back into the names the
//! endpoint serves, so one dashboard reads either path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::metrics::{CATALOG, Kind};

/// Words of a metric name that OpenTelemetry spells with an underscore.
const COMPOUND_WORDS: [&str; 7] = [
    "active_requests",
    "requests_per_rpc",
    "responses_per_rpc",
    "pending_requests",
    "wait_time",
    "status_code",
    "pool_name",
];

/// The OpenTelemetry name and unit of a catalogued (Prometheus) name.
pub fn otlp_name(prometheus: &str, kind: Kind) -> (String, Option<&'static str>) {
    let mut name = prometheus;
    if kind == Kind::Counter {
        name = name.strip_suffix("_total").unwrap_or(name);
    }
    let unit = match name.strip_suffix("_seconds") {
        Some(stripped) => {
            name = stripped;
            Some("s")
        }
        None => None,
    };
    (dotted(name), unit)
}

/// `rpc_server_call_duration` → `rpc.server.call.duration`, keeping the
/// conventions' compound words (`active_requests`, `wait_time`, …).
fn dotted(name: &str) -> String {
    let mut dotted = name.replace('_', ".");
    for word in COMPOUND_WORDS {
        dotted = dotted.replace(&word.replace('_', "."), word);
    }
    dotted
}

/// The attribute a label is pushed as: the RPC conventions' `rpc.*`
/// names; other labels as they are.
fn attribute(label: &str) -> String {
    if label.starts_with("rpc_") {
        dotted(label)
    } else {
        label.to_string()
    }
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|label| KeyValue::new(attribute(label.key()), label.value().to_string()))
        .collect()
}

/// Runs the scrape-time samplers at most once per export round (every
/// observable gauge's callback asks, the first one samples).
fn sample_for_export(last: &AtomicU64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64);
    let previous = last.load(Ordering::Relaxed);
    if now.saturating_sub(previous) >= 1_000
        && last
            .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        crate::metrics::run_samplers();
    }
}

/// The recorder half that feeds OpenTelemetry.
pub struct Bridge {
    registry: Arc<Registry<Key, AtomicStorage>>,
    histograms: Vec<(&'static str, opentelemetry::metrics::Histogram<f64>)>,
}

/// A histogram handle: one series' attributes on the SDK's instrument.
struct Series {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
    }
}

impl Bridge {
    /// Creates every catalogued instrument on `meter`.
    pub fn new(meter: &Meter) -> Self {
        let registry = Arc::new(Registry::atomic());
        let sampled_at = Arc::new(AtomicU64::new(0));
        let mut histograms = Vec::new();
        for &(name, kind, help) in CATALOG {
            let (otel_name, unit) = otlp_name(name, kind);
            // No unit is the empty unit.
            let unit = unit.unwrap_or_default();
            let registry = registry.clone();
            match kind {
                Kind::Counter => {
                    meter
                        .u64_observable_counter(otel_name)
                        .with_description(help)
                        .with_unit(unit)
                        .with_callback(move |observer| {
                            registry.visit_counters(|key, value| {
                                if key.name() == name {
                                    observer
                                        .observe(value.load(Ordering::Relaxed), &attributes(key));
                                }
                            });
                        })
                        .build();
                }
                Kind::Gauge => {
                    let sampled_at = sampled_at.clone();
                    meter
                        .f64_observable_gauge(otel_name)
                        .with_description(help)
                        .with_unit(unit)
                        .with_callback(move |observer| {
                            sample_for_export(&sampled_at);
                            registry.visit_gauges(|key, value| {
                                if key.name() == name {
                                    observer.observe(
                                        f64::from_bits(value.load(Ordering::Relaxed)),
                                        &attributes(key),
                                    );
                                }
                            });
                        })
                        .build();
                }
                Kind::Histogram { .. } => {
                    let histogram = meter
                        .f64_histogram(otel_name)
                        .with_description(help)
                        .with_unit(unit)
                        .with_boundaries(crate::metrics::buckets(name).to_vec())
                        .build();
                    histograms.push((name, histogram));
                }
            }
        }
        Self {
            registry,
            histograms,
        }
    }
}

impl metrics::Recorder for Bridge {
    // Help texts come from the catalog when the instruments are created.
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |counter| Counter::from_arc(counter.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |gauge| Gauge::from_arc(gauge.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match self.histograms.iter().find(|(name, _)| *name == key.name()) {
            Some((_, histogram)) => Histogram::from_arc(Arc::new(Series {
                histogram: histogram.clone(),
                attributes: attributes(key),
            })),
            None => Histogram::noop(),
        }
    }
}

/// Whether `OTEL_METRICS_EXPORTER` (a comma-separated list, the
/// specification's variable; default `prometheus`) asks for OTLP push.
pub fn requested() -> anyhow::Result<bool> {
    let Ok(value) = std::env::var("OTEL_METRICS_EXPORTER") else {
        return Ok(false);
    };
    let mut otlp = false;
    for exporter in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match exporter {
            "otlp" => otlp = true,
            "prometheus" | "none" => {}
            other => anyhow::bail!(
                "OTEL_METRICS_EXPORTER={value}: unknown exporter {other:?}, expected otlp, prometheus or none"
            ),
        }
    }
    Ok(otlp)
}

/// The meter provider pushing to the OTLP endpoint the environment names
/// (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`)
/// every `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60 s), under the
/// resource traces use.
pub fn meter_provider(resource: opentelemetry_sdk::Resource) -> anyhow::Result<SdkMeterProvider> {
    use opentelemetry_otlp::WithTonicConfig as _;
    let endpoint = [
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .into_iter()
    .find_map(|variable| {
        std::env::var(variable)
            .ok()
            .filter(|value| !value.is_empty())
            .map(|value| (variable, value))
    });
    let Some((variable, endpoint)) = endpoint else {
        anyhow::bail!(
            "OTEL_METRICS_EXPORTER=otlp: set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) to the collector"
        );
    };
    let mut exporter = opentelemetry_otlp::MetricExporter::builder().with_tonic();
    if endpoint.starts_with("https://") {
        exporter = exporter.with_tls_config(crate::otlp_tls(variable, &endpoint)?);
    }
    let exporter = exporter
        .build()
        .map_err(|error| anyhow::anyhow!("{variable} ({endpoint}): {error}"))?;
    Ok(SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(exporter)
        .build())
}

/// The bridge feeding `provider`'s meter.
pub fn bridge(provider: &SdkMeterProvider) -> Bridge {
    Bridge::new(&provider.meter("estate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions_and_map_back_to_the_prometheus_names() {
        let cases = [
            (
                "rpc_server_call_duration_seconds",
                "rpc.server.call.duration",
                Some("s"),
            ),
            (
                "rpc_client_active_requests",
                "rpc.client.active_requests",
                None,
            ),
            (
                "rpc_server_requests_per_rpc",
                "rpc.server.requests_per_rpc",
                None,
            ),
            (
                "db_client_connection_wait_time_seconds",
                "db.client.connection.wait_time",
                Some("s"),
            ),
            (
                "db_client_connection_pending_requests",
                "db.client.connection.pending_requests",
                None,
            ),
            ("estate_sync_runs_total", "estate.sync.runs", None),
        ];
        for (prometheus, otel, unit) in cases {
            let kind = CATALOG
                .iter()
                .find(|(name, _, _)| *name == prometheus)
                .map(|(_, kind, _)| *kind)
                .unwrap();
            assert_eq!(otlp_name(prometheus, kind), (otel.to_string(), unit));
        }
        // What a collector's Prometheus translation does (dots to
        // underscores, the unit's suffix, `_total` on counters) gives back
        // every catalogued name.
        for &(name, kind, _) in CATALOG {
            let (otel, unit) = otlp_name(name, kind);
            let mut back = otel.replace('.', "_");
            if unit == Some("s") {
                back.push_str("_seconds");
            }
            if kind == Kind::Counter {
                back.push_str("_total");
            }
            assert_eq!(back, name);
        }
        assert_eq!(attribute("rpc_grpc_status_code"), "rpc.grpc.status_code");
        assert_eq!(attribute("pool_name"), "pool_name");
    }
}
