//! gRPC adapters: each handler authorizes, validates, calls storage and
//! converts. Rules that are more than a check live in `access` and `db`.

mod api_keys;
mod identity;
mod organizations;

use std::sync::Arc;

use estate_auth::Principal;
use estate_errors::ApiError;
use estate_proto::common::OrganizationKind;

use crate::AppState;
use crate::db::organizations::Kind;

/// `OrganizationsService`.
#[derive(Debug, Clone)]
pub struct Organizations(pub Arc<AppState>);
/// `ApiKeysService`.
#[derive(Debug, Clone)]
pub struct ApiKeys(pub Arc<AppState>);
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

pub(crate) use estate_proto::fields::{request_id, resource_name as parse_name};
