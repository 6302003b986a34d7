//! The pool helpers against a real PostgreSQL database of the test's own.

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
