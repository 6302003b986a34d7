//! Command line and environment configuration. Every flag can also be set
//! through the environment variable named in its help, which is how
//! containers are configured.

use std::net::SocketAddr;
use std::time::Duration;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use estate_telemetry::LogFormat;
use estate_transport::{ChannelOptions, ClientTls, ClientTlsFiles, ServerTlsFiles, SettingPath};

/// The telemetry settings OpenTelemetry's specification names (read from
/// the environment only), listed under `--help`.
const TELEMETRY_VARIABLES: &str = "Telemetry (environment only, as OpenTelemetry names them):
  RUST_LOG                              log filter (default: info)
  OTEL_EXPORTER_OTLP_ENDPOINT           export traces over OTLP/gRPC (https:// uses OTEL_EXPORTER_OTLP_CERTIFICATE or the system's roots)
  OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
                                        the name and attributes traces and metrics report under
  OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG
                                        head sampling (always_on, always_off, traceidratio, parentbased_*)
  OTEL_METRICS_EXPORTER                 `otlp` also pushes metrics (to OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or the endpoint above)
  OTEL_METRIC_EXPORT_INTERVAL           milliseconds between metric pushes (default: 60000)";

#[derive(Debug, Parser)]
#[command(
    name = "estate",
    version = crate::VERSION,
    about = "The Estate licensing-channel platform",
    after_help = TELEMETRY_VARIABLES
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the public gateway.
    Gateway(GatewayArgs),
    /// Run the customers service.
    Customers(BackendArgs<50061>),
    /// Run the licensing service.
    Licensing(BackendArgs<50062>),
    /// Run the billing service.
    Billing(BackendArgs<50063>),
    /// Apply database migrations and exit (for init containers).
    Migrate {
        #[arg(value_enum)]
        component: Component,
    },
    /// Run every service and the gateway in one process (local use).
    All(AllArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Component {
    Customers,
    Licensing,
    Billing,
    All,
}

/// Settings every subcommand shares.
#[derive(Debug, Args)]
pub struct Common {
    /// PostgreSQL URL (services and migrate).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Shared secret signing internal tokens; identical on every service.
    #[arg(
        long,
        env = "ESTATE_INTERNAL_TOKEN_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub internal_token_secret: Option<String>,
    /// A platform administrator API key to register at start (customers).
    #[arg(
        long,
        env = "ESTATE_BOOTSTRAP_ADMIN_KEY",
        global = true,
        hide_env_values = true
    )]
    pub bootstrap_admin_key: Option<String>,
    /// Apply migrations when a service starts.
    #[arg(long, env = "ESTATE_MIGRATE", global = true, default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate: bool,
    /// Maximum database connections per service.
    #[arg(
        long,
        env = "ESTATE_DATABASE_POOL_SIZE",
        global = true,
        default_value_t = 16
    )]
    pub database_pool_size: usize,
    /// How long the gateway trusts a resolved credential, in milliseconds.
    #[arg(
        long,
        env = "ESTATE_CREDENTIAL_CACHE_TTL_MS",
        global = true,
        default_value_t = 3000
    )]
    pub credential_cache_ttl_ms: u64,
    /// When customers are synchronized: `24h` (the default), per data
    /// region `24h,eu=12h,us=6h` (units s, m, h, d), or `off` for
    /// on-demand syncs only.
    #[arg(
        long,
        env = "ESTATE_SYNC_SCHEDULE",
        global = true,
        default_value = "24h"
    )]
    pub sync_schedule: String,
    /// How often every customer's compliance is calculated without being
    /// asked: `24h` (the default; units s, m, h, d) or `off`.
    #[arg(
        long,
        env = "ESTATE_COMPLIANCE_SCHEDULE",
        global = true,
        default_value = "24h"
    )]
    pub compliance_schedule: String,
    /// Most connections a server holds open; one more is refused at once.
    #[arg(
        long,
        env = "ESTATE_MAX_CONNECTIONS",
        global = true,
        default_value_t = 4096
    )]
    pub max_connections: usize,
    /// Most connections a server holds open from one peer address (0: no
    /// cap).
    #[arg(
        long,
        env = "ESTATE_MAX_CONNECTIONS_PER_PEER",
        global = true,
        default_value_t = 256
    )]
    pub max_connections_per_peer: usize,
    /// Most calls in flight on one connection to a backend service; one
    /// more is refused with RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "ESTATE_MAX_CALLS_PER_CONNECTION",
        global = true,
        default_value_t = 512
    )]
    pub max_calls_per_connection: usize,
    /// Seconds a new connection has to send its HTTP/2 preface.
    #[arg(
        long,
        env = "ESTATE_HANDSHAKE_TIMEOUT_S",
        global = true,
        default_value_t = 10
    )]
    pub handshake_timeout_s: u64,
    /// Seconds a connection may move no byte either way (live HTTP/2
    /// peers answer keepalive pings every 30 s) before it is closed.
    #[arg(
        long,
        env = "ESTATE_IDLE_TIMEOUT_S",
        global = true,
        default_value_t = 300
    )]
    pub idle_timeout_s: u64,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
    /// Log lines as `text` or `json`.
    #[arg(long, env = "ESTATE_LOG_FORMAT", global = true, default_value = "text")]
    pub log_format: LogFormat,
    /// Where to serve Prometheus metrics (`GET /metrics`, plain HTTP, an
    /// admin port never routed through the gateway), or `off`.
    #[arg(
        long,
        env = "ESTATE_METRICS_LISTEN",
        global = true,
        default_value = "0.0.0.0:9464"
    )]
    pub metrics_listen: MetricsListen,
}

