//! Who may see whom. First cut of SPEC section 1: platform administrators
//! and the platform's own services see everything; an organization's
//! principals see that organization and every organization below it (a
//! distributor its partners, a partner its managed customers). Writing
//! needs the `admin` role. Customer-granted access grants extend this in
//! the customers-and-access issue.

use estate_auth::Principal;
use estate_errors::ApiError;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::db;

/// Roles that may change an organization's data.
pub const WRITER_ROLES: &[&str] = &["admin", "owner"];

/// The outcome of an access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Why not; also used when the organization does not exist, so a caller
    /// cannot probe for ids it has no access to.
    Denied(String),
}

pub async fn check(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
    write: bool,
) -> Result<Access, ApiError> {
    if principal.is_platform_admin() || principal.is_service() {
        return Ok(Access::Allowed);
    }
    let Some(own) = principal
        .organization_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
    else {
        return Ok(Access::Denied("the caller acts for no organization".into()));
    };
    if write && !WRITER_ROLES.iter().any(|role| principal.has_role(role)) {
        return Ok(Access::Denied(
            "changing data needs the admin or owner role".into(),
        ));
    }
    if db::organizations::is_self_or_ancestor(client, own, organization).await? {
        Ok(Access::Allowed)
    } else {
        Ok(Access::Denied(format!(
            "organizations/{own} has no access to organizations/{organization}"
        )))
    }
}

/// Like [`check`], as an error a handler can return.
pub async fn require(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
    write: bool,
) -> Result<(), ApiError> {
    match check(client, principal, organization, write).await? {
        Access::Allowed => Ok(()),
        Access::Denied(reason) => Err(ApiError::PermissionDenied(reason)),
    }
}
