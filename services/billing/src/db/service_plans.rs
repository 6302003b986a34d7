//! Service plans of a distributor. Every query is scoped by distributor.

use chrono::{DateTime, NaiveDate, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::{DistributorId, ServicePlanId};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::Lock;
use crate::rules::statuses::LicenseKind;

/// A plan as stored and as created (ids and times aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFields {
    pub display_name: String,
    pub product: String,
    /// `trial` or `full`.
    pub license_type: LicenseKind,
    pub unit_type: String,
    pub initial_period_months: i32,
    pub auto_renewal: bool,
    pub expiration_notification_days: i32,
    pub enabled: bool,
    /// Earliest first, distinct dates, one currency.
    pub prices: Vec<Price>,
}

/// A plan's price of one unit from a date on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub effective_from: NaiveDate,
    pub currency_code: String,
    pub unit_price_minor: i64,
}

/// A stored plan.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub id: ServicePlanId,
    pub distributor_id: DistributorId,
    pub fields: PlanFields,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub end_of_sale_time: Option<DateTime<Utc>>,
    pub revision: i64,
}

const COLUMNS: &str = "id, distributor_id, display_name, product, license_type, unit_type, \
    initial_period_months, auto_renewal, expiration_notification_days, enabled, create_time, update_time, \
    end_of_sale_time, revision";

fn from_row(row: &Row) -> ServicePlan {
    ServicePlan {
        id: row.get("id"),
        distributor_id: row.get("distributor_id"),
        fields: PlanFields {
            display_name: row.get("display_name"),
            product: row.get("product"),
            license_type: row.get("license_type"),
            unit_type: row.get("unit_type"),
            initial_period_months: row.get("initial_period_months"),
            auto_renewal: row.get("auto_renewal"),
            expiration_notification_days: row.get("expiration_notification_days"),
            enabled: row.get("enabled"),
            prices: Vec::new(),
        },
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
        end_of_sale_time: row.get("end_of_sale_time"),
        revision: row.get("revision"),
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.service_plans::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    fields: &PlanFields,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ServicePlan, DbError> {
    let statement = format!(
        "INSERT INTO service_plans (id, distributor_id, display_name, product, license_type,
             unit_type, initial_period_months, auto_renewal, expiration_notification_days,
             enabled, request_id, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &Uuid::now_v7(),
                &distributor_id,
                &fields.display_name,
                &fields.product,
                &fields.license_type,
                &fields.unit_type,
                &fields.initial_period_months,
                &fields.auto_renewal,
                &fields.expiration_notification_days,
                &fields.enabled,
                &request_id,
                &now,
            ],
        )
        .await?;
    let mut plan = from_row(&row);
    store_prices(client, plan.id, &fields.prices).await?;
    plan.fields.prices = fields.prices.clone();
    Ok(plan)
}

/// Replaces the prices of plan `id`.
async fn store_prices(
    client: &impl GenericClient,
    id: ServicePlanId,
    prices: &[Price],
) -> Result<(), DbError> {
    client
        .execute("DELETE FROM service_plan_prices WHERE plan_id = $1", &[&id])
        .await?;
    let from: Vec<NaiveDate> = prices.iter().map(|price| price.effective_from).collect();
    let currency: Vec<&str> = prices
        .iter()
        .map(|price| price.currency_code.as_str())
        .collect();
    let minor: Vec<i64> = prices.iter().map(|price| price.unit_price_minor).collect();
    client
        .execute(
            "INSERT INTO service_plan_prices (plan_id, effective_from, currency_code,
                 unit_price_minor)
             SELECT $1, * FROM unnest($2::date[], $3::text[], $4::bigint[])",
            &[&id, &from, &currency, &minor],
        )
        .await?;
    Ok(())
}

/// Fills in the prices of `plans`.
async fn with_prices(
    client: &impl GenericClient,
    mut plans: Vec<ServicePlan>,
) -> Result<Vec<ServicePlan>, DbError> {
    if plans.is_empty() {
        return Ok(plans);
    }
    let ids: Vec<ServicePlanId> = plans.iter().map(|plan| plan.id).collect();
    let rows = client
        .query(
            "SELECT plan_id, effective_from, currency_code, unit_price_minor
             FROM service_plan_prices WHERE plan_id = ANY($1)
             ORDER BY plan_id, effective_from",
            &[&ids],
        )
        .await?;
    for row in rows {
        let id: ServicePlanId = row.get(0);
        if let Some(plan) = plans.iter_mut().find(|plan| plan.id == id) {
            plan.fields.prices.push(Price {
                effective_from: row.get(1),
                currency_code: row.get(2),
                unit_price_minor: row.get(3),
            });
        }
    }
    Ok(plans)
}

/// One plan.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.service_plans::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    id: ServicePlanId,
    lock: Lock,
) -> Result<Option<ServicePlan>, DbError> {
    let lock = lock.clause();
    let statement =
        format!("SELECT {COLUMNS} FROM service_plans WHERE distributor_id = $1 AND id = $2{lock}");
    let row = client
        .query_opt(&statement, &[&distributor_id, &id])
        .await?;
    let plans = with_prices(client, row.as_ref().map(from_row).into_iter().collect()).await?;
    Ok(plans.into_iter().next())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.service_plans::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    enabled: Option<bool>,
    page: &PageRequest,
) -> Result<Vec<ServicePlan>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM service_plans
         WHERE distributor_id = $1 AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
           AND ($4::boolean IS NULL OR enabled = $4)
         ORDER BY id LIMIT $3"
    );
    let rows = client
        .query(
            &statement,
            &[&distributor_id, &page.after, &page.fetch_limit(), &enabled],
        )
        .await?;
    with_prices(client, rows.iter().map(from_row).collect()).await
}

/// Stores `fields` over plan `id`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.service_plans::update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn update(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    id: ServicePlanId,
    fields: &PlanFields,
    now: DateTime<Utc>,
) -> Result<ServicePlan, DbError> {
    let statement = format!(
        "UPDATE service_plans
         SET display_name = $3, product = $4, license_type = $5, unit_type = $6,
             initial_period_months = $7, auto_renewal = $8, expiration_notification_days = $9,
             enabled = $10, update_time = $11, revision = revision + 1
         WHERE distributor_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &distributor_id,
                &id,
                &fields.display_name,
                &fields.product,
                &fields.license_type,
                &fields.unit_type,
                &fields.initial_period_months,
                &fields.auto_renewal,
                &fields.expiration_notification_days,
                &fields.enabled,
                &now,
            ],
        )
        .await?;
    let mut plan = from_row(&row);
    store_prices(client, plan.id, &fields.prices).await?;
    plan.fields.prices = fields.prices.clone();
    Ok(plan)
}

/// Ends the sale of plan `id` at `now`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.service_plans::end_sale", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn end_sale(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    id: ServicePlanId,
    now: DateTime<Utc>,
) -> Result<ServicePlan, DbError> {
    let statement = format!(
        "UPDATE service_plans
         SET end_of_sale_time = $3, update_time = $3, revision = revision + 1
         WHERE distributor_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(&statement, &[&distributor_id, &id, &now])
        .await?;
    let plans = with_prices(client, vec![from_row(&row)]).await?;
    Ok(plans.into_iter().next().unwrap_or_else(|| from_row(&row)))
}
