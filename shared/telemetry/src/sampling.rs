//! Head sampling that also spares the work of unsampled calls.
//!
//! Every call gets a server span (its trace id is in the call's log lines
//! and travels on), but only a sampled call opens spans below it: the
//! handler's, the database's, the internal calls'. Under the
//! `parentbased_` samplers (the default) sampling follows the caller's
//! `traceparent` flag when there is one (so a trace is whole or absent
//! across services), else the ratio `OTEL_TRACES_SAMPLER` /
//! `OTEL_TRACES_SAMPLER_ARG` give (the OpenTelemetry variables; default
//! `parentbased_always_on` when traces are exported, and none sampled
//! when they are only logged). `always_on`, `always_off` and
//! `traceidratio` decide for themselves whatever the caller's flag says,
//! keeping its trace id: what a gateway facing outside callers runs, so
//! no caller can have all of its calls traced.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

/// The sampled share of calls without a caller's decision, in millionths.
static RATIO_PPM: AtomicU64 = AtomicU64::new(1_000_000);

/// Whether a caller's sampled flag decides (the `parentbased_` samplers).
static FOLLOW_PARENT: AtomicBool = AtomicBool::new(true);

/// What the OpenTelemetry sampler variables ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// The share of calls sampled that no caller decided (0.0 to 1.0).
    pub ratio: f64,
    /// Whether a caller's `traceparent` flag decides its call.
    pub follow_parent: bool,
}

/// Sets the share of calls sampled when no caller decided (0.0 to 1.0).
pub fn set_ratio(ratio: f64) {
    let ppm = (ratio.clamp(0.0, 1.0) * 1_000_000.0).round() as u64;
    RATIO_PPM.store(ppm, Ordering::Relaxed);
}

/// Samples as `sampler` says from now on.
pub fn set(sampler: Sampler) {
    set_ratio(sampler.ratio);
    FOLLOW_PARENT.store(sampler.follow_parent, Ordering::Relaxed);
}

/// The sampler the OpenTelemetry variables ask for, `exporting` or not;
/// an unknown sampler name is an error naming the variable.
pub fn sampler_from_env(exporting: bool) -> anyhow::Result<Sampler> {
    sampler_named(
        &std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default(),
        &std::env::var("OTEL_TRACES_SAMPLER_ARG").unwrap_or_default(),
        exporting,
    )
}

/// The sampler `name` with `argument` (the two variables' values).
fn sampler_named(name: &str, argument: &str, exporting: bool) -> anyhow::Result<Sampler> {
    let ratio = || -> anyhow::Result<f64> {
        if argument.trim().is_empty() {
            return Ok(1.0);
        }
        argument
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|ratio| (0.0..=1.0).contains(ratio))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "OTEL_TRACES_SAMPLER_ARG ({argument}): expected a ratio from 0 to 1"
                )
            })
    };
    let name = name.trim();
    let ratio = match name.strip_prefix("parentbased_").unwrap_or(name) {
        "" if name.is_empty() => {
            if exporting {
                1.0
            } else {
                0.0
            }
        }
        "always_on" => 1.0,
        "always_off" => 0.0,
        "traceidratio" => ratio()?,
        _ => anyhow::bail!(
            "OTEL_TRACES_SAMPLER ({name}): expected always_on, always_off, traceidratio \
             or their parentbased_ forms"
        ),
    };
    Ok(Sampler {
        ratio,
        follow_parent: name.is_empty() || name.starts_with("parentbased_"),
    })
}

/// What a server decides for a call: the caller's trace context when it
/// sent a valid `traceparent` (W3C, read by OpenTelemetry's propagator),
/// and whether the call is sampled: the caller's flag when it decides
/// ([`Sampler::follow_parent`]), else the ratio (and then the caller's
/// context carries this decision, under the caller's trace id).
#[derive(Debug)]
pub struct Decision {
    pub caller: Option<opentelemetry::Context>,
    pub sampled: bool,
}

pub fn decide(headers: &http::HeaderMap) -> Decision {
    let caller = headers
        .contains_key("traceparent")
        .then(|| TraceContextPropagator::new().extract(&crate::HeaderExtractor(headers)));
    let caller = caller.filter(|context| context.span().span_context().is_valid());
    if let Some(context) = &caller
        && FOLLOW_PARENT.load(Ordering::Relaxed)
    {
        let sampled = context.span().span_context().is_sampled();
        return Decision { caller, sampled };
    }
    let ratio = RATIO_PPM.load(Ordering::Relaxed);
    // By the trace id where there is one (as OpenTelemetry's ratio sampler
    // does), so every call of one outside trace gets the same answer.
    let draw = caller.as_ref().map_or_else(random, |context| {
        let id = context.span().span_context().trace_id().to_bytes();
        u64::from_be_bytes(id[8..].try_into().unwrap_or_default())
    });
    let sampled = ratio >= 1_000_000 || (ratio > 0 && draw % 1_000_000 < ratio);
    let caller = caller.map(|context| {
        let theirs = context.span().span_context().clone();
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let ours = SpanContext::new(
            theirs.trace_id(),
            theirs.span_id(),
            flags,
            true,
            theirs.trace_state().clone(),
        );
        opentelemetry::Context::new().with_remote_span_context(ours)
    });
    Decision { caller, sampled }
}

