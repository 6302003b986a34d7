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
        // The registry's current span, not the formatter's (which sees
        // no span: lines carry trace ids instead of span fields).
        let span = match event.parent() {
            Some(id) => Some(id.clone()),
            None if event.is_contextual() => {
                tracing::dispatcher::get_default(|dispatch| dispatch.current_span().id().cloned())
            }
            None => None,
        };
        let ids = span.and_then(|id| {
            if let Some(ids) = crate::sampling::UnsampledIds::of(&id) {
                return Some((ids.trace_id, ids.span_id));
            }
            let context =
                tracing::dispatcher::get_default(|dispatch| get_otel_context(&id, dispatch))?;
            let span_context = context.span().span_context().clone();
            span_context
                .is_valid()
                .then(|| (span_context.trace_id(), span_context.span_id()))
        });
        let Some((trace_id, span_id)) = ids else {
            return self.0.format_event(ctx, writer, event);
        };
        // The ids open the object; the inner format's own `{` is dropped,
        // so the line is written once, without a copy.
        write!(
            writer,
            "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\","
        )?;
        let mut rest = AfterOpeningBrace {
            inner: writer,
            opened: false,
        };
        self.0.format_event(ctx, Writer::new(&mut rest), event)
    }
}

/// Passes text on without its first character when that is `{`.
struct AfterOpeningBrace<'a> {
    inner: Writer<'a>,
    opened: bool,
}

impl fmt::Write for AfterOpeningBrace<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.opened {
            return self.inner.write_str(text);
        }
        if text.is_empty() {
            return Ok(());
        }
        self.opened = true;
        self.inner.write_str(text.strip_prefix('{').unwrap_or(text))
    }
}

/// The service a span belongs to, kept in its extensions by
/// [`ServiceTagger`].
#[derive(Debug, Clone, Copy)]
struct ServiceOf(&'static str);

/// The service whose crate or request target `target` is, if any.
fn service_of_target(target: &str) -> Option<&'static str> {
    crate::SERVICES
        .iter()
        .find(|(_, own_crate, request_target)| {
            target == *request_target
                || target
                    .strip_prefix(own_crate)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
        .map(|(name, _, _)| *name)
}

/// Tags every span with its service: that of its own crate or request
/// target, else its parent's (shared code — the database, internal calls
/// — runs on behalf of whoever called it).
#[derive(Debug, Default)]
pub struct ServiceTagger;

impl<S> tracing_subscriber::Layer<S> for ServiceTagger
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let service = service_of_target(attributes.metadata().target()).or_else(|| {
            span.parent()
                .and_then(|parent| parent.extensions().get::<ServiceOf>().map(|of| of.0))
        });
        if let Some(service) = service {
            span.extensions_mut().insert(ServiceOf(service));
        }
    }
}

/// Spans (and events) of one service in a process running the whole
/// platform, as [`ServiceTagger`] tells them apart: decided before a span
/// exists, from its target or the span it opens in.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpans {
    pub service: &'static str,
}

impl<S> Filter<S> for ServiceSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        match service_of_target(metadata.target()) {
            Some(service) => service == self.service,
            None => cx.lookup_current().is_some_and(|parent| {
                parent
                    .extensions()
                    .get::<ServiceOf>()
                    .is_some_and(|of| of.0 == self.service)
            }),
        }
    }

    fn callsite_enabled(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // Depends on where a span is opened, not on its callsite alone.
        tracing::subscriber::Interest::sometimes()
    }
}
