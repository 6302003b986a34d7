//! Scheduled synchronization: every customer is queued once per interval
//! of its data region, and a run whose dependencies cannot be reached
//! fails with the reason.

use std::time::Duration;

use estate_e2e::{initial_owner, with_token};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::sync_service_client::SyncServiceClient;
use estate_proto::customers::{
    CreateOrganizationRequest, ListSyncRunsRequest, Organization, SyncRun, SyncState, SyncTrigger,
};
use tonic::transport::Channel;

async fn runs(channel: &Channel, token: &estate_auth::CallerToken, customer: &str) -> Vec<SyncRun> {
    SyncServiceClient::new(channel.clone())
        .list_sync_runs(with_token(
            ListSyncRunsRequest {
                parent: customer.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .sync_runs
}

/// Waits until `customer` has `count` runs, all ended.
async fn wait_for_ended_runs(
    channel: &Channel,
    token: &estate_auth::CallerToken,
    customer: &str,
    count: usize,
) -> Vec<SyncRun> {
    for _ in 0..200 {
        let listed = runs(channel, token, customer).await;
        let ended = listed.iter().all(|run| {
            run.state == SyncState::Failed as i32 || run.state == SyncState::Succeeded as i32
        });
        if listed.len() == count && ended {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{customer} never had {count} ended runs: {:?}",
        runs(channel, token, customer).await
    );
}

/// The customers service alone on a pinned clock, syncing on `schedule`.
/// Nothing listens at licensing or billing: every run fails, naming
/// them, which is what the schedule must survive.
struct Alone {
    _database: estate_testkit::TestDatabase,
    clock: std::sync::Arc<estate_clock::FixedClock>,
    signer: estate_auth::TokenSigner,
    channel: Channel,
    stop: tokio_util::sync::CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Alone {
    async fn spawn(schedule: &str) -> Self {
        let database = estate_testkit::TestDatabase::create().await.unwrap();
        let clock = estate_clock::FixedClock::new(estate_e2e::pinned_now());
        let secret = "a-secret-of-sufficient-length".to_string();
        let config = estate_customers::Config {
            database_url: database.url.clone(),
            internal_token_secret: secret.clone(),
            migrate: true,
            bootstrap_admin: estate_customers::BootstrapAdmin::GenerateIfMissing,
            database_pool_size: 4,
            licensing_url: "http://127.0.0.1:1".into(),
            billing_url: "http://127.0.0.1:1".into(),
            sync: estate_customers::SyncConfig {
                schedule: estate_customers::SyncSchedule::parse(schedule).unwrap(),
                ..estate_e2e::test_sync_config()
            },
            server: estate_e2e::test_server_options(),
            client: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(estate_customers::serve(
            config,
            clock.clone(),
            listener,
            stop.clone().cancelled_owned(),
        ));
        let channel = loop {
            if let Ok(channel) = Channel::from_shared(format!("http://{address}"))
                .unwrap()
                .connect()
                .await
            {
                break channel;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Self {
            _database: database,
            signer: estate_auth::TokenSigner::internal(&secret, clock.clone()),
            clock,
            channel,
            stop,
            server,
        }
    }

    /// A platform administrator's token; tokens expire by the pinned
    /// clock, so each call signs a fresh one.
    fn token(&self) -> estate_auth::CallerToken {
        estate_auth::CallerToken(self.signer.sign(&estate_auth::Principal {
            subject: "test/admin".into(),
            organization_id: None,
            organization_kind: 0,
            roles: vec![estate_auth::ROLE_PLATFORM_ADMIN.into()],
        }))
    }

    /// Creates an organization under `parent`; returns its name.
    async fn create(
        &self,
        parent: &str,
        kind: OrganizationKind,
        name: &str,
        region: &str,
    ) -> String {
        OrganizationsServiceClient::new(self.channel.clone())
            .create_organization(with_token(
                CreateOrganizationRequest {
                    parent: parent.into(),
                    organization: Some(Organization {
                        kind: kind.into(),
                        display_name: name.into(),
                        data_region: region.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                    initial_owner: initial_owner(parent, name),
                },
                &self.token(),
            ))
            .await
            .unwrap()
            .into_inner()
            .name
    }

    /// A partner (of a new distributor) to create customers under.
    async fn partner(&self) -> String {
        let distributor = self
            .create("", OrganizationKind::Distributor, "D", "")
            .await;
        self.create(&distributor, OrganizationKind::Partner, "P", "")
            .await
    }

    async fn ended_runs(&self, customer: &str, count: usize) -> Vec<SyncRun> {
        wait_for_ended_runs(&self.channel, &self.token(), customer, count).await
    }

    async fn stop(self) {
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn each_region_is_synchronized_on_its_own_interval() {
    let alone = Alone::spawn("24h,eu=1h").await;
    let partner = alone.partner().await;
    let european = alone
        .create(&partner, OrganizationKind::Customer, "EU", "eu")
        .await;
    let elsewhere = alone
        .create(&partner, OrganizationKind::Customer, "US", "us")
        .await;

    // Both are due at once (never synced); the runs fail, naming licensing.
    let first = alone.ended_runs(&european, 1).await;
    assert_eq!(first[0].trigger, SyncTrigger::Schedule as i32);
    assert_eq!(first[0].state, SyncState::Failed as i32);
    assert!(first[0].error.contains("licensing service"), "{first:?}");
    alone.ended_runs(&elsewhere, 1).await;

    // An hour later only the "eu" region is due again.
    alone
        .clock
        .advance(chrono::Duration::hours(1) + chrono::Duration::seconds(1));
    alone.ended_runs(&european, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        runs(&alone.channel, &alone.token(), &elsewhere).await.len(),
        1
    );
    // A day later, everyone.
    alone.clock.advance(chrono::Duration::hours(23));
    alone.ended_runs(&elsewhere, 2).await;
    alone.stop().await;
}

/// The queue-depth gauge follows a round as its runs end, not only at the
/// round's start and end: six runs queued at once, four at a time, show
/// the queue draining through 2 and 1.
#[tokio::test]
async fn the_sync_queue_depth_is_read_as_each_run_ends() {
    let gauges = crate::observed::Gauges::default();
    let _recording = metrics::set_default_local_recorder(&gauges);
    let alone = Alone::spawn("24h").await;
    let partner = alone.partner().await;
    let mut customers = Vec::new();
    for n in 0..6 {
        let name = format!("C{n}");
        customers.push(
            alone
                .create(&partner, OrganizationKind::Customer, &name, "")
                .await,
        );
    }
    for customer in &customers {
        alone.ended_runs(customer, 1).await;
    }

    // A day later all six are due in the same round (one statement
    // queues them); the worker runs four at once.
    let from = gauges.len();
    alone
        .clock
        .advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    for customer in &customers {
        alone.ended_runs(customer, 2).await;
    }
    let queued = gauges.values("estate_sync_queue_depth", ("state", "queued"), from);
    let start = queued
        .iter()
        .position(|depth| *depth == 6.0)
        .unwrap_or_else(|| panic!("no reading saw the six queued: {queued:?}"));
    let after: Vec<f64> = queued[start..].to_vec();
    assert!(
        after.contains(&2.0) && after.contains(&1.0),
        "the queue drained unseen: {after:?}"
    );
    assert!(
        after.windows(2).all(|pair| pair[1] <= pair[0]),
        "the depth rose within a round: {after:?}"
    );
    assert_eq!(after.last(), Some(&0.0), "{after:?}");
    alone.stop().await;
}
