//! Computers, users and installations, one customer at a time. Bulk
//! writes from beacons live in `crate::ingest`.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest, SortColumn, SortedPage};
use estate_proto::names::CustomerId;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// What one upload stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub computers: i64,
    pub users: i64,
    pub installations: i64,
    pub usage_records: i64,
}

#[derive(Debug, Clone)]
pub struct Computer {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub hostname: String,
    pub node_id: Uuid,
    pub kind: String,
    pub processors: i32,
    pub cores: i32,
    pub last_scan_time: DateTime<Utc>,
    pub inactive: bool,
    pub revision: i64,
    pub installation_count: i64,
    pub reference: Reference,
}

/// A computer's reference columns, as its last upload reported them.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub operating_system: String,
    pub manufacturer: String,
    pub model: String,
    /// `unknown`, `physical` or `virtual`.
    pub machine: &'static str,
    pub ip_address: String,
}

#[derive(Debug, Clone)]
pub struct User {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub username: String,
    pub node_id: Uuid,
}

/// Which computers a list returns, by derived status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Any,
    Active,
    Quarantined,
    Inactive,
}

const COMPUTER_COLUMNS: &str = "c.customer_id, c.id, c.hostname, c.node_id, c.kind, c.processors,
     c.cores, c.last_scan_time, c.inactive, c.revision, c.operating_system, c.manufacturer,
     c.model, c.machine, c.ip_address,
     (SELECT count(*) FROM installations i
      WHERE i.customer_id = c.customer_id AND i.computer_id = c.id) AS installation_count";

fn computer_from_row(row: &Row) -> Computer {
    Computer {
        customer_id: row.get("customer_id"),
        id: row.get("id"),
        hostname: row.get("hostname"),
        node_id: row.get("node_id"),
        kind: row.get("kind"),
        processors: row.get("processors"),
        cores: row.get("cores"),
        last_scan_time: row.get("last_scan_time"),
        inactive: row.get("inactive"),
        revision: row.get("revision"),
        installation_count: row.get("installation_count"),
        reference: Reference {
            operating_system: row.get("operating_system"),
            manufacturer: row.get("manufacturer"),
            model: row.get("model"),
            machine: match row.get::<_, &str>("machine") {
                "physical" => "physical",
                "virtual" => "virtual",
                _ => "unknown",
            },
            ip_address: row.get("ip_address"),
        },
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::get_computer", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_computer(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<Computer>, DbError> {
    let statement = format!(
        "SELECT {COMPUTER_COLUMNS} FROM computers c WHERE c.customer_id = $1 AND c.id = $2"
    );
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(computer_from_row))
}

/// What `ListComputers` sorts by; the first is the default.
pub const COMPUTER_SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "c.id", "uuid"),
    SortColumn::new("hostname", "c.hostname", "text"),
    SortColumn::new("last_scan_time", "c.last_scan_time", "timestamptz"),
    SortColumn::new("processors", "c.processors", "integer"),
    SortColumn::new("cores", "c.cores", "integer"),
];

/// One sorted page of computers and the next token; `quarantined_before` is the last-scan instant
/// before which a computer counts as quarantined.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::list_computers", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_computers(
    client: &impl GenericClient,
    customer_id: CustomerId,
    status: StatusFilter,
    quarantined_before: DateTime<Utc>,
    node_id: Option<Uuid>,
    page: &SortedPage,
) -> Result<(Vec<Computer>, String), DbError> {
    let status_condition = match status {
        StatusFilter::Any => "$3::timestamptz IS NOT NULL",
        StatusFilter::Active => "NOT c.inactive AND c.last_scan_time >= $3",
        StatusFilter::Quarantined => "NOT c.inactive AND c.last_scan_time < $3",
        StatusFilter::Inactive => "c.inactive AND $3::timestamptz IS NOT NULL",
    };
    page.query(
        client,
        &format!("SELECT {COMPUTER_COLUMNS}"),
        &format!(
            "FROM computers c
         WHERE c.customer_id = $1
           AND ($2::uuid IS NULL OR c.node_id = $2)
           AND {status_condition}"
        ),
        "c.id",
        &[&customer_id, &node_id, &quarantined_before],
        computer_from_row,
    )
    .await
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.inventory::update_computer", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn update_computer(
    client: &impl GenericClient,
    computer: &Computer,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE computers
             SET node_id = $3, kind = $4, processors = $5, cores = $6, inactive = $7,
                 revision = revision + 1, update_time = $8
             WHERE customer_id = $1 AND id = $2",
            &[
                &computer.customer_id,
                &computer.id,
                &computer.node_id,
                &computer.kind,
                &computer.processors,
                &computer.cores,
                &computer.inactive,
                &now,
            ],
        )
        .await?;
    Ok(())
}

