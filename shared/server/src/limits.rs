//! Limits every request meets before any handler work, and bounds on what
//! any response may carry.
//!
//! Requests: each gRPC message is checked against the contract it claims
//! to be, on the wire, before tonic decodes it: every string at most
//! [`Limits::max_string_characters`] characters of valid UTF-8 without NUL
//! (PostgreSQL cannot store NUL in text), every `bytes` field at most
//! [`Limits::max_bytes`], every repeated field at most
//! [`Limits::max_elements`] elements (a few named fields more), messages
//! nested at most [`Limits::max_depth`] deep and at most
//! [`Limits::max_message_bytes`] long. A violation answers
//! INVALID_ARGUMENT naming the field (`records[3].installation.hostname`)
//! and the bound, never the value; an oversized message answers
//! RESOURCE_EXHAUSTED; bytes that are not protobuf answer INVALID_ARGUMENT
//! instead of tonic's INTERNAL. Handlers keep their own, tighter,
//! per-field rules; this is the bound that makes every later step cheap.
//!
//! Responses: a status message or details block too large for the
//! HTTP/2 header limits of the peer would break the connection that other
//! callers share (the gateway holds a few to each backend), so every
//! `grpc-message` is cut and oversized `grpc-status-details-bin` dropped
//! on the way out, whoever built the status.

mod schema;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use estate_errors::{ApiError, thousands};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use tonic::Status;
use tonic::body::Body;

use schema::Method;
pub use schema::Schema;

/// The bounds of every request a server accepts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest string field, in characters: twice the longest the
    /// contracts document (a 4,096-character description), so values a
    /// little too long still reach the handler, which names every bad
    /// field at once with its own limit.
    pub max_string_characters: usize,
    /// Longest `bytes` field (and message of a type outside the contracts).
    pub max_bytes: usize,
    /// Most elements of a repeated field (page sizes stop at 1,000).
    pub max_elements: usize,
    /// Deepest nesting of messages.
    pub max_depth: usize,
    /// Largest encoded request message.
    pub max_message_bytes: usize,
    /// Repeated fields allowed more elements: (`pkg.Message.field`, most).
    pub elements: Vec<(String, usize)>,
    /// Methods allowed larger messages: (`/pkg.Service/Method`, bytes).
    pub message_bytes: Vec<(String, usize)>,
}

/// Largest message of an inventory upload: beacons send records in bulk.
pub const MAX_INVENTORY_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Largest request message unless configured otherwise.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The decoding bound of a generated service: the largest message any of
/// its methods may get past the limits layer.
pub fn decoding_bound(max_message_bytes: usize) -> usize {
    max_message_bytes.max(MAX_INVENTORY_MESSAGE_BYTES)
}

impl Limits {
    /// The platform's limits (the README's "Limits" table).
    pub fn platform() -> Self {
        Self::with_max_message_bytes(DEFAULT_MAX_MESSAGE_BYTES)
    }

    /// The platform's limits with another bound on messages; inventory
    /// uploads keep at least their own.
    pub fn with_max_message_bytes(max_message_bytes: usize) -> Self {
        Self {
            max_string_characters: 8192,
            max_bytes: 64 * 1024,
            max_elements: 1000,
            max_depth: 32,
            max_message_bytes,
            elements: vec![(
                "estate.licensing.v1.IngestInventoryRequest.records".into(),
                100_000,
            )],
            message_bytes: vec![(
                "/estate.licensing.v1.InventoryService/IngestInventory".into(),
                MAX_INVENTORY_MESSAGE_BYTES.max(max_message_bytes),
            )],
        }
    }
}

/// Checks request messages against `schema` before the service decodes
/// them (see the module docs). Calls to methods the schema does not know
/// (health, reflection) pass unchecked.
#[derive(Debug, Clone)]
pub struct RequestLimitsLayer {
    schema: Arc<Schema>,
}

impl RequestLimitsLayer {
    pub fn new(schema: Arc<Schema>) -> Self {
        Self { schema }
    }

    /// The platform's limits over every contract, messages bounded by
    /// `max_message_bytes`.
    pub fn platform(max_message_bytes: usize) -> Self {
        Self::new(Arc::new(Schema::new(
            &estate_proto::descriptor_set(),
            Limits::with_max_message_bytes(max_message_bytes),
        )))
    }
}

