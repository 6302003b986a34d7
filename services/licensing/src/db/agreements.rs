//! Agreements, which hold licenses (software agreements) and may override
//! their subscription periods (subscription agreements).

use chrono::{DateTime, NaiveDate, Utc};
use estate_db::{DbError, SortColumn, SortedPage};
use estate_proto::names::CustomerId;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Agreement {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub display_name: String,
    pub kind: String,
    pub custom_kind: String,
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub subscription: bool,
    pub offer_outside_period: bool,
    pub archived: bool,
    pub license_count: i64,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

const COLUMNS: &str = "g.customer_id, g.id, g.display_name, g.kind, g.custom_kind, g.start_date,
     g.end_date, g.subscription, g.offer_outside_period, g.archived, g.revision, g.create_time,
     g.update_time,
     (SELECT count(*) FROM licenses l WHERE l.customer_id = g.customer_id AND l.agreement_id = g.id)
         AS license_count";

fn from_row(row: &Row) -> Agreement {
    let period = match (
        row.get::<_, Option<NaiveDate>>("start_date"),
        row.get::<_, Option<NaiveDate>>("end_date"),
    ) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    Agreement {
        customer_id: row.get("customer_id"),
        id: row.get("id"),
        display_name: row.get("display_name"),
        kind: row.get("kind"),
        custom_kind: row.get("custom_kind"),
        period,
        subscription: row.get("subscription"),
        offer_outside_period: row.get("offer_outside_period"),
        archived: row.get("archived"),
        license_count: row.get("license_count"),
        revision: row.get("revision"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.agreements::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<Agreement>, DbError> {
    let statement =
        format!("SELECT {COLUMNS} FROM agreements g WHERE g.customer_id = $1 AND g.id = $2");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Inserts (`id` new) or overwrites an agreement's writable columns.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.agreements::save", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn save(
    client: &impl GenericClient,
    agreement: &Agreement,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let (start, end) = match agreement.period {
        Some((start, end)) => (Some(start), Some(end)),
        None => (None, None),
    };
    client
        .execute(
            "INSERT INTO agreements AS g
                 (customer_id, id, display_name, kind, custom_kind, start_date, end_date,
                  subscription, offer_outside_period, request_id, revision, create_time,
                  update_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11)
             ON CONFLICT (customer_id, id) DO UPDATE
             SET display_name = excluded.display_name, custom_kind = excluded.custom_kind,
                 start_date = excluded.start_date, end_date = excluded.end_date,
                 subscription = excluded.subscription,
                 offer_outside_period = excluded.offer_outside_period,
                 revision = g.revision + 1, update_time = excluded.update_time",
            &[
                &agreement.customer_id,
                &agreement.id,
                &agreement.display_name,
                &agreement.kind,
                &agreement.custom_kind,
                &start,
                &end,
                &agreement.subscription,
                &agreement.offer_outside_period,
                &request_id,
                &now,
            ],
        )
        .await?;
    Ok(())
}

/// What `ListAgreements` sorts by; the first is the default.
pub const SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "g.id", "uuid"),
    SortColumn::new("display_name", "g.display_name", "text"),
    SortColumn::new("kind", "g.kind", "text"),
    SortColumn::new(
        "start_date",
        "coalesce(g.start_date, '-infinity'::date)",
        "date",
    ),
    SortColumn::new("end_date", "coalesce(g.end_date, 'infinity'::date)", "date"),
];

/// One sorted page of agreements and the next token; with `offered_for`, only the software
/// agreements a license purchased that day may join.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.agreements::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    offered_for: Option<NaiveDate>,
    include_archived: bool,
    page: &SortedPage,
) -> Result<(Vec<Agreement>, String), DbError> {
    page.query(
        client,
        &format!("SELECT {COLUMNS}"),
        "FROM agreements g
         WHERE g.customer_id = $1
           AND ($2 OR NOT g.archived)
           AND ($3::date IS NULL OR (g.kind = 'software' AND (g.offer_outside_period
                OR ((g.start_date IS NULL OR g.start_date <= $3)
                    AND (g.end_date IS NULL OR $3 <= g.end_date)))))",
        "g.id",
        &[&customer_id, &include_archived, &offered_for],
        from_row,
    )
    .await
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.agreements::set_archived", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn set_archived(
    client: &impl GenericClient,
    customer_id: CustomerId,
    ids: &[Uuid],
    archived: bool,
    group: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbError> {
    super::ids(
        client,
        "UPDATE agreements SET archived = $3, archive_group = $4, revision = revision + 1,
                 update_time = $5
             WHERE customer_id = $1 AND id = ANY($2) AND archived <> $3
             RETURNING id",
        &[&customer_id, &ids, &archived, &group, &now],
    )
    .await
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.agreements::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<bool, DbError> {
    let deleted = client
        .execute(
            "DELETE FROM agreements WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(deleted > 0)
}
