//! The billing service: service plans, partners, product licenses, usage
//! and billing reports, and the distributor dashboard. Every row belongs
//! to one distributor (tenant); every call is authorized against it by the
//! customers service before any data is read or written.
//!
//! # How a request flows
//!
//! 1. The server's layers (`estate_server`), as in every service: span,
//!    metrics and access log; bounded statuses; drain; message checks; the
//!    internal token turned into a principal.
//! 2. A handler in `api/` parses the request and authorizes it with the
//!    customers service: `require_distributor` for the distributor's
//!    users, `partners::authorize` where a partner's own users may read
//!    (or, as `PartnerUsers` says, change) its data.
//! 3. `db/` loads the report or partner, locked, in one transaction per
//!    change; the handler checks its etag.
//! 4. `rules/` decides, with pure functions: the next status of a report
//!    or partner, or a refusal (`rules::reports`, `rules::partners`,
//!    `rules::sales`), and the figures (`rules::figures`: chargeable
//!    units, flagged, in force, license status). Statuses are typed enums
//!    (`rules::statuses`), converted to text only at the storage edge
//!    (`db::stored`) and to contract values where a message is built.
//!    Where a figure must run inside SQL for speed, that SQL is what runs
//!    and the rule is its statement: `db::rules_in_sql` runs both over
//!    generated cases for the chargeable units, the flag, the license
//!    status of the list and of the dashboard, the month's figures of a
//!    usage report, which reports auto-submit takes, and the seats and
//!    usage a customer's summary reports.
//! 5. `db/` stores the result; the handler converts it to the contract.
//! 6. `worker` runs beside the handlers: overdue usage reports
//!    auto-submitted, partner standings delivered, gauges kept current.

mod api;
mod db;
pub mod rules;
mod standings;
mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use estate_auth::AccessChecker;
use estate_clock::SharedClock;
use estate_proto::billing::dashboard_service_server::DashboardServiceServer;
use estate_proto::billing::partners_service_server::PartnersServiceServer;
use estate_proto::billing::product_licenses_service_server::ProductLicensesServiceServer;
use estate_proto::billing::reports_service_server::ReportsServiceServer;
use estate_proto::billing::service_plans_service_server::ServicePlansServiceServer;
use estate_proto::internal::license_usage_summary_service_server::LicenseUsageSummaryServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The services this server hosts.
pub const SERVICE_NAMES: &[&str] = &[
    "estate.billing.v1.ServicePlansService",
    "estate.billing.v1.PartnersService",
    "estate.billing.v1.ProductLicensesService",
    "estate.billing.v1.ReportsService",
    "estate.billing.v1.DashboardService",
    "estate.internal.v1.LicenseUsageSummaryService",
];

/// The schema this service owns.
pub const SCHEMA: &str = "billing";

/// The service's SQL that is a constant or built by a pure function, for
/// the benchmarks to run exactly what the service runs. Not an API: it
/// changes with the service.
#[doc(hidden)]
pub mod sql {
    pub use crate::db::dashboard::{DROPS, LICENSE_STATUSES, inactive_new};
    pub use crate::db::license_status::SELECT as PRODUCT_LICENSES_SELECT;
    pub use crate::db::partners::PARTNER_COLUMNS;
    pub use crate::db::reports::CHARGEABLE_SQL;
}

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub backend: estate_server::BackendConfig,
    /// How often overdue usage reports are looked for and auto-submitted.
    pub auto_submit_poll_interval: Duration,
}

/// How often overdue usage reports are looked for unless configured.
pub const AUTO_SUBMIT_POLL_INTERVAL: Duration = Duration::from_secs(60);

impl Config {
    /// `backend`, looking for overdue usage reports once a minute.
    pub fn new(backend: estate_server::BackendConfig) -> Self {
        Self {
            backend,
            auto_submit_poll_interval: AUTO_SUBMIT_POLL_INTERVAL,
        }
    }
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
    /// Signs this service's own calls (checking how organizations relate,
    /// whatever the caller may see of them).
    signer: estate_auth::TokenSigner,
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
        auto_submit_poll_interval,
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
        signer: estate_auth::TokenSigner::internal(&config.internal_token_secret, clock.clone()),
    });
    let routes = Routes::new(estate_server::tuned!(
        ServicePlansServiceServer::new(api::ServicePlans(state.clone(),)),
        config.server
    ))
    .add_service(estate_server::tuned!(
        PartnersServiceServer::new(api::Partners(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        ProductLicensesServiceServer::new(api::ProductLicenses(state.clone(),)),
        config.server
    ))
    .add_service(estate_server::tuned!(
        ReportsServiceServer::new(api::Reports(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        DashboardServiceServer::new(api::Dashboard(state.clone())),
        config.server
    ))
    .add_service(estate_server::tuned!(
        LicenseUsageSummaryServiceServer::new(api::Summary(state.clone(),)),
        config.server
    ));
    tracing::info!(address = %listener.local_addr()?, "billing service listening");
    let backend = estate_server::Backend {
        routes,
        service_names: SERVICE_NAMES,
        token_secret: &config.internal_token_secret,
        dependencies: estate_server::backend_dependencies(
            "billing",
            state.pool.clone(),
            state.access.clone(),
            &config.internal_token_secret,
            clock.clone(),
        ),
        clock,
        options: config.server.clone(),
    };
    estate_server::serve_backend_with_worker(backend, listener, shutdown, |stop| {
        worker::run(state, auto_submit_poll_interval, stop)
    })
    .await
}

/// How often partner status changes the customers service has not
/// confirmed are delivered again: well inside the 5 s revocation bound.
pub const STANDING_RETRY_INTERVAL: Duration = Duration::from_secs(1);