/// `ESTATE_METRICS_LISTEN`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct MetricsListen(pub Option<SocketAddr>);

impl std::str::FromStr for MetricsListen {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "off" | "" => Ok(Self(None)),
            address => address
                .parse()
                .map(|address| Self(Some(address)))
                .map_err(|_| {
                    format!("expected an address such as 0.0.0.0:9464, or off; got {address:?}")
                }),
        }
    }
}

/// TLS, balancing, message sizes and shutdown: how processes reach each
/// other and stop.
#[derive(Debug, Args)]
pub struct TransportArgs {
    /// Serve TLS with this PEM certificate chain (reloaded when it
    /// changes); needs ESTATE_TLS_KEY_FILE. In `all`, the gateway only.
    #[arg(
        long,
        env = "ESTATE_TLS_CERT_FILE",
        global = true,
        requires = "tls_key_file"
    )]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of ESTATE_TLS_CERT_FILE.
    #[arg(
        long,
        env = "ESTATE_TLS_KEY_FILE",
        global = true,
        requires = "tls_cert_file"
    )]
    pub tls_key_file: Option<PathBuf>,
    /// With TLS: require client certificates signed by this PEM CA
    /// (internal mutual TLS).
    #[arg(
        long,
        env = "ESTATE_TLS_CLIENT_CA_FILE",
        global = true,
        requires = "tls_cert_file"
    )]
    pub tls_client_ca_file: Option<PathBuf>,
    /// CA bundle trusted when calling https:// service URLs (default: the
    /// system's roots).
    #[arg(long, env = "ESTATE_TLS_CA_FILE", global = true)]
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate presented when calling https:// service URLs.
    #[arg(
        long,
        env = "ESTATE_TLS_CLIENT_CERT_FILE",
        global = true,
        requires = "tls_client_key_file"
    )]
    pub tls_client_cert_file: Option<PathBuf>,
    /// The PEM private key of ESTATE_TLS_CLIENT_CERT_FILE.
    #[arg(
        long,
        env = "ESTATE_TLS_CLIENT_KEY_FILE",
        global = true,
        requires = "tls_client_cert_file"
    )]
    pub tls_client_key_file: Option<PathBuf>,
    /// Seconds between DNS resolutions of service URLs (a headless
    /// Service lists every ready replica).
    #[arg(
        long,
        env = "ESTATE_RESOLVE_INTERVAL_S",
        global = true,
        default_value_t = 5
    )]
    pub resolve_interval_s: u64,
    /// After SIGTERM: seconds the server keeps accepting while it reports
    /// NOT_SERVING, so load balancers stop sending first.
    #[arg(
        long,
        env = "ESTATE_SHUTDOWN_DELAY_S",
        global = true,
        default_value_t = 0
    )]
    pub shutdown_delay_s: u64,
    /// Then: seconds calls may take to finish before open ones are ended
    /// with UNAVAILABLE (keep delay + grace below Kubernetes' 30 s).
    #[arg(
        long,
        env = "ESTATE_SHUTDOWN_GRACE_S",
        global = true,
        default_value_t = 20
    )]
    pub shutdown_grace_s: u64,
    /// Seconds after which a client connection is closed gracefully, so
    /// long-lived clients spread over new replicas.
    #[arg(
        long,
        env = "ESTATE_MAX_CONNECTION_AGE_S",
        global = true,
        default_value_t = 300
    )]
    pub max_connection_age_s: u64,
    /// Largest request message in bytes, after decompression (inventory
    /// uploads allow at least 16 MiB).
    #[arg(long, env = "ESTATE_MAX_MESSAGE_BYTES", global = true, default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Also serve gRPC health alone, in plaintext, on this address (e.g.
    /// 0.0.0.0:8081), for probes that cannot speak the main port's TLS.
    #[arg(long, env = "ESTATE_HEALTH_LISTEN", global = true)]
    pub health_listen: Option<SocketAddr>,
    /// Origins browsers may call the gateway from (gRPC-Web), comma
    /// separated, e.g. `https://console.example.com`; `*` for any.
    #[arg(
        long,
        env = "ESTATE_CORS_ALLOWED_ORIGINS",
        global = true,
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_allowed_origins: Vec<String>,
}

