//! Assignments of computer/datacenter and user licenses to consumers.

use chrono::{DateTime, Utc};
use estate_db::{DbError, SortColumn, SortedPage};
use estate_proto::names::{AssignmentId, CustomerId, LicenseId};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Assignment {
    pub customer_id: CustomerId,
    pub id: AssignmentId,
    pub license_id: LicenseId,
    pub computer_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub quantity: i64,
    pub create_time: DateTime<Utc>,
}

const COLUMNS: &str = "customer_id, id, license_id, computer_id, user_id, quantity, create_time";

fn from_row(row: &Row) -> Assignment {
    Assignment {
        customer_id: row.get("customer_id"),
        id: row.get("id"),
        license_id: row.get("license_id"),
        computer_id: row.get("computer_id"),
        user_id: row.get("user_id"),
        quantity: row.get("quantity"),
        create_time: row.get("create_time"),
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.assignments::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    customer_id: CustomerId,
    license_id: LicenseId,
    computer_id: Option<Uuid>,
    user_id: Option<Uuid>,
    quantity: i64,
    now: DateTime<Utc>,
) -> Result<Assignment, DbError> {
    let statement = format!(
        "INSERT INTO license_assignments
             (customer_id, id, license_id, computer_id, user_id, quantity, create_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &customer_id,
                &Uuid::now_v7(),
                &license_id,
                &computer_id,
                &user_id,
                &quantity,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

/// What `ListAssignments` sorts by; the first is the default.
pub const SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "id", "uuid"),
    SortColumn::new("quantity", "quantity", "bigint"),
];

/// One sorted page of a license's assignments and the next page's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.assignments::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    license_id: LicenseId,
    page: &SortedPage,
) -> Result<(Vec<Assignment>, String), DbError> {
    page.query(
        client,
        &format!("SELECT {COLUMNS}"),
        "FROM license_assignments
         WHERE customer_id = $1 AND license_id = $2",
        "id",
        &[&customer_id, &license_id],
        from_row,
    )
    .await
}

/// False when there was no such assignment.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.assignments::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    customer_id: CustomerId,
    license_id: LicenseId,
    id: AssignmentId,
) -> Result<bool, DbError> {
    let deleted = client
        .execute(
            "DELETE FROM license_assignments WHERE customer_id = $1 AND license_id = $2 AND id = $3",
            &[&customer_id, &license_id, &id],
        )
        .await?;
    Ok(deleted > 0)
}
