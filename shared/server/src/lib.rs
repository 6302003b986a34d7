//! Server bootstrap shared by every service: gRPC health checking, server
//! reflection, a request span that joins the caller's W3C trace, overload
//! protection, and graceful shutdown (stop accepting, finish in-flight
//! calls, then return).

pub mod admission;
pub mod connections;
pub mod limits;
pub mod malloc;

pub use connections::ConnectionLimits;

use std::future::Future;
use std::time::Duration;

use estate_auth::{RequirePrincipalLayer, TokenSigner};
use estate_clock::SharedClock;
use prost::Message;
use prost_types::FileDescriptorSet;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// How often a server pings an HTTP/2 peer that sent nothing, and how
/// long it waits for the answer before closing the connection: dead peers
/// go within a minute.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Most concurrent calls one connection may have in flight; beyond it,
/// calls are shed with UNAVAILABLE rather than queued without bound.
const CONCURRENCY_PER_CONNECTION: usize = 512;

/// Adds health and reflection for `service_names`, the services a server
/// hosts, to `routes`. Reflection lists exactly those services and serves
/// only `descriptors`, so a gateway given the public descriptor set never
/// reveals internal contracts. Both reflection protocol versions are served:
/// v1 for current tools, v1alpha for older grpcurl releases.
pub fn with_health_and_reflection(
    routes: Routes,
    service_names: &[&'static str],
    descriptors: FileDescriptorSet,
) -> anyhow::Result<(HealthReporter, Routes)> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health_descriptors = FileDescriptorSet::decode(tonic_health::pb::FILE_DESCRIPTOR_SET)?;
    let configure = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_file_descriptor_set(descriptors.clone())
            .register_file_descriptor_set(health_descriptors.clone())
            .with_service_name("grpc.health.v1.Health");
        for name in service_names {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    let reflection_v1 = configure().build_v1()?;
    let reflection_v1alpha = configure().build_v1alpha()?;
    let routes = routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok((reporter, routes))
}

/// Marks every service serving now and not serving once `shutdown` fires,
/// then resolves, so load balancers drain the server before it stops.
pub async fn report_health(
    reporter: HealthReporter,
    service_names: Vec<&'static str>,
    shutdown: impl Future<Output = ()>,
) {
    for name in service_names.iter().copied().chain([""]) {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    shutdown.await;
    for name in service_names.iter().copied().chain([""]) {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
}

/// A span per call, child of the caller's trace when it sent `traceparent`.
pub fn request_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc.request",
        rpc = %request.uri().path(),
        otel.kind = "server",
    );
    estate_telemetry::set_parent_from_headers(&span, request.headers());
    span
}

/// Settings of a backend that keeps tenant data and asks the customers
/// service who may see it (licensing, billing).
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub database_url: String,
    /// Shared secret of internal tokens.
    pub internal_token_secret: String,
    /// Where the customers service (access decisions) listens.
    pub customers_url: String,
    /// Apply migrations at start (off when an init container does it).
    pub migrate: bool,
    pub database_pool_size: usize,
    /// Bounds on the server's connections.
    pub connections: ConnectionLimits,
}

/// [`serve_backend`] with a background `worker` beside it. The worker's
/// token is cancelled as soon as `shutdown` resolves, before the server
/// drains, so a worker stops taking new work while calls finish; the
/// function returns once both have stopped.
#[allow(clippy::too_many_arguments)]
pub async fn serve_backend_with_worker<W>(
    routes: Routes,
    service_names: &[&'static str],
    token_secret: &str,
    clock: SharedClock,
    listener: TcpListener,
    connections: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    worker: impl FnOnce(CancellationToken) -> W,
) -> anyhow::Result<()>
where
    W: Future<Output = ()> + Send + 'static,
{
    let stop = CancellationToken::new();
    let task = tokio::spawn(worker(stop.clone()));
    let signal = {
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    };
    let served = serve_backend(
        routes,
        service_names,
        token_secret,
        clock,
        listener,
        connections,
        signal,
    )
    .await;
    // Also when the server failed on its own.
    stop.cancel();
    if let Err(error) = task.await {
        tracing::error!(%error, "background worker stopped abnormally");
    }
    served
}

/// Serves a backend's `routes` on `listener` until `shutdown` resolves, then
/// waits for in-flight calls to finish. Every call except health and
/// reflection must carry an internal token signed with `token_secret`.
pub async fn serve_backend(
    routes: Routes,
    service_names: &[&'static str],
    token_secret: &str,
    clock: SharedClock,
    listener: TcpListener,
    connections: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let auth = RequirePrincipalLayer::new(TokenSigner::internal(token_secret, clock));
    let (reporter, routes) =
        with_health_and_reflection(routes, service_names, estate_proto::descriptor_set())?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let names = service_names.to_vec();
    let health = tokio::spawn(report_health(reporter, names, async move {
        shutdown.await;
        let _ = stop_tx.send(());
    }));

    // Layers, outermost first: the request span wraps everything so even
    // rejected calls are traced; every status leaving is bounded, whoever
    // made it; overload protection sheds before any work; request messages
    // are checked against their contract as the handler reads them; the
    // principal check runs last, next to the handlers.
    Server::builder()
        .trace_fn(request_span)
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .load_shed(true)
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .layer(limits::BoundedStatusLayer)
        .layer(limits::RequestLimitsLayer::platform())
        .layer(auth)
        .add_routes(routes)
        .serve_with_incoming_shutdown(connections::incoming(listener, connections), async move {
            let _ = stop_rx.await;
        })
        .await?;
    health.abort();
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes stopping a pod) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received, draining in-flight calls");
}