impl TransportArgs {
    fn server_tls(&self) -> Option<ServerTlsFiles> {
        let (certificate, key) = (self.tls_cert_file.as_ref()?, self.tls_key_file.as_ref()?);
        Some(ServerTlsFiles {
            certificate: SettingPath::new("ESTATE_TLS_CERT_FILE", certificate),
            key: SettingPath::new("ESTATE_TLS_KEY_FILE", key),
            client_ca: self
                .tls_client_ca_file
                .as_ref()
                .map(|path| SettingPath::new("ESTATE_TLS_CLIENT_CA_FILE", path)),
        })
    }

    /// How a server listens and stops.
    pub fn server(
        &self,
        connections: estate_server::ConnectionLimits,
    ) -> anyhow::Result<estate_server::ServerOptions> {
        // The TLS files are read (and refused, naming the variable) when
        // the server starts, before it accepts anything.
        let tls = self.server_tls();
        Ok(estate_server::ServerOptions {
            connections,
            tls,
            shutdown_delay: Duration::from_secs(self.shutdown_delay_s),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_s),
            max_connection_age: Duration::from_secs(self.max_connection_age_s.max(1)),
            max_message_bytes: self.max_message_bytes,
            health_listen: self.health_listen,
        })
    }

    /// How a process calls the others.
    pub fn client(&self) -> anyhow::Result<ChannelOptions> {
        let files = ClientTlsFiles {
            ca: self
                .tls_ca_file
                .as_ref()
                .map(|path| SettingPath::new("ESTATE_TLS_CA_FILE", path)),
            identity: self
                .tls_client_cert_file
                .as_ref()
                .zip(self.tls_client_key_file.as_ref())
                .map(|(certificate, key)| {
                    (
                        SettingPath::new("ESTATE_TLS_CLIENT_CERT_FILE", certificate),
                        SettingPath::new("ESTATE_TLS_CLIENT_KEY_FILE", key),
                    )
                }),
        };
        Ok(ChannelOptions {
            resolve_interval: Duration::from_secs(self.resolve_interval_s.max(1)),
            max_message_bytes: self.max_message_bytes,
            tls: ClientTls::load(&files)?,
            ..ChannelOptions::default()
        })
    }
}

