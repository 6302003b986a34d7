//! Access grants: a customer's permission for a partner to see its data.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::OrganizationId;
use tokio_postgres::{GenericClient, Row};

use crate::rules::status::GrantMode;

#[derive(Debug, Clone)]
pub struct Grant {
    pub customer_id: OrganizationId,
    pub partner_id: OrganizationId,
    pub mode: GrantMode,
    pub managed: bool,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

const COLUMNS: &str = "customer_id, partner_id, mode, start_time, end_time, managed, revision, create_time, update_time";

fn from_row(row: &Row) -> Grant {
    Grant {
        customer_id: row.get("customer_id"),
        partner_id: row.get("partner_id"),
        mode: GrantMode::from_columns(row.get("mode"), row.get("start_time"), row.get("end_time")),
        managed: row.get("managed"),
        revision: row.get("revision"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
    }
}

fn period(mode: GrantMode) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    match mode {
        GrantMode::Period { start, end } => (Some(start), Some(end)),
        _ => (None, None),
    }
}

/// Inserts a grant; `UniqueViolation` when the pair already has one.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.grants::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    partner_id: OrganizationId,
    mode: GrantMode,
    managed: bool,
    now: DateTime<Utc>,
) -> Result<Grant, DbError> {
    let (start, end) = period(mode);
    let statement = format!(
        "INSERT INTO access_grants
             (customer_id, partner_id, mode, start_time, end_time, managed, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &customer_id,
                &partner_id,
                &mode.as_str(),
                &start,
                &end,
                &managed,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.grants::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    partner_id: OrganizationId,
) -> Result<Option<Grant>, DbError> {
    let statement =
        format!("SELECT {COLUMNS} FROM access_grants WHERE customer_id = $1 AND partner_id = $2");
    let row = client
        .query_opt(&statement, &[&customer_id, &partner_id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// Like [`get`], locking the grant until the transaction ends, so an
/// etag checked against it still holds when the update is written.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.grants::get_for_update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_for_update(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    partner_id: OrganizationId,
) -> Result<Option<Grant>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM access_grants WHERE customer_id = $1 AND partner_id = $2
         FOR UPDATE"
    );
    let row = client
        .query_opt(&statement, &[&customer_id, &partner_id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// The grants of any of `customers` to `partner_id`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.grants::for_partner_among", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn for_partner_among(
    client: &impl GenericClient,
    partner_id: OrganizationId,
    customers: &[OrganizationId],
) -> Result<Vec<Grant>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM access_grants WHERE partner_id = $1 AND customer_id = ANY($2)"
    );
    let rows = client.query(&statement, &[&partner_id, &customers]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Which side of the grant a listing starts from.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    /// Grants a customer gave.
    Customer(OrganizationId),
    /// Grants a partner holds.
    Partner(OrganizationId),
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.grants::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    side: Side,
    page: &PageRequest,
) -> Result<Vec<Grant>, DbError> {
    let (column, other, id) = match side {
        Side::Customer(id) => ("customer_id", "partner_id", id),
        Side::Partner(id) => ("partner_id", "customer_id", id),
    };
    let statement = format!(
        "SELECT {COLUMNS} FROM access_grants
         WHERE {column} = $1 AND {other} > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY {other} LIMIT $3"
    );
    let rows = client
        .query(&statement, &[&id, &page.after, &page.fetch_limit()])
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Changes the mode (and the managed flag) and bumps the revision.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.grants::update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn update(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    partner_id: OrganizationId,
    mode: GrantMode,
    managed: bool,
    now: DateTime<Utc>,
) -> Result<Grant, DbError> {
    let (start, end) = period(mode);
    let statement = format!(
        "UPDATE access_grants SET mode = $3, start_time = $4, end_time = $5, managed = $6,
             update_time = $7, revision = revision + 1
         WHERE customer_id = $1 AND partner_id = $2
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &customer_id,
                &partner_id,
                &mode.as_str(),
                &start,
                &end,
                &managed,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE customers.grants::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    partner_id: OrganizationId,
) -> Result<bool, DbError> {
    Ok(client
        .execute(
            "DELETE FROM access_grants WHERE customer_id = $1 AND partner_id = $2",
            &[&customer_id, &partner_id],
        )
        .await?
        == 1)
}
