//! People (users, one per email) and their role in each organization.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::{OrganizationId, UserId};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// A user's membership in one organization.
#[derive(Debug, Clone)]
pub struct Member {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub create_time: DateTime<Utc>,
}

const COLUMNS: &str =
    "m.organization_id, m.user_id, u.email, u.display_name, m.role, m.create_time";

fn from_row(row: &Row) -> Member {
    Member {
        organization_id: row.get("organization_id"),
        user_id: row.get("user_id"),
        email: row.get("email"),
        display_name: row.get("display_name"),
        role: row.get("role"),
        create_time: row.get("create_time"),
    }
}

/// The user with this email (case-insensitively), created when new. An
/// insert of the same new email by a concurrent call makes this one wait
/// and do nothing; the read that follows (a new statement, so a new
/// snapshot) then finds that user.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.members::ensure_user", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn ensure_user(
    client: &impl GenericClient,
    email: &str,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<UserId, DbError> {
    let existing = "SELECT id FROM users WHERE lower(email) = lower($1)";
    if let Some(row) = client.query_opt(existing, &[&email]).await? {
        return Ok(row.get(0));
    }
    let inserted = client
        .query_opt(
            "INSERT INTO users (id, email, display_name, create_time)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (lower(email)) DO NOTHING
             RETURNING id",
            &[&Uuid::now_v7(), &email, &display_name, &now],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok(row.get(0));
    }
    let row = client
        .query_opt(existing, &[&email])
        .await?
        .ok_or(DbError::Conflict)?;
    Ok(row.get(0))
}

/// Adds the membership; `UniqueViolation` when the user is already a
/// member.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.members::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    user_id: UserId,
    role: &str,
    now: DateTime<Utc>,
) -> Result<Member, DbError> {
    let statement = format!(
        "WITH m AS (
             INSERT INTO memberships (organization_id, user_id, role, create_time)
             VALUES ($1, $2, $3, $4)
             RETURNING *
         )
         SELECT {COLUMNS} FROM m JOIN users u ON u.id = m.user_id"
    );
    let row = client
        .query_one(&statement, &[&organization_id, &user_id, &role, &now])
        .await?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.members::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    user_id: UserId,
) -> Result<Option<Member>, DbError> {
    get_locked(client, organization_id, user_id, "").await
}

/// The membership, locked until the transaction ends: a role checked on
/// it stays true until the change commits.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.members::get_for_update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn get_for_update(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    user_id: UserId,
) -> Result<Option<Member>, DbError> {
    get_locked(client, organization_id, user_id, " FOR UPDATE OF m").await
}

async fn get_locked(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    user_id: UserId,
    lock: &str,
) -> Result<Option<Member>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND m.user_id = $2{lock}"
    );
    let row = client
        .query_opt(&statement, &[&organization_id, &user_id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// Members in the order they were added (user ids are time-ordered per
/// creation, so this is by user id within the organization).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.members::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    page: &PageRequest,
) -> Result<Vec<Member>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1
           AND m.user_id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY m.user_id LIMIT $3"
    );
    let rows = client
        .query(
            &statement,
            &[&organization_id, &page.after, &page.fetch_limit()],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.members::set_role", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn set_role(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    user_id: UserId,
    role: &str,
) -> Result<Option<Member>, DbError> {
    let statement = format!(
        "WITH m AS (
             UPDATE memberships SET role = $3
             WHERE organization_id = $1 AND user_id = $2
             RETURNING *
         )
         SELECT {COLUMNS} FROM m JOIN users u ON u.id = m.user_id"
    );
    let row = client
        .query_opt(&statement, &[&organization_id, &user_id, &role])
        .await?;
    Ok(row.as_ref().map(from_row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE customers.members::remove", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn remove(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    user_id: UserId,
) -> Result<bool, DbError> {
    Ok(client
        .execute(
            "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2",
            &[&organization_id, &user_id],
        )
        .await?
        == 1)
}

/// Owners of the organization, locking their memberships so two
/// concurrent demotions cannot both pass the last-owner check.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.members::lock_owners", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn lock_owners(
    client: &impl GenericClient,
    organization_id: OrganizationId,
) -> Result<Vec<UserId>, DbError> {
    let rows = client
        .query(
            "SELECT user_id FROM memberships
             WHERE organization_id = $1 AND role = 'owner' FOR UPDATE",
            &[&organization_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// A customer the user is a member of while also being an authorized
/// partner user of a partner holding a grant from that customer: the
/// pairing SPEC forbids. Checked for one user, one organization, or one
/// (customer, partner) grant.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub email: String,
    pub customer_id: OrganizationId,
    pub partner_id: OrganizationId,
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.members::find_conflict", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn find_conflict(
    client: &impl GenericClient,
    user_id: Option<UserId>,
    customer_id: Option<OrganizationId>,
    partner_id: Option<OrganizationId>,
) -> Result<Option<Conflict>, DbError> {
    let row = client
        .query_opt(
            "SELECT u.email, g.customer_id, g.partner_id
             FROM access_grants g
             JOIN memberships pm ON pm.organization_id = g.partner_id
                 AND pm.role = 'authorized_partner_user'
             JOIN memberships cm ON cm.organization_id = g.customer_id
                 AND cm.user_id = pm.user_id
             JOIN users u ON u.id = pm.user_id
             WHERE ($1::uuid IS NULL OR pm.user_id = $1)
               AND ($2::uuid IS NULL OR g.customer_id = $2)
               AND ($3::uuid IS NULL OR g.partner_id = $3)
             LIMIT 1",
            &[&user_id, &customer_id, &partner_id],
        )
        .await?;
    Ok(row.map(|row| Conflict {
        email: row.get(0),
        customer_id: row.get(1),
        partner_id: row.get(2),
    }))
}