/// Bounds on inventory uploads (licensing).
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Seconds an upload may pause between two messages.
    #[arg(
        long,
        env = "ESTATE_INGEST_MESSAGE_TIMEOUT_S",
        global = true,
        default_value_t = 30
    )]
    pub ingest_message_timeout_s: u64,
    /// Seconds one whole upload may take to arrive.
    #[arg(
        long,
        env = "ESTATE_INGEST_UPLOAD_TIMEOUT_S",
        global = true,
        default_value_t = 600
    )]
    pub ingest_upload_timeout_s: u64,
    /// Most records in one upload (it is held in memory until it ends).
    #[arg(
        long,
        env = "ESTATE_INGEST_MAX_RECORDS",
        global = true,
        default_value_t = 1_000_000
    )]
    pub ingest_max_records: usize,
    /// Most records all uploads in progress hold in memory at once.
    #[arg(
        long,
        env = "ESTATE_INGEST_MAX_BUFFERED_RECORDS",
        global = true,
        default_value_t = 4_000_000
    )]
    pub ingest_max_buffered_records: usize,
    /// Most uploads in progress in one licensing process.
    #[arg(
        long,
        env = "ESTATE_INGEST_MAX_UPLOADS",
        global = true,
        default_value_t = 32
    )]
    pub ingest_max_uploads: usize,
    /// Most uploads in progress into one customer's estate.
    #[arg(
        long,
        env = "ESTATE_INGEST_MAX_UPLOADS_PER_CUSTOMER",
        global = true,
        default_value_t = 2
    )]
    pub ingest_max_uploads_per_customer: usize,
    /// Most uploads in progress by one calling organization.
    #[arg(
        long,
        env = "ESTATE_INGEST_MAX_UPLOADS_PER_CALLER",
        global = true,
        default_value_t = 4
    )]
    pub ingest_max_uploads_per_caller: usize,
}

impl IngestArgs {
    fn limits(&self) -> estate_licensing::IngestLimits {
        estate_licensing::IngestLimits {
            message_timeout: Duration::from_secs(self.ingest_message_timeout_s),
            upload_timeout: Duration::from_secs(self.ingest_upload_timeout_s),
            max_records: self.ingest_max_records,
            max_buffered_records: self.ingest_max_buffered_records,
            max_uploads: self.ingest_max_uploads,
            max_uploads_per_customer: self.ingest_max_uploads_per_customer,
            max_uploads_per_caller: self.ingest_max_uploads_per_caller,
        }
    }
}

/// Where the services are, for whoever calls them.
#[derive(Debug, Clone, Args)]
pub struct ServiceUrls {
    #[arg(
        long,
        env = "ESTATE_CUSTOMERS_URL",
        default_value = "http://127.0.0.1:50061"
    )]
    pub customers_url: String,
    #[arg(
        long,
        env = "ESTATE_LICENSING_URL",
        default_value = "http://127.0.0.1:50062"
    )]
    pub licensing_url: String,
    #[arg(
        long,
        env = "ESTATE_BILLING_URL",
        default_value = "http://127.0.0.1:50063"
    )]
    pub billing_url: String,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address to listen on.
    #[arg(long, env = "ESTATE_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub urls: ServiceUrls,
}

#[derive(Debug, Args)]
pub struct BackendArgs<const PORT: u16> {
    /// Address to listen on (default 0.0.0.0 and the service's port).
    #[arg(long, env = "ESTATE_LISTEN", default_value_t = SocketAddr::from(([0, 0, 0, 0], PORT)))]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub urls: ServiceUrls,
}

#[derive(Debug, Args)]
pub struct AllArgs {
    #[arg(long, env = "ESTATE_GATEWAY_LISTEN", default_value = "127.0.0.1:50051")]
    pub gateway_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:50061")]
    pub customers_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:50062")]
    pub licensing_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:50063")]
    pub billing_listen: SocketAddr,
    /// Load demo data (idempotent) and print how to call the platform.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: write a shell file exporting ESTATE_ENDPOINT,
    /// ESTATE_API_KEY and ESTATE_DISTRIBUTOR for the distributors' client.
    #[arg(long, requires = "demo")]
    pub demo_env: Option<std::path::PathBuf>,
    /// Create the database named in DATABASE_URL if it does not exist.
    #[arg(long)]
    pub create_database: bool,
}

