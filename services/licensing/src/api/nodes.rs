//! `estate.licensing.v1.OrganizationStructureService`.

use estate_auth::Access;
use estate_db::{RequestKey, SortedPage, commit, transaction};
use estate_errors::{ApiError, Violations};
use estate_proto::fields::{check_etag, fingerprint, request_id, revision_etag};
use estate_proto::licensing::organization_structure_service_server::OrganizationStructureService;
use estate_proto::licensing::{
    CreateOrgNodeRequest, DeleteOrgNodeRequest, DeleteOrgNodeResponse, GetOrgNodeRequest,
    ListOrgNodesRequest, ListOrgNodesResponse, OrgNode, UpdateOrgNodeRequest,
};
use estate_proto::names::CustomerId;
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Nodes, child_name, collect, customer_id, mask_paths, name, not_found, reference, token,
};
use crate::db::nodes::{self, Node};

pub(crate) fn to_proto(node: Node) -> OrgNode {
    OrgNode {
        name: name(node.customer_id, "nodes", node.id),
        parent: super::optional_name(node.customer_id, "nodes", node.parent_id),
        display_name: node.display_name,
        legal: node.legal,
        depth: node.depth,
        create_time: Some(to_timestamp(node.create_time)),
        update_time: Some(to_timestamp(node.update_time)),
        etag: revision_etag(node.revision),
    }
}

/// The node `id` of `customer_id`, or INVALID_ARGUMENT naming `field`.
pub(crate) async fn referenced_node(
    client: &impl tokio_postgres::GenericClient,
    customer_id: CustomerId,
    id: Uuid,
    field: &str,
) -> Result<Node, ApiError> {
    nodes::get(client, customer_id, id)
        .await?
        .ok_or_else(|| ApiError::invalid(field, "names no node of this customer"))
}

/// FAILED_PRECONDITION `TREE_TOO_DEEP` about the node `parent`.
fn too_deep(parent: &str) -> ApiError {
    ApiError::FailedPrecondition {
        violation: "TREE_TOO_DEEP",
        subject: parent.to_string(),
        description: format!(
            "an organization structure has at most {} levels below its root",
            nodes::MAX_DEPTH
        ),
    }
}

