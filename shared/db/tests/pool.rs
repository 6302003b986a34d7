//! The pool helpers and error classification against a real PostgreSQL
//! database of the test's own.

use std::time::Duration;

use estate_testkit::TestDatabase;

/// `connection_if_free` is for work that can do without a connection: it
/// must not wait for another user to return one. The busy connection comes
/// back a second after the call; a waiting get would have taken it.
#[tokio::test]
async fn connection_if_free_never_waits_for_a_busy_connection() {
    let database = TestDatabase::create().await.unwrap();
    let pool = estate_db::pool(&database.url, "public", 1).unwrap();
    let busy = estate_db::connection(&pool).await.unwrap();
    let returned = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(busy);
    });
    assert!(estate_db::connection_if_free(&pool).await.is_none());

    // Free again: idle in the pool, or room to open one.
    returned.await.unwrap();
    let idle = estate_db::connection_if_free(&pool).await;
    assert!(idle.is_some(), "the idle connection");
    drop(idle);
    pool.close();
    let reopened = estate_db::pool(&database.url, "public", 1).unwrap();
    assert!(
        estate_db::connection_if_free(&reopened).await.is_some(),
        "room to open one"
    );
}

/// Two transactions that lock two rows in opposite orders: the server
/// breaks the deadlock by failing one, and that failure reaches a client
/// as ABORTED (send it again), not as an internal error.
#[tokio::test]
async fn a_deadlock_the_server_breaks_is_a_retryable_conflict() {
    let database = TestDatabase::create().await.unwrap();
    let pool = estate_db::pool(&database.url, "public", 2).unwrap();
    let mut first = estate_db::connection(&pool).await.unwrap();
    let mut second = estate_db::connection(&pool).await.unwrap();
    first
        .batch_execute("CREATE TABLE rows (id int PRIMARY KEY); INSERT INTO rows VALUES (1), (2)")
        .await
        .unwrap();
    let one = estate_db::transaction(&mut first).await.unwrap();
    let two = estate_db::transaction(&mut second).await.unwrap();
    let lock = "UPDATE rows SET id = id WHERE id = $1";
    one.execute(lock, &[&1]).await.unwrap();
    two.execute(lock, &[&2]).await.unwrap();
    let (crossed_one, crossed_two) =
        tokio::join!(one.execute(lock, &[&2]), two.execute(lock, &[&1]));
    let errors: Vec<tokio_postgres::Error> = [crossed_one, crossed_two]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1, "the server fails exactly one side");
    let error = estate_db::DbError::from(errors.into_iter().next().unwrap());
    assert!(matches!(error, estate_db::DbError::Conflict), "{error:?}");
    let status = tonic::Status::from(estate_errors::ApiError::from(error));
    assert_eq!(status.code(), tonic::Code::Aborted, "{status:?}");
}
