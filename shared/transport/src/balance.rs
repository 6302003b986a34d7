//! A channel over every replica of a service.
//!
//! A target is one or more URLs (comma-separated). Each URL's host is
//! resolved again every [`ChannelOptions::resolve_interval`], so a
//! Kubernetes headless Service's addresses (one per ready pod) are
//! followed as pods come and go; an IP address stands for itself. Every
//! address gets its own HTTP/2 connections, and each call goes to the less
//! busy of two replicas taken in turn (power of two choices over a round
//! robin), so calls spread over every replica instead of riding one
//! connection to one pod.
//!
//! Failures are handled where the caller cannot see them:
//! - a call that provably never reached a server (no connection, refused
//!   stream, a `GOAWAY` from a draining server) is sent again once to
//!   another replica, whatever the method, and the replica that failed is
//!   set aside with a growing backoff (1 s to 30 s);
//! - a read (see [`crate::methods::classify`]) answered `UNAVAILABLE`
//!   before any message, or failed at the transport, is tried again on
//!   another replica after a short backoff;
//! - anything else is the caller's to see.
//!
//! To send a call twice its request must still be at hand: requests of
//! methods without a client stream (one message) are read whole first, up
//! to the message size limit; client streams are forwarded as they come
//! and never retried.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use estate_telemetry::rpc;
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tonic::body::Body;
use tracing::Instrument as _;

use crate::http2::{Connection, Connector};
use crate::methods::{self, Method};
use crate::tls::ClientTls;
use rustls::pki_types::ServerName;

/// How a balanced channel connects.
#[derive(Debug, Clone)]
pub struct ChannelOptions {
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// A deadline for every call made through the channel, if any.
    pub request_timeout: Option<Duration>,
    /// How often DNS names are resolved again.
    pub resolve_interval: Duration,
    /// HTTP/2 connections per replica.
    pub connections_per_replica: usize,
    /// Largest request message buffered for a retry; larger ones are
    /// refused here as the server would refuse them.
    pub max_message_bytes: usize,
    /// Trust and identity for `https://` targets.
    pub tls: ClientTls,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            request_timeout: None,
            resolve_interval: Duration::from_secs(5),
            connections_per_replica: 2,
            max_message_bytes: 4 * 1024 * 1024,
            tls: ClientTls::default(),
        }
    }
}

/// A target that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {value:?} is not a usable URL: {reason}")]
pub struct TargetError {
    pub setting: &'static str,
    pub value: String,
    pub reason: String,
}

/// One configured URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Target {
    https: bool,
    host: String,
    port: u16,
}

impl Target {
    fn parse(setting: &'static str, url: &str) -> Result<Self, TargetError> {
        let error = |reason: &str| TargetError {
            setting,
            value: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|parse: http::uri::InvalidUri| error(&parse.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(_) => return Err(error("the scheme must be http or https")),
            None => return Err(error("expected http://host:port or https://host:port")),
        };
        let host = uri.host().ok_or_else(|| error("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(error("a service URL has no path"));
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self { https, host, port })
    }

    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        if let Some(ip) = self.ip() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let mut addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((self.host.as_str(), self.port))
                .await?
                .collect();
        addresses.sort();
        addresses.dedup();
        Ok(addresses)
    }
}

/// A balanced channel: a `tower::Service` generated clients take.
#[derive(Clone)]
pub struct Balanced {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Balanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balanced")
            .field("service", &self.inner.service)
            .field("replicas", &self.replicas())
            .finish()
    }
}

struct Inner {
    /// The service's name in messages (`customers`).
    service: &'static str,
    /// The methods calls are observed as (every contract's).
    methods: rpc::Methods,
    options: ChannelOptions,
    replicas: RwLock<Arc<[Arc<Replica>]>>,
    /// Ticks on every change of `replicas`.
    changed: tokio::sync::watch::Sender<u64>,
    next: AtomicUsize,
    epoch: Instant,
}

struct Replica {
    target: Target,
    address: SocketAddr,
    connections: Vec<Connection>,
    next: AtomicUsize,
    in_flight: AtomicUsize,
    /// Consecutive unsent failures.
    failures: AtomicU32,
    /// Milliseconds after `Inner::epoch` before which the replica is
    /// passed over (0: never set aside).
    set_aside_until: AtomicU64,
}

