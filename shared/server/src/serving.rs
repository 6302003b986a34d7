//! How a server stops and what it says about itself meanwhile.
//!
//! Health: every service name a server hosts (and `""`, the whole server)
//! is SERVING only while the server's dependencies answer — its database,
//! the customers service accepting its internal token, the backends it
//! routes to — checked every [`HEALTH_INTERVAL`]; a failure flips it to
//! NOT_SERVING within seconds and a recovery flips it back. The service
//! name `liveness` only says the process runs, for liveness probes that
//! must not restart a pod because its database is down.
//!
//! Shutdown, bounded: on the signal every name but `liveness` turns
//! NOT_SERVING and `Health/Watch` streams end; the server keeps accepting
//! for [`ServerOptions::shutdown_delay`] (so load balancers see the change
//! before the listener closes), then stops accepting and lets calls
//! finish for at most [`ServerOptions::shutdown_grace`]; whatever is still
//! open then (a stream, a stalled upload) ends with UNAVAILABLE "the
//! server is shutting down", and the server returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body::Frame;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::Status;
use tonic::body::Body;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::ServerOptions;

/// How often dependencies are checked.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// How often a failing dependency is checked again.
pub const HEALTH_RETRY: Duration = Duration::from_millis(250);

/// How long one dependency check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The service name that reports only that the process is alive.
pub const LIVENESS: &str = "liveness";

/// The path of the health stream that would otherwise never end.
const HEALTH_WATCH: &str = "/grpc.health.v1.Health/Watch";

/// A check of one dependency: `Ok` when it can serve, else why not.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Something a server needs to serve.
#[derive(Clone)]
pub struct Dependency {
    /// Its name in logs (`database`, `customers`).
    pub name: &'static str,
    /// The hosted service names it affects; empty: all of them and the
    /// whole server (`""`), which a dependency of some services only
    /// leaves alone.
    pub services: Vec<&'static str>,
    pub check: Check,
}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency")
            .field("name", &self.name)
            .field("services", &self.services)
            .finish()
    }
}

impl Dependency {
    /// A dependency of every hosted service.
    pub fn of_all<F, Fut>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            services: Vec::new(),
            check: Arc::new(move || Box::pin(check())),
        }
    }

    /// A dependency of `services` only.
    pub fn of<F, Fut>(name: &'static str, services: Vec<&'static str>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            services,
            ..Self::of_all(name, check)
        }
    }
}

/// The two moments of a shutdown, shared by the health task, the drain
/// layer and [`drive`].
#[derive(Debug, Clone, Default)]
pub struct Drain {
    /// The signal came: NOT_SERVING.
    pub draining: CancellationToken,
    /// NOT_SERVING has been reported: health streams, having sent it, end.
    pub reported: CancellationToken,
    /// The grace is over: every call still open ends.
    pub deadline: CancellationToken,
}

/// Keeps `reporter` true to `dependencies` until `drain.draining` fires,
/// then reports NOT_SERVING for everything but [`LIVENESS`].
pub async fn report_health(
    server: &'static str,
    reporter: HealthReporter,
    services: Vec<&'static str>,
    dependencies: Vec<Dependency>,
    drain: Drain,
) {
    reporter
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;
    // Not ready until the dependencies have answered once.
    for service in services.iter().copied().chain([""]) {
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
    let mut reported: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
    let mut failing: Vec<Option<String>> = vec![None; dependencies.len()];
    loop {
        let results = futures::future::join_all(dependencies.iter().map(|dependency| {
            let check = (dependency.check)();
            async move {
                match tokio::time::timeout(CHECK_TIMEOUT, check).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
                }
            }
        }))
        .await;
        for ((dependency, result), was) in dependencies.iter().zip(results).zip(failing.iter_mut())
        {
            match (&result, was.is_some()) {
                (Err(reason), false) => {
                    tracing::warn!(dependency = dependency.name, %reason, "dependency failing: not serving")
                }
                (Ok(()), true) => {
                    tracing::info!(dependency = dependency.name, "dependency recovered")
                }
                _ => {}
            }
            metrics::gauge!(
                "estate_dependency_up",
                "server" => server,
                "dependency" => dependency.name
            )
            .set(if result.is_ok() { 1.0 } else { 0.0 });
            *was = result.err();
        }
        // `""` (the whole server) follows the dependencies of every
        // service; a service name, those of all services and its own.
        let serving = |service: &str| {
            dependencies
                .iter()
                .zip(&failing)
                .all(|(dependency, failure)| {
                    failure.is_none()
                        || !(dependency.services.is_empty()
                            || dependency.services.contains(&service))
                })
        };
        for service in services.iter().copied().chain([""]) {
            let now = serving(service);
            // Only changes: every report wakes every Watch stream.
            if reported.insert(service, now) == Some(now) {
                continue;
            }
            let status = if now {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status(service, status).await;
        }
        // A failing dependency is asked again sooner, so recovery (and a
        // start waiting on its peers) shows within a fraction of a second.
        let next = if failing.iter().any(Option::is_some) {
            HEALTH_RETRY
        } else {
            HEALTH_INTERVAL
        };
        tokio::select! {
            () = drain.draining.cancelled() => break,
            () = tokio::time::sleep(next) => {}
        }
    }
    for service in services.iter().copied().chain([""]) {
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
    drain.reported.cancel();
}

/// Serves `grpc.health.v1` alone, in plaintext, on `address` (the value
/// of `ESTATE_HEALTH_LISTEN`): kubelet probes speak neither TLS nor mutual
/// TLS, so a server whose main port does needs this one for them. It
/// reports what the main port's health reports. Stops when the returned
/// task is aborted.
pub async fn serve_health_port(
    address: std::net::SocketAddr,
    reporter: &HealthReporter,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| {
            anyhow::anyhow!("ESTATE_HEALTH_LISTEN: cannot listen on {address}: {error}")
        })?;
    tracing::info!(%address, "health probes listening (plaintext, health only)");
    let service = tonic_health::pb::health_server::HealthServer::new(
        tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
    );
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    Ok(tokio::spawn(async move {
        if let Err(error) = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!(%error, "the health port stopped");
        }
    }))
}

