//! Compliance exclusions: consumers left out of the requirement, with a
//! reason.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest, RequestKey, create_once};
use estate_proto::names::CustomerId;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// A stored exclusion.
#[derive(Debug, Clone)]
pub struct Exclusion {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub computer_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
    pub reason: String,
    pub create_time: DateTime<Utc>,
}

/// What a new exclusion says.
#[derive(Debug, Clone)]
pub struct Draft {
    pub computer_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
    pub reason: String,
}

const COLUMNS: &str = "customer_id, id, computer_id, user_id, application_id, reason, create_time";

fn from_row(row: &Row) -> Exclusion {
    Exclusion {
        customer_id: row.get(0),
        id: row.get(1),
        computer_id: row.get(2),
        user_id: row.get(3),
        application_id: row.get(4),
        reason: row.get(5),
        create_time: row.get(6),
    }
}

/// Creates an exclusion, or returns the one an earlier call with `key`
/// created; `client` must be in a transaction.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.exclusions::create", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn create(
    client: &impl GenericClient,
    customer_id: CustomerId,
    draft: &Draft,
    key: Option<&RequestKey>,
    now: DateTime<Utc>,
) -> Result<Exclusion, DbError> {
    let request_id = key.map(|key| key.request_id.as_str());
    let created = create_once(
        client,
        key,
        now,
        |id| async move {
            let row = client
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM compliance_exclusions
                         WHERE customer_id = $1 AND id = $2"
                    ),
                    &[&customer_id, &id],
                )
                .await?;
            Ok::<_, DbError>(row.as_ref().map(from_row))
        },
        || async {
            let row = client
                .query_one(
                    &format!(
                        "INSERT INTO compliance_exclusions
                             (customer_id, id, computer_id, user_id, application_id, reason,
                              request_id, create_time)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         RETURNING {COLUMNS}"
                    ),
                    &[
                        &customer_id,
                        &Uuid::now_v7(),
                        &draft.computer_id,
                        &draft.user_id,
                        &draft.application_id,
                        &draft.reason,
                        &request_id,
                        &now,
                    ],
                )
                .await?;
            Ok(from_row(&row))
        },
        |exclusion| exclusion.id,
    )
    .await?;
    Ok(created.into_inner())
}

/// A page of exclusions in creation order.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.exclusions::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    page: &PageRequest,
) -> Result<Vec<Exclusion>, DbError> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM compliance_exclusions
                 WHERE customer_id = $1
                   AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
                 ORDER BY id LIMIT $3"
            ),
            &[&customer_id, &page.after, &page.fetch_limit()],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// False when there was no such exclusion.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.exclusions::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<bool, DbError> {
    let deleted = client
        .execute(
            "DELETE FROM compliance_exclusions WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(deleted > 0)
}
