//! `estate`: one binary, one subcommand per service (as Kubernetes runs
//! them), `migrate` for init containers, and `all` to run the whole
//! platform in one process for development and the demo.

mod cli;

/// `estate --version`: the release and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ESTATE_COMMIT"), ")");

#[cfg(feature = "demo")]
use estate_launcher::demo;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, Component};

fn main() -> anyhow::Result<()> {
    estate_server::malloc::apply();
    let cli = Cli::parse();
    let json = cli.common.log_format == estate_telemetry::LogFormat::Json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli));
    match result {
        // In JSON mode stdout carries JSON only: the fatal error is a log
        // line too (once logging is up; before that, stderr says it).
        Err(error) if json && tracing::dispatcher::has_been_set() => {
            tracing::error!(error = format!("{error:#}"), "estate stopped");
            std::process::exit(1)
        }
        other => other,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    use estate_telemetry::Services;
    let services = match &cli.command {
        Command::Gateway(_) => Services::One("estate-gateway"),
        Command::Customers(_) => Services::One("estate-customers"),
        Command::Licensing(_) => Services::One("estate-licensing"),
        Command::Billing(_) => Services::One("estate-billing"),
        Command::Migrate { .. } => Services::One("estate-migrate"),
        Command::All(_) => Services::All,
    };
    let _telemetry = estate_telemetry::init(services, cli.common.log_format)?;
    if let (Some(address), false) = (
        cli.common.metrics_listen.0,
        matches!(cli.command, Command::Migrate { .. }),
    ) {
        let bound = estate_telemetry::metrics::listen("ESTATE_METRICS_LISTEN", address).await?;
        tracing::info!(address = %bound, "metrics listening (GET /metrics)");
    }
    let clock = estate_clock::system();
    let shutdown = estate_server::shutdown_signal();

    match cli.command {
        Command::Gateway(args) => {
            let listener = bind("ESTATE_LISTEN", args.listen).await?;
            estate_gateway::serve(
                cli.common.gateway_config(&args.urls)?,
                clock,
                listener,
                shutdown,
            )
            .await
        }
        Command::Customers(args) => {
            let listener = bind("ESTATE_LISTEN", args.listen).await?;
            estate_customers::serve(
                cli.common.customers_config(&args.urls)?,
                clock,
                listener,
                shutdown,
            )
            .await
        }
        Command::Licensing(args) => {
            let listener = bind("ESTATE_LISTEN", args.listen).await?;
            let config = cli.common.licensing_config(&args.urls)?;
            estate_licensing::serve(config, clock, listener, shutdown).await
        }
        Command::Billing(args) => {
            let listener = bind("ESTATE_LISTEN", args.listen).await?;
            let config = estate_billing::Config::new(cli.common.backend_config(&args.urls)?);
            estate_billing::serve(config, clock, listener, shutdown).await
        }
        Command::Migrate { component } => {
            let database_url = cli.common.database_url()?;
            let components = match component {
                Component::All => vec![
                    Component::Customers,
                    Component::Licensing,
                    Component::Billing,
                ],
                one => vec![one],
            };
            for component in components {
                match component {
                    Component::Customers => estate_customers::migrate(&database_url).await?,
                    Component::Licensing => estate_licensing::migrate(&database_url).await?,
                    Component::Billing => estate_billing::migrate(&database_url).await?,
                    Component::All => unreachable!("expanded above"),
                }
                tracing::info!(?component, "migrated");
            }
            Ok(())
        }
        Command::All(args) => run_all(cli.common, args, clock, shutdown).await,
    }
}

/// Binds `address`, the value of `setting`, saying which on failure.
async fn bind(setting: &str, address: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("{setting}: cannot listen on {address}"))
}

/// Creates the database `database_url` names, connecting to the server's
/// `postgres` database to do so, unless it exists already.
async fn create_database_if_missing(database_url: &str) -> anyhow::Result<()> {
    let database = estate_db::Database::parse(database_url)?;
    let name = database
        .config
        .get_dbname()
        .unwrap_or("postgres")
        .to_string();
    let mut admin = database.config.clone();
    admin.dbname("postgres");
    let (client, connection) = admin.connect(database.tls).await.with_context(|| {
        format!(
            "DATABASE_URL ({}): cannot connect",
            estate_db::tls::mask(database_url)
        )
    })?;
    tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?;
    if exists.is_none() {
        let quoted = name.replace('"', "\"\"");
        client
            .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
            .await?;
        tracing::info!(database = %name, "created database");
    }
    Ok(())
}

