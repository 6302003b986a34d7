//! `estate.customers.v1.OrganizationsService`.

use estate_db::{Created, DbError, PageRequest};
use estate_errors::{ApiError, Violations};
use estate_proto::customers::organizations_service_server::OrganizationsService;
use estate_proto::customers::{
    CreateOrganizationRequest, GetOrganizationRequest, ListOrganizationsRequest,
    ListOrganizationsResponse, Organization as ProtoOrganization,
};
use estate_proto::time::{etag, to_timestamp};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Organizations, caller, kind_from_proto, kind_to_proto, parse_name, request_id};
use crate::access;
use crate::db::organizations::{self as store, Kind, NewOrganization, Organization};

fn to_proto(organization: Organization) -> ProtoOrganization {
    ProtoOrganization {
        name: format!("organizations/{}", organization.id),
        kind: kind_to_proto(organization.kind).into(),
        display_name: organization.display_name,
        description: organization.description,
        external_id: organization.external_id.unwrap_or_default(),
        parent: organization
            .parent_id
            .map(|id| format!("organizations/{id}"))
            .unwrap_or_default(),
        create_time: Some(to_timestamp(organization.create_time)),
        update_time: Some(to_timestamp(organization.update_time)),
        etag: etag(organization.update_time),
    }
}

/// Which kinds may sit directly below which: distributors at the top,
/// partners (and sub-partner tiers) below distributors, customers (and
/// customer tiers) below partners or distributors.
fn allowed_below(parent: Option<Kind>, child: Kind) -> bool {
    matches!(
        (parent, child),
        (None, Kind::Distributor)
            | (Some(Kind::Distributor | Kind::Partner), Kind::Partner)
            | (
                Some(Kind::Distributor | Kind::Partner | Kind::Customer),
                Kind::Customer
            )
    )
}

fn validate(organization: Option<ProtoOrganization>) -> Result<NewOrganization, ApiError> {
    let Some(organization) = organization else {
        return Err(ApiError::invalid("organization", "is required"));
    };
    let mut violations = Violations::new();
    violations.check_length(
        "organization.display_name",
        &organization.display_name,
        1,
        512,
    );
    violations.check_length(
        "organization.description",
        &organization.description,
        0,
        4096,
    );
    violations.check_length(
        "organization.external_id",
        &organization.external_id,
        0,
        256,
    );
    let kind = kind_from_proto(organization.kind);
    if kind.is_none() {
        violations.add(
            "organization.kind",
            "must be DISTRIBUTOR, PARTNER or CUSTOMER",
        );
    }
    violations.finish()?;
    Ok(NewOrganization {
        kind: kind.expect("validated above"),
        display_name: organization.display_name,
        description: organization.description,
        external_id: Some(organization.external_id).filter(|id| !id.is_empty()),
        parent_id: None,
    })
}

fn parse_parent(parent: &str) -> Result<Option<Uuid>, ApiError> {
    if parent.is_empty() {
        return Ok(None);
    }
    Ok(Some(parse_name("parent", parent, &["organizations"])?[0]))
}

#[tonic::async_trait]
impl OrganizationsService for Organizations {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_organization(
        &self,
        request: Request<CreateOrganizationRequest>,
    ) -> Result<Response<ProtoOrganization>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let parent_id = parse_parent(&message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let mut new = validate(message.organization)?;
        new.parent_id = parent_id;

        let client = estate_db::connection(&self.0.pool).await?;
        let parent_kind = match parent_id {
            None if !principal.is_platform_admin() => {
                return Err(ApiError::PermissionDenied(
                    "only platform administrators create top-level organizations".into(),
                )
                .into());
            }
            None => None,
            Some(parent_id) => {
                access::require(&**client, &principal, parent_id, true).await?;
                let parent = store::get(&**client, parent_id)
                    .await
                    .map_err(ApiError::from)?;
                let parent = parent.ok_or_else(|| ApiError::NotFound {
                    resource_type: "organization",
                    name: message.parent.clone(),
                })?;
                Some(parent.kind)
            }
        };
        if !allowed_below(parent_kind, new.kind) {
            let where_ = parent_kind.map_or("at the top level".to_string(), |kind| {
                format!("below a {}", kind.as_str())
            });
            return Err(ApiError::invalid(
                "organization.kind",
                format!("a {} cannot be created {where_}", new.kind.as_str()),
            )
            .into());
        }

        let now = self.0.clock.now();
        let client: &tokio_postgres::Client = &client;
        let outcome = estate_db::create_once(
            request_id,
            "organizations_request_id_unique",
            |id| async move { store::find_by_request_id(client, parent_id, &id).await },
            || store::insert(client, &new, request_id, now),
        )
        .await;
        let created = match outcome {
            Ok(Created::New(created)) => created,
            Ok(Created::Replayed(existing)) => return Ok(Response::new(to_proto(existing))),
            // The only other unique index: external ids per parent.
            Err(DbError::UniqueViolation { .. }) => {
                return Err(ApiError::AlreadyExists {
                    resource_type: "organization",
                    name: new.external_id.clone().unwrap_or_default(),
                    description: "organization.external_id is already used below this parent"
                        .into(),
                }
                .into());
            }
            Err(error) => return Err(ApiError::from(error).into()),
        };
        tracing::info!(organization = %created.id, kind = created.kind.as_str(), "organization created");
        Ok(Response::new(to_proto(created)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_organization(
        &self,
        request: Request<GetOrganizationRequest>,
    ) -> Result<Response<ProtoOrganization>, Status> {
        let principal = caller(&request)?;
        let name = request.into_inner().name;
        let id = parse_name("name", &name, &["organizations"])?[0];
        let client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, id, false).await?;
        let organization = store::get(&**client, id).await.map_err(ApiError::from)?;
        let organization = organization.ok_or(ApiError::NotFound {
            resource_type: "organization",
            name,
        })?;
        Ok(Response::new(to_proto(organization)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_organizations(
        &self,
        request: Request<ListOrganizationsRequest>,
    ) -> Result<Response<ListOrganizationsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let parent_id = parse_parent(&message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token)?;
        let client = estate_db::connection(&self.0.pool).await?;
        match parent_id {
            None if !principal.is_platform_admin() => {
                return Err(ApiError::PermissionDenied(
                    "only platform administrators list top-level organizations".into(),
                )
                .into());
            }
            None => {}
            Some(parent_id) => access::require(&**client, &principal, parent_id, false).await?,
        }
        let mut rows = store::list_children(&**client, parent_id, &page)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = page.finish(&mut rows, |row| row.id);
        Ok(Response::new(ListOrganizationsResponse {
            organizations: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_allows_only_channel_shapes() {
        assert!(allowed_below(None, Kind::Distributor));
        assert!(!allowed_below(None, Kind::Partner));
        assert!(!allowed_below(None, Kind::Customer));
        assert!(allowed_below(Some(Kind::Distributor), Kind::Partner));
        assert!(allowed_below(Some(Kind::Partner), Kind::Customer));
        assert!(allowed_below(Some(Kind::Customer), Kind::Customer));
        assert!(!allowed_below(Some(Kind::Customer), Kind::Partner));
        assert!(!allowed_below(Some(Kind::Partner), Kind::Distributor));
    }
}
