//! One observation of a gRPC call, on either side of it: the metrics of
//! the OpenTelemetry RPC conventions, the span's status and attributes,
//! and (on servers) the access-log line. A call ends when its response
//! body ends (its trailers carry the status), or when the body is dropped
//! before that (the peer went away: CANCELLED).
//!
//! Metric names (Prometheus form of the conventions' instruments):
//! - `rpc_server_call_duration_seconds` / `rpc_client_call_duration_seconds`:
//!   histogram, labels `rpc_system`, `rpc_service`, `rpc_method`,
//!   `rpc_grpc_status_code` (its count is the request count by status);
//! - `rpc_server_active_requests` / `rpc_client_active_requests`: gauge;
//! - `rpc_server_requests_per_rpc`, `rpc_server_responses_per_rpc` (and
//!   `rpc_client_…`): histograms of messages per call, for streams.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};

/// Which end of the call this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

impl Side {
    fn host_label(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "peer",
        }
    }
}

/// The service and method a request path (`/pkg.Service/Method`) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcName {
    pub service: String,
    pub method: String,
}

impl RpcName {
    /// A path that is not `/service/method` is [`RpcName::unknown`]
    /// (servers also map services they do not host there).
    pub fn of(path: &str) -> Self {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        match trimmed.split_once('/') {
            Some((service, method)) if !service.is_empty() && !method.contains('/') => Self {
                service: service.to_string(),
                method: method.to_string(),
            },
            _ => Self::unknown(),
        }
    }

    /// What no known service and method is counted as.
    pub fn unknown() -> Self {
        Self {
            service: "unknown".to_string(),
            method: "unknown".to_string(),
        }
    }

    /// `package.Service/Method`, the span name the conventions ask for.
    pub fn full(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }

    /// Health checks and reflection: counted, but not access-logged at
    /// `info` (probes would drown the calls people make).
    fn is_infrastructure(&self) -> bool {
        self.service.starts_with("grpc.health.") || self.service.starts_with("grpc.reflection.")
    }
}

/// One method as a server or channel observes it: its name, and its
/// metric handles, registered on first use (so a method never called adds
/// no series) and reused by every later call. They are registered with
/// the recorder installed at that first use: install it before serving.
#[derive(Debug)]
pub struct Method {
    pub name: RpcName,
    /// `package.Service/Method`.
    full: String,
    side: Side,
    host: &'static str,
    handles: OnceLock<Handles>,
    /// Call durations by status code (0–16).
    durations: [OnceLock<metrics::Histogram>; 17],
}

#[derive(Debug)]
struct Handles {
    active: metrics::Gauge,
    requests: metrics::Histogram,
    responses: metrics::Histogram,
}

impl Method {
    fn new(side: Side, host: &'static str, name: RpcName) -> Self {
        Self {
            full: name.full(),
            name,
            side,
            host,
            handles: OnceLock::new(),
            durations: Default::default(),
        }
    }

    /// `package.Service/Method`, the span name the conventions ask for.
    pub fn full(&self) -> &str {
        &self.full
    }

