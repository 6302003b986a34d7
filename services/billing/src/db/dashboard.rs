//! The figures of a distributor's dashboard, each one query.

use chrono::NaiveDate;
use estate_db::DbError;
use estate_proto::names::{DistributorId, PartnerId};
use tokio_postgres::GenericClient;
use tokio_postgres::types::FromSql;
use uuid::Uuid;

use super::partners::Partner;
use super::reports::CHARGEABLE_SQL;
use crate::rules::statuses::{BillingStatus, LicenseStatus, UsageStatus};

/// The single counts of the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub enabled_customers: i64,
    pub active_partners: i64,
    pub enabled_plans: i64,
    pub acquired_since: i64,
    pub inactive_new: i64,
}

/// New partners are those acquired on or after `new_since`; `recent_since`
/// bounds "acquired in the last 30 days".
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.dashboard::counts", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn counts(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    recent_since: NaiveDate,
    new_since: NaiveDate,
) -> Result<Counts, DbError> {
    let row = client
        .query_one(
            &format!(
                "SELECT
                   (SELECT count(*) FROM customer_accounts c
                    WHERE c.distributor_id = $1 AND c.enabled),
                   (SELECT count(*) FROM partners p
                    WHERE p.distributor_id = $1 AND p.status = 'active'),
                   (SELECT count(*) FROM service_plans s
                    WHERE s.distributor_id = $1 AND s.enabled),
                   (SELECT count(*) FROM partners p
                    WHERE p.distributor_id = $1 AND p.acquisition_date >= $2),
                   (SELECT count(*) FROM partners p WHERE {})",
                inactive_new("$3")
            ),
            &[&distributor_id, &recent_since, &new_since],
        )
        .await?;
    Ok(Counts {
        enabled_customers: row.get(0),
        active_partners: row.get(1),
        enabled_plans: row.get(2),
        acquired_since: row.get(3),
        inactive_new: row.get(4),
    })
}

/// Active partners `p` of `$1` acquired on or after parameter `since`
/// with no full license sale on or after their acquisition date.
pub fn inactive_new(since: &str) -> String {
    format!(
        "p.distributor_id = $1 AND p.status = 'active'
         AND p.acquisition_date >= {since}
         AND NOT EXISTS (SELECT 1 FROM full_license_sales s
                         WHERE s.distributor_id = p.distributor_id AND s.partner_id = p.id
                           AND s.sale_date >= p.acquisition_date)"
    )
}

/// Customers with at least one license in each status on `$2`, among the
/// licenses of distributor `$1`, by the rule of
/// [`super::license_status::SELECT`] (the list filter's), computed per
/// customer and product instead of per license: the seats in force are
/// summed once per pair, and "exceeded" is asked once per pair that still
/// has a license not expired, as "is there a day of the window with more
/// units used than those seats?", which `usage_days_by_units` answers with
/// one index descent for a customer within its seats. The per-license
/// rule reads every day of the window of every license (and its cost
/// estimate sets off JIT compilation): 2-3x slower at the benchmark's
/// 75,000 licenses. `LATERAL … LIMIT 1` keeps the question a lookup per
/// pair; as a semi-join the planner may hash the whole window instead.
pub const LICENSE_STATUSES: &str = include_str!("../../sql/customers_by_license_status.sql");

