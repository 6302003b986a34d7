//! A customer's licensing settings and license policy. A customer that
//! never changed them has the defaults, without a row.

use chrono::{DateTime, Utc};
use estate_db::DbError;
use estate_proto::names::CustomerId;
use tokio_postgres::GenericClient;

pub use crate::rules::policy::{Policy, PolicyField};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub quarantine_after_days: i32,
    pub metering_period_days: i32,
    pub allow_incomplete_licenses: bool,
    /// 0 until first changed.
    pub revision: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            quarantine_after_days: 30,
            metering_period_days: 90,
            allow_incomplete_licenses: false,
            revision: 0,
        }
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.settings::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: CustomerId,
) -> Result<Settings, DbError> {
    let row = client
        .query_opt(
            "SELECT quarantine_after_days, metering_period_days, allow_incomplete_licenses, revision
             FROM settings WHERE customer_id = $1",
            &[&customer_id],
        )
        .await?;
    Ok(row.map_or_else(Settings::default, |row| Settings {
        quarantine_after_days: row.get(0),
        metering_period_days: row.get(1),
        allow_incomplete_licenses: row.get(2),
        revision: row.get(3),
    }))
}

/// Stores `settings` when the stored revision is still `expected_revision`;
/// `None` when it is not (someone changed them meanwhile).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.settings::put", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn put(
    client: &impl GenericClient,
    customer_id: CustomerId,
    settings: &Settings,
    expected_revision: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<Settings>, DbError> {
    let row = client
        .query_opt(
            "INSERT INTO settings AS s
                 (customer_id, quarantine_after_days, metering_period_days,
                  allow_incomplete_licenses, revision, update_time)
             VALUES ($1, $2, $3, $4, 1, $6)
             ON CONFLICT (customer_id) DO UPDATE
             SET quarantine_after_days = excluded.quarantine_after_days,
                 metering_period_days = excluded.metering_period_days,
                 allow_incomplete_licenses = excluded.allow_incomplete_licenses,
                 revision = s.revision + 1, update_time = excluded.update_time
             WHERE $5::bigint IS NULL OR s.revision = $5
             RETURNING revision",
            &[
                &customer_id,
                &settings.quarantine_after_days,
                &settings.metering_period_days,
                &settings.allow_incomplete_licenses,
                &expected_revision,
                &now,
            ],
        )
        .await?;
    Ok(row.map(|row| Settings {
        revision: row.get(0),
        ..settings.clone()
    }))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.settings::policy", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn policy(
    client: &impl GenericClient,
    customer_id: CustomerId,
) -> Result<Policy, DbError> {
    let revision = client
        .query_opt(
            "SELECT revision FROM policies WHERE customer_id = $1",
            &[&customer_id],
        )
        .await?
        .map_or(0, |row| row.get(0));
    let rows = client
        .query(
            "SELECT field, required, description, allowed_values, custom_values_allowed
             FROM policy_fields WHERE customer_id = $1 ORDER BY position",
            &[&customer_id],
        )
        .await?;
    let fields = rows
        .iter()
        .map(|row| PolicyField {
            field: row.get(0),
            required: row.get(1),
            description: row.get(2),
            allowed_values: row.get(3),
            custom_values_allowed: row.get(4),
        })
        .collect();
    Ok(Policy { fields, revision })
}

/// Replaces the policy when its revision is still `expected_revision`
/// (0 for a never-stored policy); `None` when it is not. Call inside a
/// transaction.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.settings::put_policy", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn put_policy(
    client: &impl GenericClient,
    customer_id: CustomerId,
    fields: &[PolicyField],
    expected_revision: Option<i64>,
) -> Result<Option<i64>, DbError> {
    let current = client
        .query_opt(
            "INSERT INTO policies (customer_id, revision) VALUES ($1, 0)
             ON CONFLICT (customer_id) DO UPDATE SET revision = policies.revision
             RETURNING revision",
            &[&customer_id],
        )
        .await?
        .map_or(0, |row| row.get::<_, i64>(0));
    if expected_revision.is_some_and(|expected| expected != current) {
        return Ok(None);
    }
    client
        .execute(
            "DELETE FROM policy_fields WHERE customer_id = $1",
            &[&customer_id],
        )
        .await?;
    for (position, rule) in fields.iter().enumerate() {
        let position = i32::try_from(position).unwrap_or(i32::MAX);
        client
            .execute(
                "INSERT INTO policy_fields
                     (customer_id, field, required, description, allowed_values,
                      custom_values_allowed, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &customer_id,
                    &rule.field,
                    &rule.required,
                    &rule.description,
                    &rule.allowed_values,
                    &rule.custom_values_allowed,
                    &position,
                ],
            )
            .await?;
    }
    let row = client
        .query_one(
            "UPDATE policies SET revision = revision + 1 WHERE customer_id = $1 RETURNING revision",
            &[&customer_id],
        )
        .await?;
    Ok(Some(row.get(0)))
}
