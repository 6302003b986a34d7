//! `estate.customers.v1.EntitlementsService`: capabilities a parent assigns
//! to the organizations below it, seen only by their owners.

use estate_auth::Principal;
use estate_errors::ApiError;
use estate_proto::customers::entitlements_service_server::EntitlementsService;
use estate_proto::customers::{
    Capability as ProtoCapability, DeleteEntitlementRequest, DeleteEntitlementResponse,
    Entitlement as ProtoEntitlement, ListEntitlementsRequest, ListEntitlementsResponse,
    SetEntitlementRequest,
};
use estate_proto::names::{OrganizationId, OrganizationName};
use estate_proto::time::{from_timestamp, to_timestamp};
use tokio_postgres::GenericClient;
use tonic::{Request, Response, Status};

use super::{Entitlements, caller, commit, existing_organization, organization_id, transaction};
use crate::access::{self, Access};
use crate::db::organizations::{Kind, Organization};
use crate::db::{entitlements, overview};
use crate::rules::expirations::{Capability, Held};

fn capability_from(value: i32) -> Option<Capability> {
    match ProtoCapability::try_from(value).ok()? {
        ProtoCapability::SamCore => Some(Capability::SamCore),
        ProtoCapability::SaasManagement => Some(Capability::SaasManagement),
        ProtoCapability::ItAssetManagement => Some(Capability::ItAssetManagement),
        ProtoCapability::CloudCostOptimization => Some(Capability::CloudCostOptimization),
        ProtoCapability::Unspecified => None,
    }
}

fn capability_to_proto(capability: Capability) -> ProtoCapability {
    match capability {
        Capability::SamCore => ProtoCapability::SamCore,
        Capability::SaasManagement => ProtoCapability::SaasManagement,
        Capability::ItAssetManagement => ProtoCapability::ItAssetManagement,
        Capability::CloudCostOptimization => ProtoCapability::CloudCostOptimization,
    }
}

fn to_proto(entitlement: entitlements::Entitlement) -> ProtoEntitlement {
    ProtoEntitlement {
        name: format!(
            "organizations/{}/entitlements/{}",
            entitlement.organization_id,
            entitlement.held.capability.as_str()
        ),
        capability: capability_to_proto(entitlement.held.capability).into(),
        expire_time: entitlement.held.expire_time.map(to_timestamp),
        update_time: Some(to_timestamp(entitlement.update_time)),
    }
}

/// Assigning belongs to the organization above (with a writer role) or a
/// platform administrator; top-level organizations get theirs from the
/// platform only.
async fn require_assigner(
    client: &impl GenericClient,
    principal: &Principal,
    organization: &Organization,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    if principal.is_platform_admin() {
        return Ok(());
    }
    let Some(parent) = organization.parent_id else {
        return Err(ApiError::PermissionDenied(
            "only platform administrators assign capabilities to top-level organizations".into(),
        ));
    };
    if access::own_organization(principal) != Some(parent) {
        return Err(ApiError::PermissionDenied(format!(
            "only organizations/{parent}, the parent, assigns capabilities to organizations/{}",
            organization.id
        )));
    }
    access::require(client, principal, parent, Access::Write, now).await
}

fn entitlement_name(name: &str) -> Result<(OrganizationId, Capability), ApiError> {
    let invalid = || {
        ApiError::invalid(
            "name",
            "must be organizations/{uuid}/entitlements/{capability}, e.g. .../entitlements/sam-core",
        )
    };
    let (organization, capability) = name.rsplit_once("/entitlements/").ok_or_else(invalid)?;
    let organization = organization_id("name", organization)?;
    let capability = Capability::parse(capability).ok_or_else(invalid)?;
    Ok((organization, capability))
}

#[tonic::async_trait]
impl EntitlementsService for Entitlements {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn set_entitlement(
        &self,
        request: Request<SetEntitlementRequest>,
    ) -> Result<Response<ProtoEntitlement>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let organization_id = organization_id("parent", &message.parent)?;
        let capability = capability_from(message.capability).ok_or_else(|| {
            ApiError::invalid(
                "capability",
                "must be SAM_CORE, SAAS_MANAGEMENT, IT_ASSET_MANAGEMENT or CLOUD_COST_OPTIMIZATION",
            )
        })?;
        let expire_time = match &message.expire_time {
            None => None,
            Some(timestamp) => Some(
                from_timestamp(timestamp)
                    .ok_or_else(|| ApiError::invalid("expire_time", "is out of range"))?,
            ),
        };
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let organization = existing_organization(&**client, organization_id).await?;
        require_assigner(&**client, &principal, &organization, now).await?;
        let transaction = transaction(&mut client).await?;
        // A parent can only assign what it holds itself, now.
        if let Some(parent) = organization.parent_id {
            let parent_holds = entitlements::for_organizations(&transaction, &[parent])
                .await?
                .iter()
                .any(|held| held.held.capability == capability && held.held.active_at(now));
            if !parent_holds {
                return Err(ApiError::FailedPrecondition {
                    violation: "CAPABILITY_NOT_HELD",
                    subject: OrganizationName {
                        organization: parent,
                    }
                    .to_string(),
                    description: format!(
                        "organizations/{parent} does not hold {} itself, so it cannot assign it",
                        capability.as_str()
                    ),
                }
                .into());
            }
        }
        let held = Held {
            capability,
            expire_time,
        };
        let stored = entitlements::upsert(&transaction, organization_id, held, now).await?;
        if organization.kind == Kind::Customer {
            overview::refresh(&transaction, &[organization_id], now).await?;
        }
        commit(transaction).await?;
        Ok(Response::new(to_proto(stored)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_entitlements(
        &self,
        request: Request<ListEntitlementsRequest>,
    ) -> Result<Response<ListEntitlementsResponse>, Status> {
        let principal = caller(&request)?;
        let organization_id = organization_id("parent", &request.get_ref().parent)?;
        let owner = access::own_organization(&principal) == Some(organization_id)
            && principal.has_role("owner");
        if !principal.is_platform_admin() && !owner {
            return Err(ApiError::PermissionDenied(format!(
                "only owners of organizations/{organization_id} see its entitlements"
            ))
            .into());
        }
        let client = estate_db::connection(&self.0.pool).await?;
        existing_organization(&**client, organization_id).await?;
        let entitlements = entitlements::for_organizations(&**client, &[organization_id]).await?;
        Ok(Response::new(ListEntitlementsResponse {
            entitlements: entitlements.into_iter().map(to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_entitlement(
        &self,
        request: Request<DeleteEntitlementRequest>,
    ) -> Result<Response<DeleteEntitlementResponse>, Status> {
        let principal = caller(&request)?;
        let name = request.into_inner().name;
        let (organization_id, capability) = entitlement_name(&name)?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let organization = existing_organization(&**client, organization_id).await?;
        require_assigner(&**client, &principal, &organization, now).await?;
        let transaction = transaction(&mut client).await?;
        if !entitlements::delete(&transaction, organization_id, capability).await? {
            return Err(ApiError::NotFound {
                resource_type: "entitlement",
                name,
            }
            .into());
        }
        if organization.kind == Kind::Customer {
            overview::refresh(&transaction, &[organization_id], now).await?;
        }
        commit(transaction).await?;
        Ok(Response::new(DeleteEntitlementResponse {}))
    }
}
