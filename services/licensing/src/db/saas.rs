//! The SaaS source: applications found at a customer and each user's
//! latest activity in them.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::CustomerId;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// One validated activity record.
#[derive(Debug, Clone)]
pub struct Activity {
    pub application: String,
    pub vendor: String,
    pub username: String,
    pub last_active: DateTime<Utc>,
}

/// A stored upload: its digest and what it stored.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    pub digest: Vec<u8>,
    pub applications: i64,
    pub records: i64,
}

/// Claims `upload_id` for `digest`; the upload stored before when the id
/// was taken (the caller compares digests).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.saas::claim", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn claim(
    client: &impl GenericClient,
    customer_id: CustomerId,
    upload_id: &str,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<StoredUpload>, DbError> {
    let inserted = client
        .execute(
            "INSERT INTO saas_uploads (customer_id, upload_id, digest, applications, records,
                 create_time)
             VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT DO NOTHING",
            &[&customer_id, &upload_id, &digest, &now],
        )
        .await?;
    if inserted == 1 {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT digest, applications, records FROM saas_uploads
             WHERE customer_id = $1 AND upload_id = $2",
            &[&customer_id, &upload_id],
        )
        .await?;
    Ok(Some(StoredUpload {
        digest: row.get(0),
        applications: row.get(1),
        records: row.get(2),
    }))
}

/// Stores the records (applications by name, latest activity per user);
/// returns how many applications they named.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.saas::store", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn store(
    client: &impl GenericClient,
    customer_id: CustomerId,
    upload_id: &str,
    records: &[Activity],
    now: DateTime<Utc>,
) -> Result<i64, DbError> {
    let mut names: Vec<&str> = records
        .iter()
        .map(|record| record.application.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    // The latest vendor per application, in name order (one lock order).
    let vendors: Vec<&str> = names
        .iter()
        .map(|name| {
            records
                .iter()
                .filter(|record| record.application == *name)
                .max_by_key(|record| record.last_active)
                .map_or("", |record| record.vendor.as_str())
        })
        .collect();
    let ids: Vec<Uuid> = names.iter().map(|_| Uuid::now_v7()).collect();
    client
        .execute(
            "INSERT INTO saas_applications AS a (customer_id, id, display_name, vendor, create_time)
             SELECT $1, t.id, t.name, t.vendor, $2
             FROM unnest($3::uuid[], $4::text[], $5::text[]) AS t(id, name, vendor)
             ORDER BY t.name
             ON CONFLICT (customer_id, display_name) DO UPDATE
             SET vendor = CASE WHEN excluded.vendor = '' THEN a.vendor ELSE excluded.vendor END",
            &[&customer_id, &now, &ids, &names, &vendors],
        )
        .await?;
    let applications: Vec<&str> = records.iter().map(|r| r.application.as_str()).collect();
    let users: Vec<&str> = records.iter().map(|r| r.username.as_str()).collect();
    let times: Vec<DateTime<Utc>> = records.iter().map(|r| r.last_active).collect();
    client
        .execute(
            "INSERT INTO saas_activity AS s (customer_id, application_id, username,
                 last_active_time)
             SELECT $1, a.id, t.username, max(t.last_active)
             FROM unnest($2::text[], $3::text[], $4::timestamptz[])
                  AS t(application, username, last_active)
             JOIN saas_applications a ON a.customer_id = $1 AND a.display_name = t.application
             GROUP BY a.id, t.username
             ORDER BY a.id, t.username
             ON CONFLICT (customer_id, application_id, username) DO UPDATE
             SET last_active_time = greatest(s.last_active_time, excluded.last_active_time)",
            &[&customer_id, &applications, &users, &times],
        )
        .await?;
    client
        .execute(
            "UPDATE saas_uploads SET applications = $3, records = $4
             WHERE customer_id = $1 AND upload_id = $2",
            &[
                &customer_id,
                &upload_id,
                &(names.len() as i64),
                &(records.len() as i64),
            ],
        )
        .await?;
    Ok(names.len() as i64)
}

/// A customer's SaaS figures: applications, and users active since
/// `active_since`; `None` before the source reported anything.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.saas::summary", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn summary(
    client: &impl GenericClient,
    customer_id: CustomerId,
    active_since: DateTime<Utc>,
) -> Result<Option<(i64, i64)>, DbError> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM saas_applications WHERE customer_id = $1),
                    (SELECT count(DISTINCT username) FROM saas_activity
                     WHERE customer_id = $1 AND last_active_time >= $2)",
            &[&customer_id, &active_since],
        )
        .await?;
    let applications: i64 = row.get(0);
    Ok((applications > 0).then(|| (applications, row.get(1))))
}

/// One listed application.
#[derive(Debug, Clone)]
pub struct SaasApplication {
    pub id: Uuid,
    pub display_name: String,
    pub vendor: String,
    pub users: i64,
    pub active_users: i64,
    pub last_active: Option<DateTime<Utc>>,
}

/// A page of a customer's applications, by id.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.saas::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    active_since: DateTime<Utc>,
    page: &PageRequest,
) -> Result<Vec<SaasApplication>, DbError> {
    let rows = client
        .query(
            "SELECT a.id, a.display_name, a.vendor,
                    count(s.username) AS users,
                    count(s.username) FILTER (WHERE s.last_active_time >= $2) AS active_users,
                    max(s.last_active_time) AS last_active
             FROM saas_applications a
             LEFT JOIN saas_activity s
                  ON s.customer_id = a.customer_id AND s.application_id = a.id
             WHERE a.customer_id = $1
               AND a.id > coalesce($3::uuid, '00000000-0000-0000-0000-000000000000')
             GROUP BY a.customer_id, a.id ORDER BY a.id LIMIT $4",
            &[
                &customer_id,
                &active_since,
                &page.after,
                &page.fetch_limit(),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| SaasApplication {
            id: row.get(0),
            display_name: row.get(1),
            vendor: row.get(2),
            users: row.get(3),
            active_users: row.get(4),
            last_active: row.get(5),
        })
        .collect())
}
