//! Starting and stopping: graceful shutdown, health, bootstrap credentials.

use std::time::Duration;

use estate_e2e::{Platform, with_key, with_token};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{CreateOrganizationRequest, Organization};
use tonic::Code;

use crate::assert_code;

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_call_finish() {
    let mut platform = Platform::spawn().await.unwrap();
    // Hold a lock the create needs, so the call is provably in flight when
    // shutdown begins.
    let mut blocker = platform.database.connect().await.unwrap();
    let transaction = blocker.transaction().await.unwrap();
    transaction
        .batch_execute("LOCK TABLE customers.organizations IN EXCLUSIVE MODE")
        .await
        .unwrap();

    let channel = platform.channel_to(&platform.customers).await.unwrap();
    let mut client = OrganizationsServiceClient::new(channel);
    let request = with_token(
        CreateOrganizationRequest {
            parent: String::new(),
            organization: Some(Organization {
                kind: OrganizationKind::Distributor.into(),
                display_name: "in flight".into(),
                ..Default::default()
            }),
            request_id: String::new(),
            initial_owner: None,
        },
        &platform.admin_token(),
    );
    let call = tokio::spawn(async move { client.create_organization(request).await });
    // Wait until the insert is blocked on the lock.
    let observer = platform.database.connect().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO organizations%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the create never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    platform.customers.begin_shutdown();
    // New connections are refused once shutdown has begun...
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::net::TcpStream::connect(platform.customers.address)
            .await
            .is_err(),
        "the listener should be closed"
    );
    // ...while the in-flight call completes once the lock is released.
    transaction.rollback().await.unwrap();
    let created = call.await.unwrap().expect("the in-flight call succeeds");
    assert_eq!(created.get_ref().display_name, "in flight");
    tokio::time::timeout(Duration::from_secs(10), platform.customers.stopped())
        .await
        .expect("the server stops after draining")
        .unwrap();
    let stored: i64 = observer
        .query_one(
            "SELECT count(*) FROM customers.organizations WHERE display_name = 'in flight'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "what the client was told succeeded is committed");
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_server_reports_serving_health_without_credentials() {
    let platform = Platform::spawn().await.unwrap();
    for server in [
        &platform.gateway,
        &platform.customers,
        &platform.licensing,
        &platform.billing,
    ] {
        let channel = platform.channel_to(server).await.unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_generated_bootstrap_key_is_created_once_and_never_again() {
    let database = estate_testkit::TestDatabase::create().await.unwrap();
    let clock: estate_clock::SharedClock = estate_clock::FixedClock::new(estate_e2e::pinned_now());
    let config = estate_customers::Config {
        database_url: database.url.clone(),
        internal_token_secret: "a-secret-of-sufficient-length".into(),
        migrate: true,
        bootstrap_admin: estate_customers::BootstrapAdmin::GenerateIfMissing,
        database_pool_size: 2,
        licensing_url: "http://127.0.0.1:1".into(),
        billing_url: "http://127.0.0.1:1".into(),
        sync: estate_e2e::test_sync_config(),
        server: estate_e2e::test_server_options(),
        client: Default::default(),
    };
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // Serve until migrated and bootstrapped, then stop at once.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(estate_customers::serve(
            config.clone(),
            clock.clone(),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        let client = database.connect().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let exists = client
                .query_opt("SELECT 1 FROM customers.api_keys LIMIT 1", &[])
                .await
                .is_ok_and(|row| row.is_some());
            if exists {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no bootstrap key appeared"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
    let client = database.connect().await.unwrap();
    let keys: i64 = client
        .query_one(
            "SELECT count(*) FROM customers.api_keys WHERE 'platform_admin' = ANY(roles) AND organization_id IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 1);
}

#[tokio::test]
async fn a_backend_with_its_database_down_answers_unavailable() {
    let platform = Platform::spawn().await.unwrap();
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    // Warm the credential cache, then take the database away.
    client
        .list_organizations(with_key(Default::default(), &platform.admin_key))
        .await
        .unwrap();
    let admin = tokio_postgres::connect(&estate_testkit::admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(admin.1);
    let name = platform
        .database
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    admin
        .0
        .batch_execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    let result = client
        .list_organizations(with_key(Default::default(), &platform.admin_key))
        .await;
    assert_code(result, Code::Unavailable);
    admin
        .0
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_new_bootstrap_key_rotates_out_the_old_one_and_short_keys_are_refused() {
    let database = estate_testkit::TestDatabase::create().await.unwrap();
    let clock: estate_clock::SharedClock = estate_clock::FixedClock::new(estate_e2e::pinned_now());
    let config = |bootstrap_admin| estate_customers::Config {
        database_url: database.url.clone(),
        internal_token_secret: "a-secret-of-sufficient-length".into(),
        migrate: true,
        bootstrap_admin,
        database_pool_size: 2,
        licensing_url: "http://127.0.0.1:1".into(),
        billing_url: "http://127.0.0.1:1".into(),
        sync: estate_e2e::test_sync_config(),
        server: estate_e2e::test_server_options(),
        client: Default::default(),
    };
    let start = |config: estate_customers::Config| {
        let clock = clock.clone();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            // Stop at once: start-up (migrate, bootstrap) runs before serving.
            estate_customers::serve(config, clock, listener, async {}).await
        }
    };
    let first = "first-administrator-key-0123456789abcdef".to_string();
    let second = "second-administrator-key-0123456789abcdef".to_string();
    start(config(estate_customers::BootstrapAdmin::FromSecret(
        first.clone(),
    )))
    .await
    .unwrap();
    start(config(estate_customers::BootstrapAdmin::FromSecret(second)))
        .await
        .unwrap();

    let client = database.connect().await.unwrap();
    let active: Vec<String> = client
        .query(
            "SELECT key_prefix FROM customers.api_keys WHERE revoke_time IS NULL ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(active, ["second-adminis"]);

    // The revoked key cannot come back, and a guessable key is refused.
    let revoked = start(config(estate_customers::BootstrapAdmin::FromSecret(first))).await;
    assert!(revoked.unwrap_err().to_string().contains("was revoked"));
    let short = start(config(estate_customers::BootstrapAdmin::FromSecret(
        "short".into(),
    )))
    .await;
    assert!(
        short
            .unwrap_err()
            .to_string()
            .contains("at least 32 characters")
    );
}
