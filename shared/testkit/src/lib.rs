//! Test support shared by every crate's integration tests: a private
//! PostgreSQL database per test, so tests run in parallel without sharing
//! state, dropped when the test ends.
//!
//! The server comes from `DATABASE_URL` (an admin URL), else the local
//! default `postgres://postgres@127.0.0.1:5432/postgres`. The README's test
//! command starts a private cluster and sets `DATABASE_URL` when no server
//! answers.

pub mod schema;

use tokio_postgres::NoTls;
use uuid::Uuid;

/// Prefix of every test database (a test killed before its end leaves
/// its database behind under this prefix).
pub const DATABASE_PREFIX: &str = "estate_test_";

/// The administrative URL tests create databases through.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of the test's own database.
    pub url: String,
    name: String,
    admin_url: String,
}

async fn admin_client(admin_url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls).await.map_err(
        |error| {
            anyhow::anyhow!(
                "cannot reach PostgreSQL at {admin_url} ({error}); run the tests with the README's \
             test command, which starts a private server when none is running"
            )
        },
    )?;
    tokio::spawn(connection);
    Ok(client)
}

impl TestDatabase {
    /// Creates an empty database with a unique name.
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url = admin_url();
        let name = format!("{DATABASE_PREFIX}{}", Uuid::new_v4().simple());
        admin_client(&admin_url)
            .await?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = database_url(&admin_url, &name)?;
        Ok(Self {
            url,
            name,
            admin_url,
        })
    }

    /// A database for one test, cloned from a template that `build`
    /// migrates once per `fingerprint` (say, of the migrations' checksums)
    /// and server, however many test processes share it: replaying every
    /// migration per test becomes one file copy.
    ///
    /// Clones happen under a shared advisory lock, builds under the
    /// exclusive one: a build (which also drops other fingerprints'
    /// templates and half-built leftovers) never runs while anyone clones,
    /// and a clone checks its template exists while holding the lock, so a
    /// run with other migrations sharing the server costs a rebuild, never
    /// a failed test. A template is built under another name and renamed
    /// when complete, so a failed build leaves nothing to clone.
    pub async fn from_template<F, Fut>(fingerprint: &str, build: F) -> anyhow::Result<Self>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let admin_url = admin_url();
        let admin = admin_client(&admin_url).await?;
        let template = format!("{DATABASE_PREFIX}template_{fingerprint}");
        let name = format!("{DATABASE_PREFIX}{}", Uuid::new_v4().simple());
        if !clone_if_present(&admin, &template, &name).await? {
            admin
                .execute("SELECT pg_advisory_lock(hashtext($1))", &[&TEMPLATE_LOCK])
                .await?;
            let built = build_template(&admin, &admin_url, &template, build).await;
            let unlocked = admin
                .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&TEMPLATE_LOCK])
                .await;
            built?;
            unlocked?;
            if !clone_if_present(&admin, &template, &name).await? {
                anyhow::bail!("template database {template} vanished right after it was built");
            }
        }
        let url = database_url(&admin_url, &name)?;
        Ok(Self {
            url,
            name,
            admin_url,
        })
    }

    /// A plain connection to the test database, for assertions on stored
    /// rows and for holding locks.
    pub async fn connect(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }
}

/// The advisory lock templates are built (exclusive) and cloned (shared)
/// under.
const TEMPLATE_LOCK: &str = "estate_test_templates";

/// Clones `template` as `name` under the shared lock; false when there is
/// no such template (yet).
async fn clone_if_present(
    admin: &tokio_postgres::Client,
    template: &str,
    name: &str,
) -> anyhow::Result<bool> {
    admin
        .execute(
            "SELECT pg_advisory_lock_shared(hashtext($1))",
            &[&TEMPLATE_LOCK],
        )
        .await?;
    let cloned = async {
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
            .await?
            .is_some();
        if exists {
            admin
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
                .await?;
        }
        anyhow::Ok(exists)
    }
    .await;
    let unlocked = admin
        .execute(
            "SELECT pg_advisory_unlock_shared(hashtext($1))",
            &[&TEMPLATE_LOCK],
        )
        .await;
    let cloned = cloned?;
    unlocked?;
    Ok(cloned)
}

/// Under the exclusive lock: builds `template` unless another process
/// has meanwhile, dropping other templates and leftovers of failed builds.
async fn build_template<F, Fut>(
    admin: &tokio_postgres::Client,
    admin_url: &str,
    template: &str,
    build: F,
) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    // No one clones or builds now: every template and half-built database
    // here is another set of migrations' or a killed build's.
    for stale in admin
        .query(
            "SELECT datname FROM pg_database
             WHERE starts_with(datname, $1) OR starts_with(datname, $2)",
            &[
                &format!("{DATABASE_PREFIX}template_"),
                &format!("{DATABASE_PREFIX}building_"),
            ],
        )
        .await?
    {
        let stale: String = stale.get(0);
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {stale} WITH (FORCE)"))
            .await?;
    }
    let building = format!("{DATABASE_PREFIX}building_{}", Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {building}"))
        .await?;
    if let Err(error) = build(database_url(admin_url, &building)?).await {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .await;
        return Err(error);
    }
    admin
        .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
        .await?;
    Ok(())
}

/// `admin_url` with its database replaced by `database`.
fn database_url(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_end = base.find("://").map(|index| index + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime; use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                admin_client(&admin_url)
                    .await?
                    .batch_execute(&statement)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop test database {}; the test command drops leftovers",
                self.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@h:1/db?sslmode=disable", "t1").unwrap(),
            "postgres://u:p@h:1/t1?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h", "t1").unwrap(),
            "postgres://h/t1"
        );
    }
}
