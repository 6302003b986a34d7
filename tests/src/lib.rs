//! A whole platform per test: a private database, the four servers on
//! port-0 listeners talking real gRPC to each other, a pinned clock, and a
//! platform administrator key. Used by the end-to-end tests and the load
//! tools.

pub mod relay;
pub mod seeding;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use estate_auth::{CallerToken, Principal, TokenSigner};
use estate_clock::FixedClock;
use estate_proto::common::OrganizationKind;
use estate_proto::customers::api_keys_service_client::ApiKeysServiceClient;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{
    ApiKey, CreateApiKeyRequest, CreateOrganizationRequest, InitialOwner, Organization,
};
use estate_testkit::TestDatabase;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::Request;
use tonic::transport::Channel;

/// The instant every test starts at.
pub fn pinned_now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// How long the gateway caches credentials in tests: short, so revocation
/// tests are quick.
pub const TEST_CREDENTIAL_CACHE_TTL: Duration = Duration::from_millis(300);

/// One running server.
#[derive(Debug)]
pub struct Server {
    pub address: SocketAddr,
    stop: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn spawn<F, Fut>(serve: F) -> anyhow::Result<Self>
    where
        F: FnOnce(TcpListener, tokio_util::sync::WaitForCancellationFutureOwned) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self::spawn_on(TcpListener::bind("127.0.0.1:0").await?, serve)
    }

    /// Serves on a listener bound earlier (so servers that call each other
    /// can know each other's addresses before any starts).
    pub fn spawn_on<F, Fut>(listener: TcpListener, serve: F) -> anyhow::Result<Self>
    where
        F: FnOnce(TcpListener, tokio_util::sync::WaitForCancellationFutureOwned) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let address = listener.local_addr()?;
        let stop = CancellationToken::new();
        let handle = tokio::spawn(serve(listener, stop.clone().cancelled_owned()));
        Ok(Self {
            address,
            stop,
            handle: Some(handle),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A server this test does not run, known by its address (a second
    /// port of a running one).
    pub fn detached(address: SocketAddr) -> Self {
        Self {
            address,
            stop: CancellationToken::new(),
            handle: None,
        }
    }

    /// Signals shutdown without waiting.
    pub fn begin_shutdown(&self) {
        self.stop.cancel();
    }

    /// Signals shutdown and waits until the server has stopped (at once
    /// when it already has).
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.stopped().await
    }

    /// Waits for the server to stop (after `begin_shutdown`).
    pub async fn stopped(&mut self) -> anyhow::Result<()> {
        match self.handle.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }
}

/// Syncs in tests run on demand only (the schedule is tested on its own),
/// and the worker looks for time-dependent work often.
pub fn test_sync_config() -> estate_customers::SyncConfig {
    estate_customers::SyncConfig {
        schedule: None,
        poll_interval: Duration::from_millis(100),
        concurrency: 4,
        call_timeout: Duration::from_secs(2),
    }
}

/// The health a server reports for `service` (`""`: the whole server):
/// `Some(true)` SERVING, `Some(false)` anything else, `None` no answer.
pub async fn health_of(server: &Server, service: &str) -> Option<bool> {
    let channel = Channel::from_shared(server.url())
        .ok()?
        .connect()
        .await
        .ok()?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest {
        service: service.to_string(),
    };
    let status = health.check(request).await.ok()?.into_inner().status;
    Some(status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
}

/// Waits until `server` reports the whole server SERVING.
pub async fn wait_serving(server: &Server) -> anyhow::Result<()> {
    wait_health(server, "", true, Duration::from_secs(20)).await
}

/// Waits until `server`'s health for `service` is `serving` (SERVING or
/// not), at most `within`.
pub async fn wait_health(
    server: &Server,
    service: &str,
    serving: bool,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = health_of(server, service).await;
        if now == Some(serving) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "server at {} did not report serving={serving} for {service:?} within {within:?} (last: {now:?})",
                server.address
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The whole platform.
#[derive(Debug)]
pub struct Platform {
    pub database: TestDatabase,
    pub clock: Arc<FixedClock>,
    pub secret: String,
    pub admin_key: String,
    pub customers: Server,
    pub licensing: Server,
    pub billing: Server,
    pub gateway: Server,
    /// What the servers were started with, to start more replicas.
    pub configs: Configs,
}

/// The configurations a platform's servers run with.
#[derive(Debug, Clone)]
pub struct Configs {
    pub licensing: estate_licensing::Config,
    pub billing: estate_billing::Config,
    pub gateway: estate_gateway::Config,
}

/// How a test platform differs from production.
#[derive(Debug, Clone)]
pub struct Options {
    pub credential_cache_ttl: Duration,
    pub compliance_schedule: estate_licensing::ComplianceSchedule,
    /// How often billing auto-submits overdue usage reports (the
    /// service's own default unless a test needs it sooner).
    pub auto_submit_poll_interval: Duration,
    /// Connections in each backend service's pool.
    pub backend_database_pool_size: usize,
    /// How every server listens and stops.
    pub server: estate_server::ServerOptions,
    /// How every process calls the others.
    pub client: estate_transport::ChannelOptions,
    /// Bounds on inventory uploads.
    pub ingest: estate_licensing::IngestLimits,
}

impl Default for Options {
    /// The short test credential cache; compliance calculated only when a
    /// test asks.
    fn default() -> Self {
        Self {
            credential_cache_ttl: TEST_CREDENTIAL_CACHE_TTL,
            compliance_schedule: estate_licensing::ComplianceSchedule {
                interval: None,
                ..estate_licensing::ComplianceSchedule::daily()
            },
            auto_submit_poll_interval: estate_billing::AUTO_SUBMIT_POLL_INTERVAL,
            backend_database_pool_size: 8,
            server: test_server_options(),
            client: estate_transport::ChannelOptions {
                connect_timeout: Duration::from_millis(500),
                ..estate_transport::ChannelOptions::default()
            },
            ingest: estate_licensing::IngestLimits::default(),
        }
    }
}

/// Server options of tests: production's, with a shorter shutdown grace
/// so a test stopping a server with a stream open does not wait 20 s.
pub fn test_server_options() -> estate_server::ServerOptions {
    estate_server::ServerOptions {
        shutdown_grace: Duration::from_secs(5),
        ..estate_server::ServerOptions::default()
    }
}

impl Platform {
    /// The platform with the short test credential cache.
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(Options::default()).await
    }

    /// The platform with a chosen gateway credential cache TTL (load tools
    /// use the production default).
    pub async fn spawn_with_credential_cache(
        credential_cache_ttl: Duration,
    ) -> anyhow::Result<Self> {
        Self::spawn_with(Options {
            credential_cache_ttl,
            ..Options::default()
        })
        .await
    }

    /// The platform configured by `options`.
    pub async fn spawn_with(options: Options) -> anyhow::Result<Self> {
        let Options {
            credential_cache_ttl,
            compliance_schedule,
            auto_submit_poll_interval,
            backend_database_pool_size,
            server,
            client,
            ingest,
        } = options;
        let database = migrated_database().await?;
        let clock = FixedClock::new(pinned_now());
        let secret = format!("test-secret-{}", uuid::Uuid::new_v4());
        let admin_key = format!("estate_test_admin_{}", uuid::Uuid::new_v4().simple());

        let customers_listener = TcpListener::bind("127.0.0.1:0").await?;
        let licensing_listener = TcpListener::bind("127.0.0.1:0").await?;
        let billing_listener = TcpListener::bind("127.0.0.1:0").await?;
        let customers_config = estate_customers::Config {
            database_url: database.url.clone(),
            internal_token_secret: secret.clone(),
            migrate: true,
            bootstrap_admin: estate_customers::BootstrapAdmin::FromSecret(admin_key.clone()),
            database_pool_size: 8,
            licensing_url: format!("http://{}", licensing_listener.local_addr()?),
            billing_url: format!("http://{}", billing_listener.local_addr()?),
            sync: test_sync_config(),
            server: server.clone(),
            client: client.clone(),
        };
        let shared_clock: estate_clock::SharedClock = clock.clone();
        let customers = Server::spawn_on(customers_listener, {
            let clock = shared_clock.clone();
            move |listener, stop| estate_customers::serve(customers_config, clock, listener, stop)
        })?;
        let backend = estate_server::BackendConfig {
            database_url: database.url.clone(),
            internal_token_secret: secret.clone(),
            customers_url: customers.url(),
            migrate: true,
            database_pool_size: backend_database_pool_size,
            server: server.clone(),
            client: client.clone(),
        };
        let licensing_config = estate_licensing::Config {
            backend: backend.clone(),
            compliance_schedule,
            ingest,
        };
        let licensing = Server::spawn_on(licensing_listener, {
            let clock = shared_clock.clone();
            let licensing_config = licensing_config.clone();
            move |listener, stop| estate_licensing::serve(licensing_config, clock, listener, stop)
        })?;
        let billing_config = estate_billing::Config {
            auto_submit_poll_interval,
            ..estate_billing::Config::new(backend)
        };
        let billing = Server::spawn_on(billing_listener, {
            let clock = shared_clock.clone();
            let billing_config = billing_config.clone();
            move |listener, stop| estate_billing::serve(billing_config, clock, listener, stop)
        })?;
        let gateway_config = estate_gateway::Config {
            customers_url: customers.url(),
            licensing_url: licensing.url(),
            billing_url: billing.url(),
            internal_token_secret: secret.clone(),
            credential_cache_ttl,
            server,
            client,
            cors_allowed_origins: Vec::new(),
        };
        let gateway = Server::spawn({
            let clock = shared_clock;
            let gateway_config = gateway_config.clone();
            move |listener, stop| estate_gateway::serve(gateway_config, clock, listener, stop)
        })
        .await?;
        let configs = Configs {
            licensing: licensing_config,
            billing: billing_config,
            gateway: gateway_config,
        };

        let platform = Self {
            database,
            clock,
            secret,
            admin_key,
            customers,
            licensing,
            billing,
            gateway,
            configs,
        };
        platform.wait_until_ready().await?;
        Ok(platform)
    }

    /// Another licensing replica on the platform's database, adjusted by
    /// `adjust`; serving once it says so.
    pub async fn spawn_licensing(
        &self,
        adjust: impl FnOnce(&mut estate_licensing::Config),
    ) -> anyhow::Result<Server> {
        let mut config = self.configs.licensing.clone();
        adjust(&mut config);
        let clock: estate_clock::SharedClock = self.clock.clone();
        let server = Server::spawn(move |listener, stop| {
            estate_licensing::serve(config, clock, listener, stop)
        })
        .await?;
        wait_serving(&server).await?;
        Ok(server)
    }

    /// Another billing replica, as [`Self::spawn_licensing`].
    pub async fn spawn_billing(
        &self,
        adjust: impl FnOnce(&mut estate_billing::Config),
    ) -> anyhow::Result<Server> {
        let server = self.spawn_billing_unchecked(adjust).await?;
        wait_serving(&server).await?;
        Ok(server)
    }

    /// [`Self::spawn_billing`] without waiting for it to serve (a test of
    /// one that cannot be asked in plaintext, or cannot serve).
    pub async fn spawn_billing_unchecked(
        &self,
        adjust: impl FnOnce(&mut estate_billing::Config),
    ) -> anyhow::Result<Server> {
        let mut config = self.configs.billing.clone();
        adjust(&mut config);
        let clock: estate_clock::SharedClock = self.clock.clone();
        Server::spawn(move |listener, stop| estate_billing::serve(config, clock, listener, stop))
            .await
    }

    /// Another gateway, configured as the platform's and then by `adjust`
    /// (its own listener given to `adjust` first, for URLs). Not waited
    /// for: a test may start one that cannot serve.
    pub async fn spawn_gateway(
        &self,
        adjust: impl FnOnce(&mut estate_gateway::Config),
    ) -> anyhow::Result<Server> {
        let mut config = self.configs.gateway.clone();
        adjust(&mut config);
        let clock: estate_clock::SharedClock = self.clock.clone();
        Server::spawn(move |listener, stop| estate_gateway::serve(config, clock, listener, stop))
            .await
    }

    /// Waits until every server reports SERVING (migrations done).
    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        for server in [
            &self.customers,
            &self.licensing,
            &self.billing,
            &self.gateway,
        ] {
            wait_serving(server).await?;
        }
        Ok(())
    }

    /// A channel to the gateway.
    pub async fn gateway_channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.gateway.url())?.connect().await?)
    }

    /// A channel straight to a backend, bypassing the gateway.
    pub async fn channel_to(&self, server: &Server) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(server.url())?.connect().await?)
    }

    /// The signer every service trusts, to call backends directly.
    pub fn signer(&self) -> TokenSigner {
        TokenSigner::internal(&self.secret, self.clock.clone())
    }

    /// An internal token for a platform administrator, for direct calls.
    pub fn admin_token(&self) -> CallerToken {
        CallerToken(self.signer().sign(&Principal {
            subject: "test/admin".into(),
            organization_id: None,
            organization_kind: 0,
            roles: vec![estate_auth::ROLE_PLATFORM_ADMIN.into()],
        }))
    }

    /// Creates an organization through the gateway as the administrator.
    pub async fn create_organization(
        &self,
        parent: &str,
        kind: OrganizationKind,
        display_name: &str,
    ) -> anyhow::Result<Organization> {
        let mut client = OrganizationsServiceClient::new(self.gateway_channel().await?);
        let request = CreateOrganizationRequest {
            parent: parent.into(),
            organization: Some(Organization {
                kind: kind.into(),
                display_name: display_name.into(),
                ..Default::default()
            }),
            request_id: String::new(),
            initial_owner: initial_owner(parent, display_name),
        };
        let created = client
            .create_organization(with_key(request, &self.admin_key))
            .await?
            .into_inner();
        // A customer made here has bought SAM Core (as the licensing
        // service needs for changes), and so holds every parent on its way
        // up; tests of the gate make customers without it themselves.
        if kind == OrganizationKind::Customer {
            self.entitle(&created.name, "sam-core").await?;
        }
        Ok(created)
    }

    /// Gives `organization` (a resource name) and every organization above
    /// it `capability` without expiry, top down, as the administrator.
    pub async fn entitle(&self, organization: &str, capability: &str) -> anyhow::Result<()> {
        use estate_proto::customers::entitlements_service_client::EntitlementsServiceClient;
        let channel = self.gateway_channel().await?;
        let mut organizations = OrganizationsServiceClient::new(channel.clone());
        let mut chain = vec![organization.to_string()];
        loop {
            let name = chain.last().cloned().unwrap_or_default();
            let request = estate_proto::customers::GetOrganizationRequest { name };
            let found = organizations
                .get_organization(with_key(request, &self.admin_key))
                .await?
                .into_inner();
            if found.parent.is_empty() {
                break;
            }
            chain.push(found.parent);
        }
        let capability = estate_proto::customers::Capability::from_str_name(&format!(
            "CAPABILITY_{}",
            capability.to_uppercase().replace('-', "_")
        ))
        .ok_or_else(|| anyhow::anyhow!("{capability} is not a capability"))?;
        let mut entitlements = EntitlementsServiceClient::new(channel);
        for name in chain.iter().rev() {
            let request = estate_proto::customers::SetEntitlementRequest {
                parent: name.clone(),
                capability: capability.into(),
                expire_time: None,
            };
            entitlements
                .set_entitlement(with_key(request, &self.admin_key))
                .await?;
        }
        Ok(())
    }

    /// Creates an API key for `organization` (a resource name) and returns
    /// its secret.
    pub async fn create_api_key(
        &self,
        organization: &str,
        roles: &[&str],
    ) -> anyhow::Result<String> {
        let mut client = ApiKeysServiceClient::new(self.gateway_channel().await?);
        let request = CreateApiKeyRequest {
            parent: organization.into(),
            api_key: Some(ApiKey {
                display_name: "test key".into(),
                roles: roles.iter().map(|role| role.to_string()).collect(),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        Ok(client
            .create_api_key(with_key(request, &self.admin_key))
            .await?
            .into_inner()
            .key)
    }

    /// Stops every server.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.gateway.shutdown().await?;
        self.billing.shutdown().await?;
        self.licensing.shutdown().await?;
        self.customers.shutdown().await?;
        Ok(())
    }
}

/// The first owner every organization below another needs:
/// `owner@<name>.test`.
pub fn initial_owner(parent: &str, display_name: &str) -> Option<InitialOwner> {
    (!parent.is_empty()).then(|| InitialOwner {
        email: format!(
            "owner@{}.test",
            display_name
                .to_lowercase()
                .replace(char::is_whitespace, "-")
        ),
        display_name: format!("{display_name} owner"),
    })
}

/// `message` with the caller's API key as a bearer token.
pub fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("keys are ASCII"),
    );
    request
}

/// An update mask of `paths`.
pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|path| (*path).to_string()).collect(),
    })
}

/// `message` with an internal token, for direct calls to a backend.
pub fn with_token<T>(message: T, token: &CallerToken) -> Request<T> {
    estate_auth::forward(message, token)
}

/// A database with every service's schema migrated, cloned from a
/// template keyed by the migrations' checksums (built once per server and
/// set of migrations, not once per test).
pub async fn migrated_database() -> anyhow::Result<TestDatabase> {
    // FNV-1a over the checksums: the same on every build and toolchain.
    let mut fingerprint: u64 = 0xcbf2_9ce4_8422_2325;
    for checksum in [
        estate_customers::migration_checksums(),
        estate_licensing::migration_checksums(),
        estate_billing::migration_checksums(),
    ]
    .concat()
    {
        for byte in checksum.to_le_bytes() {
            fingerprint = (fingerprint ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let fingerprint = format!("{fingerprint:016x}");
    TestDatabase::from_template(&fingerprint, |url| async move {
        estate_customers::migrate(&url).await?;
        estate_licensing::migrate(&url).await?;
        estate_billing::migrate(&url).await?;
        Ok(())
    })
    .await
}
