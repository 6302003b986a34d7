//! Organizations: the tree of distributors, partners and customers.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use estate_proto::names::OrganizationId;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

pub use crate::rules::organizations::{ChainLink, Kind};
use crate::rules::standing::Standing;

/// A stored organization.
#[derive(Debug, Clone)]
pub struct Organization {
    pub id: OrganizationId,
    pub kind: Kind,
    pub display_name: String,
    pub description: String,
    pub external_id: Option<String>,
    pub parent_id: Option<OrganizationId>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// `msp` or `reseller` for partners.
    pub partner_type: Option<String>,
    /// `partner` or `customer` for customers directly below a partner.
    pub relationship_owner: Option<String>,
    pub data_region: String,
    pub revision: i64,
}

/// What a create stores.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub kind: Kind,
    pub display_name: String,
    pub description: String,
    pub external_id: Option<String>,
    pub parent_id: Option<OrganizationId>,
    pub partner_type: Option<String>,
    pub relationship_owner: Option<String>,
    pub data_region: String,
}

/// Matches rows whose parent is `$1` (top level when `$1` is NULL) through
/// the coalesced-parent indexes; `IS NOT DISTINCT FROM` could use none.
const SAME_PARENT: &str = "coalesce(parent_id, '00000000-0000-0000-0000-000000000000') \
     = coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')";

const COLUMNS: &str = "id, kind, display_name, description, external_id, parent_id, create_time, \
     update_time, partner_type, relationship_owner, data_region, revision";

fn from_row(row: &Row) -> Organization {
    Organization {
        id: row.get("id"),
        kind: Kind::parse(row.get("kind")),
        display_name: row.get("display_name"),
        description: row.get("description"),
        external_id: row.get("external_id"),
        parent_id: row.get("parent_id"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
        partner_type: row.get("partner_type"),
        relationship_owner: row.get("relationship_owner"),
        data_region: row.get("data_region"),
        revision: row.get("revision"),
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.organizations::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    new: &NewOrganization,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Organization, DbError> {
    let statement = format!(
        "INSERT INTO organizations
             (id, kind, display_name, description, external_id, parent_id, request_id,
              create_time, update_time, partner_type, relationship_owner, data_region)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11)
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &Uuid::now_v7(),
                &new.kind.as_str(),
                &new.display_name,
                &new.description,
                &new.external_id,
                &new.parent_id,
                &request_id,
                &now,
                &new.partner_type,
                &new.relationship_owner,
                &new.data_region,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    id: OrganizationId,
) -> Result<Option<Organization>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM organizations WHERE id = $1");
    let row = client.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Children of `parent_id` (top-level organizations for `None`), one page
/// plus one look-ahead row, in id (creation) order.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::list_children", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_children(
    client: &impl GenericClient,
    parent_id: Option<OrganizationId>,
    page: &PageRequest,
) -> Result<Vec<Organization>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM organizations
         WHERE {SAME_PARENT} AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY id LIMIT $3"
    );
    let rows = client
        .query(&statement, &[&parent_id, &page.after, &page.fetch_limit()])
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Children and grandchildren of `parent_id` whose name contains `query`
/// (case-insensitive): names starting with it first, then by name. Both
/// levels are found through the coalesced-parent index.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::search", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn search(
    client: &impl GenericClient,
    parent_id: OrganizationId,
    query: &str,
    limit: i64,
) -> Result<Vec<Organization>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM (
             SELECT * FROM organizations WHERE {SAME_PARENT}
             UNION ALL
             SELECT o.* FROM organizations c
             JOIN organizations o
               ON coalesce(o.parent_id, '00000000-0000-0000-0000-000000000000') = c.id
             WHERE coalesce(c.parent_id, '00000000-0000-0000-0000-000000000000') = $1::uuid
         ) found
         WHERE strpos(lower(display_name), lower($2)) > 0
         ORDER BY strpos(lower(display_name), lower($2)) <> 1, lower(display_name), id
         LIMIT $3"
    );
    let rows = client
        .query(&statement, &[&Some(parent_id), &query, &limit])
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The organizations with these ids.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::get_many", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_many(
    client: &impl GenericClient,
    ids: &[OrganizationId],
) -> Result<Vec<Organization>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM organizations WHERE id = ANY($1)");
    let rows = client.query(&statement, &[&ids]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Whether a child of `parent_id` already uses `external_id`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::external_id_used", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn external_id_used(
    client: &impl GenericClient,
    parent_id: Option<OrganizationId>,
    external_id: &str,
) -> Result<bool, DbError> {
    let statement = format!(
        "SELECT EXISTS (SELECT 1 FROM organizations WHERE {SAME_PARENT} AND external_id = $2)"
    );
    let row = client
        .query_one(&statement, &[&parent_id, &external_id])
        .await?;
    Ok(row.get(0))
}

