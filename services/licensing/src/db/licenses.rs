//! Licenses: what a customer purchased. Every query is scoped by customer.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// How many consumers a license covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Count(i64),
    Unlimited,
}

/// A stored license.
#[derive(Debug, Clone)]
pub struct License {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub application: String,
    /// One of the `metric` check constraint's values.
    pub metric: String,
    pub quantity: Quantity,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// What a create stores.
#[derive(Debug, Clone)]
pub struct NewLicense {
    pub application: String,
    pub metric: &'static str,
    pub quantity: Quantity,
}

const COLUMNS: &str =
    "id, customer_id, application, metric, quantity, unlimited, create_time, update_time";

fn from_row(row: &Row) -> License {
    let quantity = match row.get::<_, Option<i64>>("quantity") {
        Some(count) => Quantity::Count(count),
        None => Quantity::Unlimited,
    };
    License {
        id: row.get("id"),
        customer_id: row.get("customer_id"),
        application: row.get("application"),
        metric: row.get("metric"),
        quantity,
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
    }
}

pub async fn find_by_request_id(
    client: &impl GenericClient,
    customer_id: Uuid,
    request_id: &str,
) -> Result<Option<License>, DbError> {
    let statement =
        format!("SELECT {COLUMNS} FROM licenses WHERE customer_id = $1 AND request_id = $2");
    let row = client
        .query_opt(&statement, &[&customer_id, &request_id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn insert(
    client: &impl GenericClient,
    customer_id: Uuid,
    new: &NewLicense,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<License, DbError> {
    let (quantity, unlimited) = match new.quantity {
        Quantity::Count(count) => (Some(count), false),
        Quantity::Unlimited => (None, true),
    };
    let statement = format!(
        "INSERT INTO licenses
             (id, customer_id, application, metric, quantity, unlimited, request_id, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &Uuid::now_v7(),
                &customer_id,
                &new.application,
                &new.metric,
                &quantity,
                &unlimited,
                &request_id,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

/// The license `id` of `customer_id`; a license of another customer is
/// simply not found.
pub async fn get(
    client: &impl GenericClient,
    customer_id: Uuid,
    id: Uuid,
) -> Result<Option<License>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM licenses WHERE customer_id = $1 AND id = $2");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn list(
    client: &impl GenericClient,
    customer_id: Uuid,
    page: &PageRequest,
) -> Result<Vec<License>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM licenses
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
