//! Head sampling that also spares the work of unsampled calls.
//!
//! Every call gets a server span (its trace id is in the call's log lines
//! and travels on), but only a sampled call opens spans below it: the
//! handler's, the database's, the internal calls'. Sampling follows the
//! caller's `traceparent` flag when there is one (so a trace is whole or
//! absent across services), else the ratio `OTEL_TRACES_SAMPLER` /
//! `OTEL_TRACES_SAMPLER_ARG` give (the OpenTelemetry variables; default
//! `parentbased_always_on` when traces are exported, and none sampled
//! when they are only logged).

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The sampled share of calls without a caller's decision, in millionths.
static RATIO_PPM: AtomicU64 = AtomicU64::new(1_000_000);

/// Sets the share of calls sampled when no caller decided (0.0 to 1.0).
pub fn set_ratio(ratio: f64) {
    let ppm = (ratio.clamp(0.0, 1.0) * 1_000_000.0).round() as u64;
    RATIO_PPM.store(ppm, Ordering::Relaxed);
}

/// The ratio the OpenTelemetry sampler variables ask for, `exporting`
/// or not; an unknown sampler name is an error naming the variable.
pub fn ratio_from_env(exporting: bool) -> anyhow::Result<f64> {
    let sampler = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default();
    let argument = || -> anyhow::Result<f64> {
        match std::env::var("OTEL_TRACES_SAMPLER_ARG") {
            Ok(value) if !value.trim().is_empty() => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|ratio| (0.0..=1.0).contains(ratio))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "OTEL_TRACES_SAMPLER_ARG ({value}): expected a ratio from 0 to 1"
                    )
                }),
            _ => Ok(1.0),
        }
    };
    Ok(match sampler.trim() {
        "" if exporting => 1.0,
        "" => 0.0,
        "always_on" | "parentbased_always_on" => 1.0,
        "always_off" | "parentbased_always_off" => 0.0,
        "traceidratio" | "parentbased_traceidratio" => argument()?,
        other => anyhow::bail!(
            "OTEL_TRACES_SAMPLER ({other}): expected always_on, always_off, traceidratio \
             or their parentbased_ forms"
        ),
    })
}

/// What a server decides for a call: the caller's trace context when it
/// sent a valid `traceparent` (W3C, read by OpenTelemetry's propagator),
/// and whether the call is sampled: the caller's flag, else the ratio.
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
    let sampled = match &caller {
        Some(context) => context.span().span_context().is_sampled(),
        None => {
            let ratio = RATIO_PPM.load(Ordering::Relaxed);
            ratio >= 1_000_000 || (ratio > 0 && random() % 1_000_000 < ratio)
        }
    };
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
        if metadata.is_span() {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::always()
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_flag_decides() {
        let decided = |traceparent: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", traceparent.parse().unwrap());
            let decision = decide(&headers);
            (decision.sampled, decision.caller.is_some())
        };
        set_ratio(0.0);
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
    }
}
