//! `estate.internal.v1.IdentityService`: credential resolution for the
//! gateway and access decisions for the other services.

use estate_errors::ApiError;
use estate_proto::internal::identity_service_server::IdentityService;
use estate_proto::internal::{
    AuthorizeRequest, AuthorizeResponse, PartnerStanding, Principal as ProtoPrincipal,
    ResolveCredentialRequest, ResolveCredentialResponse, SetPartnerStandingRequest,
    SetPartnerStandingResponse,
};
use estate_proto::names::{OrganizationId, OrganizationName};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Identity, caller, kind_to_proto};
use crate::access::{self, Access, Decision};
use crate::db::organizations::Kind;
use crate::db::{api_keys, entitlements, organizations};
use crate::keys;
use crate::rules::expirations::{self, Capability};
use crate::rules::standing::{self, Standing};

#[tonic::async_trait]
impl IdentityService for Identity {
    #[tracing::instrument(skip_all)]
    async fn resolve_credential(
        &self,
        request: Request<ResolveCredentialRequest>,
    ) -> Result<Response<ResolveCredentialResponse>, Status> {
        let principal = caller(&request)?;
        if !principal.is_service() {
            return Err(ApiError::PermissionDenied(
                "only platform services resolve credentials".into(),
            )
            .into());
        }
        let credential = request.into_inner().credential;
        let client = estate_db::connection(&self.0.pool).await?;
        let active = api_keys::resolve(&**client, &keys::hash(&credential), self.0.clock.now())
            .await?
            .ok_or(ApiError::NotFound {
                resource_type: "credential",
                name: "the presented credential".into(),
            })?;
        let key = active.key;
        let subject = match key.user_id {
            Some(user) => format!("users/{user}"),
            None => format!(
                "organizations/{}/apiKeys/{}",
                key.organization_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                key.id
            ),
        };
        let organization = key
            .organization_id
            .map(|id| id.to_string())
            .unwrap_or_default();
        Ok(Response::new(ResolveCredentialResponse {
            principal: Some(ProtoPrincipal {
                subject,
                organization_id: organization,
                organization_kind: active
                    .organization_kind
                    .as_deref()
                    .map_or(0, |kind| kind_to_proto(Kind::parse(kind)).into()),
                roles: active.roles,
            }),
        }))
    }

    #[tracing::instrument(skip_all, fields(organization = %request.get_ref().organization_id))]
    async fn authorize(
        &self,
        request: Request<AuthorizeRequest>,
    ) -> Result<Response<AuthorizeResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let organization = Uuid::parse_str(&message.organization_id)
            .map(OrganizationId::from_uuid)
            .map_err(|_| ApiError::invalid("organization_id", "must be an organization uuid"))?;
        let intent = match (message.report_usage, message.write) {
            (true, _) => Access::ReportUsage,
            (false, true) => Access::Write,
            (false, false) => Access::Read,
        };
        let client = estate_db::connection(&self.0.pool).await?;
        let answer = match access::check(
            &**client,
            &principal,
            organization,
            intent,
            self.0.clock.now(),
        )
        .await?
        {
            Decision::Allowed => match organizations::get(&**client, organization).await? {
                Some(found) => AuthorizeResponse {
                    allowed: true,
                    reason: String::new(),
                    organization_kind: kind_to_proto(found.kind).into(),
                    missing_capability: String::new(),
                },
                None => AuthorizeResponse {
                    allowed: false,
                    reason: format!("organizations/{organization} does not exist"),
                    organization_kind: 0,
                    missing_capability: String::new(),
                },
            },
            Decision::Denied(reason) => AuthorizeResponse {
                allowed: false,
                reason,
                organization_kind: 0,
                missing_capability: String::new(),
            },
        };
        let bound = !(principal.is_platform_admin() || principal.is_service());
        if answer.allowed
            && intent != Access::Read
            && bound
            && !message.required_capability.is_empty()
        {
            let capability = Capability::parse(&message.required_capability).ok_or_else(|| {
                ApiError::invalid("required_capability", "is not a capability id")
            })?;
            let held: Vec<_> = entitlements::for_organizations(&**client, &[organization])
                .await?
                .into_iter()
                .map(|entitlement| entitlement.held)
                .collect();
            if !expirations::holds_active(&held, capability, self.0.clock.now()) {
                return Ok(Response::new(AuthorizeResponse {
                    allowed: false,
                    reason: format!(
                        "organizations/{organization} holds no active {} entitlement; changes \
                         to the data of the service it sells need one (reading existing data \
                         stays possible)",
                        capability.display_name()
                    ),
                    organization_kind: answer.organization_kind,
                    missing_capability: capability.as_str().into(),
                }));
            }
        }
        Ok(Response::new(answer))
    }

    #[tracing::instrument(skip_all, fields(organization = %request.get_ref().organization_id))]
    async fn set_partner_standing(
        &self,
        request: Request<SetPartnerStandingRequest>,
    ) -> Result<Response<SetPartnerStandingResponse>, Status> {
        let principal = caller(&request)?;
        if !principal.is_service() {
            return Err(ApiError::PermissionDenied(
                "only platform services record a partner's standing".into(),
            )
            .into());
        }
        let message = request.into_inner();
        let partner = Uuid::parse_str(&message.organization_id)
            .map(OrganizationId::from_uuid)
            .map_err(|_| ApiError::invalid("organization_id", "must be an organization uuid"))?;
        let incoming = match PartnerStanding::try_from(message.standing) {
            Ok(PartnerStanding::Active) => Standing::Active,
            Ok(PartnerStanding::Suspended) => Standing::Suspended,
            Ok(PartnerStanding::Canceled) => Standing::Canceled,
            _ => {
                return Err(
                    ApiError::invalid("standing", "must be ACTIVE, SUSPENDED or CANCELED").into(),
                );
            }
        };
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let (stored, revision) = organizations::standing(&transaction, partner, true)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                resource_type: "partner",
                name: OrganizationName {
                    organization: partner,
                }
                .to_string(),
            })?;
        let applied = standing::replaces(stored, revision, message.revision);
        if applied {
            organizations::set_standing(&transaction, partner, incoming, message.revision).await?;
        }
        estate_db::commit(transaction).await?;
        if applied {
            tracing::info!(
                partner = %partner,
                from = stored.as_str(),
                to = incoming.as_str(),
                "partner standing recorded"
            );
        }
        Ok(Response::new(SetPartnerStandingResponse { applied }))
    }
}