fn random() -> u64 {
    let id = RandomIdGenerator::default().new_span_id();
    u64::from_be_bytes(id.to_bytes())
}

/// A remote parent that says "not sampled", for a root call the ratio
/// left out: its spans get a trace id (logged, and passed on with the
/// flag off, so the next service does not sample it either) but are not
/// recorded.
pub fn unsampled_parent() -> opentelemetry::Context {
    let ids = RandomIdGenerator::default();
    let context = SpanContext::new(
        ids.new_trace_id(),
        ids.new_span_id(),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new().with_remote_span_context(context)
}

/// Spans are decided each time one opens (by where and how it opens);
/// events always pass.
fn decided_per_span(metadata: &tracing::Metadata<'_>) -> tracing::subscriber::Interest {
    if metadata.is_span() {
        tracing::subscriber::Interest::sometimes()
    } else {
        tracing::subscriber::Interest::always()
    }
}

/// Marks spans opened with `estate.sampled = false`, and disables every
/// span opened inside one (events still log).
#[derive(Debug, Default)]
pub struct Sampling;

#[derive(Debug, Clone, Copy)]
struct Unsampled;

struct SampledField(Option<bool>);

impl Visit for SampledField {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "estate.sampled" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S> tracing_subscriber::Layer<S> for Sampling
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        decided_per_span(metadata)
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: Context<'_, S>) -> bool {
        // A span opened inside an unsampled one is not opened at all.
        let inside_unsampled = || {
            ctx.lookup_current()
                .is_some_and(|parent| parent.extensions().get::<Unsampled>().is_some())
        };
        // Database work outside any call or run (a worker's polling) is
        // not worth a trace of its own each time.
        let orphan_statement = || metadata.name() == "db" && ctx.lookup_current().is_none();
        !metadata.is_span() || !(inside_unsampled() || orphan_statement())
    }

    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if !attributes
            .metadata()
            .fields()
            .iter()
            .any(|field| field.name() == "estate.sampled")
        {
            return;
        }
        let mut sampled = SampledField(None);
        attributes.record(&mut sampled);
        if sampled.0 == Some(false)
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Unsampled);
        }
    }
}

/// Whether spans are traced at all (an OpenTelemetry layer is installed:
/// traces are exported, or JSON lines carry trace ids). Without it an
/// unsampled call keeps no ids and passes no trace on, as before.
static TRACED: AtomicBool = AtomicBool::new(false);

/// Records whether spans are traced (see [`TRACED`]).
pub fn set_traced(traced: bool) {
    TRACED.store(traced, Ordering::Relaxed);
}

/// Whether spans are traced.
pub fn traced() -> bool {
    TRACED.load(Ordering::Relaxed)
}

/// The ids of an unsampled call's server span, kept in the registry in
/// place of an OpenTelemetry span: its trace (the caller's, or a fresh
/// one, with the caller's `tracestate`) and its own span id, for its log
/// lines and for the next hop.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsampledIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: TraceState,
}

impl UnsampledIds {
    /// The ids of a span in `parent`'s trace.
    pub fn child_of(parent: &opentelemetry::Context) -> Self {
        let parent = parent.span();
        let parent = parent.span_context();
        Self {
            trace_id: parent.trace_id(),
            span_id: RandomIdGenerator::default().new_span_id(),
            trace_state: parent.trace_state().clone(),
        }
    }

    /// The context passed on to the next hop: this trace, this span, not
    /// sampled.
    pub fn context(self) -> opentelemetry::Context {
        let context = SpanContext::new(
            self.trace_id,
            self.span_id,
            TraceFlags::default(),
            true,
            self.trace_state,
        );
        opentelemetry::Context::new().with_remote_span_context(context)
    }

    /// The ids `span` (or the span it opened in) carries, if it is an
    /// unsampled call's.
    pub fn of(span: &tracing::span::Id) -> Option<Self> {
        use tracing_subscriber::registry::LookupSpan as _;
        tracing::dispatcher::get_default(|dispatch| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            registry
                .span(span)?
                .scope()
                .find_map(|span| span.extensions().get::<Self>().cloned())
        })
    }

    /// Keeps these ids with `span`.
    pub fn keep(self, span: &tracing::Span) {
        use tracing_subscriber::registry::LookupSpan as _;
        span.with_subscriber(|(id, dispatch)| {
            if let Some(span) = dispatch
                .downcast_ref::<tracing_subscriber::Registry>()
                .and_then(|registry| registry.span(id))
            {
                span.extensions_mut().insert(self);
            }
        });
    }
}

