//! Customers' product licenses and the usage reported against them.
//!
//! A license's status is derived as of a day, in SQL so lists can filter
//! on it: its current period ends `period_months` after its start, or,
//! when it renews automatically, after the start of the period the day
//! falls in. Then, first match wins: `expired` (the day is past a
//! non-renewing end), `exceeded_allocation` (on a day from 30 days before
//! through the day itself, the customer used more units of the product than
//! the seats of its licenses of it in force that day), `expiring_soon` (a
//! non-renewing end within the notification window), `trial`, `active`.

use chrono::{DateTime, NaiveDate, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::{
    CustomerAccountName, CustomerId, DistributorId, PartnerId, ProductLicenseId, ServicePlanId,
};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::partners::CustomerAccount;
use super::service_plans::ServicePlan;
use crate::rules::statuses::{LicenseKind, LicenseStatus};

/// A stored license with its derived period end and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductLicense {
    pub distributor_id: DistributorId,
    pub partner_id: PartnerId,
    pub customer_id: CustomerId,
    pub id: ProductLicenseId,
    pub plan_id: ServicePlanId,
    pub product: String,
    pub license_type: LicenseKind,
    pub seats: i64,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub auto_renewal: bool,
    pub status: LicenseStatus,
    pub create_time: DateTime<Utc>,
}

use super::license_status::SELECT;

fn license(row: &Row) -> ProductLicense {
    ProductLicense {
        distributor_id: row.get(0),
        partner_id: row.get(1),
        customer_id: row.get(2),
        id: row.get(3),
        plan_id: row.get(4),
        product: row.get(5),
        license_type: row.get(6),
        seats: row.get(7),
        start_date: row.get(8),
        end_date: row.get(9),
        auto_renewal: row.get(10),
        status: row.get(11),
        create_time: row.get(12),
    }
}

/// Sells `seats` of `plan` to `customer` from `start_date`; a full license
/// records its sale. Returns the license id: a new one, or the one sold
/// before under `request_id` (nothing is written then). Safe inside a
/// transaction: a repeated request id never aborts it.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.product_licenses::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    customer: &CustomerAccount,
    plan: &ServicePlan,
    seats: i64,
    start_date: NaiveDate,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ProductLicenseId, DbError> {
    let id = ProductLicenseId::from_uuid(Uuid::now_v7());
    let inserted = client
        .execute(
            "INSERT INTO product_licenses (distributor_id, partner_id, customer_id, id, plan_id,
                 product, license_type, seats, start_date, period_months, auto_renewal,
                 notification_days, request_id, create_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (customer_id, request_id) WHERE request_id IS NOT NULL DO NOTHING",
            &[
                &customer.distributor_id,
                &customer.partner_id,
                &customer.id,
                &id,
                &plan.id,
                &plan.fields.product,
                &plan.fields.license_type,
                &seats,
                &start_date,
                &plan.fields.initial_period_months,
                &plan.fields.auto_renewal,
                &plan.fields.expiration_notification_days,
                &request_id,
                &now,
            ],
        )
        .await?;
    if inserted == 0 {
        let earlier = client
            .query_one(
                "SELECT id FROM product_licenses WHERE customer_id = $1 AND request_id = $2",
                &[&customer.id, &request_id],
            )
            .await?;
        return Ok(earlier.get(0));
    }
    if plan.fields.license_type == LicenseKind::Full {
        client
            .execute(
                "INSERT INTO full_license_sales
                     (distributor_id, partner_id, customer_id, license_id, seats, sale_date)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &customer.distributor_id,
                    &customer.partner_id,
                    &customer.id,
                    &id,
                    &seats,
                    &now.date_naive(),
                ],
            )
            .await?;
    }
    Ok(id)
}

/// One license of `customer`, as of `today`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.product_licenses::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer: &CustomerAccount,
    id: ProductLicenseId,
    today: NaiveDate,
) -> Result<Option<ProductLicense>, DbError> {
    let name = CustomerAccountName {
        distributor: customer.distributor_id,
        partner: customer.partner_id,
        customer: customer.id,
    };
    get_of(client, name, id, today).await
}

/// One license of the customer account `customer`, as of `today`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.product_licenses::get_of", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_of(
    client: &impl GenericClient,
    customer: CustomerAccountName,
    id: ProductLicenseId,
    today: NaiveDate,
) -> Result<Option<ProductLicense>, DbError> {
    let row = client
        .query_opt(
            &format!(
                "{SELECT} WHERE l.distributor_id = $2 AND l.partner_id = $3
                   AND l.customer_id = $4 AND l.id = $5"
            ),
            &[
                &today,
                &customer.distributor,
                &customer.partner,
                &customer.customer,
                &id,
            ],
        )
        .await?;
    Ok(row.as_ref().map(license))
}