/// The stored organization, locked until the transaction ends.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::get_for_update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_for_update(
    client: &impl GenericClient,
    id: OrganizationId,
) -> Result<Option<Organization>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM organizations WHERE id = $1 FOR UPDATE");
    let row = client.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Writes the mutable fields of `organization` and bumps its revision.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.organizations::update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn update(
    client: &impl GenericClient,
    organization: &Organization,
    now: DateTime<Utc>,
) -> Result<Organization, DbError> {
    let statement = format!(
        "UPDATE organizations SET display_name = $2, description = $3, external_id = $4,
             partner_type = $5, relationship_owner = $6, data_region = $7,
             update_time = $8, revision = revision + 1
         WHERE id = $1
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &organization.id,
                &organization.display_name,
                &organization.description,
                &organization.external_id,
                &organization.partner_type,
                &organization.relationship_owner,
                &organization.data_region,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::has_children", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn has_children(
    client: &impl GenericClient,
    id: OrganizationId,
) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM organizations
                 WHERE coalesce(parent_id, '00000000-0000-0000-0000-000000000000') = $1)",
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}

/// Deletes the organization and everything that belongs to it only.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE customers.organizations::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(client: &impl GenericClient, id: OrganizationId) -> Result<bool, DbError> {
    Ok(client
        .execute("DELETE FROM organizations WHERE id = $1", &[&id])
        .await?
        == 1)
}

/// The deepest an organization may sit: a top-level organization is at
/// depth 1, its children at 2. Creating below an organization at this
/// depth is refused, so every chain (and so every access decision) sees
/// the whole way up.
pub const MAX_DEPTH: usize = 32;

/// `organization` and its ancestors, nearest first (at most
/// [`MAX_DEPTH`]); empty when it does not exist.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::chain", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn chain(
    client: &impl GenericClient,
    organization: OrganizationId,
) -> Result<Vec<ChainLink>, DbError> {
    let rows = client
        .query(
            "WITH RECURSIVE chain (id, parent_id, kind, depth) AS (
                 SELECT id, parent_id, kind, 0
                 FROM organizations WHERE id = $1
                 UNION ALL
                 SELECT o.id, o.parent_id, o.kind, c.depth + 1
                 FROM organizations o JOIN chain c ON o.id = c.parent_id
                 WHERE c.depth < $2
             )
             SELECT id, kind FROM chain ORDER BY depth",
            &[&organization, &(MAX_DEPTH as i32)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| ChainLink {
            id: row.get("id"),
            kind: Kind::parse(row.get("kind")),
        })
        .collect())
}

/// A partner's standing and the billing revision it was set at; `None`
/// when no partner has this id.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.organizations::standing", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn standing(
    client: &impl GenericClient,
    partner: OrganizationId,
    lock: bool,
) -> Result<Option<(Standing, i64)>, DbError> {
    let sql = if lock {
        "SELECT standing, standing_revision FROM organizations
         WHERE id = $1 AND kind = 'partner' FOR UPDATE"
    } else {
        "SELECT standing, standing_revision FROM organizations
         WHERE id = $1 AND kind = 'partner'"
    };
    let row = client.query_opt(sql, &[&partner]).await?;
    Ok(row.map(|row| (Standing::parse(row.get(0)), row.get(1))))
}

/// Stores a partner's standing as of billing's `revision`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE customers.organizations::set_standing", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn set_standing(
    client: &impl GenericClient,
    partner: OrganizationId,
    standing: Standing,
    revision: i64,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE organizations SET standing = $2, standing_revision = $3
             WHERE id = $1 AND kind = 'partner'",
            &[&partner, &standing.as_str(), &revision],
        )
        .await?;
    Ok(())
}
