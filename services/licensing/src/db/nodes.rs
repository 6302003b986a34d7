//! The organization structure: one tree of nodes per customer. The root
//! is created on first use, so every customer has one to put computers,
//! users and licenses on.

use chrono::{DateTime, Utc};
use estate_db::{DbError, SortColumn, SortedPage};
use estate_proto::names::CustomerId;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// The root's name until a user renames it.
pub const ROOT_DISPLAY_NAME: &str = "Organization";

#[derive(Debug, Clone)]
pub struct Node {
    pub customer_id: CustomerId,
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub display_name: String,
    pub legal: bool,
    pub depth: i32,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// What still hangs on a node, which keeps it from being deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeUsage {
    pub children: i64,
    pub computers: i64,
    pub users: i64,
    pub owned_licenses: i64,
    pub allocations: i64,
}

const COLUMNS: &str =
    "customer_id, id, parent_id, display_name, legal, depth, revision, create_time, update_time";

fn from_row(row: &Row) -> Node {
    Node {
        customer_id: row.get("customer_id"),
        id: row.get("id"),
        parent_id: row.get("parent_id"),
        display_name: row.get("display_name"),
        legal: row.get("legal"),
        depth: row.get("depth"),
        revision: row.get("revision"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
    }
}

/// The customer's root node, created (legal, named
/// [`ROOT_DISPLAY_NAME`]) when the customer has none yet. Reads it first,
/// so only a customer's first call writes.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.nodes::ensure_root", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn ensure_root(
    client: &impl GenericClient,
    customer_id: CustomerId,
    now: DateTime<Utc>,
) -> Result<Node, DbError> {
    let existing =
        format!("SELECT {COLUMNS} FROM org_nodes WHERE customer_id = $1 AND parent_id IS NULL");
    if let Some(row) = client.query_opt(&existing, &[&customer_id]).await? {
        return Ok(from_row(&row));
    }
    // A root inserted concurrently makes the insert wait for it and do
    // nothing; the next statement (a new snapshot) then sees it.
    let insert = format!(
        "INSERT INTO org_nodes
             (customer_id, id, parent_id, display_name, legal, depth, revision, create_time, update_time)
         VALUES ($1, $2, NULL, $3, true, 0, 1, $4, $4)
         ON CONFLICT DO NOTHING
         RETURNING {COLUMNS}"
    );
    if let Some(row) = client
        .query_opt(
            &insert,
            &[&customer_id, &Uuid::now_v7(), &ROOT_DISPLAY_NAME, &now],
        )
        .await?
    {
        return Ok(from_row(&row));
    }
    let row = client
        .query_opt(&existing, &[&customer_id])
        .await?
        .ok_or(DbError::Conflict)?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<Node>, DbError> {
    let statement = format!("SELECT {COLUMNS} FROM org_nodes WHERE customer_id = $1 AND id = $2");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Like [`get`], locking the row for the rest of the transaction.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::get_for_update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_for_update(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<Option<Node>, DbError> {
    let statement =
        format!("SELECT {COLUMNS} FROM org_nodes WHERE customer_id = $1 AND id = $2 FOR UPDATE");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// All of a customer's node ids, for validating references in bulk.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::ids", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn ids(
    client: &impl GenericClient,
    customer_id: CustomerId,
) -> Result<Vec<Uuid>, DbError> {
    super::ids(
        client,
        "SELECT id FROM org_nodes WHERE customer_id = $1",
        &[&customer_id],
    )
    .await
}

/// The deepest a node may sit: the root is at depth 0, so a tree has at
/// most 64 levels. Creating or moving a node past it is refused.
pub const MAX_DEPTH: i32 = 63;

/// What `ListOrgNodes` sorts by; the first is the default.
pub const SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "id", "uuid"),
    SortColumn::new("display_name", "display_name", "text"),
    SortColumn::new("depth", "depth", "integer"),
    SortColumn::new("update_time", "update_time", "timestamptz"),
];

/// One sorted page of nodes and the next page's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    children_of: Option<Uuid>,
    page: &SortedPage,
) -> Result<(Vec<Node>, String), DbError> {
    page.query(
        client,
        &format!("SELECT {COLUMNS}"),
        "FROM org_nodes
         WHERE customer_id = $1
           AND ($2::uuid IS NULL OR parent_id = $2)",
        "id",
        &[&customer_id, &children_of],
        from_row,
    )
    .await
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.nodes::insert", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert(
    client: &impl GenericClient,
    parent: &Node,
    display_name: &str,
    legal: bool,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Node, DbError> {
    let statement = format!(
        "INSERT INTO org_nodes
             (customer_id, id, parent_id, display_name, legal, depth, request_id, revision,
              create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &parent.customer_id,
                &Uuid::now_v7(),
                &parent.id,
                &display_name,
                &legal,
                &(parent.depth + 1),
                &request_id,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

/// Whether `node_id` is `ancestor_id` or lies below it.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::is_within", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn is_within(
    client: &impl GenericClient,
    customer_id: CustomerId,
    ancestor_id: Uuid,
    node_id: Uuid,
) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "WITH RECURSIVE up(id, parent_id) AS (
                 SELECT id, parent_id FROM org_nodes WHERE customer_id = $1 AND id = $3
                 UNION ALL
                 SELECT n.id, n.parent_id FROM org_nodes n JOIN up ON n.id = up.parent_id
                 WHERE n.customer_id = $1)
             SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)",
            &[&customer_id, &ancestor_id, &node_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Locks the customer's structure (its root row) until the transaction
/// ends: creates and moves take turns, so the depths they check stay true.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::lock_structure", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn lock_structure(
    client: &impl GenericClient,
    customer_id: CustomerId,
) -> Result<(), DbError> {
    client
        .execute(
            "SELECT 1 FROM org_nodes WHERE customer_id = $1 AND parent_id IS NULL FOR UPDATE",
            &[&customer_id],
        )
        .await?;
    Ok(())
}

/// The depth of the deepest node in the subtree of `id` (itself
/// included).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::deepest_below", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn deepest_below(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<i32, DbError> {
    let row = client
        .query_one(
            "WITH RECURSIVE down(id, depth) AS (
                 SELECT id, depth FROM org_nodes WHERE customer_id = $1 AND id = $2
                 UNION ALL
                 SELECT n.id, n.depth FROM org_nodes n JOIN down ON n.parent_id = down.id
                 WHERE n.customer_id = $1)
             SELECT coalesce(max(depth), 0) FROM down",
            &[&customer_id, &id],
        )
        .await?;
    Ok(row.get(0))
}