/// Every service and the gateway in one process, each on its own port as
/// in production, talking over real gRPC.
async fn run_all(
    mut common: cli::Common,
    args: cli::AllArgs,
    clock: estate_clock::SharedClock,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if common.internal_token_secret.is_none() {
        // One process: a fresh secret per run is shared by every service.
        let mut secret = [0_u8; 32];
        getrandom::fill(&mut secret).map_err(|error| anyhow::anyhow!("{error}"))?;
        common.internal_token_secret = Some(hex::encode(secret));
    }
    let gateway_listener = bind("ESTATE_GATEWAY_LISTEN", args.gateway_listen).await?;
    let customers_listener = bind("--customers-listen", args.customers_listen).await?;
    let licensing_listener = bind("--licensing-listen", args.licensing_listen).await?;
    let billing_listener = bind("--billing-listen", args.billing_listen).await?;
    let urls = cli::ServiceUrls {
        customers_url: format!("http://{}", customers_listener.local_addr()?),
        licensing_url: format!("http://{}", licensing_listener.local_addr()?),
        billing_url: format!("http://{}", billing_listener.local_addr()?),
    };
    let gateway_address = gateway_listener.local_addr()?;
    tracing::info!(gateway = %gateway_address, "the platform answers at the gateway");

    // Migrate first, in order, so the servers start on a complete schema.
    let database_url = common.database_url()?;
    if args.create_database {
        create_database_if_missing(&database_url).await?;
    }
    estate_customers::migrate(&database_url).await?;
    estate_licensing::migrate(&database_url).await?;
    estate_billing::migrate(&database_url).await?;
    common.migrate = false;

    // Servers stop in tiers, callers before callees: the gateway drains
    // first, then licensing and billing (which ask customers about access
    // while finishing their calls), then customers. Cancelling a tier's
    // token also cancels the tiers above it.
    let customers_stop = CancellationToken::new();
    let backends_stop = customers_stop.child_token();
    let gateway_stop = backends_stop.child_token();
    let mut customers = tokio::task::JoinSet::new();
    let mut backends = tokio::task::JoinSet::new();
    let mut gateway = tokio::task::JoinSet::new();
    // In one process the services talk over loopback in plaintext; TLS
    // and the health port, when configured, are the gateway's.
    let mut customers_config = common.customers_config(&urls)?;
    customers_config.server.tls = None;
    customers_config.server.health_listen = None;
    let mut licensing_config = common.licensing_config(&urls)?;
    licensing_config.backend.server.tls = None;
    licensing_config.backend.server.health_listen = None;
    let mut billing_config = common.backend_config(&urls)?;
    billing_config.server.tls = None;
    billing_config.server.health_listen = None;
    let gateway_config = common.gateway_config(&urls)?;
    #[cfg(not(feature = "demo"))]
    if args.demo {
        anyhow::bail!(
            "this estate binary was built without demo data (the launcher's `demo` feature, \
             on by default; production images leave it out)"
        );
    }
    if args.demo && gateway_config.server.tls.is_some() {
        anyhow::bail!("--demo loads its data over plaintext: run it without ESTATE_TLS_CERT_FILE");
    }
    customers.spawn(estate_customers::serve(
        customers_config,
        clock.clone(),
        customers_listener,
        customers_stop.clone().cancelled_owned(),
    ));
    backends.spawn(estate_licensing::serve(
        licensing_config,
        clock.clone(),
        licensing_listener,
        backends_stop.clone().cancelled_owned(),
    ));
    backends.spawn(estate_billing::serve(
        estate_billing::Config::new(billing_config),
        clock.clone(),
        billing_listener,
        backends_stop.clone().cancelled_owned(),
    ));
    gateway.spawn(estate_gateway::serve(
        gateway_config,
        clock,
        gateway_listener,
        gateway_stop.clone().cancelled_owned(),
    ));

    // A server that fails while the demo loads (a bad setting) stops the
    // run at once with its error, rather than after the loader gives up.
    let mut shutdown = std::pin::pin!(shutdown);
    #[cfg(not(feature = "demo"))]
    let (stopped_early, signalled) = (None, false);
    #[cfg(feature = "demo")]
    let (stopped_early, signalled) = if !args.demo {
        (None, false)
    } else {
        let (mut stopped_early, mut signalled) = (None, false);
        let admin_key = common.bootstrap_admin_key.clone().ok_or_else(|| {
            anyhow::anyhow!("--demo needs ESTATE_BOOTSTRAP_ADMIN_KEY to call the platform")
        })?;
        let endpoint = format!("http://{gateway_address}");
        let loaded = tokio::select! {
            loaded = demo::load(&endpoint, &admin_key, chrono::Utc::now()) => Some(loaded),
            () = &mut shutdown => { signalled = true; None }
            Some(result) = customers.join_next() => { stopped_early = Some(result); None }
            Some(result) = backends.join_next() => { stopped_early = Some(result); None }
            Some(result) = gateway.join_next() => { stopped_early = Some(result); None }
        };
        match loaded {
            Some(Ok(summary)) => {
                let env_file = args.demo_env.as_deref();
                if let Some(path) = env_file {
                    summary.write_env(path, gateway_address, &admin_key)?;
                }
                summary.print(gateway_address, &admin_key, env_file);
            }
            Some(Err(error)) => {
                tracing::error!(error = format!("{error:#}"), "loading demo data failed")
            }
            None => {}
        }
        (stopped_early, signalled)
    };

    let stopped_early = if stopped_early.is_none() && !signalled {
        tokio::select! {
            () = &mut shutdown => None,
            Some(result) = customers.join_next() => Some(result),
            Some(result) = backends.join_next() => Some(result),
            Some(result) = gateway.join_next() => Some(result),
        }
    } else {
        stopped_early
    };
    if let Some(result) = stopped_early {
        // A server stopping on its own is a failure: stop the others.
        customers_stop.cancel();
        result??;
        anyhow::bail!("a service stopped unexpectedly");
    }
    for (token, tier) in [
        (&gateway_stop, &mut gateway),
        (&backends_stop, &mut backends),
        (&customers_stop, &mut customers),
    ] {
        token.cancel();
        while let Some(result) = tier.join_next().await {
            result??;
        }
    }
    Ok(())
}
