//! Who may see whom (SPEC section 1), decided here for this service and,
//! through `IdentityService.Authorize`, for every other one.
//!
//! - Platform administrators and the platform's services: everything.
//! - A customer's principals: the customer and the customers below it.
//! - A distributor's or partner's principals: the organization itself and
//!   the partners below it.
//! - A partner's principals reach a customer (or a customer below it) only
//!   through an effective access grant from that customer, evaluated at
//!   the time of each call, so disabling, deleting or ending a grant cuts
//!   access on the next call. Reading a customer's data needs an
//!   authorized partner user, an admin or an owner (ordinary partner users
//!   see only the overview); changing it also needs the relationship to be
//!   partner-managed (a customer-owned relationship makes the partner
//!   view-only).
//! - Writing needs a writer role in the caller's own organization.
//!
//! Denials also cover organizations that do not exist, so a caller cannot
//! probe for ids it has no access to.

use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_errors::ApiError;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::db;
use crate::db::organizations::Kind;

/// Roles that may change an organization's data.
pub const WRITER_ROLES: &[&str] = &["owner", "admin", "authorized_partner_user"];

/// Partner roles that may open a customer's details and data.
pub const DETAIL_ROLES: &[&str] = &["owner", "admin", "authorized_partner_user"];

/// The outcome of an access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Why not.
    Denied(String),
}

/// The organization a principal acts for, if any.
pub fn own_organization(principal: &Principal) -> Option<Uuid> {
    principal
        .organization_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
}

fn holds_any(principal: &Principal, roles: &[&str]) -> bool {
    roles.iter().any(|role| principal.has_role(role))
}

pub async fn check(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
    write: bool,
    now: DateTime<Utc>,
) -> Result<Access, ApiError> {
    if principal.is_platform_admin() || principal.is_service() {
        return Ok(Access::Allowed);
    }
    let Some(own) = own_organization(principal) else {
        return Ok(Access::Denied("the caller acts for no organization".into()));
    };
    let no_access = || {
        Access::Denied(format!(
            "organizations/{own} has no access to organizations/{organization}"
        ))
    };
    if write && !holds_any(principal, WRITER_ROLES) {
        return Ok(Access::Denied(
            "changing data needs the owner, admin or authorized partner user role".into(),
        ));
    }
    let chain = db::organizations::chain(client, organization).await?;
    let Some(target) = chain.first() else {
        return Ok(no_access());
    };
    if target.id == own {
        return Ok(Access::Allowed);
    }
    let own_position = chain.iter().position(|link| link.id == own);
    let own_kind = own_position.map(|position| chain[position].kind);
    // Within one's own subtree: customers see their sub-customers; partners
    // and distributors see the partners below them.
    match (own_kind, target.kind) {
        (Some(Kind::Customer), _) => return Ok(Access::Allowed),
        (Some(Kind::Distributor | Kind::Partner), Kind::Partner | Kind::Distributor) => {
            return Ok(Access::Allowed);
        }
        _ => {}
    }
    if target.kind != Kind::Customer {
        return Ok(no_access());
    }
    // A customer (or a tier below one): only through a grant of one of the
    // customers on the way up.
    let customers: Vec<Uuid> = chain
        .iter()
        .take_while(|link| link.kind == Kind::Customer)
        .map(|link| link.id)
        .collect();
    let grants = db::grants::for_partner_among(client, own, &customers).await?;
    let Some(grant) = grants.iter().find(|grant| grant.mode.effective_at(now)) else {
        return Ok(if grants.is_empty() {
            no_access()
        } else {
            Access::Denied(format!(
                "the access organizations/{own} was granted to organizations/{organization} \
                 is not in effect"
            ))
        });
    };
    if !holds_any(principal, DETAIL_ROLES) {
        return Ok(Access::Denied(
            "only authorized partner users and administrators open a customer's details".into(),
        ));
    }
    if write && !grant.managed {
        return Ok(Access::Denied(format!(
            "organizations/{} owns its relationship: the partner is view-only",
            grant.customer_id
        )));
    }
    Ok(Access::Allowed)
}

/// Like [`check`], as an error a handler can return.
pub async fn require(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
    write: bool,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    match check(client, principal, organization, write, now).await? {
        Access::Allowed => Ok(()),
        Access::Denied(reason) => Err(ApiError::PermissionDenied(reason)),
    }
}

/// The partner whose overview the caller may read: the caller's own
/// partner organization (any role), or any partner for administrators.
pub fn require_overview_reader(principal: &Principal, partner: Uuid) -> Result<(), ApiError> {
    if principal.is_platform_admin() || own_organization(principal) == Some(partner) {
        return Ok(());
    }
    Err(ApiError::PermissionDenied(format!(
        "only members of organizations/{partner} read its customers overview"
    )))
}
