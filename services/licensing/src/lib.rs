//! The licensing service: a customer's estate, its licenses, agreements
//! and catalog, and compliance (calculated by the pure engine crate in
//! `engine/`). Every row belongs to one customer (tenant); every call is
//! authorized against that tenant by the customers service before any
//! data is read or written.
//!
//! # How a request flows
//!
//! 1. The server's layers (`estate_server`): the call's span, metrics and
//!    access log; bounded statuses; drain on shutdown; message size and
//!    contract checks; the internal token turned into a principal.
//! 2. A handler in `api/` parses and validates the request (an error
//!    names the field), then asks the customers service whether the
//!    caller may read or change that customer (`AppState::authorize`,
//!    with `estate_auth::Access`; changes also need the SAM capability).
//! 3. `rules/` decides what the domain says about the request over facts
//!    `db/` loads: the license policy and completeness (`rules::licenses`),
//!    what a license references (`rules::references`), whether it may be
//!    assigned (`rules::assignments`), and what archiving or unarchiving
//!    takes along over the customer's license graph (`rules::archive`,
//!    loaded by `db::licenses::graph`); `db/` stores the outcome in one
//!    transaction.
//! 4. A compliance run (`compliance/`) reads the estate, hands it to the
//!    engine, and stores the results in chunks; its progress streams back
//!    to the caller.

mod api;
mod compliance;
mod db;
mod ingest;
mod rules;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use estate_auth::AccessChecker;
use estate_clock::SharedClock;
use estate_proto::internal::estate_summary_service_server::EstateSummaryServiceServer;
use estate_proto::licensing::agreements_service_server::AgreementsServiceServer;
use estate_proto::licensing::catalog_service_server::CatalogServiceServer;
use estate_proto::licensing::compliance_service_server::ComplianceServiceServer;
use estate_proto::licensing::inventory_service_server::InventoryServiceServer;
use estate_proto::licensing::license_policy_service_server::LicensePolicyServiceServer;
use estate_proto::licensing::licenses_service_server::LicensesServiceServer;
use estate_proto::licensing::organization_structure_service_server::OrganizationStructureServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The services this server hosts.
pub const SERVICE_NAMES: &[&str] = &[
    "estate.licensing.v1.LicensesService",
    "estate.licensing.v1.OrganizationStructureService",
    "estate.licensing.v1.CatalogService",
    "estate.licensing.v1.InventoryService",
    "estate.licensing.v1.AgreementsService",
    "estate.licensing.v1.LicensePolicyService",
    "estate.licensing.v1.ComplianceService",
    "estate.internal.v1.EstateSummaryService",
];

/// Compliance report exports streaming at once in one process.
const MAX_EXPORTS: usize = 16;

/// The schema this service owns.
pub const SCHEMA: &str = "licensing";

mod embedded {
    refinery::embed_migrations!("migrations");
}

pub use compliance::schedule::ComplianceSchedule;
pub use ingest::IngestLimits;

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub backend: estate_server::BackendConfig,
    /// When compliance is calculated without being asked.
    pub compliance_schedule: ComplianceSchedule,
    /// Bounds on inventory uploads.
    pub ingest: IngestLimits,
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

#[derive(Debug, Clone)]
struct AppState {
    pool: estate_db::Pool,
    clock: SharedClock,
    access: AccessChecker,
    ingest: IngestLimits,
    /// Inventory uploads in progress.
    uploads: estate_server::admission::Admission,
    /// Records uploads in progress hold in memory, as permits.
    buffered_records: Arc<tokio::sync::Semaphore>,
    /// Uploads being written at once: a quarter of the pool, so finished
    /// uploads never take every connection from other calls.
    upload_writes: Arc<tokio::sync::Semaphore>,
    /// Compliance report exports streaming.
    exports: estate_server::admission::Admission,
}

/// Runs the service on `listener` until `shutdown` resolves; in-flight
/// calls finish before it returns.
pub async fn serve(
    config: Config,
    clock: SharedClock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Config {
        backend: config,
        compliance_schedule,
        ingest,
    } = config;
    let migrations = config.migrate.then(embedded::migrations::runner);
    let pool = estate_db::open(
        &config.database_url,
        SCHEMA,
        migrations,
        config.database_pool_size,
    )
    .await?;
    let access = AccessChecker::connect_lazy(
        &config.customers_url,
        Duration::from_secs(2),
        &config.client,
    )?;
    let state = Arc::new(AppState {
        pool,
        clock: clock.clone(),
        access,
        ingest,
        uploads: estate_server::admission::Admission::new("inventory uploads", ingest.max_uploads),
        buffered_records: Arc::new(tokio::sync::Semaphore::new(ingest.max_buffered_records)),
        upload_writes: Arc::new(tokio::sync::Semaphore::new(
            (config.database_pool_size / 4).max(1),
        )),
        exports: estate_server::admission::Admission::new("compliance report exports", MAX_EXPORTS),
    });
    let routes = Routes::new(estate_server::tuned!(
        LicensesServiceServer::new(api::Licenses(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        OrganizationStructureServiceServer::new(api::Nodes(state.clone(),)),
        config.server
    ))
    .add_service(estate_server::tuned!(
        CatalogServiceServer::new(api::Catalog(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        InventoryServiceServer::new(api::Inventory(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        AgreementsServiceServer::new(api::Agreements(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        LicensePolicyServiceServer::new(api::Policy(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        ComplianceServiceServer::new(api::Compliance(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        EstateSummaryServiceServer::new(api::Summary(state.clone())),
        config.server
    ));
    tracing::info!(address = %listener.local_addr()?, "licensing service listening");
    let backend = estate_server::Backend {
        routes,
        service_names: SERVICE_NAMES,
        token_secret: &config.internal_token_secret,
        dependencies: estate_server::backend_dependencies(
            "licensing",
            state.pool.clone(),
            state.access.clone(),
            &config.internal_token_secret,
            clock.clone(),
        ),
        clock,
        options: config.server.clone(),
    };
    estate_server::serve_backend_with_worker(backend, listener, shutdown, |stop| {
        compliance::schedule::run(state, compliance_schedule, stop)
    })
    .await
}
