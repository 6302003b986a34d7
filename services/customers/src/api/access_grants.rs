//! `estate.customers.v1.AccessGrantsService`: a customer's grants of
//! access to partners. Only the customer (or a platform administrator)
//! changes them; a managed customer's grant to its partner cannot be
//! changed or deleted at all.

use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_db::{DbError, PageRequest};
use estate_errors::ApiError;
use estate_proto::customers::access_grants_service_server::AccessGrantsService;
use estate_proto::customers::{
    AccessGrant as ProtoGrant, AccessMode, CreateAccessGrantRequest, DeleteAccessGrantRequest,
    DeleteAccessGrantResponse, GetAccessGrantRequest, ListAccessGrantsRequest,
    ListAccessGrantsResponse, UpdateAccessGrantRequest,
};
use estate_proto::names::{AccessGrantName, OrganizationId, OrganizationName};
use estate_proto::time::{from_timestamp, to_timestamp};
use tonic::{Request, Response, Status};

use super::organizations::refuse_conflicts;
use super::{
    AccessGrants, caller, check_etag, commit, existing_organization, organization_id,
    revision_etag, transaction,
};
use crate::access;
use crate::db::grants::{self, Grant, Side};
use crate::db::organizations::Kind;
use crate::db::overview;
use crate::rules::status::GrantMode;

fn to_proto(grant: Grant, now: DateTime<Utc>) -> ProtoGrant {
    let (mode, start, end) = match grant.mode {
        GrantMode::Continuous => (AccessMode::Continuous, None, None),
        GrantMode::Period { start, end } => (AccessMode::Period, Some(start), Some(end)),
        GrantMode::Disabled => (AccessMode::Disabled, None, None),
    };
    ProtoGrant {
        name: AccessGrantName {
            customer: grant.customer_id,
            partner: grant.partner_id,
        }
        .to_string(),
        partner: OrganizationName {
            organization: grant.partner_id,
        }
        .to_string(),
        mode: mode.into(),
        start_time: start.map(to_timestamp),
        end_time: end.map(to_timestamp),
        managed: grant.managed,
        effective: grant.mode.effective_at(now),
        create_time: Some(to_timestamp(grant.create_time)),
        update_time: Some(to_timestamp(grant.update_time)),
        etag: revision_etag(grant.revision),
    }
}

fn mode_from(grant: &ProtoGrant) -> Result<GrantMode, ApiError> {
    match AccessMode::try_from(grant.mode).unwrap_or(AccessMode::Unspecified) {
        AccessMode::Continuous => Ok(GrantMode::Continuous),
        AccessMode::Disabled => Ok(GrantMode::Disabled),
        AccessMode::Period => {
            let start = grant.start_time.as_ref().and_then(from_timestamp);
            let end = grant.end_time.as_ref().and_then(from_timestamp);
            match (start, end) {
                (Some(start), Some(end)) if start < end => Ok(GrantMode::Period { start, end }),
                (Some(_), Some(_)) => Err(ApiError::invalid(
                    "access_grant.end_time",
                    "must be after start_time",
                )),
                (None, _) => Err(ApiError::invalid(
                    "access_grant.start_time",
                    "is required for a PERIOD grant",
                )),
                (_, None) => Err(ApiError::invalid(
                    "access_grant.end_time",
                    "is required for a PERIOD grant",
                )),
            }
        }
        AccessMode::Unspecified => Err(ApiError::invalid(
            "access_grant.mode",
            "must be CONTINUOUS, PERIOD or DISABLED",
        )),
    }
}

/// Only the customer itself (with a writer role) or a platform
/// administrator decides who may see the customer.
fn require_customer_decides(
    principal: &Principal,
    customer: OrganizationId,
) -> Result<(), ApiError> {
    if principal.is_platform_admin() {
        return Ok(());
    }
    if access::own_organization(principal) == Some(customer) && access::is_writer(principal) {
        return Ok(());
    }
    Err(ApiError::PermissionDenied(format!(
        "only organizations/{customer} itself decides who may access it"
    )))
}

/// Either side of a grant may read it.
fn require_party(
    principal: &Principal,
    customer: OrganizationId,
    partner: OrganizationId,
) -> Result<(), ApiError> {
    let own = access::own_organization(principal);
    if principal.is_platform_admin() || own == Some(customer) || own == Some(partner) {
        return Ok(());
    }
    Err(ApiError::PermissionDenied(
        "only the customer and the partner of a grant see it".into(),
    ))
}

fn managed_refusal(name: String, what: &str) -> ApiError {
    ApiError::FailedPrecondition {
        violation: "MANAGED_GRANT",
        subject: name,
        description: format!(
            "a managed customer's access for its partner is continuous; the customer cannot {what} it"
        ),
    }
}

fn grant_name(field: &str, name: &str) -> Result<(OrganizationId, OrganizationId), ApiError> {
    let target = AccessGrantName::parse(field, name)?;
    Ok((target.customer, target.partner))
}

fn not_found(name: String) -> ApiError {
    ApiError::NotFound {
        resource_type: "access grant",
        name,
    }
}

