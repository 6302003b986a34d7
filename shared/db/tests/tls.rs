//! `sslmode` against a real server: whatever the test server offers, the
//! modes behave as libpq's do. Debian's PostgreSQL offers TLS with a
//! self-signed ("snakeoil") certificate; a private test cluster may not
//! offer TLS at all.

use estate_db::Database;
use estate_testkit::TestDatabase;

fn with_mode(url: &str, mode: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode={mode}")
}

/// Whether the session `database` opened is encrypted, or why it failed.
async fn encrypted(url: &str) -> Result<bool, String> {
    let database = Database::parse(url).map_err(|error| error.to_string())?;
    let (client, connection) = database
        .config
        .connect(database.tls)
        .await
        .map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
            &[],
        )
        .await
        .map_err(|error| error.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmode_is_honoured() {
    let database = TestDatabase::create().await.unwrap();
    let offers_tls = encrypted(&with_mode(&database.url, "prefer"))
        .await
        .unwrap();
    assert!(
        !encrypted(&with_mode(&database.url, "disable"))
            .await
            .unwrap()
    );
    if offers_tls {
        // Encrypted without checking the certificate, as libpq does.
        assert!(
            encrypted(&with_mode(&database.url, "require"))
                .await
                .unwrap()
        );
        // Verified against a CA that did not sign the server's
        // certificate, the connection is refused.
        let dir = tempfile::tempdir().unwrap();
        let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_string()]).unwrap();
        let root = dir.path().join("root.crt");
        std::fs::write(&root, stranger.cert.pem()).unwrap();
        for mode in ["verify-ca", "verify-full"] {
            let url = format!(
                "{}&sslrootcert={}",
                with_mode(&database.url, mode),
                root.display()
            );
            let refused = encrypted(&url).await;
            assert!(refused.is_err(), "{mode}: {refused:?}");
        }
        // verify-full also checks the name: the server's certificate does
        // not name 127.0.0.1.
        let refused = encrypted(&with_mode(&database.url, "verify-full")).await;
        assert!(refused.is_err(), "verify-full: {refused:?}");
    } else {
        let refused = encrypted(&with_mode(&database.url, "require"))
            .await
            .unwrap_err();
        assert!(
            refused.to_lowercase().contains("tls") || refused.to_lowercase().contains("ssl"),
            "{refused}"
        );
    }
}