/// Customers with at least one license in each status on `today`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "billing.dashboard::customers_by_license_status", otel.kind = "client", db.system.name = "postgresql"))]
pub async fn customers_by_license_status(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    today: NaiveDate,
) -> Result<Vec<(LicenseStatus, i64)>, DbError> {
    let rows = client
        .query(LICENSE_STATUSES, &[&distributor_id, &today])
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Usage reports per status.
pub async fn usage_reports_by_status(
    client: &impl GenericClient,
    distributor_id: DistributorId,
) -> Result<Vec<(UsageStatus, i64)>, DbError> {
    reports_by_status(client, distributor_id, "usage_reports").await
}

/// Billing reports per status.
pub async fn billing_reports_by_status(
    client: &impl GenericClient,
    distributor_id: DistributorId,
) -> Result<Vec<(BillingStatus, i64)>, DbError> {
    reports_by_status(client, distributor_id, "billing_reports").await
}

/// The reports of `table` per status.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.dashboard::reports_by_status", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
async fn reports_by_status<T: for<'a> FromSql<'a>>(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    table: &str,
) -> Result<Vec<(T, i64)>, DbError> {
    let rows = client
        .query(
            &format!("SELECT status, count(*) FROM {table} WHERE distributor_id = $1 GROUP BY 1"),
            &[&distributor_id],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Partners acquired in `year` and the year before, as (year, period,
/// count), the period a month (1..12) or, when `quarterly`, a quarter.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.dashboard::acquisitions", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn acquisitions(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    year: i32,
    quarterly: bool,
) -> Result<Vec<(i32, i32, i64)>, DbError> {
    let rows = client
        .query(
            "SELECT extract(year FROM acquisition_date)::integer,
                    (CASE WHEN $3 THEN extract(quarter FROM acquisition_date)
                          ELSE extract(month FROM acquisition_date) END)::integer,
                    count(*)
             FROM partners
             WHERE distributor_id = $1
               AND acquisition_date >= make_date($2 - 1, 1, 1)
               AND acquisition_date < make_date($2 + 1, 1, 1)
             GROUP BY 1, 2",
            &[&distributor_id, &year, &quarterly],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// A partner whose chargeable units of a product fell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    pub partner_id: PartnerId,
    pub product: String,
    pub previous: i64,
    pub current: i64,
    pub percent: i64,
}

pub const DROPS: &str = "
    WITH previous AS (
        SELECT r.partner_id, r.product, sum(CHARGEABLE)::bigint AS units
        FROM usage_reports r WHERE r.distributor_id = $1 AND r.month = $2
        GROUP BY 1, 2),
    current AS (
        SELECT r.partner_id, r.product, sum(CHARGEABLE)::bigint AS units
        FROM usage_reports r WHERE r.distributor_id = $1 AND r.month = $3
        GROUP BY 1, 2),
    drops AS (
        SELECT p.partner_id, p.product, p.units AS previous,
               coalesce(c.units, 0) AS current,
               (p.units - coalesce(c.units, 0)) * 100 / p.units AS percent,
               (p.units - coalesce(c.units, 0)) * 100 > $4::bigint * p.units AS beyond
        FROM previous p
        LEFT JOIN current c ON c.partner_id = p.partner_id AND c.product = p.product
        WHERE p.units > 0)";

/// Per product with chargeable units in `previous_month`: how many
/// partners' units fell by more than `threshold_percent` in `month`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.dashboard::drop_counts", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn drop_counts(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    previous_month: NaiveDate,
    month: NaiveDate,
    threshold_percent: i32,
) -> Result<Vec<(String, i64)>, DbError> {
    let rows = client
        .query(
            &format!(
                "{} SELECT product, count(*) FILTER (WHERE beyond) FROM drops
                 GROUP BY 1 ORDER BY 1",
                DROPS.replace("CHARGEABLE", CHARGEABLE_SQL)
            ),
            &[
                &distributor_id,
                &previous_month,
                &month,
                &i64::from(threshold_percent),
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The partners [`drop_counts`] counts for `product`, largest drop first.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.dashboard::drops", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn drops(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    previous_month: NaiveDate,
    month: NaiveDate,
    threshold_percent: i32,
    product: &str,
) -> Result<Vec<Drop>, DbError> {
    let rows = client
        .query(
            &format!(
                "{} SELECT partner_id, product, previous, current, percent FROM drops
                 WHERE beyond AND product = $5 ORDER BY percent DESC, partner_id",
                DROPS.replace("CHARGEABLE", CHARGEABLE_SQL)
            ),
            &[
                &distributor_id,
                &previous_month,
                &month,
                &i64::from(threshold_percent),
                &product,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Drop {
            partner_id: row.get(0),
            product: row.get(1),
            previous: row.get(2),
            current: row.get(3),
            percent: row.get(4),
        })
        .collect())
}

/// The partners counted as inactive new partners.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.dashboard::inactive_new_partners", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn inactive_new_partners(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    new_since: NaiveDate,
) -> Result<Vec<Partner>, DbError> {
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM partners p WHERE {}
                 ORDER BY p.acquisition_date DESC, p.id",
                super::partners::PARTNER_COLUMNS,
                inactive_new("$2")
            ),
            &[&distributor_id, &new_since],
        )
        .await?;
    Ok(rows.iter().map(super::partners::partner).collect())
}

/// Which of `organization_ids` have a partner account (`true`) or a
/// customer account (`false`) of the distributor, with the account's
/// partner for a customer.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.dashboard::accounts_of", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn accounts_of(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    organization_ids: &[Uuid],
) -> Result<Vec<(Uuid, Option<PartnerId>)>, DbError> {
    let rows = client
        .query(
            "SELECT id, NULL::uuid FROM partners
             WHERE distributor_id = $1 AND id = ANY($2)
             UNION ALL
             SELECT id, partner_id FROM customer_accounts
             WHERE distributor_id = $1 AND id = ANY($2)",
            &[&distributor_id, &organization_ids],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}