const MAX_SET_ASIDE: Duration = Duration::from_secs(30);
/// Attempts of one call, the first included.
const MAX_ATTEMPTS: usize = 3;
/// Pauses before retrying a read that was answered UNAVAILABLE.
const READ_BACKOFF: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(200)];

impl Balanced {
    /// A channel to `urls` (comma-separated), the value of `setting`.
    /// Connects lazily: the services can start in any order. Must be
    /// called inside a Tokio runtime when a URL names a host to resolve.
    pub fn new(
        service: &'static str,
        setting: &'static str,
        urls: &str,
        options: ChannelOptions,
    ) -> Result<Self, TargetError> {
        let targets = urls
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| Target::parse(setting, url))
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            return Err(TargetError {
                setting,
                value: urls.to_string(),
                reason: "no URL given".into(),
            });
        }
        let (changed, _) = tokio::sync::watch::channel(0);
        let inner = Arc::new(Inner {
            service,
            methods: rpc::Methods::new(
                rpc::Side::Client,
                service,
                estate_proto::method_paths(|_| true),
            ),
            options,
            replicas: RwLock::new(Arc::from(Vec::new())),
            changed,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
        });
        let fixed: Vec<(Target, SocketAddr)> = targets
            .iter()
            .filter_map(|target| Some((target.clone(), SocketAddr::new(target.ip()?, target.port))))
            .collect();
        inner
            .replace(fixed.to_vec())
            .map_err(|reason| TargetError {
                setting,
                value: urls.to_string(),
                reason,
            })?;
        if targets.iter().any(|target| target.ip().is_none()) {
            tokio::spawn(resolve_forever(Arc::downgrade(&inner), targets, fixed));
        }
        estate_telemetry::metrics::sample_while(&inner, Inner::sample_endpoints);
        Ok(Self { inner })
    }

    /// The addresses calls currently go to.
    pub fn replicas(&self) -> Vec<SocketAddr> {
        self.inner
            .snapshot()
            .iter()
            .map(|replica| replica.address)
            .collect()
    }
}

