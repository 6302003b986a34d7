//! gRPC adapters: each handler authorizes, validates, calls storage and
//! converts. Rules that are more than a check live in `access`, `rules`
//! and `db`.

mod access_grants;
mod api_keys;
mod beacons;
mod entitlements;
mod identity;
mod members;
mod organizations;
mod overview;
mod sync;

use std::sync::Arc;

use estate_auth::Principal;
use estate_errors::ApiError;
use estate_proto::common::OrganizationKind;
use estate_proto::names::{OrganizationId, OrganizationName};

use crate::AppState;
use crate::db::organizations::{Kind, Organization};

/// `OrganizationsService`.
#[derive(Debug, Clone)]
pub struct Organizations(pub Arc<AppState>);
/// `ApiKeysService`.
#[derive(Debug, Clone)]
pub struct ApiKeys(pub Arc<AppState>);
/// `MembersService`.
#[derive(Debug, Clone)]
pub struct Members(pub Arc<AppState>);
/// `AccessGrantsService`.
#[derive(Debug, Clone)]
pub struct AccessGrants(pub Arc<AppState>);
/// `EntitlementsService`.
#[derive(Debug, Clone)]
pub struct Entitlements(pub Arc<AppState>);
/// `BeaconsService`.
#[derive(Debug, Clone)]
pub struct Beacons(pub Arc<AppState>);
/// `SyncService`.
#[derive(Debug, Clone)]
pub struct Sync(pub Arc<AppState>);
/// `CustomerOverviewService`.
#[derive(Debug, Clone)]
pub struct Overview(pub Arc<AppState>);
/// `estate.internal.v1.IdentityService`.
#[derive(Debug, Clone)]
pub struct Identity(pub Arc<AppState>);

/// The verified caller.
pub(crate) fn caller<T>(request: &tonic::Request<T>) -> Result<Principal, ApiError> {
    Ok(estate_auth::caller(request)?.0)
}

pub(crate) fn kind_to_proto(kind: Kind) -> OrganizationKind {
    match kind {
        Kind::Distributor => OrganizationKind::Distributor,
        Kind::Partner => OrganizationKind::Partner,
        Kind::Customer => OrganizationKind::Customer,
    }
}

pub(crate) fn kind_from_proto(kind: i32) -> Option<Kind> {
    match OrganizationKind::try_from(kind).ok()? {
        OrganizationKind::Distributor => Some(Kind::Distributor),
        OrganizationKind::Partner => Some(Kind::Partner),
        OrganizationKind::Customer => Some(Kind::Customer),
        OrganizationKind::Unspecified => None,
    }
}

pub(crate) use estate_proto::fields::request_id;

/// `organizations/{uuid}` in `field`.
pub(crate) fn organization_id(field: &str, value: &str) -> Result<OrganizationId, ApiError> {
    Ok(OrganizationName::parse(field, value)?.organization)
}

pub(crate) use estate_proto::fields::{check_etag, revision_etag};

/// The organization, or NOT_FOUND naming it.
pub(crate) async fn existing_organization(
    client: &impl tokio_postgres::GenericClient,
    id: OrganizationId,
) -> Result<Organization, ApiError> {
    crate::db::organizations::get(client, id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            resource_type: "organization",
            name: OrganizationName { organization: id }.to_string(),
        })
}

/// A role's storage value from its proto enum, if it is one an
/// organization of `kind` can grant.
pub(crate) fn role_for(role: i32, kind: Kind) -> Result<&'static str, ApiError> {
    use estate_proto::customers::Role;
    let value = match Role::try_from(role).unwrap_or(Role::Unspecified) {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
        Role::AuthorizedPartnerUser if kind == Kind::Partner => "authorized_partner_user",
        Role::AuthorizedPartnerUser => {
            return Err(ApiError::invalid(
                "role",
                "AUTHORIZED_PARTNER_USER exists only in partner organizations",
            ));
        }
        Role::Unspecified => {
            return Err(ApiError::invalid(
                "role",
                "must be OWNER, ADMIN, MEMBER or AUTHORIZED_PARTNER_USER",
            ));
        }
    };
    Ok(value)
}

pub(crate) fn role_to_proto(role: &str) -> estate_proto::customers::Role {
    use estate_proto::customers::Role;
    match role {
        "owner" => Role::Owner,
        "admin" => Role::Admin,
        "member" => Role::Member,
        "authorized_partner_user" => Role::AuthorizedPartnerUser,
        _ => Role::Unspecified,
    }
}

/// A plausible email address: one `@` with text on both sides, no spaces,
/// 3..320 characters. Delivery is what really validates an address.
pub(crate) fn check_email(violations: &mut estate_errors::Violations, field: &str, email: &str) {
    let plausible = email.chars().count() <= 320
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if !plausible {
        violations.add(field, "must be an email address like name@example.com");
    }
}

pub(crate) use estate_db::{commit, transaction};
