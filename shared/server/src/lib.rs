//! Server bootstrap shared by every service: gRPC health checking, server
//! reflection, a request span that joins the caller's W3C trace, overload
//! protection, and graceful shutdown (stop accepting, finish in-flight
//! calls, then return).

pub mod admission;
pub mod connections;
pub mod incoming;
pub mod limits;
pub mod malloc;
pub mod observe;
pub mod serving;

pub use connections::ConnectionLimits;
pub use observe::ObserveLayer;
pub use serving::{Dependency, Drain, DrainLayer};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use estate_auth::{RequirePrincipalLayer, TokenSigner};
use estate_clock::SharedClock;
use prost::Message;
use prost_types::FileDescriptorSet;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;

/// How often a server pings an HTTP/2 peer that sent nothing, and how
/// long it waits for the answer before closing the connection: dead peers
/// go within a minute.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

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

/// Gives a generated service the server's bound on request messages (the
/// limits layer enforces each method's own, before decoding) and lets it
/// compress responses for clients that accept gzip or zstd.
#[macro_export]
macro_rules! tuned {
    ($service:expr, $options:expr) => {
        $service
            .max_decoding_message_size($crate::limits::decoding_bound($options.max_message_bytes))
            .send_compressed(::tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(::tonic::codec::CompressionEncoding::Zstd)
    };
}

/// The short name of the service hosting `services` (`billing` for
/// `estate.billing.v1.…`), as spans and metrics name it.
pub fn service_of(services: &[&'static str]) -> &'static str {
    services
        .first()
        .and_then(|name| name.split('.').nth(1))
        .unwrap_or("server")
}

/// How a server listens, speaks and stops (every process has one).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Bounds on the connections clients open.
    pub connections: ConnectionLimits,
    /// Serve TLS from these files (reloaded when they change).
    pub tls: Option<estate_transport::ServerTlsFiles>,
    /// After the shutdown signal: how long the server keeps accepting
    /// while it reports NOT_SERVING, so load balancers stop sending first.
    pub shutdown_delay: Duration,
    /// Then: how long calls may take to finish before they are ended.
    pub shutdown_grace: Duration,
    /// Connections older than this are closed gracefully, so long-lived
    /// clients reconnect and spread over new replicas.
    pub max_connection_age: Duration,
    /// Largest request message (after decompression).
    pub max_message_bytes: usize,
    /// Where to serve health alone in plaintext (for probes when the main
    /// port speaks TLS).
    pub health_listen: Option<std::net::SocketAddr>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            connections: ConnectionLimits::default(),
            tls: None,
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(20),
            max_connection_age: Duration::from_secs(300),
            max_message_bytes: limits::DEFAULT_MAX_MESSAGE_BYTES,
            health_listen: None,
        }
    }
}

impl ServerOptions {
    /// The rustls configuration when TLS is configured, offering `alpn`.
    pub fn tls_config(&self, alpn: &[&[u8]]) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        match &self.tls {
            Some(files) => Ok(Some(estate_transport::tls::server_config(files, alpn)?)),
            None => Ok(None),
        }
    }
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
    /// How the server listens and stops.
    pub server: ServerOptions,
    /// How the service calls others.
    pub client: estate_transport::ChannelOptions,
}

/// A backend server: what it hosts and how it runs.
pub struct Backend<'a> {
    pub routes: Routes,
    /// The gRPC services it hosts (health reports each).
    pub service_names: &'a [&'static str],
    /// Secret of the internal tokens every call must carry.
    pub token_secret: &'a str,
    pub clock: SharedClock,
    pub options: ServerOptions,
    /// What it needs to serve (readiness follows them).
    pub dependencies: Vec<Dependency>,
}

/// What licensing and billing need to serve: their database, and the
/// customers service accepting their internal token (every tenant-scoped
/// call asks it for access).
pub fn backend_dependencies(
    service: &'static str,
    pool: estate_db::Pool,
    access: estate_auth::AccessChecker,
    token_secret: &str,
    clock: SharedClock,
) -> Vec<Dependency> {
    let signer = TokenSigner::internal(token_secret, clock);
    vec![
        Dependency::of_all("database", move || {
            let pool = pool.clone();
            async move { estate_db::ping(&pool).await }
        }),
        Dependency::of_all("customers", move || {
            let access = access.clone();
            let token =
                estate_auth::CallerToken(signer.sign(&estate_auth::Principal::service(service)));
            async move { access.probe(&token).await }
        }),
    ]
}

/// [`serve_backend`] with a background `worker` beside it. The worker's
/// token is cancelled as soon as `shutdown` resolves, before the server
/// drains, so a worker stops taking new work while calls finish; the
/// function returns once both have stopped.
pub async fn serve_backend_with_worker<W>(
    backend: Backend<'_>,
    listener: TcpListener,
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
    let served = serve_backend(backend, listener, signal).await;
    // Also when the server failed on its own.
    stop.cancel();
    if let Err(error) = task.await {
        tracing::error!(%error, "background worker stopped abnormally");
    }
    served
}

/// Serves a backend on `listener` until `shutdown` resolves, then drains
/// it (see [`serving`]). Every call except health and reflection must
/// carry an internal token signed with the backend's secret.
pub async fn serve_backend(
    backend: Backend<'_>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Backend {
        routes,
        service_names,
        token_secret,
        clock,
        options,
        dependencies,
    } = backend;
    let service = service_of(service_names);
    let auth = RequirePrincipalLayer::new(TokenSigner::internal(token_secret, clock));
    let (reporter, routes) =
        with_health_and_reflection(routes, service_names, estate_proto::descriptor_set())?;
    let tls = options.tls_config(&[b"h2"])?;
    let lifecycle = serving::Lifecycle::start(
        service,
        &options,
        reporter,
        service_names.to_vec(),
        dependencies,
    )
    .await?;

    // Layers, outermost first: the call's span, metrics and access log
    // wrap everything else, so even a call refused next is counted and
    // logged; a connection with too many calls in flight has the next
    // one refused (RESOURCE_EXHAUSTED) before any work; every status leaving is
    // bounded, whoever made it; calls still open at the end of a shutdown are ended;
    // overload protection sheds before any work; request messages are
    // decompressed and checked against their contract as the handler
    // reads them; the principal check runs last, next to the handlers.
    let server = Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_connection_age(options.max_connection_age)
        .max_connection_age_grace(options.shutdown_grace)
        .layer(ObserveLayer::new(service, service_names))
        .layer(connections::CallsPerConnectionLayer)
        .layer(limits::BoundedStatusLayer)
        .layer(lifecycle.layer())
        .layer(limits::RequestLimitsLayer::platform(
            options.max_message_bytes,
        ))
        .layer(auth)
        .add_routes(routes);
    let incoming = incoming::incoming(listener, options.connections, tls);
    let served = lifecycle
        .run(&options, shutdown, |stop| {
            server.serve_with_incoming_shutdown(incoming, stop)
        })
        .await;
    Ok(served?)
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