/// Resolves `targets` every interval until the channel is dropped.
async fn resolve_forever(
    inner: Weak<Inner>,
    targets: Vec<Target>,
    fixed: Vec<(Target, SocketAddr)>,
) {
    let mut known: HashMap<Target, Vec<SocketAddr>> = HashMap::new();
    loop {
        let Some(interval) = inner.upgrade().map(|inner| inner.options.resolve_interval) else {
            return;
        };
        let mut wanted = fixed.clone();
        for target in targets.iter().filter(|target| target.ip().is_none()) {
            match target.resolve().await {
                Ok(addresses) => {
                    known.insert(target.clone(), addresses);
                }
                Err(error) => {
                    tracing::warn!(host = %target.host, %error, "cannot resolve a service's address; keeping the last known ones")
                }
            }
            for address in known.get(target).into_iter().flatten() {
                wanted.push((target.clone(), *address));
            }
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if let Err(reason) = strong.replace(wanted) {
            tracing::warn!(service = strong.service, %reason, "cannot connect to resolved addresses");
        }
        drop(strong);
        tokio::time::sleep(interval).await;
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<[Arc<Replica>]> {
        self.replicas
            .read()
            .map(|replicas| replicas.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Makes `wanted` the replica set, keeping the connections of
    /// replicas that stay.
    fn replace(&self, mut wanted: Vec<(Target, SocketAddr)>) -> Result<(), String> {
        wanted.sort_by_key(|entry| entry.1);
        wanted.dedup_by(|a, b| a.1 == b.1);
        let current = self.snapshot();
        let same = current.len() == wanted.len()
            && current
                .iter()
                .zip(&wanted)
                .all(|(replica, (_, address))| replica.address == *address);
        if same && !current.is_empty() {
            return Ok(());
        }
        let mut next = Vec::with_capacity(wanted.len());
        for (target, address) in wanted {
            match current.iter().find(|replica| replica.address == address) {
                Some(replica) => next.push(replica.clone()),
                None => next.push(Arc::new(self.connect(target, address)?)),
            }
        }
        if !current.is_empty() || !next.is_empty() {
            let addresses: Vec<String> = next
                .iter()
                .map(|replica| replica.address.to_string())
                .collect();
            tracing::info!(service = self.service, replicas = %addresses.join(","), "replicas changed");
        }
        if let Ok(mut replicas) = self.replicas.write() {
            *replicas = next.into();
        }
        self.changed.send_modify(|generation| *generation += 1);
        Ok(())
    }

    fn connect(&self, target: Target, address: SocketAddr) -> Result<Replica, String> {
        let authority = match target.ip() {
            Some(_) => address.to_string(),
            None => format!("{}:{}", target.host, target.port),
        };
        let tls = if target.https {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|error| format!("TLS for {}: {error}", target.host))?;
            let config = self
                .options
                .tls
                .rustls()
                .map_err(|error| format!("TLS for {}: {error}", target.host))?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        let connector = Arc::new(Connector {
            address,
            scheme: if target.https {
                http::uri::Scheme::HTTPS
            } else {
                http::uri::Scheme::HTTP
            },
            authority: authority
                .parse()
                .map_err(|error: http::uri::InvalidUri| format!("{authority}: {error}"))?,
            tls,
            connect_timeout: self.options.connect_timeout,
        });
        let connections = (0..self.options.connections_per_replica.max(1))
            .map(|_| Connection::new(connector.clone()))
            .collect();
        Ok(Replica {
            target,
            address,
            connections,
            next: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            set_aside_until: AtomicU64::new(0),
        })
    }

    /// A replica not in `tried`: of two taken in turn from those not set
    /// aside, the one with fewer calls in flight. Waits for the first
    /// resolution (up to the connect timeout) when none is known yet.
    async fn pick(&self, tried: &[SocketAddr]) -> Option<Arc<Replica>> {
        let mut replicas = self.snapshot();
        if replicas.is_empty() {
            let mut changes = self.changed.subscribe();
            let deadline = Instant::now() + self.options.connect_timeout;
            while replicas.is_empty() {
                if tokio::time::timeout_at(deadline, changes.changed())
                    .await
                    .is_err()
                {
                    return None;
                }
                replicas = self.snapshot();
            }
        }
        let now = self.now_ms();
        let fresh: Vec<&Arc<Replica>> = replicas
            .iter()
            .filter(|replica| !tried.contains(&replica.address))
            .collect();
        let mut candidates: Vec<&Arc<Replica>> = fresh
            .iter()
            .copied()
            .filter(|replica| replica.set_aside_until.load(Ordering::Relaxed) <= now)
            .collect();
        if candidates.is_empty() {
            candidates = fresh;
        }
        if candidates.is_empty() {
            candidates = replicas.iter().collect();
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let first = candidates[turn % candidates.len()];
        let second = candidates[(turn + 1) % candidates.len()];
        let chosen =
            if second.in_flight.load(Ordering::Relaxed) < first.in_flight.load(Ordering::Relaxed) {
                second
            } else {
                first
            };
        Some(chosen.clone())
    }

    /// Sets the endpoint gauge: replicas ready and set aside.
    fn sample_endpoints(&self) {
        let now = self.now_ms();
        let replicas = self.snapshot();
        let aside = replicas
            .iter()
            .filter(|replica| replica.set_aside_until.load(Ordering::Relaxed) > now)
            .count();
        for (state, count) in [("ready", replicas.len() - aside), ("set_aside", aside)] {
            metrics::gauge!("estate_client_endpoints", "service" => self.service, "state" => state)
                .set(count as f64);
        }
    }

    async fn call(self: Arc<Self>, request: Request<Body>) -> Result<Response<Body>, BoxError> {
        let method = methods::classify(request.uri().path());
        let (parts, body) = request.into_parts();
        if method.client_streaming {
            // The stream is forwarded as it comes, so it can be sent once.
            let replica = self.pick(&[]).await.ok_or_else(|| self.no_replica())?;
            return match replica
                .send(
                    Request::from_parts(parts, body),
                    self.options.request_timeout,
                )
                .await
            {
                Ok(response) => {
                    replica.succeeded();
                    Ok(response)
                }
                Err(error) => {
                    if cannot_connect(error.as_ref()) {
                        replica.set_aside(&self);
                    }
                    Err(self.unavailable(&error))
                }
            };
        }
        let body = match read_whole(body, self.options.max_message_bytes).await {
            Ok(bytes) => bytes,
            Err(status) => return Ok(status.into_http()),
        };
        // The caller's deadline (`grpc-timeout`) bounds every attempt
        // together, not each one.
        match grpc_timeout(&parts.headers) {
            Some(timeout) => {
                tokio::time::timeout(timeout, self.send_with_retries(parts, body, method))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Box::new(tonic::Status::deadline_exceeded(format!(
                            "the {} service did not answer within the call's deadline",
                            self.service
                        ))))
                    })
            }
            None => self.send_with_retries(parts, body, method).await,
        }
    }

    async fn send_with_retries(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        method: Method,
    ) -> Result<Response<Body>, BoxError> {
        let mut tried = Vec::new();
        let mut read_retries = 0;
        let mut last_error = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let last = attempt == MAX_ATTEMPTS;
            let Some(replica) = self.pick(&tried).await else {
                break;
            };
            tried.push(replica.address);
            let request = copy_request(&parts, Body::new(http_body_util::Full::new(body.clone())));
            match replica.send(request, self.options.request_timeout).await {
                Ok(response) => {
                    replica.succeeded();
                    let unavailable = grpc_status(&response) == Some(tonic::Code::Unavailable);
                    // The last attempt's answer is the caller's, whatever it is.
                    if unavailable
                        && method.idempotent
                        && !last
                        && read_retries < READ_BACKOFF.len()
                    {
                        tokio::time::sleep(READ_BACKOFF[read_retries]).await;
                        read_retries += 1;
                        continue;
                    }
                    return Ok(response);
                }
                Err(error) => {
                    let unsent = is_unsent(error.as_ref());
                    // A replica that refused the connection is set aside; one
                    // that is going away (GOAWAY, its connection aging out)
                    // is not: the next call reconnects.
                    if cannot_connect(error.as_ref()) {
                        replica.set_aside(self);
                    }
                    tracing::debug!(service = self.service, replica = %replica.address, unsent, %error, "call failed");
                    if !unsent && !method.idempotent {
                        return Err(self.unavailable(&error));
                    }
                    if !unsent {
                        if last || read_retries >= READ_BACKOFF.len() {
                            return Err(self.unavailable(&error));
                        }
                        tokio::time::sleep(READ_BACKOFF[read_retries]).await;
                        read_retries += 1;
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(match last_error {
            Some(error) => self.unavailable(&error),
            None => self.no_replica(),
        })
    }

    fn no_replica(&self) -> BoxError {
        Box::new(tonic::Status::unavailable(format!(
            "the {} service is unavailable: no replica is known",
            self.service
        )))
    }

    fn unavailable(&self, error: &BoxError) -> BoxError {
        Box::new(tonic::Status::unavailable(format!(
            "the {} service is unavailable: {}",
            self.service,
            chain(error.as_ref())
        )))
    }
}

impl Replica {
    fn connection(&self) -> &Connection {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        &self.connections[turn % self.connections.len()]
    }

    /// Sends `request` here, within the channel's request timeout (to the
    /// response's headers) when it has one.
    async fn send(
        &self,
        request: Request<Body>,
        timeout: Option<Duration>,
    ) -> Result<Response<Body>, BoxError> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _done = InFlight(&self.in_flight);
        let sent = self.connection().send(request);
        match timeout {
            Some(timeout) => tokio::time::timeout(timeout, sent).await.map_err(|_| {
                Box::new(tonic::Status::unavailable(format!(
                    "no answer from {} within {} ms",
                    self.address,
                    timeout.as_millis()
                ))) as BoxError
            })?,
            None => sent.await,
        }
    }

    fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
            self.set_aside_until.store(0, Ordering::Relaxed);
        }
    }

    fn set_aside(&self, inner: &Inner) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed).min(5);
        let pause = (Duration::from_secs(1) * 2_u32.pow(failures)).min(MAX_SET_ASIDE);
        let until = inner.now_ms() + u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        self.set_aside_until.store(until, Ordering::Relaxed);
        tracing::info!(service = inner.service, host = %self.target.host, replica = %self.address, pause_ms = pause.as_millis() as u64, "replica unreachable; set aside");
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

type BoxError = Box<dyn StdError + Send + Sync>;

fn copy_request(parts: &http::request::Parts, body: Body) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}

/// The whole body of a one-message request, refused past `max` bytes of
/// message (plus its 5-byte frame header).
async fn read_whole(body: Body, max: usize) -> Result<Bytes, tonic::Status> {
    let limited = http_body_util::Limited::new(body, max.saturating_add(5));
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(tonic::Status::resource_exhausted(format!(
                "the request message is larger than the {max} bytes accepted"
            )))
        }
        Err(error) => Err(tonic::Status::cancelled(format!(
            "the request could not be read: {error}"
        ))),
    }
}

