//! Inventory collectors installed at customers.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::{BeaconId, OrganizationId};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::rules::beacons::{BeaconFacts, Reported};

#[derive(Debug, Clone)]
pub struct Beacon {
    pub id: BeaconId,
    pub customer_id: OrganizationId,
    pub display_name: String,
    pub version: String,
    pub status: String,
    pub status_message: String,
    pub last_contact_time: DateTime<Utc>,
    pub create_time: DateTime<Utc>,
    /// Silent past this long without a heartbeat.
    pub silent_after: chrono::Duration,
}

impl Beacon {
    /// What its health is decided from.
    pub fn facts(&self) -> BeaconFacts {
        BeaconFacts {
            reported: Reported::parse(&self.status),
            last_contact: self.last_contact_time,
            silent_after: self.silent_after,
        }
    }
}

const COLUMNS: &str = "id, customer_id, display_name, version, status, status_message, last_contact_time, create_time, silent_after_seconds";

fn from_row(row: &Row) -> Beacon {
    Beacon {
        id: row.get("id"),
        customer_id: row.get("customer_id"),
        display_name: row.get("display_name"),
        version: row.get("version"),
        status: row.get("status"),
        status_message: row.get("status_message"),
        last_contact_time: row.get("last_contact_time"),
        create_time: row.get("create_time"),
        silent_after: chrono::Duration::seconds(i64::from(
            row.get::<_, i32>("silent_after_seconds"),
        )),
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.beacons::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    id: BeaconId,
) -> Result<Option<Beacon>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM beacons WHERE customer_id = $1 AND id = $2");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.beacons::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    display_name: &str,
    version: &str,
    silent_after: chrono::Duration,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Beacon, DbError> {
    let statement = format!(
        "INSERT INTO beacons
             (id, customer_id, display_name, version, status, last_contact_time, request_id,
              create_time, silent_after_seconds)
         VALUES ($1, $2, $3, $4, 'ok', $5, $6, $5, $7)
         RETURNING {COLUMNS}"
    );
    let silent_after_seconds = silent_after.num_seconds() as i32;
    let row = client
        .query_one(
            &statement,
            &[
                &Uuid::now_v7(),
                &customer_id,
                &display_name,
                &version,
                &now,
                &request_id,
                &silent_after_seconds,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

/// Records a heartbeat; `None` when the customer has no such beacon. An
/// empty version keeps the stored one.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.beacons::heartbeat", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn heartbeat(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    id: BeaconId,
    status: &str,
    version: &str,
    status_message: &str,
    now: DateTime<Utc>,
) -> Result<Option<Beacon>, DbError> {
    let statement = format!(
        "UPDATE beacons SET status = $3,
             version = CASE WHEN $4 = '' THEN version ELSE $4 END,
             status_message = $5, last_contact_time = greatest(last_contact_time, $6)
         WHERE customer_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_opt(
            &statement,
            &[&customer_id, &id, &status, &version, &status_message, &now],
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.beacons::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    page: &PageRequest,
) -> Result<Vec<Beacon>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM beacons
         WHERE customer_id = $1 AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY id LIMIT $3"
    );
    let rows = client
        .query(
            &statement,
            &[&customer_id, &page.after, &page.fetch_limit()],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Deregisters a beacon; false when the customer has no such beacon.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE customers.beacons::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    customer_id: OrganizationId,
    id: BeaconId,
) -> Result<bool, DbError> {
    Ok(client
        .execute(
            "DELETE FROM beacons WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?
        == 1)
}