    fn labels(&self) -> [(&'static str, String); 3] {
        [
            (self.side.host_label(), self.host.to_string()),
            ("rpc_service", self.name.service.clone()),
            ("rpc_method", self.name.method.clone()),
        ]
    }

    fn handles(&self) -> &Handles {
        self.handles.get_or_init(|| {
            let labels = self.labels();
            match self.side {
                Side::Server => Handles {
                    active: metrics::gauge!("rpc_server_active_requests", &labels),
                    requests: metrics::histogram!("rpc_server_requests_per_rpc", &labels),
                    responses: metrics::histogram!("rpc_server_responses_per_rpc", &labels),
                },
                Side::Client => Handles {
                    active: metrics::gauge!("rpc_client_active_requests", &labels),
                    requests: metrics::histogram!("rpc_client_requests_per_rpc", &labels),
                    responses: metrics::histogram!("rpc_client_responses_per_rpc", &labels),
                },
            }
        })
    }

    fn duration(&self, code: i32) -> &metrics::Histogram {
        let code = code_label(code);
        let index = STATUS_STATIC
            .iter()
            .position(|label| *label == code)
            .unwrap_or(2);
        self.durations[index].get_or_init(|| {
            let [host, service, method] = self.labels();
            let labels = [
                host,
                ("rpc_system", "grpc".to_string()),
                service,
                method,
                ("rpc_grpc_status_code", code.to_string()),
            ];
            match self.side {
                Side::Server => metrics::histogram!("rpc_server_call_duration_seconds", &labels),
                Side::Client => metrics::histogram!("rpc_client_call_duration_seconds", &labels),
            }
        })
    }
}

/// The methods a server (or an internal channel) knows, by request path.
/// Any other path is observed as `unknown`/`unknown`, so no caller can
/// mint metric series by inventing services or methods.
#[derive(Debug)]
pub struct Methods {
    known: std::collections::HashMap<String, Arc<Method>>,
    unknown: Arc<Method>,
}

impl Methods {
    /// The methods of `paths` (`/package.Service/Method`), observed on
    /// `side` of calls served by (or sent to) `host`.
    pub fn new<P: AsRef<str>>(
        side: Side,
        host: &'static str,
        paths: impl IntoIterator<Item = P>,
    ) -> Self {
        let known = paths
            .into_iter()
            .map(|path| {
                let path = path.as_ref();
                (
                    path.to_string(),
                    Arc::new(Method::new(side, host, RpcName::of(path))),
                )
            })
            .collect();
        Self {
            known,
            unknown: Arc::new(Method::new(side, host, RpcName::unknown())),
        }
    }

    /// The method `path` names, or the unknown one.
    pub fn get(&self, path: &str) -> Arc<Method> {
        self.known.get(path).unwrap_or(&self.unknown).clone()
    }
}

/// The organization a call acts for, filled in by whoever authenticates
/// it (the gateway's credential resolution, a backend's token check), so
/// the access log can name it without reading bodies or secrets.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<String>>);

impl CallerSlot {
    pub fn set(&self, organization: impl Into<String>) {
        let _ = self.0.set(organization.into());
    }
    fn get(&self) -> &str {
        self.0.get().map(String::as_str).unwrap_or("")
    }
}

/// The gRPC status names, by code.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Whether a status makes the span's status Error, as the gRPC semantic
/// conventions define it: on a client every code but OK; on a server only
/// the codes that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED,
/// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), since a refused
/// request is the server working as it should.
pub fn is_error(side: Side, code: i32) -> bool {
    match side {
        Side::Client => code != 0,
        Side::Server => matches!(code, 2 | 4 | 12 | 13 | 14 | 15),
    }
}

const STATUS_STATIC: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

fn code_label(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|index| STATUS_STATIC.get(index))
        .copied()
        .unwrap_or("2")
}

