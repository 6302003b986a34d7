//! What a test sees of the telemetry its own thread produces: the spans
//! opened (with their fields as last recorded) and every gauge reading.
//! Both are captured for the calling thread only, so tests running at
//! once on other threads stay apart; a `#[tokio::test]` runtime runs the
//! servers it spawns on that thread too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A span as opened, with its fields (values as their `Debug` text).
#[derive(Debug, Clone)]
pub struct SpanSeen {
    pub name: &'static str,
    pub fields: BTreeMap<String, String>,
}

/// The spans this thread opens while the guard lives.
#[derive(Debug, Clone, Default)]
pub struct Spans(Arc<Mutex<Vec<SpanSeen>>>);

/// Index of a span in [`Spans`], kept in the span's extensions.
struct Seen(usize);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

thread_local! {
    /// Where this thread's spans go while a test captures them.
    static CAPTURING: std::cell::RefCell<Option<Spans>> = const { std::cell::RefCell::new(None) };
}

fn capturing() -> Option<Spans> {
    CAPTURING.with(|sink| sink.borrow().clone())
}

/// The process's subscriber: it records a span only on a thread that is
/// capturing, and asks again for every span of the platform's own crates
/// at INFO or above (`Interest::sometimes`), so no such callsite is
/// cached as uninteresting when another test, on another thread, opened
/// it first (which a thread's own default subscriber cannot prevent).
/// Everything else (events, libraries' spans, DEBUG and TRACE) stays off
/// for the whole process, as without a subscriber.
struct ToCapturingThread;

/// Spans a test may capture: the platform's own, at INFO or above.
fn capturable(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span()
        && metadata.target().starts_with("estate")
        && *metadata.level() <= tracing::Level::INFO
}

impl<S> tracing_subscriber::Layer<S> for ToCapturingThread
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if capturable(metadata) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        capturable(metadata) && CAPTURING.with(|sink| sink.borrow().is_some())
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }

    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(spans) = capturing() else { return };
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut seen = spans.0.lock().unwrap();
        seen.push(SpanSeen {
            name: attributes.metadata().name(),
            fields,
        });
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Seen(seen.len() - 1));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(spans) = capturing() else { return };
        let Some(span) = ctx.span(id) else { return };
        let Some(index) = span.extensions().get::<Seen>().map(|seen| seen.0) else {
            return;
        };
        if let Some(seen) = spans.0.lock().unwrap().get_mut(index) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }
}

/// Captures this thread's spans until dropped.
pub struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURING.with(|sink| sink.borrow_mut().take());
    }
}

impl Spans {
    /// Records the spans this thread opens until the guard is dropped.
    pub fn capture() -> (Self, Capturing) {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(ToCapturingThread);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test installs a process-wide subscriber");
        });
        let spans = Self::default();
        CAPTURING.with(|sink| *sink.borrow_mut() = Some(spans.clone()));
        (spans, Capturing)
    }

    /// How many spans were opened so far.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The spans named `name` opened so far.
    pub fn named(&self, name: &str) -> Vec<SpanSeen> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|span| span.name == name)
            .cloned()
            .collect()
    }
}

/// One gauge reading: the gauge's name and labels, and the value set.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Every gauge set on this thread while installed, in order; counters
/// and histograms are dropped.
#[derive(Debug, Clone, Default)]
pub struct Gauges(Arc<Mutex<Vec<Reading>>>);

struct GaugeLog {
    key: Key,
    log: Gauges,
}

impl GaugeFn for GaugeLog {
    fn increment(&self, _value: f64) {}
    fn decrement(&self, _value: f64) {}
    fn set(&self, value: f64) {
        self.log.0.lock().unwrap().push(Reading {
            name: self.key.name().to_string(),
            labels: self
                .key
                .labels()
                .map(|label| (label.key().to_string(), label.value().to_string()))
                .collect(),
            value,
        });
    }
}

impl Recorder for Gauges {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(GaugeLog {
            key: key.clone(),
            log: self.clone(),
        }))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Gauges {
    /// How many readings there are so far (to look only at later ones).
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The values `name` was set to with `label`, from reading `from` on.
    pub fn values(&self, name: &str, label: (&str, &str), from: usize) -> Vec<f64> {
        let readings = self.0.lock().unwrap();
        readings
            .iter()
            .skip(from)
            .filter(|reading| {
                reading.name == name
                    && reading
                        .labels
                        .iter()
                        .any(|(key, value)| key == label.0 && value == label.1)
            })
            .map(|reading| reading.value)
            .collect()
    }
}
