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
//! - A partner's standing with its distributor bounds its principals
//!   everywhere (see [`crate::rules::standing`]): suspended is read-only
//!   but for usage reporting, canceled reaches nothing.
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
use crate::rules::standing::{self, Intent};

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

/// Whether the principal holds a role that may change data.
pub fn is_writer(principal: &Principal) -> bool {
    holds_any(principal, WRITER_ROLES)
}

/// How an organization reaches another, before roles are considered.
enum Reach {
    /// Itself, or below it in its own subtree.
    Direct,
    /// Through an effective grant of a customer on the way up.
    Granted {
        customer: Uuid,
        managed: bool,
    },
    Denied(String),
}

async fn reach(
    client: &impl GenericClient,
    own: Uuid,
    organization: Uuid,
    now: DateTime<Utc>,
) -> Result<Reach, ApiError> {
    let no_access = || {
        Reach::Denied(format!(
            "organizations/{own} has no access to organizations/{organization}"
        ))
    };
    let chain = db::organizations::chain(client, organization).await?;
    let Some(target) = chain.first() else {
        return Ok(no_access());
    };
    if target.id == own {
        return Ok(Reach::Direct);
    }
    let own_kind = chain
        .iter()
        .find(|link| link.id == own)
        .map(|link| link.kind);
    // Within one's own subtree: customers see their sub-customers; partners
    // and distributors see the partners below them.
    match (own_kind, target.kind) {
        (Some(Kind::Customer), _)
        | (Some(Kind::Distributor | Kind::Partner), Kind::Partner | Kind::Distributor) => {
            return Ok(Reach::Direct);
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
    match grants.iter().find(|grant| grant.mode.effective_at(now)) {
        Some(grant) => Ok(Reach::Granted {
            customer: grant.customer_id,
            managed: grant.managed,
        }),
        None if grants.is_empty() => Ok(no_access()),
        None => Ok(Reach::Denied(format!(
            "the access organizations/{own} was granted to organizations/{organization} \
             is not in effect"
        ))),
    }
}

/// May `principal` read (or, with `write`, change) `organization`'s data?
pub async fn check(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
    write: bool,
    now: DateTime<Utc>,
) -> Result<Access, ApiError> {
    let intent = if write { Intent::Write } else { Intent::Read };
    check_intent(client, principal, organization, intent, now).await
}

/// [`check`] for any [`Intent`]: usage reporting is a change a suspended
/// partner may still make.
pub async fn check_intent(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
    intent: Intent,
    now: DateTime<Utc>,
) -> Result<Access, ApiError> {
    if principal.is_platform_admin() || principal.is_service() {
        return Ok(Access::Allowed);
    }
    let Some(own) = own_organization(principal) else {
        return Ok(Access::Denied("the caller acts for no organization".into()));
    };
    let write = intent != Intent::Read;
    if write && !is_writer(principal) {
        return Ok(Access::Denied(
            "changing data needs the owner, admin or authorized partner user role".into(),
        ));
    }
    if let Err(reason) = partner_standing(client, principal, own, intent).await? {
        return Ok(Access::Denied(reason));
    }
    match reach(client, own, organization, now).await? {
        Reach::Direct => Ok(Access::Allowed),
        Reach::Denied(reason) => Ok(Access::Denied(reason)),
        Reach::Granted { .. } if !holds_any(principal, DETAIL_ROLES) => Ok(Access::Denied(
            "only authorized partner users and administrators open a customer's details".into(),
        )),
        Reach::Granted { customer, managed } if write && !managed => Ok(Access::Denied(format!(
            "organizations/{customer} owns its relationship: the partner is view-only"
        ))),
        Reach::Granted { .. } => Ok(Access::Allowed),
    }
}

/// The bound the caller's own organization's standing puts on `intent`,
/// when it is a partner: `Err` with the reason when it forbids it.
async fn partner_standing(
    client: &impl GenericClient,
    principal: &Principal,
    own: Uuid,
    intent: Intent,
) -> Result<Result<(), String>, ApiError> {
    // Distributors' and customers' principals have no standing to check.
    let distributor = i32::from(estate_proto::common::OrganizationKind::Distributor);
    let customer = i32::from(estate_proto::common::OrganizationKind::Customer);
    if principal.organization_kind == distributor || principal.organization_kind == customer {
        return Ok(Ok(()));
    }
    Ok(
        match db::organizations::standing(client, own, false).await? {
            Some((standing, _)) => {
                standing::permits(standing, intent, &format!("organizations/{own}"))
            }
            None => Ok(()),
        },
    )
}

/// An overview action on a customer (such as "sync data"): every user of
/// an organization that reaches it may take it, whatever their role.
pub async fn require_overview_action(
    client: &impl GenericClient,
    principal: &Principal,
    customer: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if principal.is_platform_admin() || principal.is_service() {
        return Ok(());
    }
    let Some(own) = own_organization(principal) else {
        return Err(ApiError::PermissionDenied(
            "the caller acts for no organization".into(),
        ));
    };
    // Refreshing what the overview shows changes no customer data: a
    // suspended partner may, a canceled one may not.
    partner_standing(client, principal, own, Intent::Read)
        .await?
        .map_err(ApiError::PermissionDenied)?;
    match reach(client, own, customer, now).await? {
        Reach::Denied(reason) => Err(ApiError::PermissionDenied(reason)),
        Reach::Direct | Reach::Granted { .. } => Ok(()),
    }
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
/// partner organization (any role) while it is not canceled, or any
/// partner for administrators.
pub async fn require_overview_reader(
    client: &impl GenericClient,
    principal: &Principal,
    partner: Uuid,
) -> Result<(), ApiError> {
    if principal.is_platform_admin() {
        return Ok(());
    }
    if own_organization(principal) != Some(partner) {
        return Err(ApiError::PermissionDenied(format!(
            "only members of organizations/{partner} read its customers overview"
        )));
    }
    partner_standing(client, principal, partner, Intent::Read)
        .await?
        .map_err(ApiError::PermissionDenied)
}