/// What runs beside every server's routes: its health (and the plaintext
/// health port when configured), and the drain that stops it. The tasks
/// end with the value, on every path out.
#[derive(Debug)]
pub struct Lifecycle {
    pub drain: Drain,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Lifecycle {
    /// Starts reporting the health of `services` from `dependencies`.
    pub async fn start(
        server: &'static str,
        options: &ServerOptions,
        reporter: HealthReporter,
        services: Vec<&'static str>,
        dependencies: Vec<Dependency>,
    ) -> anyhow::Result<Self> {
        let drain = Drain::default();
        let mut tasks = Vec::new();
        if let Some(address) = options.health_listen {
            tasks.push(serve_health_port(address, &reporter).await?);
        }
        tasks.push(tokio::spawn(report_health(
            server,
            reporter,
            services,
            dependencies,
            drain.clone(),
        )));
        Ok(Self { drain, tasks })
    }

    /// The layer that ends calls still open when the drain says so.
    pub fn layer(&self) -> DrainLayer {
        DrainLayer::new(self.drain.clone())
    }

    /// [`drive`]s the server `serve` builds until `shutdown`.
    pub async fn run<F, E>(
        self,
        options: &ServerOptions,
        shutdown: impl Future<Output = ()>,
        serve: impl FnOnce(BoxFuture<'static, ()>) -> F,
    ) -> Result<(), E>
    where
        F: Future<Output = Result<(), E>>,
    {
        drive(options, self.drain.clone(), shutdown, serve).await
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs the server `serve` builds (given the future that tells it to stop
/// accepting) until `shutdown`, then drains it within `options`' bounds.
pub async fn drive<F, E>(
    options: &ServerOptions,
    drain: Drain,
    shutdown: impl Future<Output = ()>,
    serve: impl FnOnce(BoxFuture<'static, ()>) -> F,
) -> Result<(), E>
where
    F: Future<Output = Result<(), E>>,
{
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = serve(Box::pin(async move {
        let _ = stop_rx.await;
    }));
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown => {}
    }
    drain.draining.cancel();
    tracing::info!(
        delay_s = options.shutdown_delay.as_secs_f64(),
        grace_s = options.shutdown_grace.as_secs_f64(),
        "shutting down: not serving; accepting during the delay, then draining calls within the grace"
    );
    tokio::select! {
        result = &mut server => return result,
        () = tokio::time::sleep(options.shutdown_delay) => {}
    }
    let _ = stop_tx.send(());
    tokio::select! {
        result = &mut server => return result,
        () = tokio::time::sleep(options.shutdown_grace) => {}
    }
    tracing::warn!("calls still open after the shutdown grace: ending them with UNAVAILABLE");
    drain.deadline.cancel();
    tokio::select! {
        result = &mut server => result,
        () = tokio::time::sleep(Duration::from_secs(1)) => {
            tracing::warn!("connections still open a second after the grace: closing them");
            Ok(())
        }
    }
}

/// Ends calls as [`Drain`] says (see the module docs).
#[derive(Debug, Clone)]
pub struct DrainLayer {
    drain: Drain,
}

impl DrainLayer {
    pub fn new(drain: Drain) -> Self {
        Self { drain }
    }
}

impl<S> tower::Layer<S> for DrainLayer {
    type Service = Draining<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Draining {
            inner,
            drain: self.drain.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Draining<S> {
    inner: S,
    drain: Drain,
}

fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down; call again")
}

impl<S, B> tower::Service<Request<B>> for Draining<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let end = if request.uri().path() == HEALTH_WATCH {
            self.drain.reported.clone()
        } else {
            self.drain.deadline.clone()
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            tokio::select! {
                biased;
                response = response => Ok(response?.map(|body| Body::new(DrainBody {
                    inner: body,
                    end: Box::pin(end.cancelled_owned()),
                    last_frame_taken: false,
                    done: false,
                }))),
                () = end.cancelled() => Ok(shutting_down().into_http()),
            }
        })
    }
}

/// A response body that ends with UNAVAILABLE trailers once `end` fires,
/// after passing on a message already waiting (the NOT_SERVING a health
/// stream was just given).
struct DrainBody {
    inner: Body,
    end: Pin<Box<WaitForCancellationFutureOwned>>,
    last_frame_taken: bool,
    done: bool,
}

impl http_body::Body for DrainBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.end.as_mut().poll(cx).is_ready() {
            if !this.last_frame_taken {
                this.last_frame_taken = true;
                if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
                    this.done = frame
                        .as_ref()
                        .is_none_or(|frame| frame.as_ref().is_ok_and(Frame::is_trailers));
                    return Poll::Ready(frame);
                }
            }
            this.done = true;
            let mut trailers = http::HeaderMap::new();
            let status = shutting_down();
            trailers.insert("grpc-status", http::HeaderValue::from(status.code() as i32));
            if let Ok(message) = http::HeaderValue::from_str(status.message()) {
                trailers.insert("grpc-message", message);
            }
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame
            .as_ref()
            .is_none_or(|frame| frame.as_ref().is_ok_and(Frame::is_trailers))
        {
            this.done = true;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }
}