impl<S> tower::Layer<S> for RequestLimitsLayer {
    type Service = RequestLimits<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestLimits {
            inner,
            schema: self.schema.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestLimits<S> {
    inner: S,
    schema: Arc<Schema>,
}

impl<S> tower::Service<Request<Body>> for RequestLimits<S>
where
    S: tower::Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let request = match self.schema.method(request.uri().path()) {
            Some(method) => {
                // Compressed messages are checked, and handed on,
                // decompressed: the handler's codec then needs no
                // decompression of its own.
                let encoding = Encoding::of(request.headers());
                request.headers_mut().remove("grpc-encoding");
                let schema = self.schema.clone();
                request.map(|body| Body::new(CheckedBody::new(body, schema, method, encoding)))
            }
            None => request,
        };
        self.inner.call(request)
    }
}

/// A request body that yields whole gRPC frames, each checked first; a
/// frame that fails ends the body with the refusal as its error, which
/// tonic hands to the caller as the call's status.
struct CheckedBody {
    inner: Body,
    schema: Arc<Schema>,
    method: Method,
    encoding: Encoding,
    buffer: BytesMut,
    failed: bool,
    /// Whether a whole message went through.
    sent_message: bool,
}

/// Length of a gRPC frame header: a compression flag and a 4-byte length.
const FRAME_HEADER: usize = 5;

impl CheckedBody {
    fn new(inner: Body, schema: Arc<Schema>, method: Method, encoding: Encoding) -> Self {
        Self {
            inner,
            schema,
            method,
            encoding,
            buffer: BytesMut::new(),
            failed: false,
            sent_message: false,
        }
    }

    /// The next whole frame in the buffer once checked, `None` while one
    /// is still arriving.
    fn next_frame(&mut self) -> Result<Option<Bytes>, Status> {
        if self.buffer.len() < FRAME_HEADER {
            return Ok(None);
        }
        let compressed = self.buffer[0];
        let length = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if length > self.method.max_message_bytes {
            return Err(Status::resource_exhausted(format!(
                "the request message is {} bytes, at most {} are accepted",
                thousands(length),
                thousands(self.method.max_message_bytes)
            )));
        }
        if compressed > 1 {
            return Err(ApiError::invalid("request", "is not a valid gRPC frame").into());
        }
        if self.buffer.len() < FRAME_HEADER + length {
            return Ok(None);
        }
        let mut frame = self.buffer.split_to(FRAME_HEADER + length).freeze();
        if compressed == 1 {
            let message = self
                .encoding
                .decompress(&frame[FRAME_HEADER..], self.method.max_message_bytes)?;
            let mut plain = BytesMut::with_capacity(FRAME_HEADER + message.len());
            plain.extend_from_slice(&[0]);
            plain.extend_from_slice(
                &u32::try_from(message.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes(),
            );
            plain.extend_from_slice(&message);
            frame = plain.freeze();
        }
        let violations = self.schema.check(self.method, &frame[FRAME_HEADER..]);
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(violations).into());
        }
        self.sent_message = true;
        Ok(Some(frame))
    }
}

impl http_body::Body for CheckedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        loop {
            if this.failed {
                return Poll::Ready(None);
            }
            match this.next_frame() {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(Frame::data(frame)))),
                Ok(None) => {}
                Err(status) => {
                    this.failed = true;
                    tracing::debug!(code = ?status.code(), message = status.message(), "request refused at the edge");
                    return Poll::Ready(Some(Err(status)));
                }
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    // A chunk that starts a frame is taken as it is (no
                    // copy when it is not shared); one that continues a
                    // frame is appended.
                    Ok(data) if this.buffer.is_empty() => this.buffer = BytesMut::from(data),
                    Ok(data) => this.buffer.extend_from_slice(&data),
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                None if this.buffer.is_empty()
                    && !this.method.client_streaming
                    && !this.sent_message =>
                {
                    this.failed = true;
                    return Poll::Ready(Some(Err(ApiError::invalid(
                        "request",
                        "carries no message; this method takes exactly one",
                    )
                    .into())));
                }
                None if this.buffer.is_empty() => return Poll::Ready(None),
                None => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(ApiError::invalid(
                        "request",
                        "ended inside a message",
                    )
                    .into())));
                }
            }
        }
    }
}