thread_local! {
    /// Set while the server span of an unsampled call is being opened.
    static OPENING_UNSAMPLED: Cell<bool> = const { Cell::new(false) };
}

/// Opens a server span with `open`, which OpenTelemetry layers filtered
/// by [`SampledOnly`] leave out when the call is not `sampled`.
pub fn opening<T>(sampled: bool, open: impl FnOnce() -> T) -> T {
    /// Lowers the flag however `open` ends.
    struct Opened;
    impl Drop for Opened {
        fn drop(&mut self) {
            OPENING_UNSAMPLED.with(|flag| flag.set(false));
        }
    }
    OPENING_UNSAMPLED.with(|flag| flag.set(!sampled));
    let _lowered = Opened;
    open()
}

/// A filter for OpenTelemetry layers: an unsampled call's server span
/// (see [`opening`]) is not theirs. It would be built, entered on every
/// poll, given its status and dropped unexported, all for the trace id
/// its log lines carry, which [`UnsampledIds`] keeps for much less.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampledOnly;

impl<S> Filter<S> for SampledOnly {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        !(metadata.is_span() && OPENING_UNSAMPLED.with(Cell::get))
    }

    fn callsite_enabled(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        decided_per_span(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test: the sampler is process-wide.
    #[test]
    fn a_callers_flag_decides_unless_the_sampler_decides_for_itself() {
        let decided = |traceparent: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", traceparent.parse().unwrap());
            let decision = decide(&headers);
            (decision.sampled, decision.caller.is_some())
        };
        set(Sampler {
            ratio: 0.0,
            follow_parent: true,
        });
        assert_eq!(
            decided("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            (true, true)
        );
        set_ratio(1.0);
        assert_eq!(
            decided("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            (false, true)
        );
        let none = decide(&http::HeaderMap::new());
        assert_eq!((none.sampled, none.caller.is_some()), (true, false));
        // A malformed traceparent decides nothing: the ratio does.
        set_ratio(0.0);
        assert_eq!(decided("00-nothex-00f067aa0ba902b7-01"), (false, false));
        assert_eq!(
            decided("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            (false, false)
        );

        // traceidratio / always_on / always_off: the caller's flag decides
        // nothing, its trace id stays, and the context passed on carries
        // this server's decision.
        let theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", theirs.parse().unwrap());
        for (ratio, sampled) in [(0.0, false), (1.0, true)] {
            set(Sampler {
                ratio,
                follow_parent: false,
            });
            let decision = decide(&headers);
            assert_eq!(decision.sampled, sampled, "ratio {ratio}");
            let context = decision.caller.expect("the caller's trace kept");
            let span = context.span();
            let passed_on = span.span_context();
            assert_eq!(
                passed_on.trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            assert_eq!(passed_on.is_sampled(), sampled, "ratio {ratio}");
        }
        // At a ratio between, the same trace id always gets the same
        // answer, and the ratio shows over many trace ids.
        set(Sampler {
            ratio: 0.25,
            follow_parent: false,
        });
        let answer = |trace: u128| {
            let mut headers = http::HeaderMap::new();
            let traceparent = format!("00-{trace:032x}-00f067aa0ba902b7-01");
            headers.insert("traceparent", traceparent.parse().unwrap());
            decide(&headers).sampled
        };
        let sampled = (1..=4000_u128)
            .map(|n| n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            .filter(|trace| {
                let first = answer(*trace);
                assert_eq!(answer(*trace), first, "one trace, one answer");
                first
            })
            .count();
        assert!((800..1200).contains(&sampled), "{sampled} of 4000 at 25%");
        set(Sampler {
            ratio: 1.0,
            follow_parent: true,
        });
    }

    #[test]
    fn only_the_parentbased_samplers_follow_the_caller() {
        // (OTEL_TRACES_SAMPLER, its argument, ratio, follows the caller)
        let table = [
            ("", "", 1.0, true),
            ("parentbased_always_on", "", 1.0, true),
            ("parentbased_always_off", "", 0.0, true),
            ("parentbased_traceidratio", "0.25", 0.25, true),
            ("traceidratio", "0.1", 0.1, false),
            ("traceidratio", "", 1.0, false),
            ("always_on", "", 1.0, false),
            ("always_off", "", 0.0, false),
        ];
        for (name, argument, ratio, follow_parent) in table {
            assert_eq!(
                sampler_named(name, argument, true).expect("a known sampler"),
                Sampler {
                    ratio,
                    follow_parent
                },
                "{name:?} {argument:?}"
            );
        }
        assert_eq!(
            sampler_named("", "", false).map(|s| s.ratio).ok(),
            Some(0.0)
        );
        assert!(sampler_named("parentbased_", "", true).is_err());
        assert!(sampler_named("sometimes", "", true).is_err());
        assert!(sampler_named("traceidratio", "2", true).is_err());
    }
}
