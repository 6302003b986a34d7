//! Capabilities an organization holds, with their expiry.

use chrono::{DateTime, Utc};
use estate_db::DbError;
use estate_proto::names::OrganizationId;
use tokio_postgres::GenericClient;

use crate::rules::expirations::{Capability, Held};

#[derive(Debug, Clone)]
pub struct Entitlement {
    pub organization_id: OrganizationId,
    pub held: Held,
    pub update_time: DateTime<Utc>,
}

fn from_row(row: &tokio_postgres::Row) -> Option<Entitlement> {
    Some(Entitlement {
        organization_id: row.get("organization_id"),
        held: Held {
            capability: Capability::parse(row.get("capability"))?,
            expire_time: row.get("expire_time"),
        },
        update_time: row.get("update_time"),
    })
}

/// The entitlements of each of `organizations`, in capability order.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.entitlements::for_organizations", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn for_organizations(
    client: &impl GenericClient,
    organizations: &[OrganizationId],
) -> Result<Vec<Entitlement>, DbError> {
    let rows = client
        .query(
            "SELECT organization_id, capability, expire_time, update_time FROM entitlements
             WHERE organization_id = ANY($1)",
            &[&organizations],
        )
        .await?;
    let mut entitlements: Vec<Entitlement> = rows.iter().filter_map(from_row).collect();
    entitlements
        .sort_by_key(|entitlement| (entitlement.organization_id, entitlement.held.capability));
    Ok(entitlements)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.entitlements::upsert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn upsert(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    held: Held,
    now: DateTime<Utc>,
) -> Result<Entitlement, DbError> {
    let row = client
        .query_one(
            "INSERT INTO entitlements (organization_id, capability, expire_time, update_time)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (organization_id, capability)
                 DO UPDATE SET expire_time = excluded.expire_time, update_time = excluded.update_time
             RETURNING organization_id, capability, expire_time, update_time",
            &[
                &organization_id,
                &held.capability.as_str(),
                &held.expire_time,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row).expect("a known capability was written"))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE customers.entitlements::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    organization_id: OrganizationId,
    capability: Capability,
) -> Result<bool, DbError> {
    Ok(client
        .execute(
            "DELETE FROM entitlements WHERE organization_id = $1 AND capability = $2",
            &[&organization_id, &capability.as_str()],
        )
        .await?
        == 1)
}
