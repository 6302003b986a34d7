//! The billing service: service plans and (in later issues) partners,
//! product licenses, usage and billing reports. Every row belongs to one
//! distributor (tenant); every call is authorized against it by the customers
//! service before any data is read or written.

mod api;
mod db;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use estate_auth::{AccessChecker, RequirePrincipalLayer, TokenSigner};
use estate_clock::SharedClock;
use estate_proto::billing::service_plans_service_server::ServicePlansServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The services this server hosts.
pub const SERVICE_NAMES: &[&str] = &["estate.billing.v1.ServicePlansService"];

/// The schema this service owns.
pub const SCHEMA: &str = "billing";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub internal_token_secret: String,
    /// Where the customers service (access decisions) listens.
    pub customers_url: String,
    pub migrate: bool,
    pub database_pool_size: usize,
}

/// Applies this service's migrations to its schema.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    estate_db::migrate(database_url, SCHEMA, embedded::migrations::runner()).await
}

#[derive(Debug, Clone)]
struct AppState {
    pool: estate_db::Pool,
    clock: SharedClock,
    access: AccessChecker,
}

/// Runs the service on `listener` until `shutdown` resolves; in-flight
/// calls finish before it returns.
pub async fn serve(
    config: Config,
    clock: SharedClock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if config.migrate {
        migrate(&config.database_url).await?;
    }
    let pool = estate_db::pool(&config.database_url, SCHEMA, config.database_pool_size)?;
    let access = AccessChecker::connect_lazy(&config.customers_url, Duration::from_secs(2))?;
    let state = Arc::new(AppState {
        pool,
        clock: clock.clone(),
        access,
    });
    let signer = TokenSigner::new(
        config.internal_token_secret.as_bytes(),
        clock,
        Duration::from_secs(60),
    );
    let routes = Routes::new(ServicePlansServiceServer::new(api::ServicePlans(state)));
    tracing::info!(address = %listener.local_addr()?, "billing service listening");
    estate_server::serve_backend(
        routes,
        SERVICE_NAMES,
        RequirePrincipalLayer::new(signer),
        listener,
        shutdown,
    )
    .await
}
