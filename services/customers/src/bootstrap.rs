//! The first platform administrator credential. Never hard-coded: either
//! the operator supplies it (`ESTATE_BOOTSTRAP_ADMIN_KEY`, e.g. from a
//! Kubernetes Secret) or, on the first start of an empty database, one is
//! generated and printed once.

use estate_clock::Clock;
use estate_db::Pool;
use uuid::Uuid;

use crate::keys;

/// How the first administrator key comes to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapAdmin {
    /// This secret is a valid administrator key (added if missing).
    FromSecret(String),
    /// Generate and print a key if no administrator key exists yet.
    GenerateIfMissing,
}

/// A supplied administrator key must be at least this long.
pub const MIN_ADMIN_KEY_LENGTH: usize = 32;

/// Makes sure a platform administrator key exists. A supplied key becomes
/// *the* bootstrap key: it is registered if new, and every other bootstrap
/// key is revoked, so changing the setting rotates the key.
pub async fn ensure_admin_key(
    pool: &Pool,
    clock: &dyn Clock,
    bootstrap: &BootstrapAdmin,
) -> anyhow::Result<()> {
    if let BootstrapAdmin::FromSecret(secret) = bootstrap
        && secret.chars().count() < MIN_ADMIN_KEY_LENGTH
    {
        anyhow::bail!(
            "ESTATE_BOOTSTRAP_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LENGTH} characters"
        );
    }
    let now = clock.now();
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    // Replicas starting together must not each mint or rotate a key.
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtext('estate-bootstrap-admin'))",
            &[],
        )
        .await?;
    let (secret, generated) = match bootstrap {
        BootstrapAdmin::FromSecret(secret) => (secret.clone(), false),
        BootstrapAdmin::GenerateIfMissing => {
            let existing: i64 = transaction
                .query_one(
                    "SELECT count(*) FROM api_keys
                     WHERE organization_id IS NULL AND 'platform_admin' = ANY(roles)
                       AND revoke_time IS NULL",
                    &[],
                )
                .await?
                .get(0);
            if existing > 0 {
                return Ok(());
            }
            (keys::generate()?, true)
        }
    };
    let hash = keys::hash(&secret);
    let known = transaction
        .query_opt(
            "SELECT id, revoke_time IS NOT NULL FROM api_keys WHERE key_hash = $1",
            &[&hash],
        )
        .await?;
    let id: Uuid = match known {
        Some(row) if row.get::<_, bool>(1) => {
            anyhow::bail!("ESTATE_BOOTSTRAP_ADMIN_KEY was revoked; configure a new key")
        }
        Some(row) => row.get(0),
        None => {
            let id = Uuid::now_v7();
            transaction
                .execute(
                    "INSERT INTO api_keys (id, organization_id, display_name, key_prefix, key_hash, roles, create_time)
                     VALUES ($1, NULL, 'bootstrap administrator', $2, $3, ARRAY['platform_admin'], $4)",
                    &[&id, &keys::prefix(&secret), &hash, &now],
                )
                .await?;
            tracing::info!(api_key = %id, "bootstrap administrator key registered");
            id
        }
    };
    let rotated = transaction
        .execute(
            "UPDATE api_keys SET revoke_time = $2
             WHERE organization_id IS NULL AND 'platform_admin' = ANY(roles)
               AND revoke_time IS NULL AND id <> $1",
            &[&id, &now],
        )
        .await?;
    transaction.commit().await?;
    if rotated > 0 {
        tracing::warn!(
            revoked = rotated,
            "earlier bootstrap administrator keys revoked"
        );
    }
    if generated {
        eprintln!(
            "\n  A platform administrator API key was created. It is shown this once:\n\n    {secret}\n\n  Send it as `authorization: Bearer <key>`. Set ESTATE_BOOTSTRAP_ADMIN_KEY to choose your own.\n"
        );
    }
    Ok(())
}
