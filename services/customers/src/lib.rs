//! The customers service: organizations (distributors, partners, customers),
//! identities (API keys) and the access rules every other service asks
//! about through the internal `IdentityService`.
//!
//! Layout: `api/` holds the gRPC adapters (authorize, validate, convert),
//! `db/` one module per aggregate, `access` the rule of who may see whom.

mod access;
mod api;
mod bootstrap;
mod db;
mod keys;

use std::future::Future;
use std::sync::Arc;

use estate_clock::SharedClock;
use estate_proto::customers::api_keys_service_server::ApiKeysServiceServer;
use estate_proto::customers::organizations_service_server::OrganizationsServiceServer;
use estate_proto::internal::identity_service_server::IdentityServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use bootstrap::BootstrapAdmin;

/// The services this server hosts, as health checking and reflection name
/// them.
pub const SERVICE_NAMES: &[&str] = &[
    "estate.customers.v1.OrganizationsService",
    "estate.customers.v1.ApiKeysService",
    "estate.internal.v1.IdentityService",
];

/// The schema this service owns.
pub const SCHEMA: &str = "customers";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// Shared secret for internal tokens.
    pub internal_token_secret: String,
    /// Apply migrations at start (off when an init container does it).
    pub migrate: bool,
    /// What to do about the first platform administrator credential.
    pub bootstrap_admin: BootstrapAdmin,
    /// Maximum database connections.
    pub database_pool_size: usize,
}

/// Applies this service's migrations to its schema.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    estate_db::migrate(database_url, SCHEMA, embedded::migrations::runner()).await
}

/// State shared by the handlers.
#[derive(Debug, Clone)]
struct AppState {
    pool: estate_db::Pool,
    clock: SharedClock,
}

/// Runs the service on `listener` until `shutdown` resolves; in-flight
/// calls finish before it returns.
pub async fn serve(
    config: Config,
    clock: SharedClock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let migrations = config.migrate.then(embedded::migrations::runner);
    let pool = estate_db::open(
        &config.database_url,
        SCHEMA,
        migrations,
        config.database_pool_size,
    )
    .await?;
    bootstrap::ensure_admin_key(&pool, clock.as_ref(), &config.bootstrap_admin).await?;

    let state = Arc::new(AppState {
        pool,
        clock: clock.clone(),
    });
    let routes = Routes::new(OrganizationsServiceServer::new(api::Organizations(
        state.clone(),
    )))
    .add_service(ApiKeysServiceServer::new(api::ApiKeys(state.clone())))
    .add_service(IdentityServiceServer::new(api::Identity(state)));
    tracing::info!(address = %listener.local_addr()?, "customers service listening");
    estate_server::serve_backend(
        routes,
        SERVICE_NAMES,
        &config.internal_token_secret,
        clock,
        listener,
        shutdown,
    )
    .await
}
