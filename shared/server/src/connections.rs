//! Accepted connections, bounded: how many a process holds, how soon a new
//! one must speak, and how long one may stay silent.
//!
//! Without these a few thousand sockets that never send a byte (or stop
//! inside the HTTP/2 preface) are kept forever, until the process runs
//! out of file descriptors and every caller fails. So:
//!
//! - at most [`ConnectionLimits::max_connections`] are open at once, and
//!   at most [`ConnectionLimits::max_connections_per_peer`] from one peer
//!   address; one more is refused at once with an HTTP/2 `GOAWAY`
//!   (`ENHANCE_YOUR_CALM`, "too many connections") and closed, and a
//!   warning is logged;
//! - a connection must send the 24-byte HTTP/2 preface (or an HTTP/1
//!   request line) within [`ConnectionLimits::handshake_timeout`];
//! - a connection on which nothing moves, either way, for
//!   [`ConnectionLimits::idle_timeout`] is closed. A live HTTP/2 peer
//!   answers the server's keepalive pings (every 30 s), and a response
//!   still streaming (gRPC-Web over HTTP/1 has no pings) keeps writing, so
//!   only dead, stalled or silent peers reach it;
//! - when accepting fails for want of descriptors or memory, accepting
//!   pauses briefly instead of spinning on the error;
//! - at most [`ConnectionLimits::max_calls_per_connection`] calls are in
//!   flight on one connection; one more is refused at once with
//!   RESOURCE_EXHAUSTED (as tonic's own limit answered, and as the
//!   platform's other caps do, so clients do not retry it as a failed
//!   server) by [`CallsPerConnectionLayer`], which servers put inside
//!   their metrics and access log, so a refused call is counted and
//!   logged like any other (tonic's own per-connection limit and load
//!   shedding sit outside every layer, where nothing sees them).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// The bounds on a server's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one peer address (0: no cap).
    pub max_connections_per_peer: usize,
    /// How long a new connection has to send its first 24 bytes.
    pub handshake_timeout: Duration,
    /// How long a connection may send nothing before it is closed.
    pub idle_timeout: Duration,
    /// Most calls in flight on one connection; one more is refused with
    /// RESOURCE_EXHAUSTED rather than queued.
    pub max_calls_per_connection: usize,
}

impl Default for ConnectionLimits {
    /// 4,096 connections (well below the usual descriptor limit; HTTP/2
    /// multiplexes, so a client needs few), 256 from one address, 10 s to
    /// speak, 5 minutes of silence, 512 calls at once on one connection.
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_peer: 256,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_calls_per_connection: 512,
        }
    }
}

/// Bytes a connection must send before the handshake timeout stops
/// applying: the length of the HTTP/2 client preface.
const HANDSHAKE_BYTES: u64 = 24;

/// How long accepting pauses after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Refusals and accept failures are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// `listener`'s connections within `limits`, with Nagle's algorithm off
/// (gRPC writes small frames and must not wait ~40 ms for delayed ACKs).
pub fn incoming(listener: TcpListener, limits: ConnectionLimits) -> LimitedIncoming {
    LimitedIncoming {
        inner: TcpIncoming::from(listener).with_nodelay(Some(true)),
        open: Arc::new(Semaphore::new(limits.max_connections)),
        peers: Arc::new(std::sync::Mutex::new(std::collections::HashMap::new())),
        limits,
        backoff: None,
        refused: Arc::new(RateLimitedWarning::default()),
    }
}

/// The accept stream: see [`incoming`].
pub struct LimitedIncoming {
    inner: TcpIncoming,
    open: Arc<Semaphore>,
    /// Open connections per peer address.
    peers: Peers,
    limits: ConnectionLimits,
    backoff: Option<Pin<Box<Sleep>>>,
    refused: Arc<RateLimitedWarning>,
}

impl Stream for LimitedIncoming {
    type Item = io::Result<LimitedConnection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(backoff) = &mut self.backoff {
                ready!(backoff.as_mut().poll(cx));
                self.backoff = None;
            }
            match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(stream)) => {
                    let peer = PeerSlot::take(&self.peers, &stream, self.limits);
                    match (self.open.clone().try_acquire_owned(), peer) {
                        (Ok(permit), Some(peer)) => {
                            return Poll::Ready(Some(Ok(LimitedConnection::new(
                                stream,
                                (permit, peer),
                                self.limits,
                            ))));
                        }
                        (open, peer) => {
                            let (max, per_peer) = (
                                self.limits.max_connections,
                                self.limits.max_connections_per_peer,
                            );
                            let from_one_peer = open.is_ok() && peer.is_none();
                            self.refused.warn(|refused| {
                                tracing::warn!(
                                    max_connections = max,
                                    max_connections_per_peer = per_peer,
                                    from_one_peer,
                                    refused,
                                    "connection refused: too many connections"
                                );
                            });
                            tokio::spawn(refuse(stream));
                        }
                    }
                }
                Some(Err(error)) => {
                    if is_resource_shortage(&error) {
                        self.refused.warn(|_| {
                            tracing::warn!(%error, "cannot accept connections; pausing");
                        });
                        self.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                    }
                    // Other accept errors concern one connection only.
                }
            }
        }
    }
}

fn is_resource_shortage(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
        || error.kind() == io::ErrorKind::OutOfMemory
}

