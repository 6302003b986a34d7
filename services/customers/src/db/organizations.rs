//! Organizations: the tree of distributors, partners and customers.

use chrono::{DateTime, Utc};
use estate_db::{DbError, PageRequest};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// The kind column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Distributor,
    Partner,
    Customer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Distributor => "distributor",
            Self::Partner => "partner",
            Self::Customer => "customer",
        }
    }

    /// The kind a `kind` column value names.
    pub fn parse(value: &str) -> Self {
        match value {
            "distributor" => Self::Distributor,
            "partner" => Self::Partner,
            _ => Self::Customer,
        }
    }
}

/// A stored organization.
#[derive(Debug, Clone)]
pub struct Organization {
    pub id: Uuid,
    pub kind: Kind,
    pub display_name: String,
    pub description: String,
    pub external_id: Option<String>,
    pub parent_id: Option<Uuid>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// What a create stores.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub kind: Kind,
    pub display_name: String,
    pub description: String,
    pub external_id: Option<String>,
    pub parent_id: Option<Uuid>,
}

/// Matches rows whose parent is `$1` (top level when `$1` is NULL) through
/// the coalesced-parent indexes; `IS NOT DISTINCT FROM` could use none.
const SAME_PARENT: &str = "coalesce(parent_id, '00000000-0000-0000-0000-000000000000') \
     = coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')";

const COLUMNS: &str =
    "id, kind, display_name, description, external_id, parent_id, create_time, update_time";

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
    }
}

/// The organization created earlier by the same `request_id` under the
/// same parent, if any.
pub async fn find_by_request_id(
    client: &impl GenericClient,
    parent_id: Option<Uuid>,
    request_id: &str,
) -> Result<Option<Organization>, DbError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM organizations
         WHERE {SAME_PARENT} AND request_id = $2"
    );
    let row = client
        .query_opt(&statement, &[&parent_id, &request_id])
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn insert(
    client: &impl GenericClient,
    new: &NewOrganization,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Organization, DbError> {
    let statement = format!(
        "INSERT INTO organizations
             (id, kind, display_name, description, external_id, parent_id, request_id, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
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
            ],
        )
        .await?;
    Ok(from_row(&row))
}

pub async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<Organization>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM organizations WHERE id = $1");
    let row = client.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Children of `parent_id` (top-level organizations for `None`), one page
/// plus one look-ahead row, in id (creation) order.
pub async fn list_children(
    client: &impl GenericClient,
    parent_id: Option<Uuid>,
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

/// Whether `ancestor` is `organization` itself or above it in the tree.
/// False when `organization` does not exist.
pub async fn is_self_or_ancestor(
    client: &impl GenericClient,
    ancestor: Uuid,
    organization: Uuid,
) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "WITH RECURSIVE chain (id, parent_id, depth) AS (
                 SELECT id, parent_id, 0 FROM organizations WHERE id = $2
                 UNION ALL
                 SELECT o.id, o.parent_id, c.depth + 1
                 FROM organizations o JOIN chain c ON o.id = c.parent_id
                 WHERE c.depth < 64
             )
             SELECT EXISTS (SELECT 1 FROM chain WHERE id = $1)",
            &[&ancestor, &organization],
        )
        .await?;
    Ok(row.get(0))
}
