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

#[tokio::test]
async fn each_region_is_synchronized_on_its_own_interval() {
    let database = estate_testkit::TestDatabase::create().await.unwrap();
    let clock = estate_clock::FixedClock::new(estate_e2e::pinned_now());
    let secret = "a-secret-of-sufficient-length".to_string();
    let config = estate_customers::Config {
        database_url: database.url.clone(),
        internal_token_secret: secret.clone(),
        migrate: true,
        bootstrap_admin: estate_customers::BootstrapAdmin::GenerateIfMissing,
        database_pool_size: 4,
        // Nothing listens there: every run fails, which is what the
        // schedule must survive.
        licensing_url: "http://127.0.0.1:1".into(),
        billing_url: "http://127.0.0.1:1".into(),
        sync: estate_customers::SyncConfig {
            schedule: estate_customers::SyncSchedule::parse("24h,eu=1h").unwrap(),
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
    // Tokens expire by the pinned clock, so each call signs a fresh one.
    let signer = estate_auth::TokenSigner::internal(&secret, clock.clone());
    let sign = || {
        estate_auth::CallerToken(signer.sign(&estate_auth::Principal {
            subject: "test/admin".into(),
            organization_id: None,
            organization_kind: 0,
            roles: vec![estate_auth::ROLE_PLATFORM_ADMIN.into()],
        }))
    };
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
    let mut organizations = OrganizationsServiceClient::new(channel.clone());
    let mut create = async |parent: &str, kind: OrganizationKind, name: &str, region: &str| {
        organizations
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
                &sign(),
            ))
            .await
            .unwrap()
            .into_inner()
            .name
    };
    let distributor = create("", OrganizationKind::Distributor, "D", "").await;
    let partner = create(&distributor, OrganizationKind::Partner, "P", "").await;
    let european = create(&partner, OrganizationKind::Customer, "EU", "eu").await;
    let elsewhere = create(&partner, OrganizationKind::Customer, "US", "us").await;

    // Both are due at once (never synced); the runs fail, naming licensing.
    let first = wait_for_ended_runs(&channel, &sign(), &european, 1).await;
    assert_eq!(first[0].trigger, SyncTrigger::Schedule as i32);
    assert_eq!(first[0].state, SyncState::Failed as i32);
    assert!(first[0].error.contains("licensing service"), "{first:?}");
    wait_for_ended_runs(&channel, &sign(), &elsewhere, 1).await;

    // An hour later only the "eu" region is due again.
    clock.advance(chrono::Duration::hours(1) + chrono::Duration::seconds(1));
    wait_for_ended_runs(&channel, &sign(), &european, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs(&channel, &sign(), &elsewhere).await.len(), 1);
    // A day later, everyone.
    clock.advance(chrono::Duration::hours(23));
    wait_for_ended_runs(&channel, &sign(), &elsewhere, 2).await;

    stop.cancel();
    server.await.unwrap().unwrap();
}