/// Tells an HTTP/2 peer why it is refused (an empty SETTINGS frame, then
/// GOAWAY with ENHANCE_YOUR_CALM and a reason), then closes.
async fn refuse(mut stream: TcpStream) {
    const REASON: &[u8] = b"too many connections";
    let mut frames = Vec::with_capacity(9 + 9 + 8 + REASON.len());
    // SETTINGS: length 0, type 4, flags 0, stream 0.
    frames.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    // GOAWAY: type 7, stream 0; last stream 0, error 0xb, debug data.
    let length = u32::try_from(8 + REASON.len()).unwrap_or(0).to_be_bytes();
    frames.extend_from_slice(&[length[1], length[2], length[3], 7, 0, 0, 0, 0, 0]);
    frames.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x0b]);
    frames.extend_from_slice(REASON);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&frames).await?;
        stream.shutdown().await
    })
    .await;
}

type Peers = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// A connection's place among its peer address's; given back on drop.
struct PeerSlot {
    peers: Peers,
    address: Option<std::net::IpAddr>,
}

impl PeerSlot {
    /// A place for `stream`'s peer, unless it holds its share already.
    fn take(peers: &Peers, stream: &TcpStream, limits: ConnectionLimits) -> Option<Self> {
        let address = stream.peer_addr().ok().map(|address| address.ip());
        let (Some(ip), true) = (address, limits.max_connections_per_peer > 0) else {
            return Some(Self {
                peers: peers.clone(),
                address: None,
            });
        };
        let mut open = peers.lock().ok()?;
        let count = open.entry(ip).or_insert(0);
        if *count >= limits.max_connections_per_peer {
            return None;
        }
        *count += 1;
        Some(Self {
            peers: peers.clone(),
            address: Some(ip),
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let Some(ip) = self.address else {
            return;
        };
        if let Ok(mut open) = self.peers.lock()
            && let Some(count) = open.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// Logs a warning at most once per [`WARN_EVERY`], with how many times
/// it happened since the last one.
#[derive(Debug, Default)]
struct RateLimitedWarning {
    count: AtomicU64,
    last: std::sync::Mutex<Option<Instant>>,
}

impl RateLimitedWarning {
    fn warn(&self, log: impl FnOnce(u64)) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_none_or(|last| now.duration_since(last) >= WARN_EVERY) {
            *last = Some(now);
            self.count.store(0, Ordering::Relaxed);
            log(count);
        }
    }
}

/// One accepted connection: holds its slot until dropped, and fails its
/// reads once the handshake or idle deadline passes.
pub struct LimitedConnection {
    stream: TcpStream,
    _slot: (OwnedSemaphorePermit, PeerSlot),
    limits: ConnectionLimits,
    calls: Arc<Semaphore>,
    received: u64,
    deadline: Pin<Box<Sleep>>,
}

impl LimitedConnection {
    fn new(
        stream: TcpStream,
        slot: (OwnedSemaphorePermit, PeerSlot),
        limits: ConnectionLimits,
    ) -> Self {
        Self {
            stream,
            _slot: slot,
            limits,
            calls: Arc::new(Semaphore::new(limits.max_calls_per_connection)),
            received: 0,
            deadline: Box::pin(tokio::time::sleep(limits.handshake_timeout)),
        }
    }
}

impl LimitedConnection {
    /// Bytes moved: once the handshake is in, the idle deadline restarts.
    fn moved(&mut self) {
        if self.received >= HANDSHAKE_BYTES {
            let idle = Instant::now() + self.limits.idle_timeout;
            self.deadline.as_mut().reset(idle);
        }
    }
}

/// What a call knows of its connection (tonic puts it in each request's
/// extensions): its addresses, and its in-flight calls.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub tcp: TcpConnectInfo,
    /// One permit per call the connection may still start.
    calls: Arc<Semaphore>,
    max_calls: usize,
}

impl Connected for LimitedConnection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ConnectionInfo {
            tcp: self.stream.connect_info(),
            calls: self.calls.clone(),
            max_calls: self.limits.max_calls_per_connection,
        }
    }
}

/// Refuses a call with RESOURCE_EXHAUSTED when its connection already has
/// [`ConnectionLimits::max_calls_per_connection`] in flight; a call holds
/// its place until its response (headers) is ready, as tonic's limit did.
/// Calls on connections not accepted by [`incoming`] pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallsPerConnectionLayer;

impl<S> tower::Layer<S> for CallsPerConnectionLayer {
    type Service = CallsPerConnection<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallsPerConnection { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CallsPerConnection<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for CallsPerConnection<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let permit = match request.extensions().get::<ConnectionInfo>() {
            None => None,
            Some(info) => match info.calls.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let refusal = tonic::Status::resource_exhausted(format!(
                        "overloaded: this connection already has {} calls in flight, the \
                         most one connection may; retry, or spread calls over more \
                         connections",
                        info.max_calls
                    ));
                    return Box::pin(std::future::ready(Ok(refusal.into_http())));
                }
            },
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(permit);
            response
        })
    }
}

impl AsyncRead for LimitedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                if read > 0 {
                    self.received = self.received.saturating_add(read as u64);
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let what = if self.received < HANDSHAKE_BYTES {
                        "no handshake"
                    } else {
                        "idle"
                    };
                    tracing::debug!(what, "closing a silent connection");
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connection closed: {what} within the time allowed"),
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for LimitedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(written)) if written > 0) {
            self.moved();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(written)) if written > 0) {
            self.moved();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
