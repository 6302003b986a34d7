//! The customers service: organizations (distributors, partners, customers),
//! identities (API keys) and the access rules every other service asks
//! about through the internal `IdentityService`.
//!
//! Layout: `api/` holds the gRPC adapters (authorize, validate, convert),
//! `db/` one module per aggregate, `rules/` the decisions as pure
//! functions (who may see whom in `rules::access`), `access` the loading
//! of an access decision's facts.
//!
//! # How a request flows
//!
//! 1. The server's layers (`estate_server`): the call's span, metrics and
//!    access log; bounded statuses; drain on shutdown; message size and
//!    contract checks; the internal token turned into a principal.
//! 2. A handler in `api/` parses and validates the request (an error
//!    names the field) and asks `access::require(…, Access::Read | Write)`:
//!    `access` loads the organization's chain, the caller's grants and
//!    standing, and `rules::access::decide` answers.
//! 3. `db/` loads the facts the request needs; `rules/` decides (statuses,
//!    expirations, role ceilings); `db/` stores the outcome in one
//!    transaction; the handler converts it back to the contract.
//! 4. Other services ask the same access question through
//!    `IdentityService.Authorize` (`api/identity.rs`).

mod access;
mod api;
mod bootstrap;
mod db;
mod keys;
mod rules;
mod sync;

use std::future::Future;
use std::sync::Arc;

use estate_clock::SharedClock;
use estate_proto::customers::access_grants_service_server::AccessGrantsServiceServer;
use estate_proto::customers::api_keys_service_server::ApiKeysServiceServer;
use estate_proto::customers::beacons_service_server::BeaconsServiceServer;
use estate_proto::customers::customer_overview_service_server::CustomerOverviewServiceServer;
use estate_proto::customers::entitlements_service_server::EntitlementsServiceServer;
use estate_proto::customers::members_service_server::MembersServiceServer;
use estate_proto::customers::organizations_service_server::OrganizationsServiceServer;
use estate_proto::customers::sync_service_server::SyncServiceServer;
use estate_proto::internal::estate_summary_service_client::EstateSummaryServiceClient;
use estate_proto::internal::identity_service_server::IdentityServiceServer;
use estate_proto::internal::license_usage_summary_service_client::LicenseUsageSummaryServiceClient;
use estate_transport::Balanced;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tonic::service::Routes;

pub use bootstrap::BootstrapAdmin;
pub use sync::{SyncConfig, SyncSchedule};

/// The services this server hosts, as health checking and reflection name
/// them.
pub const SERVICE_NAMES: &[&str] = &[
    "estate.customers.v1.OrganizationsService",
    "estate.customers.v1.ApiKeysService",
    "estate.customers.v1.MembersService",
    "estate.customers.v1.AccessGrantsService",
    "estate.customers.v1.EntitlementsService",
    "estate.customers.v1.BeaconsService",
    "estate.customers.v1.SyncService",
    "estate.customers.v1.CustomerOverviewService",
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
    /// Where the sync gathers estate figures.
    pub licensing_url: String,
    /// Where the sync gathers licenses-and-usage figures.
    pub billing_url: String,
    pub sync: SyncConfig,
    /// How the server listens and stops.
    pub server: estate_server::ServerOptions,
    /// How the service calls licensing and billing.
    pub client: estate_transport::ChannelOptions,
}

/// Checksums of this service's migrations, in order: what tests key a
/// migrated template database by.
pub fn migration_checksums() -> Vec<u64> {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(refinery::Migration::checksum)
        .collect()
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
    /// Wakes the sync worker when a run is queued on demand.
    sync_wakeup: Arc<Notify>,
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

    let sync_wakeup = Arc::new(Notify::new());
    let state = Arc::new(AppState {
        pool: pool.clone(),
        clock: clock.clone(),
        sync_wakeup: sync_wakeup.clone(),
    });
    let worker = Arc::new(sync::Worker {
        pool,
        clock: clock.clone(),
        signer: estate_auth::TokenSigner::internal(&config.internal_token_secret, clock.clone()),
        licensing: EstateSummaryServiceClient::new(Balanced::new(
            "licensing",
            "ESTATE_LICENSING_URL",
            &config.licensing_url,
            config.client.clone(),
        )?),
        billing: LicenseUsageSummaryServiceClient::new(Balanced::new(
            "billing",
            "ESTATE_BILLING_URL",
            &config.billing_url,
            config.client.clone(),
        )?),
        config: config.sync.clone(),
        wakeup: sync_wakeup,
    });
    let routes = Routes::new(estate_server::tuned!(
        OrganizationsServiceServer::new(api::Organizations(state.clone(),)),
        config.server
    ))
    .add_service(estate_server::tuned!(
        ApiKeysServiceServer::new(api::ApiKeys(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        MembersServiceServer::new(api::Members(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        AccessGrantsServiceServer::new(api::AccessGrants(state.clone(),)),
        config.server
    ))
    .add_service(estate_server::tuned!(
        EntitlementsServiceServer::new(api::Entitlements(state.clone(),)),
        config.server
    ))
    .add_service(estate_server::tuned!(
        BeaconsServiceServer::new(api::Beacons(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        SyncServiceServer::new(api::Sync(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        CustomerOverviewServiceServer::new(api::Overview(state.clone(),)),
        config.server
    ))
    .add_service(estate_server::tuned!(
        IdentityServiceServer::new(api::Identity(state.clone())),
        config.server
    ));
    tracing::info!(address = %listener.local_addr()?, "customers service listening");
    // Readiness follows the database only: licensing and billing need
    // customers to be ready, so customers must not wait for them.
    let database = state.pool.clone();
    let backend = estate_server::Backend {
        routes,
        service_names: SERVICE_NAMES,
        token_secret: &config.internal_token_secret,
        clock,
        options: config.server.clone(),
        dependencies: vec![estate_server::Dependency::of_all("database", move || {
            let database = database.clone();
            async move { estate_db::ping(&database).await }
        })],
    };
    estate_server::serve_backend_with_worker(backend, listener, shutdown, move |stop| {
        worker.run(stop)
    })
    .await
}
