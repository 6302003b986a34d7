//! The application catalog: families and their applications (versions
//! and editions).

use chrono::{DateTime, Utc};
use estate_db::{DbError, SortColumn, SortedPage};
use estate_proto::names::CustomerId;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Family {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub manufacturer: String,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub struct Application {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub family: Family,
    pub display_name: String,
    pub version: String,
    pub edition: String,
    pub default_metric: String,
    pub downgrade_allowed: bool,
    pub denied: bool,
    pub no_license_required: bool,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// What a create stores.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub manufacturer: String,
    pub family_display_name: String,
    pub display_name: String,
    pub version: String,
    pub version_key: String,
    pub edition: String,
    pub default_metric: &'static str,
    pub downgrade_allowed: bool,
    pub denied: bool,
    pub no_license_required: bool,
}

const COLUMNS: &str = "a.customer_id, a.id, a.display_name, a.version, a.edition, a.default_metric,
     a.downgrade_allowed, a.denied, a.no_license_required, a.revision, a.create_time,
     a.update_time, f.id AS family_id, f.manufacturer, f.display_name AS family_display_name";

fn from_row(row: &Row) -> Application {
    let customer_id = row.get("customer_id");
    Application {
        customer_id,
        id: row.get("id"),
        family: Family {
            customer_id,
            id: row.get("family_id"),
            manufacturer: row.get("manufacturer"),
            display_name: row.get("family_display_name"),
        },
        display_name: row.get("display_name"),
        version: row.get("version"),
        edition: row.get("edition"),
        default_metric: row.get("default_metric"),
        downgrade_allowed: row.get("downgrade_allowed"),
        denied: row.get("denied"),
        no_license_required: row.get("no_license_required"),
        revision: row.get("revision"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
    }
}

fn family_from_row(row: &Row) -> Family {
    Family {
        customer_id: row.get("customer_id"),
        id: row.get("id"),
        manufacturer: row.get("manufacturer"),
        display_name: row.get("display_name"),
    }
}

/// The family of `manufacturer` named `display_name` (case-insensitive),
/// created when it is new.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.catalog::find_or_create_family", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn find_or_create_family(
    client: &impl GenericClient,
    customer_id: CustomerId,
    manufacturer: &str,
    display_name: &str,
) -> Result<Family, DbError> {
    // The same new family inserted by a concurrent call makes the insert
    // wait and do nothing; the read after it (a new statement, so a new
    // snapshot) then finds that family.
    let existing = "SELECT customer_id, id, manufacturer, display_name FROM families
                    WHERE customer_id = $1 AND lower(manufacturer) = lower($2)
                      AND lower(display_name) = lower($3)";
    let inserted = client
        .query_opt(
            "INSERT INTO families (customer_id, id, manufacturer, display_name)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (customer_id, lower(manufacturer), lower(display_name)) DO NOTHING
             RETURNING customer_id, id, manufacturer, display_name",
            &[&customer_id, &Uuid::now_v7(), &manufacturer, &display_name],
        )
        .await?;
    let row = match inserted {
        Some(row) => row,
        None => client
            .query_opt(existing, &[&customer_id, &manufacturer, &display_name])
            .await?
            .ok_or(DbError::Conflict)?,
    };
    Ok(family_from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.catalog::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    family: &Family,
    new: &NewApplication,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Application, DbError> {
    let id = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO applications
                 (customer_id, id, family_id, display_name, version, version_key, edition,
                  default_metric, downgrade_allowed, denied, no_license_required, request_id,
                  revision, create_time, update_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13)",
            &[
                &family.customer_id,
                &id,
                &family.id,
                &new.display_name,
                &new.version,
                &new.version_key,
                &new.edition,
                &new.default_metric,
                &new.downgrade_allowed,
                &new.denied,
                &new.no_license_required,
                &request_id,
                &now,
            ],
        )
        .await?;
    get(client, family.customer_id, id)
        .await?
        .ok_or(DbError::Conflict)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.catalog::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<Application>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM applications a
         JOIN families f ON f.customer_id = a.customer_id AND f.id = a.family_id
         WHERE a.customer_id = $1 AND a.id = $2"
    );
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// What `ListApplications` sorts by; the first is the default. `version`
/// sorts in release order (9 before 10).
pub const SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "a.id", "uuid"),
    SortColumn::new("display_name", "a.display_name", "text"),
    SortColumn::new("version", "a.version_key", "text"),
    SortColumn::new("edition", "a.edition", "text"),
    SortColumn::new("update_time", "a.update_time", "timestamptz"),
];

/// One sorted page of applications and the next page's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.catalog::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    family_id: Option<Uuid>,
    page: &SortedPage,
) -> Result<(Vec<Application>, String), DbError> {
    page.query(
        client,
        &format!("SELECT {COLUMNS}"),
        "FROM applications a
         JOIN families f ON f.customer_id = a.customer_id AND f.id = a.family_id
         WHERE a.customer_id = $1
           AND ($2::uuid IS NULL OR a.family_id = $2)",
        "a.id",
        &[&customer_id, &family_id],
        from_row,
    )
    .await
}

/// Stores the flags and default metric of `application`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.catalog::update_flags", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn update_flags(
    client: &impl GenericClient,
    application: &Application,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE applications
             SET default_metric = $3, downgrade_allowed = $4, denied = $5,
                 no_license_required = $6, revision = revision + 1, update_time = $7
             WHERE customer_id = $1 AND id = $2",
            &[
                &application.customer_id,
                &application.id,
                &application.default_metric,
                &application.downgrade_allowed,
                &application.denied,
                &application.no_license_required,
                &now,
            ],
        )
        .await?;
    Ok(())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.catalog::get_family", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_family(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<Family>, DbError> {
    let row = client
        .query_opt(
            "SELECT customer_id, id, manufacturer, display_name FROM families
             WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(family_from_row))
}

/// What `ListFamilies` sorts by; the first is the default.
pub const FAMILY_SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "id", "uuid"),
    SortColumn::new("manufacturer", "manufacturer", "text"),
    SortColumn::new("display_name", "display_name", "text"),
];

/// One sorted page of families and the next page's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.catalog::list_families", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_families(
    client: &impl GenericClient,
    customer_id: CustomerId,
    page: &SortedPage,
) -> Result<(Vec<Family>, String), DbError> {
    page.query(
        client,
        "SELECT customer_id, id, manufacturer, display_name",
        "FROM families
         WHERE customer_id = $1",
        "id",
        &[&customer_id],
        family_from_row,
    )
    .await
}

/// All of a customer's application ids, for validating references in bulk.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.catalog::ids", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn ids(
    client: &impl GenericClient,
    customer_id: CustomerId,
) -> Result<Vec<Uuid>, DbError> {
    super::ids(
        client,
        "SELECT id FROM applications WHERE customer_id = $1",
        &[&customer_id],
    )
    .await
}
