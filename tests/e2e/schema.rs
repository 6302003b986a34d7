//! Each service's schema as its migrations leave it is committed as
//! `services/<service>/schema.sql`, so a newcomer reads the current tables
//! instead of replaying every migration. This test migrates a fresh
//! database and compares; after adding a migration, regenerate the files
//! with `ESTATE_UPDATE_SCHEMA=1 cargo test -p estate-e2e --test e2e schema`.

use std::path::PathBuf;

use estate_testkit::TestDatabase;

fn committed(service: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../services")
        .join(service)
        .join("schema.sql")
}

async fn compare(database: &TestDatabase, service: &str, schema: &str) {
    let client = database.connect().await.unwrap();
    let fresh = estate_testkit::schema::snapshot(&client, schema)
        .await
        .unwrap();
    let path = committed(service);
    if std::env::var("ESTATE_UPDATE_SCHEMA").is_ok_and(|value| value == "1") {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    if stored != fresh {
        let line = stored
            .lines()
            .zip(fresh.lines())
            .position(|(stored, fresh)| stored != fresh)
            .unwrap_or_else(|| stored.lines().count().min(fresh.lines().count()));
        panic!(
            "{} differs from what the migrations build, from line {}:\n  committed: {:?}\n  migrated:  {:?}\n\
             regenerate it with ESTATE_UPDATE_SCHEMA=1 cargo test -p estate-e2e --test e2e schema",
            path.display(),
            line + 1,
            stored.lines().nth(line).unwrap_or("(end)"),
            fresh.lines().nth(line).unwrap_or("(end)"),
        );
    }
}

#[tokio::test]
async fn committed_schemas_are_what_the_migrations_build() {
    let database = TestDatabase::create().await.unwrap();
    estate_customers::migrate(&database.url).await.unwrap();
    estate_licensing::migrate(&database.url).await.unwrap();
    estate_billing::migrate(&database.url).await.unwrap();
    compare(&database, "customers", estate_customers::SCHEMA).await;
    compare(&database, "licensing", estate_licensing::SCHEMA).await;
    compare(&database, "billing", estate_billing::SCHEMA).await;
}
