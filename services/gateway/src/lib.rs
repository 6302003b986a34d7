//! The gateway: the platform's only public entry.
//!
//! It routes every call by its service name to the backend that owns the
//! service without knowing the APIs themselves (a transparent HTTP/2
//! proxy, so streaming calls pass through unchanged), authenticates the
//! caller's API key through the customers service (cached briefly), strips
//! any identity metadata the caller sent, and forwards a short-lived signed
//! internal token instead. It also serves health, reflection over the
//! public services, gRPC-Web for browsers, and the web console (static
//! files from `/`, see `console`).

mod console;
mod cors;
mod credentials;
mod proxy;

use std::future::Future;
use std::time::Duration;

use estate_auth::TokenSigner;
use estate_clock::SharedClock;
use estate_server::Dependency;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;

pub use console::{CONTENT_SECURITY_POLICY, is_built as console_is_built};
pub use credentials::CredentialResolver;
pub use proxy::Proxy;

/// Everything the gateway needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where each backend's replicas are (comma-separated URLs; names are
    /// resolved again and again, see `estate_transport::balance`).
    pub customers_url: String,
    pub licensing_url: String,
    pub billing_url: String,
    pub internal_token_secret: String,
    /// How long a resolved credential is trusted without asking the
    /// customers service again; bounds how late a revocation takes effect.
    pub credential_cache_ttl: Duration,
    /// How the gateway listens (TLS, connections, shutdown).
    pub server: estate_server::ServerOptions,
    /// How the gateway reaches the backends.
    pub client: estate_transport::ChannelOptions,
    /// Origins a browser may call the API from (gRPC-Web); none when
    /// empty.
    pub cors_allowed_origins: Vec<String>,
}

/// Runs the gateway on `listener` until `shutdown` resolves, then drains
/// it (see `estate_server::serving`).
pub async fn serve(
    config: Config,
    clock: SharedClock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let signer = TokenSigner::internal(&config.internal_token_secret, clock);
    let proxy = Proxy::new(&config, signer)?;
    let dependencies = dependencies(&proxy);
    let cors = cors::layer(&config.cors_allowed_origins)?;

    let router = axum::Router::new().fallback_service(proxy);
    let (reporter, routes) = estate_server::with_health_and_reflection(
        Routes::from(router),
        estate_proto::PUBLIC_SERVICES,
        estate_proto::public_descriptor_set(),
    )?;
    let tls = config.server.tls_config(&[b"h2", b"http/1.1"])?;
    let lifecycle = estate_server::serving::Lifecycle::start(
        "gateway",
        &config.server,
        reporter,
        estate_proto::PUBLIC_SERVICES.to_vec(),
        dependencies,
    )
    .await?;
    tracing::info!(
        address = %listener.local_addr()?,
        tls = tls.is_some(),
        console = console::is_built(),
        "gateway listening"
    );

    // Layers, outermost first: every status leaving is bounded (the
    // gateway's own and the backends'); the web console's files answer
    // every GET and HEAD (gRPC is always a POST); browsers' CORS preflights are
    // answered; gRPC-Web translation happens before anything else sees
    // the call, so the call's span, metrics and access log (next) and the
    // proxy only ever see gRPC; calls still open at the end of a shutdown
    // are ended.
    // No concurrency limit here: the gateway holds no expensive resource of
    // its own, and backends shed load themselves.
    let server = Server::builder()
        .accept_http1(true)
        .http2_keepalive_interval(Some(estate_server::KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(estate_server::KEEPALIVE_TIMEOUT))
        .max_connection_age(config.server.max_connection_age)
        .max_connection_age_grace(config.server.shutdown_grace)
        .layer(estate_server::limits::BoundedStatusLayer)
        .layer(console::ConsoleLayer)
        .layer(cors)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(estate_server::ObserveLayer::new(
            "gateway",
            estate_proto::PUBLIC_SERVICES,
        ))
        .layer(lifecycle.layer())
        .add_routes(routes);
    let incoming = estate_server::incoming::incoming(listener, config.server.connections, tls);
    let served = lifecycle
        .run(&config.server, shutdown, |stop| {
            server.serve_with_incoming_shutdown(incoming, stop)
        })
        .await;
    Ok(served?)
}

/// What the gateway needs to serve: the customers service accepting its
/// token (every call is authenticated there: the whole gateway), and each
/// backend serving (only the public services it owns, so one backend
/// down does not take the gateway out of rotation for the others).
fn dependencies(proxy: &Proxy) -> Vec<Dependency> {
    let resolver = proxy.resolver().clone();
    let mut dependencies = vec![Dependency::of_all(
        "customers (authentication)",
        move || {
            let resolver = resolver.clone();
            async move { resolver.probe().await }
        },
    )];
    for (name, services, channel) in proxy.backends() {
        dependencies.push(Dependency::of(name, services, move || {
            let mut client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            async move {
                let answer = client
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .map_err(|status| format!("unreachable: {}", status.message()))?;
                match answer.into_inner().status() {
                    tonic_health::pb::health_check_response::ServingStatus::Serving => Ok(()),
                    other => Err(format!("reports {}", other.as_str_name())),
                }
            }
        }));
    }
    dependencies
}