/// The status a header map carries (`grpc-status`), if any.
pub fn status_of(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// A call being observed; finished exactly once.
#[derive(Debug)]
pub struct Call {
    side: Side,
    method: Arc<Method>,
    started: Instant,
    span: tracing::Span,
    requests: Arc<AtomicU64>,
    responses: u64,
    caller: CallerSlot,
    finished: bool,
}

impl Call {
    /// Starts observing a call of `method`, traced by `span` (which
    /// declared the conventions' fields, see [`server_span`] and
    /// [`client_span`]). The method's table ([`Methods`]) says which side
    /// this is and the service serving the call (`billing`, `gateway`): on
    /// a server its own (label `server`, which tells apart the servers of
    /// a process running them all), on a client the one called (`peer`).
    pub fn start(method: Arc<Method>, span: tracing::Span) -> Self {
        method.handles().active.increment(1.0);
        Self {
            side: method.side,
            method,
            started: Instant::now(),
            span,
            requests: Arc::default(),
            responses: 0,
            caller: CallerSlot::default(),
            finished: false,
        }
    }

    /// Where authentication records the caller's organization.
    pub fn caller(&self) -> CallerSlot {
        self.caller.clone()
    }

    /// Counts the messages of `body` (the request) into this call.
    pub fn count_requests<B>(&self, body: B) -> Counted<B> {
        Counted {
            inner: body,
            frames: Frames::default(),
            count: self.requests.clone(),
        }
    }

    /// Wraps the response: the call ends with it.
    pub fn observe<B>(self, response: http::Response<B>) -> http::Response<Observed<B>> {
        let status = status_of(response.headers());
        let (parts, body) = response.into_parts();
        let mut observed = Observed {
            inner: body,
            frames: Frames::default(),
            call: self,
        };
        if let Some(code) = status {
            // Trailers-only: the status is already known.
            let message = parts
                .headers
                .get("grpc-message")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            observed.call.finish(code, message.as_deref());
        }
        http::Response::from_parts(parts, observed)
    }

    /// Ends the call without a response (the transport failed).
    pub fn fail(mut self, code: i32, message: &str) {
        self.finish(code, Some(message));
    }

    fn finish(&mut self, code: i32, message: Option<&str>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let elapsed = self.started.elapsed();
        let handles = self.method.handles();
        handles.active.decrement(1.0);
        self.method.duration(code).record(elapsed.as_secs_f64());
        handles
            .requests
            .record(self.requests.load(Ordering::Relaxed) as f64);
        handles.responses.record(self.responses as f64);
        self.span.record("rpc.grpc.status_code", code);
        if is_error(self.side, code) {
            self.span.record("otel.status_code", "error");
            self.span.record(
                "otel.status_description",
                message.unwrap_or(code_name(code)),
            );
        }
        if self.side == Side::Server {
            let duration_ms = elapsed.as_secs_f64() * 1000.0;
            let method = self.method.full();
            let caller = self.caller.get();
            if self.method.name.is_infrastructure() {
                tracing::debug!(target: "estate::access", parent: &self.span,
                    method, status = code_name(code), code,
                    duration_ms, caller, "rpc");
            } else {
                tracing::info!(target: "estate::access", parent: &self.span,
                    method, status = code_name(code), code,
                    duration_ms, caller, "rpc");
            }
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // A response body dropped before its status: the peer went away
        // (or the call was abandoned), which gRPC reports as CANCELLED.
        self.finish(1, Some("the call ended before its status"));
    }
}

macro_rules! server_span_at {
    ($target:literal, $name:expr, $sampled:expr) => {
        tracing::info_span!(
            target: $target,
            "grpc.server",
            otel.name = $name.full(),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = $name.name.service.as_str(),
            rpc.method = $name.name.method.as_str(),
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            estate.sampled = $sampled,
        )
    };
}

/// A server span of `service` (`gateway`, `billing`, …) with the
/// conventions' attributes, child of the caller's trace when `headers`
/// carry one; status fields are recorded when the call ends. Its target
/// names the service, so a process running the whole platform reports
/// each span under its own service (see [`crate::Services::All`]).
pub fn server_span(service: &str, name: &Method, headers: &http::HeaderMap) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let decision = crate::sampling::decide(headers);
    let sampled = decision.sampled;
    let span = crate::sampling::opening(sampled, || match service {
        "gateway" => server_span_at!("estate::gateway", name, sampled),
        "customers" => server_span_at!("estate::customers", name, sampled),
        "licensing" => server_span_at!("estate::licensing", name, sampled),
        "billing" => server_span_at!("estate::billing", name, sampled),
        _ => server_span_at!("estate::server", name, sampled),
    });
    if !sampled && crate::sampling::traced() {
        // No OpenTelemetry span: the ids its lines and the next hop carry.
        let parent = decision
            .caller
            .unwrap_or_else(crate::sampling::unsampled_parent);
        crate::sampling::UnsampledIds::child_of(&parent).keep(&span);
    } else if let Some(caller) = decision.caller {
        // Fails only when no OpenTelemetry layer is installed.
        let _ = span.set_parent(caller);
    }
    span
}

/// A client span for an internal call to `peer` (the service's name).
pub fn client_span(method: &Method, peer: &'static str) -> tracing::Span {
    tracing::info_span!(
        "grpc.client",
        otel.name = method.full(),
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = method.name.service.as_str(),
        rpc.method = method.name.method.as_str(),
        peer.service = peer,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    )
}

/// Counts gRPC messages in a byte stream: each is a 5-byte prefix
/// (compressed flag, big-endian length) and that many bytes.
#[derive(Debug, Default)]
struct Frames {
    /// Prefix bytes seen of the current message (0..5).
    prefix: [u8; 5],
    prefix_len: usize,
    /// Bytes of the current message still to come.
    remaining: u64,
}

impl Frames {
    /// Messages that began in `data`.
    fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut started = 0;
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(data.len() as u64);
                self.remaining -= take;
                data = &data[take as usize..];
                continue;
            }
            let take = (5 - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&data[..take]);
            self.prefix_len += take;
            data = &data[take..];
            if self.prefix_len == 5 {
                started += 1;
                self.prefix_len = 0;
                let [_, a, b, c, d] = self.prefix;
                self.remaining = u64::from(u32::from_be_bytes([a, b, c, d]));
            }
        }
        started
    }
}

