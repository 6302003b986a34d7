//! The estate figures the customers service shows per customer.

use chrono::{DateTime, Utc};
use estate_db::DbError;
use estate_proto::names::CustomerId;
use tokio_postgres::GenericClient;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EstateSummary {
    pub computers: i64,
    pub inventoried_recently: i64,
    pub not_inventoried_recently: i64,
    pub quarantined: i64,
    pub inactive: i64,
    /// Distinct applications installed anywhere in the estate.
    pub applications: i64,
    pub licensable: i64,
    pub denied_installed: i64,
}

/// `recent_since`: scans at or after it are recent; `quarantined_before`:
/// active computers last scanned before it are quarantined.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.summary::estate", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn estate(
    client: &impl GenericClient,
    customer_id: CustomerId,
    recent_since: DateTime<Utc>,
    quarantined_before: DateTime<Utc>,
) -> Result<EstateSummary, DbError> {
    let row = client
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE last_scan_time >= $2),
                    count(*) FILTER (WHERE last_scan_time < $2),
                    count(*) FILTER (WHERE NOT inactive AND last_scan_time < $3),
                    count(*) FILTER (WHERE inactive)
             FROM computers WHERE customer_id = $1",
            &[&customer_id, &recent_since, &quarantined_before],
        )
        .await?;
    let applications = client
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE NOT a.no_license_required),
                    count(*) FILTER (WHERE a.denied)
             FROM applications a
             WHERE a.customer_id = $1
               AND EXISTS (SELECT 1 FROM installations i
                           WHERE i.customer_id = a.customer_id AND i.application_id = a.id)",
            &[&customer_id],
        )
        .await?;
    Ok(EstateSummary {
        computers: row.get(0),
        inventoried_recently: row.get(1),
        not_inventoried_recently: row.get(2),
        quarantined: row.get(3),
        inactive: row.get(4),
        applications: applications.get(0),
        licensable: applications.get(1),
        denied_installed: applications.get(2),
    })
}
