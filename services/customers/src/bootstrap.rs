//! The first platform administrator credential. Never hard-coded: either
//! the operator supplies it (`ESTATE_BOOTSTRAP_ADMIN_KEY`, e.g. from a
//! Kubernetes Secret) or, on the first start of an empty database, one is
//! generated and printed once.

use estate_clock::Clock;
use estate_db::Pool;
use uuid::Uuid;

use crate::keys::{self, GeneratedKey};

/// How the first administrator key comes to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapAdmin {
    /// This secret is a valid administrator key (added if missing).
    FromSecret(String),
    /// Generate and print a key if no administrator key exists yet.
    GenerateIfMissing,
}

pub async fn ensure_admin_key(
    pool: &Pool,
    clock: &dyn Clock,
    bootstrap: &BootstrapAdmin,
) -> anyhow::Result<()> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    // Replicas starting together must not each mint a key.
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtext('estate-bootstrap-admin'))",
            &[],
        )
        .await?;
    let (secret, printed) = match bootstrap {
        BootstrapAdmin::FromSecret(secret) => (secret.clone(), false),
        BootstrapAdmin::GenerateIfMissing => {
            let existing = transaction
                .query_one(
                    "SELECT count(*) FROM api_keys
                     WHERE 'platform_admin' = ANY(roles) AND revoke_time IS NULL",
                    &[],
                )
                .await?
                .get::<_, i64>(0);
            if existing > 0 {
                return Ok(());
            }
            (GeneratedKey::new()?.secret, true)
        }
    };
    let inserted = transaction
        .execute(
            "INSERT INTO api_keys (id, organization_id, display_name, key_prefix, key_hash, roles, create_time)
             VALUES ($1, NULL, 'bootstrap administrator', $2, $3, ARRAY['platform_admin'], $4)
             ON CONFLICT (key_hash) DO NOTHING",
            &[&Uuid::now_v7(), &keys::prefix(&secret), &keys::hash(&secret), &clock.now()],
        )
        .await?;
    transaction.commit().await?;
    if printed {
        eprintln!(
            "\n  A platform administrator API key was created. It is shown this once:\n\n    {secret}\n\n  Send it as `authorization: Bearer <key>`. Set ESTATE_BOOTSTRAP_ADMIN_KEY to choose your own.\n"
        );
    } else if inserted > 0 {
        tracing::info!(prefix = %keys::prefix(&secret), "bootstrap administrator key registered");
    }
    Ok(())
}