#[tonic::async_trait]
impl OrganizationStructureService for Nodes {
    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_org_node(
        &self,
        request: Request<GetOrgNodeRequest>,
    ) -> Result<Response<OrgNode>, Status> {
        let token = token(&request)?;
        let node_name = request.into_inner().name;
        let (customer_id, id) = child_name("name", &node_name, "nodes")?;
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let node = nodes::get(&**client, customer_id, id)
            .await?
            .ok_or_else(|| not_found("org node", node_name))?;
        Ok(Response::new(to_proto(node)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_org_nodes(
        &self,
        request: Request<ListOrgNodesRequest>,
    ) -> Result<Response<ListOrgNodesResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let children_of =
            super::optional_reference("children_of", &message.children_of, customer_id, "nodes")?;
        let page = SortedPage::parse(
            &message.order_by,
            nodes::SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{children_of:?}"),
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        nodes::ensure_root(&**client, customer_id, self.0.clock.now()).await?;
        let (rows, next_page_token) =
            nodes::list(&**client, customer_id, children_of, &page).await?;
        Ok(Response::new(ListOrgNodesResponse {
            org_nodes: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_org_node(
        &self,
        request: Request<CreateOrgNodeRequest>,
    ) -> Result<Response<OrgNode>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            customer_id,
            "CreateOrgNode",
            request_id,
            fingerprint(&CreateOrgNodeRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let Some(node) = message.org_node else {
            return Err(ApiError::invalid("org_node", "is required").into());
        };
        let mut violations = Violations::new();
        violations.check_length("org_node.display_name", &node.display_name, 1, 200);
        let parent_id = if node.parent.is_empty() {
            violations.add(
                "org_node.parent",
                "is required: every node but the root has a parent (list nodes to find the root)",
            );
            None
        } else {
            collect(
                &mut violations,
                reference("org_node.parent", &node.parent, customer_id, "nodes"),
            )
        };
        violations.finish()?;
        let parent_id = parent_id.expect("validated above");
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;

        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        nodes::ensure_root(&**client, customer_id, now).await?;
        let transaction = transaction(&mut client).await?;
        nodes::lock_structure(&transaction, customer_id).await?;
        let parent =
            referenced_node(&transaction, customer_id, parent_id, "org_node.parent").await?;
        if parent.depth >= nodes::MAX_DEPTH {
            return Err(too_deep(&node.parent).into());
        }
        let display_name = node.display_name.as_str();
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move { nodes::get(client, customer_id, id).await },
                || nodes::insert(client, &parent, display_name, node.legal, request_id, now),
                |node| node.id,
            )
            .await
        };
        match outcome {
            Ok(created) => {
                commit(transaction).await?;
                Ok(Response::new(to_proto(created.into_inner())))
            }
            Err(estate_db::DbError::UniqueViolation { constraint })
                if constraint == "org_nodes_sibling_name" =>
            {
                Err(ApiError::AlreadyExists {
                    resource_type: "org node",
                    name: node.display_name.clone(),
                    description: format!("{} already has a child with this name", node.parent),
                }
                .into())
            }
            Err(error) => Err(error.into()),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn update_org_node(
        &self,
        request: Request<UpdateOrgNodeRequest>,
    ) -> Result<Response<OrgNode>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let Some(update) = message.org_node else {
            return Err(ApiError::invalid("org_node", "is required").into());
        };
        let (customer_id, id) = child_name("org_node.name", &update.name, "nodes")?;
        let paths = mask_paths(message.update_mask, &["display_name", "legal", "parent"])?;
        let mut violations = Violations::new();
        let changes = |path: &str| paths.iter().any(|changed| changed == path);
        if changes("display_name") {
            violations.check_length("org_node.display_name", &update.display_name, 1, 200);
        }
        let new_parent = if changes("parent") {
            collect(
                &mut violations,
                reference("org_node.parent", &update.parent, customer_id, "nodes"),
            )
        } else {
            None
        };
        violations.finish()?;
        self.0
            .authorize(&token, customer_id, Access::Write, "org_node.name")
            .await?;

        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        if new_parent.is_some() {
            nodes::lock_structure(&transaction, customer_id).await?;
        }
        let mut node = nodes::get_for_update(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("org node", update.name.clone()))?;
        check_etag(&update.etag, node.revision, update.name.clone())?;
        let mut depth_change = 0;
        if let Some(parent_id) = new_parent {
            if node.parent_id.is_none() {
                return Err(ApiError::FailedPrecondition {
                    violation: "ROOT_CANNOT_MOVE",
                    subject: update.name,
                    description: "the root node cannot move".into(),
                }
                .into());
            }
            if nodes::is_within(&transaction, customer_id, id, parent_id).await? {
                return Err(ApiError::invalid(
                    "org_node.parent",
                    "is the node itself or lies below it; a node cannot move below itself",
                )
                .into());
            }
            let parent =
                referenced_node(&transaction, customer_id, parent_id, "org_node.parent").await?;
            depth_change = parent.depth + 1 - node.depth;
            let deepest = nodes::deepest_below(&transaction, customer_id, id).await?;
            if deepest + depth_change > nodes::MAX_DEPTH {
                return Err(too_deep(&update.parent).into());
            }
            node.parent_id = Some(parent.id);
            node.depth = parent.depth + 1;
        }
        if changes("display_name") {
            node.display_name = update.display_name.clone();
        }
        if changes("legal") && node.legal && !update.legal {
            let usage = nodes::usage(&transaction, customer_id, id).await?;
            if usage.owned_licenses > 0 {
                return Err(ApiError::FailedPrecondition {
                    violation: "OWNS_LICENSES",
                    subject: update.name,
                    description: format!(
                        "the node owns {} licenses; only legal nodes own licenses",
                        usage.owned_licenses
                    ),
                }
                .into());
            }
        }
        if changes("legal") {
            node.legal = update.legal;
        }
        let stored = match nodes::update(&transaction, &node, depth_change, now).await {
            Ok(stored) => stored,
            Err(estate_db::DbError::UniqueViolation { .. }) => {
                return Err(ApiError::AlreadyExists {
                    resource_type: "org node",
                    name: node.display_name,
                    description: "the parent already has a child with this name".into(),
                }
                .into());
            }
            Err(error) => return Err(error.into()),
        };
        commit(transaction).await?;
        Ok(Response::new(to_proto(stored)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_org_node(
        &self,
        request: Request<DeleteOrgNodeRequest>,
    ) -> Result<Response<DeleteOrgNodeResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, id) = child_name("name", &message.name, "nodes")?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        let node = nodes::get_for_update(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("org node", message.name.clone()))?;
        check_etag(&message.etag, node.revision, message.name.clone())?;
        if node.parent_id.is_none() {
            return Err(ApiError::FailedPrecondition {
                violation: "ROOT_CANNOT_BE_DELETED",
                subject: message.name,
                description: "the root node cannot be deleted".into(),
            }
            .into());
        }
        let usage = nodes::usage(&transaction, customer_id, id).await?;
        if usage != nodes::NodeUsage::default() {
            return Err(ApiError::FailedPrecondition {
                violation: "NODE_IN_USE",
                subject: message.name,
                description: format!(
                    "the node still has {} child nodes, {} computers, {} users, {} owned licenses \
                     and {} allocations; move or remove them first",
                    usage.children,
                    usage.computers,
                    usage.users,
                    usage.owned_licenses,
                    usage.allocations
                ),
            }
            .into());
        }
        nodes::delete(&transaction, customer_id, id).await?;
        commit(transaction).await?;
        Ok(Response::new(DeleteOrgNodeResponse {}))
    }
}