/// Stores a changed node; a move shifts the depth of its whole subtree.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.nodes::update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn update(
    client: &impl GenericClient,
    node: &Node,
    depth_change: i32,
    now: DateTime<Utc>,
) -> Result<Node, DbError> {
    if depth_change != 0 {
        client
            .execute(
                "WITH RECURSIVE below(id) AS (
                     SELECT id FROM org_nodes WHERE customer_id = $1 AND parent_id = $2
                     UNION ALL
                     SELECT n.id FROM org_nodes n JOIN below ON n.parent_id = below.id
                     WHERE n.customer_id = $1)
                 UPDATE org_nodes SET depth = depth + $3
                 WHERE customer_id = $1 AND id IN (SELECT id FROM below)",
                &[&node.customer_id, &node.id, &depth_change],
            )
            .await?;
    }
    let statement = format!(
        "UPDATE org_nodes
         SET parent_id = $3, display_name = $4, legal = $5, depth = $6,
             revision = revision + 1, update_time = $7
         WHERE customer_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &statement,
            &[
                &node.customer_id,
                &node.id,
                &node.parent_id,
                &node.display_name,
                &node.legal,
                &node.depth,
                &now,
            ],
        )
        .await?;
    Ok(from_row(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.nodes::usage", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn usage(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<NodeUsage, DbError> {
    let row = client
        .query_one(
            "SELECT
                 (SELECT count(*) FROM org_nodes WHERE customer_id = $1 AND parent_id = $2),
                 (SELECT count(*) FROM computers WHERE customer_id = $1 AND node_id = $2),
                 (SELECT count(*) FROM users WHERE customer_id = $1 AND node_id = $2),
                 (SELECT count(*) FROM licenses WHERE customer_id = $1 AND legal_owner_id = $2),
                 (SELECT count(*) FROM license_allocations WHERE customer_id = $1 AND node_id = $2)",
            &[&customer_id, &id],
        )
        .await?;
    Ok(NodeUsage {
        children: row.get(0),
        computers: row.get(1),
        users: row.get(2),
        owned_licenses: row.get(3),
        allocations: row.get(4),
    })
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.nodes::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: Uuid,
) -> Result<(), DbError> {
    client
        .execute(
            "DELETE FROM org_nodes WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(())
}
