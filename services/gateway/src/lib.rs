//! The gateway: the platform's only public entry.
//!
//! It routes every call by its service name to the backend that owns the
//! service without knowing the APIs themselves (a transparent HTTP/2
//! proxy, so streaming calls pass through unchanged), authenticates the
//! caller's API key through the customers service (cached briefly), strips
//! any identity metadata the caller sent, and forwards a short-lived signed
//! internal token instead. It also serves health, reflection over the
//! public services, and gRPC-Web for browsers.

mod credentials;
mod proxy;

use std::future::Future;
use std::time::Duration;

use estate_auth::TokenSigner;
use estate_clock::SharedClock;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;

pub use credentials::CredentialResolver;
pub use proxy::Proxy;

/// Everything the gateway needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub customers_url: String,
    pub licensing_url: String,
    pub billing_url: String,
    pub internal_token_secret: String,
    /// How long a resolved credential is trusted without asking the
    /// customers service again; bounds how late a revocation takes effect.
    pub credential_cache_ttl: Duration,
    /// How long to wait for a backend connection before answering
    /// UNAVAILABLE.
    pub backend_connect_timeout: Duration,
    /// Bounds on the connections clients open.
    pub connections: estate_server::ConnectionLimits,
}

/// Runs the gateway on `listener` until `shutdown` resolves; in-flight calls
/// (streams included) finish before it returns.
pub async fn serve(
    config: Config,
    clock: SharedClock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let signer = TokenSigner::internal(&config.internal_token_secret, clock);
    let resolver = CredentialResolver::new(&config, signer)?;
    let proxy = Proxy::new(&config, resolver)?;

    let router = axum::Router::new().fallback_service(proxy);
    let (reporter, routes) = estate_server::with_health_and_reflection(
        Routes::from(router),
        estate_proto::PUBLIC_SERVICES,
        estate_proto::public_descriptor_set(),
    )?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let health = tokio::spawn(estate_server::report_health(
        reporter,
        estate_proto::PUBLIC_SERVICES.to_vec(),
        async move {
            shutdown.await;
            let _ = stop_tx.send(());
        },
    ));
    tracing::info!(address = %listener.local_addr()?, "gateway listening");

    // Layers, outermost first: the request span wraps everything; every
    // status leaving is bounded (the gateway's own and the backends');
    // gRPC-Web translation happens before routing so the proxy only ever
    // sees gRPC.
    // No concurrency limit here: the gateway holds no expensive resource of
    // its own, and backends shed load themselves.
    Server::builder()
        .accept_http1(true)
        .trace_fn(estate_server::request_span)
        .http2_keepalive_interval(Some(estate_server::KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(estate_server::KEEPALIVE_TIMEOUT))
        .layer(estate_server::limits::BoundedStatusLayer)
        .layer(tonic_web::GrpcWebLayer::new())
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            estate_server::connections::incoming(listener, config.connections),
            async move {
                let _ = stop_rx.await;
            },
        )
        .await?;
    health.abort();
    Ok(())
}