/// Licenses of `customer` as of `today`, oldest first, in `statuses`
/// (any when empty).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.product_licenses::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer: &CustomerAccount,
    today: NaiveDate,
    statuses: &[LicenseStatus],
    page: &PageRequest,
) -> Result<Vec<ProductLicense>, DbError> {
    let rows = client
        .query(
            &format!(
                "SELECT * FROM ({SELECT} WHERE l.distributor_id = $2 AND l.partner_id = $3
                     AND l.customer_id = $4 AND ($5::uuid IS NULL OR l.id > $5)) s
                 WHERE cardinality($6::text[]) = 0 OR s.status = ANY($6)
                 ORDER BY s.id LIMIT $7"
            ),
            &[
                &today,
                &customer.distributor_id,
                &customer.partner_id,
                &customer.id,
                &page.after,
                &statuses,
                &page.fetch_limit(),
            ],
        )
        .await?;
    Ok(rows.iter().map(license).collect())
}

/// A usage report as stored under its client key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub product: String,
    pub usage_date: NaiveDate,
    pub used_units: i64,
    pub client_key: String,
    pub report_time: DateTime<Utc>,
}

/// Records a report: `Ok(Ok(usage))` when new (it becomes the day's
/// figure), `Ok(Err(earlier))` when `client_key` was used before.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.product_licenses::report_usage", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn report_usage(
    client: &impl GenericClient,
    customer: &CustomerAccount,
    usage: &Usage,
) -> Result<Result<Usage, Usage>, DbError> {
    let inserted = client
        .execute(
            "INSERT INTO usage_report_keys
                 (customer_id, client_key, product, usage_date, used_units, report_time)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (customer_id, client_key) DO NOTHING",
            &[
                &customer.id,
                &usage.client_key,
                &usage.product,
                &usage.usage_date,
                &usage.used_units,
                &usage.report_time,
            ],
        )
        .await?;
    if inserted == 0 {
        let row = client
            .query_one(
                "SELECT product, usage_date, used_units, client_key, report_time
                 FROM usage_report_keys WHERE customer_id = $1 AND client_key = $2",
                &[&customer.id, &usage.client_key],
            )
            .await?;
        return Ok(Err(Usage {
            product: row.get(0),
            usage_date: row.get(1),
            used_units: row.get(2),
            client_key: row.get(3),
            report_time: row.get(4),
        }));
    }
    client
        .execute(
            "INSERT INTO usage_days (distributor_id, partner_id, customer_id, product, usage_date,
                 used_units, client_key, report_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (customer_id, product, usage_date) DO UPDATE
             SET used_units = excluded.used_units, client_key = excluded.client_key,
                 report_time = excluded.report_time",
            &[
                &customer.distributor_id,
                &customer.partner_id,
                &customer.id,
                &usage.product,
                &usage.usage_date,
                &usage.used_units,
                &usage.client_key,
                &usage.report_time,
            ],
        )
        .await?;
    Ok(Ok(usage.clone()))
}

/// Per product of customer organization `customer_id`: seats of the
/// licenses not expired on `today`, and the highest units used on a day
/// of the 30 up to `today`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.product_licenses::usage_summary", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn usage_summary(
    client: &impl GenericClient,
    customer_id: CustomerId,
    today: NaiveDate,
) -> Result<Vec<(String, i64, i64)>, DbError> {
    let rows = client
        .query(
            &format!(
                "WITH licenses AS ({SELECT} WHERE l.customer_id = $2),
                 purchased AS (
                     SELECT product, sum(seats)::bigint AS seats FROM licenses
                     WHERE status <> 'expired' AND start_date <= $1::date GROUP BY product),
                 used AS (
                     SELECT product, max(used_units) AS highest FROM usage_days
                     WHERE customer_id = $2 AND usage_date BETWEEN $1::date - 30 AND $1::date
                     GROUP BY product)
                 SELECT coalesce(p.product, u.product), coalesce(p.seats, 0),
                        coalesce(u.highest, 0)
                 FROM purchased p FULL JOIN used u ON u.product = p.product
                 ORDER BY 1"
            ),
            &[&today, &customer_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}