#[tonic::async_trait]
impl AccessGrantsService for AccessGrants {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_access_grant(
        &self,
        request: Request<CreateAccessGrantRequest>,
    ) -> Result<Response<ProtoGrant>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let customer = organization_id("parent", &message.parent)?;
        let Some(grant) = message.access_grant else {
            return Err(ApiError::invalid("access_grant", "is required").into());
        };
        let partner = organization_id("access_grant.partner", &grant.partner)?;
        let mode = mode_from(&grant)?;
        require_customer_decides(&principal, customer)?;

        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        if existing_organization(&**client, customer).await?.kind != Kind::Customer {
            return Err(ApiError::invalid("parent", "must be a customer").into());
        }
        if existing_organization(&**client, partner).await?.kind != Kind::Partner {
            return Err(ApiError::invalid("access_grant.partner", "must be a partner").into());
        }
        let transaction = transaction(&mut client).await?;
        let created = match grants::insert(&transaction, customer, partner, mode, false, now).await
        {
            Ok(created) => created,
            Err(DbError::UniqueViolation { .. }) => {
                return Err(ApiError::AlreadyExists {
                    resource_type: "access grant",
                    name: AccessGrantName { customer, partner }.to_string(),
                    description: "the partner already has a grant; change it with \
                                  UpdateAccessGrant"
                        .into(),
                }
                .into());
            }
            Err(error) => return Err(ApiError::from(error).into()),
        };
        refuse_conflicts(&transaction, None, Some(customer), Some(partner)).await?;
        overview::refresh(&transaction, &[customer], now).await?;
        commit(transaction).await?;
        tracing::info!(%customer, %partner, mode = mode.as_str(), "access granted");
        Ok(Response::new(to_proto(created, now)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_access_grant(
        &self,
        request: Request<GetAccessGrantRequest>,
    ) -> Result<Response<ProtoGrant>, Status> {
        let principal = caller(&request)?;
        let name = request.into_inner().name;
        let (customer, partner) = grant_name("name", &name)?;
        require_party(&principal, customer, partner)?;
        let client = estate_db::connection(&self.0.pool).await?;
        let grant = grants::get(&**client, customer, partner)
            .await?
            .ok_or_else(|| not_found(name))?;
        Ok(Response::new(to_proto(grant, self.0.clock.now())))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_access_grants(
        &self,
        request: Request<ListAccessGrantsRequest>,
    ) -> Result<Response<ListAccessGrantsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let parent = organization_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let own = access::own_organization(&principal);
        if !principal.is_platform_admin() && own != Some(parent) {
            return Err(ApiError::PermissionDenied(
                "an organization lists only its own grants".into(),
            )
            .into());
        }
        let client = estate_db::connection(&self.0.pool).await?;
        let side = match existing_organization(&**client, parent).await?.kind {
            Kind::Customer => Side::Customer(parent),
            Kind::Partner => Side::Partner(parent),
            Kind::Distributor => {
                return Err(ApiError::invalid("parent", "must be a customer or a partner").into());
            }
        };
        let mut rows = grants::list(&**client, side, &page).await?;
        let next_page_token = page.finish(&mut rows, |row| match side {
            Side::Customer(_) => row.partner_id.uuid(),
            Side::Partner(_) => row.customer_id.uuid(),
        });
        let now = self.0.clock.now();
        Ok(Response::new(ListAccessGrantsResponse {
            access_grants: rows.into_iter().map(|row| to_proto(row, now)).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_access_grant(
        &self,
        request: Request<UpdateAccessGrantRequest>,
    ) -> Result<Response<ProtoGrant>, Status> {
        let principal = caller(&request)?;
        let Some(changes) = request.into_inner().access_grant else {
            return Err(ApiError::invalid("access_grant", "is required").into());
        };
        let (customer, partner) = grant_name("access_grant.name", &changes.name)?;
        let mode = mode_from(&changes)?;
        require_customer_decides(&principal, customer)?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        let current = grants::get_for_update(&transaction, customer, partner)
            .await?
            .ok_or_else(|| not_found(changes.name.clone()))?;
        if current.managed {
            return Err(managed_refusal(changes.name, "change").into());
        }
        check_etag(&changes.etag, current.revision, changes.name.clone())?;
        let updated = grants::update(&transaction, customer, partner, mode, false, now).await?;
        overview::refresh(&transaction, &[customer], now).await?;
        commit(transaction).await?;
        tracing::info!(%customer, %partner, mode = mode.as_str(), "access grant changed");
        Ok(Response::new(to_proto(updated, now)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_access_grant(
        &self,
        request: Request<DeleteAccessGrantRequest>,
    ) -> Result<Response<DeleteAccessGrantResponse>, Status> {
        let principal = caller(&request)?;
        let name = request.into_inner().name;
        let (customer, partner) = grant_name("name", &name)?;
        require_customer_decides(&principal, customer)?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        let current = grants::get(&transaction, customer, partner)
            .await?
            .ok_or_else(|| not_found(name.clone()))?;
        if current.managed {
            return Err(managed_refusal(name, "delete").into());
        }
        grants::delete(&transaction, customer, partner).await?;
        overview::refresh(&transaction, &[customer], now).await?;
        commit(transaction).await?;
        tracing::info!(%customer, %partner, "access grant deleted");
        Ok(Response::new(DeleteAccessGrantResponse {}))
    }
}