impl Common {
    pub fn database_url(&self) -> anyhow::Result<String> {
        self.database_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("DATABASE_URL is not set"))
    }

    fn secret(&self) -> anyhow::Result<String> {
        match &self.internal_token_secret {
            Some(secret) if secret.len() >= 16 => Ok(secret.clone()),
            Some(_) => anyhow::bail!("ESTATE_INTERNAL_TOKEN_SECRET must be at least 16 characters"),
            None => anyhow::bail!("ESTATE_INTERNAL_TOKEN_SECRET is not set"),
        }
    }

    pub fn customers_config(&self, urls: &ServiceUrls) -> anyhow::Result<estate_customers::Config> {
        Ok(estate_customers::Config {
            database_url: self.database_url()?,
            internal_token_secret: self.secret()?,
            migrate: self.migrate,
            bootstrap_admin: match &self.bootstrap_admin_key {
                Some(key) => estate_customers::BootstrapAdmin::FromSecret(key.clone()),
                None => estate_customers::BootstrapAdmin::GenerateIfMissing,
            },
            database_pool_size: self.database_pool_size,
            licensing_url: urls.licensing_url.clone(),
            billing_url: urls.billing_url.clone(),
            sync: estate_customers::SyncConfig {
                schedule: estate_customers::SyncSchedule::parse(&self.sync_schedule)
                    .map_err(|error| anyhow::anyhow!("ESTATE_SYNC_SCHEDULE: {error}"))?,
                ..estate_customers::SyncConfig::default()
            },
            server: self.transport.server(self.connection_limits())?,
            client: self.transport.client()?,
        })
    }

    /// Licensing and billing share one shape of configuration.
    pub fn backend_config(
        &self,
        urls: &ServiceUrls,
    ) -> anyhow::Result<estate_server::BackendConfig> {
        Ok(estate_server::BackendConfig {
            database_url: self.database_url()?,
            internal_token_secret: self.secret()?,
            customers_url: urls.customers_url.clone(),
            migrate: self.migrate,
            database_pool_size: self.database_pool_size,
            server: self.transport.server(self.connection_limits())?,
            client: self.transport.client()?,
        })
    }

    pub fn licensing_config(&self, urls: &ServiceUrls) -> anyhow::Result<estate_licensing::Config> {
        Ok(estate_licensing::Config {
            backend: self.backend_config(urls)?,
            compliance_schedule: estate_licensing::ComplianceSchedule::parse(
                &self.compliance_schedule,
            )
            .map_err(|error| anyhow::anyhow!("ESTATE_COMPLIANCE_SCHEDULE: {error}"))?,
            ingest: self.ingest.limits(),
        })
    }

    pub fn gateway_config(&self, urls: &ServiceUrls) -> anyhow::Result<estate_gateway::Config> {
        Ok(estate_gateway::Config {
            customers_url: urls.customers_url.clone(),
            licensing_url: urls.licensing_url.clone(),
            billing_url: urls.billing_url.clone(),
            internal_token_secret: self.secret()?,
            credential_cache_ttl: Duration::from_millis(self.credential_cache_ttl_ms),
            server: self.transport.server(self.connection_limits())?,
            client: self.transport.client()?,
            cors_allowed_origins: self
                .transport
                .cors_allowed_origins
                .iter()
                .map(|origin| origin.trim().to_string())
                .filter(|origin| !origin.is_empty())
                .collect(),
        })
    }

    /// The bounds every server puts on its connections.
    pub fn connection_limits(&self) -> estate_server::ConnectionLimits {
        estate_server::ConnectionLimits {
            max_connections: self.max_connections,
            max_connections_per_peer: self.max_connections_per_peer,
            max_calls_per_connection: self.max_calls_per_connection,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_s),
            idle_timeout: Duration::from_secs(self.idle_timeout_s),
        }
    }
}
