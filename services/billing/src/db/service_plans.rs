//! Service plans of a distributor. Every query is scoped by distributor.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// A plan as stored and as created (ids and times aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFields {
    pub display_name: String,
    pub product: String,
    /// `trial` or `full`.
    pub license_type: &'static str,
    pub unit_type: String,
    pub initial_period_months: i32,
    pub auto_renewal: bool,
    pub expiration_notification_days: i32,
    pub enabled: bool,
}

/// A stored plan.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub id: Uuid,
    pub distributor_id: Uuid,
    pub fields: PlanFields,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

const COLUMNS: &str = "id, distributor_id, display_name, product, license_type, unit_type, \
    initial_period_months, auto_renewal, expiration_notification_days, enabled, create_time, update_time";

fn from_row(row: &Row) -> ServicePlan {
    let license_type = if row.get::<_, &str>("license_type") == "trial" {
        "trial"
    } else {
        "full"
    };
    ServicePlan {
        id: row.get("id"),
        distributor_id: row.get("distributor_id"),
        fields: PlanFields {
            display_name: row.get("display_name"),
            product: row.get("product"),
            license_type,
            unit_type: row.get("unit_type"),
            initial_period_months: row.get("initial_period_months"),
            auto_renewal: row.get("auto_renewal"),
            expiration_notification_days: row.get("expiration_notification_days"),
            enabled: row.get("enabled"),
        },
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
    }
}

pub async fn find_by_request_id(
    client: &impl GenericClient,
    distributor_id: Uuid,
    request_id: &str,
) -> Result<Option<ServicePlan>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM service_plans WHERE distributor_id = $1 AND request_id = $2"
    );
    let row = client
        .query_opt(&statement, &[&distributor_id, &request_id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn insert(
    client: &impl GenericClient,
    distributor_id: Uuid,
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
    Ok(from_row(&row))
}

pub async fn get(
    client: &impl GenericClient,
    distributor_id: Uuid,
    id: Uuid,
) -> Result<Option<ServicePlan>, DbError> {
    let statement =
        format!("SELECT {COLUMNS} FROM service_plans WHERE distributor_id = $1 AND id = $2");
    let row = client
        .query_opt(&statement, &[&distributor_id, &id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn list(
    client: &impl GenericClient,
    distributor_id: Uuid,
    page: &PageRequest,
) -> Result<Vec<ServicePlan>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM service_plans
         WHERE distributor_id = $1 AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY id LIMIT $3"
    );
    let rows = client
        .query(
            &statement,
            &[&distributor_id, &page.after, &page.fetch_limit()],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}