/// Deletes a computer; its installations and assignments go with it.
/// False when there was none.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.inventory::delete_computer", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete_computer(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<bool, DbError> {
    let deleted = client
        .execute(
            "DELETE FROM computers WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(deleted > 0)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::get_user", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_user(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<User>, DbError> {
    let row = client
        .query_opt(
            "SELECT customer_id, id, username, node_id FROM users WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(row.map(|row| User {
        customer_id: row.get(0),
        id: row.get(1),
        username: row.get(2),
        node_id: row.get(3),
    }))
}

/// What `ListUsers` sorts by; the first is the default.
pub const USER_SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "id", "uuid"),
    SortColumn::new("username", "username", "text"),
];

/// One sorted page of users and the next page's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::list_users", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_users(
    client: &impl GenericClient,
    customer_id: CustomerId,
    page: &SortedPage,
) -> Result<(Vec<User>, String), DbError> {
    page.query(
        client,
        "SELECT customer_id, id, username, node_id",
        "FROM users
         WHERE customer_id = $1",
        "id",
        &[&customer_id],
        |row| User {
            customer_id: row.get(0),
            id: row.get(1),
            username: row.get(2),
            node_id: row.get(3),
        },
    )
    .await
}

/// Deletes a user; its usage and assignments go with it.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.inventory::delete_user", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete_user(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<bool, DbError> {
    let deleted = client
        .execute(
            "DELETE FROM users WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(deleted > 0)
}

/// Application ids installed on a computer, in id order.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::list_installations", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_installations(
    client: &impl GenericClient,
    customer_id: CustomerId,
    computer_id: Uuid,
    page: &PageRequest,
) -> Result<Vec<Uuid>, DbError> {
    super::ids(
        client,
        "SELECT application_id FROM installations
         WHERE customer_id = $1 AND computer_id = $2
           AND application_id > coalesce($3::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY application_id LIMIT $4",
        &[&customer_id, &computer_id, &page.after, &page.fetch_limit()],
    )
    .await
}

/// What `ListApplicationUsage` sorts by; the first is the default.
pub const USAGE_SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("application", "application_id", "uuid"),
    SortColumn::new("last_used_time", "last_used_time", "timestamptz"),
];

/// A page of usage: (application, last used) pairs and the next page's
/// token.
pub type UsagePage = (Vec<(Uuid, DateTime<Utc>)>, String);

/// One sorted page of a user's usage, (application, last used), used
/// since `since` when given, and the next page's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::list_usage", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_usage(
    client: &impl GenericClient,
    customer_id: CustomerId,
    user_id: Uuid,
    since: Option<DateTime<Utc>>,
    page: &SortedPage,
) -> Result<UsagePage, DbError> {
    page.query(
        client,
        "SELECT application_id, last_used_time",
        "FROM application_usage
         WHERE customer_id = $1 AND user_id = $2
           AND ($3::timestamptz IS NULL OR last_used_time >= $3)",
        "application_id",
        &[&customer_id, &user_id, &since],
        |row| (row.get(0), row.get(1)),
    )
    .await
}

/// The ids of the stored users among `usernames`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::user_ids", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn user_ids(
    client: &impl GenericClient,
    customer_id: CustomerId,
    usernames: &[String],
) -> Result<Vec<(String, Uuid)>, DbError> {
    let rows = client
        .query(
            "SELECT username, id FROM users WHERE customer_id = $1 AND username = ANY($2)",
            &[&customer_id, &usernames],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The stored result of an upload, when `upload_id` was ingested before.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.inventory::find_upload", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn find_upload(
    client: &impl GenericClient,
    customer_id: CustomerId,
    upload_id: &str,
) -> Result<Option<Counts>, DbError> {
    let row = client
        .query_opt(
            "SELECT computers, users, installations, usage_records FROM uploads
             WHERE customer_id = $1 AND upload_id = $2",
            &[&customer_id, &upload_id],
        )
        .await?;
    Ok(row.map(|row| Counts {
        computers: row.get(0),
        users: row.get(1),
        installations: row.get(2),
        usage_records: row.get(3),
    }))
}

/// Claims `upload_id` for this transaction; false when an earlier upload
/// (committed, or committing concurrently: this waits for it) has it.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.inventory::claim_upload", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn claim_upload(
    client: &impl GenericClient,
    customer_id: CustomerId,
    upload_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let claimed = client
        .execute(
            "INSERT INTO uploads
                 (customer_id, upload_id, computers, users, installations, usage_records, received_time)
             VALUES ($1, $2, 0, 0, 0, 0, $3)
             ON CONFLICT DO NOTHING",
            &[&customer_id, &upload_id, &now],
        )
        .await?;
    Ok(claimed == 1)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.inventory::record_upload", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn record_upload(
    client: &impl GenericClient,
    customer_id: CustomerId,
    upload_id: &str,
    counts: &Counts,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE uploads SET computers = $3, users = $4, installations = $5, usage_records = $6
             WHERE customer_id = $1 AND upload_id = $2",
            &[
                &customer_id,
                &upload_id,
                &counts.computers,
                &counts.users,
                &counts.installations,
                &counts.usage_records,
            ],
        )
        .await?;
    Ok(())
}
