//! Claim-first idempotent creates against a real PostgreSQL database:
//! concurrent duplicates, a reused request id, a deleted resource.

use std::sync::Arc;

use estate_db::{Created, DbError, RequestKey, create_once};
use estate_testkit::TestDatabase;
use uuid::Uuid;

const SCHEMA: &str = "CREATE TABLE idempotency_keys (
        scope uuid NOT NULL, method text NOT NULL, request_id text NOT NULL,
        fingerprint bytea, resource_id uuid, create_time timestamptz NOT NULL,
        PRIMARY KEY (scope, method, request_id));
    CREATE TABLE things (id uuid PRIMARY KEY, name text NOT NULL UNIQUE);";

fn key(fingerprint: &[u8]) -> RequestKey {
    RequestKey {
        scope: Uuid::nil(),
        method: "CreateThing",
        request_id: "r-1".into(),
        fingerprint: fingerprint.to_vec(),
    }
}

/// Creates the thing `name` once per key, in a transaction of its own,
/// holding it open a moment so that duplicates overlap.
async fn create(
    pool: &estate_db::Pool,
    key: &RequestKey,
    name: &str,
) -> Result<Created<Uuid>, DbError> {
    let mut client = estate_db::connection(pool).await.unwrap();
    let transaction = estate_db::transaction(&mut client).await.unwrap();
    let created = {
        let client = &transaction;
        create_once(
            client,
            Some(key),
            chrono::Utc::now(),
            |id| async move {
                Ok::<_, DbError>(
                    client
                        .query_opt("SELECT id FROM things WHERE id = $1", &[&id])
                        .await?
                        .map(|row| row.get(0)),
                )
            },
            || async move {
                let id = Uuid::now_v7();
                client
                    .execute("INSERT INTO things VALUES ($1, $2)", &[&id, &name])
                    .await?;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok(id)
            },
            |id| *id,
        )
        .await?
    };
    transaction.commit().await?;
    Ok(created)
}

async fn setup() -> (TestDatabase, estate_db::Pool) {
    let database = TestDatabase::create().await.unwrap();
    let pool = estate_db::pool(&database.url, "public", 16).unwrap();
    estate_db::connection(&pool)
        .await
        .unwrap()
        .batch_execute(SCHEMA)
        .await
        .unwrap();
    (database, pool)
}

#[tokio::test]
async fn concurrent_duplicates_all_get_the_one_resource_the_first_created() {
    let (_database, pool) = setup().await;
    let pool = Arc::new(pool);
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { create(&pool, &key(b"same"), "thing").await })
        })
        .collect();
    let mut ids = Vec::new();
    let mut new = 0;
    for call in calls {
        match call.await.unwrap().unwrap() {
            Created::New(id) => {
                new += 1;
                ids.push(id);
            }
            Created::Replayed(id) => ids.push(id),
        }
    }
    assert_eq!(new, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let client = estate_db::connection(&pool).await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM things", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn the_same_request_id_for_another_request_is_refused() {
    let (_database, pool) = setup().await;
    create(&pool, &key(b"first"), "thing").await.unwrap();
    let reused = create(&pool, &key(b"second"), "other").await.unwrap_err();
    assert!(
        matches!(reused, DbError::RequestIdReused { .. }),
        "{reused:?}"
    );
    let status = tonic::Status::from(reused);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn a_key_whose_resource_was_deleted_creates_again() {
    let (_database, pool) = setup().await;
    let first = create(&pool, &key(b"same"), "thing")
        .await
        .unwrap()
        .into_inner();
    estate_db::connection(&pool)
        .await
        .unwrap()
        .execute("DELETE FROM things", &[])
        .await
        .unwrap();
    let again = create(&pool, &key(b"same"), "thing").await.unwrap();
    assert!(
        matches!(again, Created::New(id) if id != first),
        "{again:?}"
    );
    let replayed = create(&pool, &key(b"same"), "thing").await.unwrap();
    assert_eq!(replayed, Created::Replayed(again.into_inner()));
}

#[tokio::test]
async fn a_failed_first_call_leaves_the_key_free() {
    let (_database, pool) = setup().await;
    // A thing named "taken" exists, so the first create fails.
    estate_db::connection(&pool)
        .await
        .unwrap()
        .execute(
            "INSERT INTO things VALUES ($1, 'taken')",
            &[&Uuid::now_v7()],
        )
        .await
        .unwrap();
    assert!(create(&pool, &key(b"x"), "taken").await.is_err());
    let created = create(&pool, &key(b"x"), "free").await.unwrap();
    assert!(matches!(created, Created::New(_)));
}