/// How a request's messages are compressed (`grpc-encoding`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Zstd,
    Unsupported(String),
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Self {
        match headers
            .get("grpc-encoding")
            .map(|value| value.to_str().unwrap_or("?"))
        {
            None | Some("identity") => Self::Identity,
            Some("gzip") => Self::Gzip,
            Some("deflate") => Self::Deflate,
            Some("zstd") => Self::Zstd,
            Some(other) => Self::Unsupported(other.chars().take(64).collect()),
        }
    }

    /// The message `data` encodes, refused past `max` bytes (so a small
    /// compressed message cannot expand without bound).
    fn decompress(&self, data: &[u8], max: usize) -> Result<Vec<u8>, Status> {
        use std::io::Read;
        let reader: Box<dyn Read + '_> = match self {
            Self::Gzip => Box::new(flate2::read::GzDecoder::new(data)),
            Self::Deflate => Box::new(flate2::read::ZlibDecoder::new(data)),
            Self::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::new(data)
                    .map_err(|_| ApiError::invalid("request", "is not a valid zstd message"))?;
                // A 16 MiB window at most (zstd allows 128 MiB by default):
                // a small message cannot make the decoder allocate more.
                decoder
                    .window_log_max(24)
                    .map_err(|_| ApiError::invalid("request", "is not a valid zstd message"))?;
                Box::new(decoder)
            }
            Self::Identity => {
                return Err(ApiError::invalid(
                    "request",
                    "has a compressed message but no grpc-encoding",
                )
                .into());
            }
            Self::Unsupported(name) => {
                return Err(Status::unimplemented(format!(
                    "grpc-encoding {} is not supported; use gzip, deflate, zstd or none",
                    estate_errors::quote(name)
                )));
            }
        };
        let mut message = Vec::new();
        reader
            .take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
            .read_to_end(&mut message)
            .map_err(|_| ApiError::invalid("request", "is not a valid compressed message"))?;
        if message.len() > max {
            return Err(Status::resource_exhausted(format!(
                "the request message is more than {} bytes decompressed, at most {} are accepted",
                thousands(max),
                thousands(max)
            )));
        }
        Ok(message)
    }
}

/// Longest `grpc-message` any response carries, in bytes (encoded).
pub const MAX_STATUS_MESSAGE_BYTES: usize = 4096;

/// Largest `grpc-status-details-bin` any response carries, in bytes
/// (base64); larger details are dropped, the code and message stay.
pub const MAX_STATUS_DETAILS_BYTES: usize = 8192;

/// Bounds the status headers of every response (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct BoundedStatusLayer;

impl<S> tower::Layer<S> for BoundedStatusLayer {
    type Service = BoundedStatus<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BoundedStatus { inner }
    }
}

#[derive(Debug, Clone)]
pub struct BoundedStatus<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<Request<B>> for BoundedStatus<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            bound_status_headers(response.headers_mut());
            Ok(response.map(|body| Body::new(BoundedTrailers(body))))
        })
    }
}

/// A response body whose trailers are bounded like headers.
struct BoundedTrailers(Body);

impl http_body::Body for BoundedTrailers {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = ready!(Pin::new(&mut self.get_mut().0).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|mut frame| {
                if let Some(trailers) = frame.trailers_mut() {
                    bound_status_headers(trailers);
                }
                frame
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

/// Cuts `grpc-message` and drops oversized `grpc-status-details-bin`.
pub fn bound_status_headers(headers: &mut HeaderMap) {
    if let Some(message) = headers.get("grpc-message")
        && message.len() > MAX_STATUS_MESSAGE_BYTES
        && let Ok(value) = HeaderValue::from_bytes(&cut_message(message.as_bytes()))
    {
        headers.insert("grpc-message", value);
    }
    if headers
        .get("grpc-status-details-bin")
        .is_some_and(|details| details.len() > MAX_STATUS_DETAILS_BYTES)
    {
        headers.remove("grpc-status-details-bin");
    }
}

/// A percent-encoded `grpc-message` cut to at most
/// [`MAX_STATUS_MESSAGE_BYTES`] encoded, on a character boundary (a cut
/// inside a character would make clients fail to read the status, and
/// report UNKNOWN), ending in `…`.
fn cut_message(encoded: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut index = 0;
    while index < encoded.len() {
        let escape = encoded
            .get(index + 1..index + 3)
            .filter(|_| encoded[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(encoded[index]);
                index += 1;
            }
        }
    }
    let text = String::from_utf8_lossy(&decoded);
    let budget = MAX_STATUS_MESSAGE_BYTES - "%E2%80%A6".len();
    let mut cut = Vec::with_capacity(MAX_STATUS_MESSAGE_BYTES);
    let mut character = [0u8; 4];
    for ch in text.chars() {
        let bytes = ch.encode_utf8(&mut character).as_bytes();
        let mut escaped = Vec::with_capacity(12);
        for byte in bytes {
            if (0x20..=0x7e).contains(byte) && *byte != b'%' {
                escaped.push(*byte);
            } else {
                escaped.extend_from_slice(format!("%{byte:02X}").as_bytes());
            }
        }
        if cut.len() + escaped.len() > budget {
            break;
        }
        cut.extend_from_slice(&escaped);
    }
    cut.extend_from_slice(b"%E2%80%A6"); // …
    cut
}

#[cfg(test)]
mod tests;