/// A request body whose messages are counted.
#[derive(Debug)]
pub struct Counted<B> {
    inner: B,
    frames: Frames,
    count: Arc<AtomicU64>,
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let started = this.frames.feed(data.chunk());
            this.count.fetch_add(started, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that ends its call when it ends.
#[derive(Debug)]
pub struct Observed<B> {
    inner: B,
    frames: Frames,
    call: Call,
}

impl<B> Body for Observed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.call.responses += this.frames.feed(data.chunk());
                } else if let Some(trailers) = frame.trailers_ref() {
                    let code = status_of(trailers).unwrap_or(2);
                    let message = trailers
                        .get("grpc-message")
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    this.call.finish(code, message.as_deref());
                }
            }
            Some(Err(error)) => {
                let message = error.to_string();
                this.call.finish(2, Some(&message));
            }
            // The body ended without trailers: a gRPC peer always sends a
            // status, so none means the stream broke.
            None => this
                .call
                .finish(2, Some("the response ended without a status")),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_service_and_method() {
        let name = RpcName::of("/estate.billing.v1.PartnersService/ListPartners");
        assert_eq!(name.service, "estate.billing.v1.PartnersService");
        assert_eq!(name.method, "ListPartners");
        assert_eq!(
            name.full(),
            "estate.billing.v1.PartnersService/ListPartners"
        );
        for odd in ["/", "", "/a/b/c", "/nomethod"] {
            assert_eq!(RpcName::of(odd).service, "unknown", "{odd:?}");
        }
    }

    #[test]
    fn messages_are_counted_across_chunk_boundaries() {
        let mut stream = Vec::new();
        for size in [0u32, 3, 70_000, 1] {
            stream.push(0);
            stream.extend_from_slice(&size.to_be_bytes());
            stream.extend(std::iter::repeat_n(7u8, size as usize));
        }
        for chunk in [1, 2, 5, 6, 4096, stream.len()] {
            let mut frames = Frames::default();
            let counted: u64 = stream.chunks(chunk).map(|part| frames.feed(part)).sum();
            assert_eq!(counted, 4, "chunks of {chunk}");
        }
    }

    #[test]
    fn error_status_follows_the_conventions_per_side() {
        let cases = [
            (0, false, false),
            (3, true, false),  // INVALID_ARGUMENT: the client's mistake
            (5, true, false),  // NOT_FOUND
            (7, true, false),  // PERMISSION_DENIED
            (16, true, false), // UNAUTHENTICATED
            (2, true, true),
            (4, true, true),
            (12, true, true),
            (13, true, true),
            (14, true, true),
            (15, true, true),
        ];
        for (code, client, server) in cases {
            assert_eq!(is_error(Side::Client, code), client, "client {code}");
            assert_eq!(is_error(Side::Server, code), server, "server {code}");
        }
    }
}
