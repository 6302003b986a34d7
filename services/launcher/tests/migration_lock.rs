//! A process waiting for another's migration says so, naming who holds
//! the lock, instead of sitting bound and silent.

use std::process::Stdio;
use std::time::Duration;

use estate_testkit::TestDatabase;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn waiting_for_the_migration_lock_is_logged_with_its_holder() {
    let database = TestDatabase::create().await.unwrap();
    let holder = database.connect().await.unwrap();
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtext('estate-migrate-customers'))",
            &[],
        )
        .await
        .unwrap();
    let mut migrate = tokio::process::Command::new(env!("CARGO_BIN_EXE_estate"))
        .args(["migrate", "customers"])
        .env("DATABASE_URL", &database.url)
        .env("ESTATE_LOG_FORMAT", "json")
        .env("ESTATE_METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The first report comes after 5 s of waiting.
    tokio::time::sleep(Duration::from_secs(7)).await;
    holder
        .execute(
            "SELECT pg_advisory_unlock(hashtext('estate-migrate-customers'))",
            &[],
        )
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), migrate.wait())
        .await
        .unwrap()
        .unwrap();
    let mut logs = String::new();
    migrate
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    assert!(status.success(), "{logs}");
    let waiting = logs
        .lines()
        .find(|line| line.contains("waiting for the migration lock"))
        .unwrap_or_else(|| panic!("no wait was logged: {logs}"));
    assert!(waiting.contains("\"schema\":\"customers\""), "{waiting}");
    assert!(waiting.contains("(pid "), "the holder is named: {waiting}");
    assert!(logs.contains("migration lock taken"), "{logs}");
}