/// The status of a trailers-only response (one that ended before any
/// message).
fn grpc_status(response: &Response<Body>) -> Option<tonic::Code> {
    let value = response.headers().get("grpc-status")?.to_str().ok()?;
    Some(tonic::Code::from_i32(value.parse().ok()?))
}

/// Whether `error` proves the request never reached a server's handler:
/// no connection could be made, the stream was refused, or the server
/// was going away before it took the stream.
pub fn is_unsent(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<crate::http2::ConnectFailed>() {
            return true;
        }
        if let Some(hyper) = error.downcast_ref::<hyper::Error>()
            && hyper.is_canceled()
        {
            return true;
        }
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            let reason = h2.reason();
            return reason == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away() && h2.is_remote() && reason == Some(h2::Reason::NO_ERROR));
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        current = error.source();
    }
    false
}

/// Whether `error` is a failure to open a connection at all.
fn cannot_connect(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<crate::http2::ConnectFailed>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// The `grpc-timeout` a call carries (`<digits><unit>`, units H M S m u n).
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(source) = current {
        let part = source.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = source.source();
    }
    text
}

impl tower::Service<Request<Body>> for Balanced {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Replicas' channels buffer; readiness is awaited per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // A client span per call (its context travels in `traceparent`,
        // replacing any the caller sent), and the client's RPC metrics.
        let method = self.inner.methods.get(request.uri().path());
        let span = rpc::client_span(&method, self.inner.service);
        let call = rpc::Call::start(method, span.clone());
        let (mut parts, body) = request.into_parts();
        // An unsampled call opens no client span: the caller's (with its
        // not-sampled flag) travels on instead.
        if span.is_disabled() {
            estate_telemetry::inject_current_context(&mut parts.headers);
        } else {
            estate_telemetry::inject_context(&span, &mut parts.headers);
        }
        let request = Request::from_parts(parts, Body::new(call.count_requests(body)));
        let inner = self.inner.clone();
        Box::pin(
            async move {
                match inner.call(request).await {
                    Ok(response) => Ok(call.observe(response).map(Body::new)),
                    Err(error) => {
                        let code = error
                            .downcast_ref::<tonic::Status>()
                            .map_or(tonic::Code::Unavailable, tonic::Status::code);
                        call.fail(code as i32, &error.to_string());
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        let cases = [
            ("2H", Some(Duration::from_secs(7200))),
            ("3M", Some(Duration::from_secs(180))),
            ("5S", Some(Duration::from_secs(5))),
            ("250m", Some(Duration::from_millis(250))),
            ("10u", Some(Duration::from_micros(10))),
            ("7n", Some(Duration::from_nanos(7))),
            ("5", None),
            ("S", None),
            ("-1S", None),
            ("", None),
        ];
        for (value, expected) in cases {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            assert_eq!(grpc_timeout(&headers), expected, "{value:?}");
        }
    }

    #[test]
    fn urls_are_checked_naming_the_setting() {
        let cases = [
            ("http://billing:50063", true),
            ("https://10.0.0.1:443", true),
            ("http://[::1]:50063", true),
            ("ftp://billing", false),
            ("billing:50063", false),
            ("http://billing:50063/path", false),
        ];
        for (url, ok) in cases {
            let parsed = Target::parse("ESTATE_BILLING_URL", url);
            assert_eq!(parsed.is_ok(), ok, "{url}: {parsed:?}");
            if let Err(error) = parsed {
                assert!(
                    error.to_string().starts_with("ESTATE_BILLING_URL: "),
                    "{error}"
                );
            }
        }
    }
}
