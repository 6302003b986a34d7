//! Log lines: JSON lines that carry the trace and span ids of the call
//! they belong to, and the filter that tells, in a process running the
//! whole platform, which service a span belongs to.

use std::fmt;

use opentelemetry::trace::TraceContextExt as _;
use tracing::{Event, Metadata, Subscriber};
use tracing_opentelemetry::get_otel_context;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event with the inner (JSON) format, then puts `trace_id`
/// and `span_id` first in its object when the event happened inside a
/// traced span, so a log search can jump from a line to its trace.
#[derive(Debug)]
pub struct WithTraceIds<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let span = match event.parent() {
            Some(id) => Some(id.clone()),
            None if event.is_contextual() => ctx.lookup_current().map(|span| span.id()),
            None => None,
        };
        let ids = span.and_then(|id| {
            let context =
                tracing::dispatcher::get_default(|dispatch| get_otel_context(&id, dispatch))?;
            let span_context = context.span().span_context().clone();
            span_context
                .is_valid()
                .then(|| (span_context.trace_id(), span_context.span_id()))
        });
        match (ids, line.strip_prefix('{')) {
            (Some((trace_id, span_id)), Some(rest)) => write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
            ),
            _ => writer.write_str(&line),
        }
    }
}

/// Spans of one service in a process running the whole platform: those
/// of its own crate, its request spans (their target names it), and any
/// span opened inside one of those (shared code: the database, internal
/// calls).
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpans {
    pub own_crate: &'static str,
    pub target: &'static str,
}

impl<S> Filter<S> for ServiceSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        let target = metadata.target();
        target == self.target
            || target
                .strip_prefix(self.own_crate)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            // Under a per-layer filter the current span is the nearest
            // one this filter enabled.
            || cx.lookup_current().is_some()
    }

    fn callsite_enabled(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // Depends on where a span is opened, not on its callsite alone.
        tracing::subscriber::Interest::sometimes()
    }
}
