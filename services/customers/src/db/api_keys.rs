//! API keys: hashed program credentials.

use chrono::{DateTime, Duration, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::{ApiKeyId, OrganizationId, UserId};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// A stored key (never its secret).
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub organization_id: Option<OrganizationId>,
    pub display_name: String,
    pub key_prefix: String,
    pub roles: Vec<String>,
    pub create_time: DateTime<Utc>,
    pub last_use_time: Option<DateTime<Utc>>,
    pub revoke_time: Option<DateTime<Utc>>,
    /// The user a personal key acts as.
    pub user_id: Option<UserId>,
    /// The highest role a personal key may act with (its maker's).
    pub role_ceiling: Option<String>,
}

const COLUMNS: &str = "id, organization_id, display_name, key_prefix, roles, create_time, \
     last_use_time, revoke_time, user_id, role_ceiling";

fn from_row(row: &Row) -> ApiKey {
    ApiKey {
        id: row.get("id"),
        organization_id: row.get("organization_id"),
        display_name: row.get("display_name"),
        key_prefix: row.get("key_prefix"),
        roles: row.get("roles"),
        create_time: row.get("create_time"),
        last_use_time: row.get("last_use_time"),
        revoke_time: row.get("revoke_time"),
        user_id: row.get("user_id"),
        role_ceiling: row.get("role_ceiling"),
    }
}

/// What a create stores.
#[derive(Debug)]
pub struct NewApiKey<'a> {
    pub organization_id: OrganizationId,
    pub display_name: &'a str,
    pub key_prefix: &'a str,
    pub key_hash: &'a [u8],
    pub roles: &'a [String],
    pub user_id: Option<UserId>,
    pub role_ceiling: Option<&'a str>,
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.api_keys::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    id: ApiKeyId,
) -> Result<Option<ApiKey>, DbError> {
    let statement =
        format!("SELECT {COLUMNS} FROM api_keys WHERE organization_id = $1 AND id = $2");
    let row = client
        .query_opt(&statement, &[&organization_id, &id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.api_keys::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    new: &NewApiKey<'_>,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ApiKey, DbError> {
    let statement = format!(
        "INSERT INTO api_keys (id, organization_id, display_name, key_prefix, key_hash, roles,
             request_id, create_time, user_id, role_ceiling)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &Uuid::now_v7(),
                &new.organization_id,
                &new.display_name,
                &new.key_prefix,
                &new.key_hash,
                &new.roles,
                &request_id,
                &now,
                &new.user_id,
                &new.role_ceiling,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.api_keys::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    page: &PageRequest,
) -> Result<Vec<ApiKey>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM api_keys
         WHERE organization_id = $1 AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY id LIMIT $3"
    );
    let rows = client
        .query(
            &statement,
            &[&organization_id, &page.after, &page.fetch_limit()],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Revokes a key of `organization_id`; `None` when there is no such key.
/// Revoking twice keeps the first revocation time.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.api_keys::revoke", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn revoke(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    id: ApiKeyId,
    now: DateTime<Utc>,
) -> Result<Option<ApiKey>, DbError> {
    let statement = format!(
        "UPDATE api_keys SET revoke_time = coalesce(revoke_time, $3)
         WHERE organization_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_opt(&statement, &[&organization_id, &id, &now])
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// A key that may be used now, with its organization's kind.
#[derive(Debug)]
pub struct ActiveKey {
    pub key: ApiKey,
    pub organization_kind: Option<String>,
    /// The roles calls made with it carry: the key's own, or, for a
    /// personal key, its user's role in the organization now, never above
    /// the role of whoever made the key.
    pub roles: Vec<String>,
}

/// The unrevoked key with this hash. Records the use, at most once a minute
/// per key, so resolving stays a read on the hot path.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.api_keys::resolve", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn resolve(
    client: &impl GenericClient,
    key_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<ActiveKey>, DbError> {
    let statement = format!(
        "SELECT {}, o.kind AS organization_kind, m.role AS member_role
         FROM api_keys k
         LEFT JOIN organizations o ON o.id = k.organization_id
         LEFT JOIN memberships m ON m.organization_id = k.organization_id AND m.user_id = k.user_id
         WHERE k.key_hash = $1 AND k.revoke_time IS NULL",
        COLUMNS
            .split(", ")
            .map(|c| format!("k.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let Some(row) = client.query_opt(&statement, &[&key_hash]).await? else {
        return Ok(None);
    };
    let key = from_row(&row);
    let roles = match key.user_id {
        None => key.roles.clone(),
        // A personal key whose user left the organization is dead.
        Some(_) => match row.get::<_, Option<String>>("member_role") {
            Some(role) => vec![crate::rules::roles::personal_key_role(
                &role,
                key.role_ceiling.as_deref(),
            )],
            None => return Ok(None),
        },
    };
    if key
        .last_use_time
        .is_none_or(|last| now - last > Duration::minutes(1))
    {
        client
            .execute(
                "UPDATE api_keys SET last_use_time = $2 WHERE id = $1",
                &[&key.id, &now],
            )
            .await?;
    }
    Ok(Some(ActiveKey {
        key,
        organization_kind: row.get("organization_kind"),
        roles,
    }))
}
