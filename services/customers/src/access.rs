//! Access decisions, loaded: the facts [`crate::rules::access`] decides
//! over (the caller's standing, the organization's chain, the caller's
//! grants on the way), loaded step by step and only while no earlier step
//! has decided, then the decision as an answer or an error a handler
//! returns.

use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_errors::ApiError;
use estate_proto::names::{OrganizationId, OrganizationName};
use tokio_postgres::GenericClient;

use crate::db;
use crate::rules::access::{self as rule, Facts, GrantFact, Route};
pub use crate::rules::access::{Access, Decision, is_writer, own_organization};
use crate::rules::organizations::ChainLink;
use crate::rules::standing::Standing;

/// The facts about `organization` a decision needs once neither the
/// principal alone nor its standing has decided.
struct Loaded {
    chain: Vec<ChainLink>,
    grants: Vec<GrantFact>,
    standing: Option<Standing>,
}

impl Loaded {
    fn facts(&self) -> Facts<'_> {
        Facts {
            chain: &self.chain,
            grants: &self.grants,
            standing: self.standing,
        }
    }
}

/// Loads step by step, stopping as soon as a step decides: the caller's
/// standing (partners' principals only), then `organization`'s chain,
/// then the caller's grants on it when the route goes through one.
async fn load(
    client: &impl GenericClient,
    principal: &Principal,
    organization: OrganizationId,
    access: Access,
) -> Result<Result<Loaded, Decision>, ApiError> {
    let Some(own) = own_organization(principal) else {
        return Ok(Err(Decision::Denied(
            "the caller acts for no organization".into(),
        )));
    };
    let standing = if rule::standing_applies(principal) {
        standing_of(client, own).await?
    } else {
        None
    };
    if let Some(denied) = rule::denied_by_standing(principal, standing, access) {
        return Ok(Err(denied));
    }
    let chain = db::organizations::chain(client, organization).await?;
    let grants = match rule::route(own, organization, &chain) {
        Route::ThroughGrant { customers } => db::grants::for_partner_among(client, own, &customers)
            .await?
            .into_iter()
            .map(|grant| GrantFact {
                customer: grant.customer_id,
                mode: grant.mode,
                managed: grant.managed,
            })
            .collect(),
        Route::Direct | Route::Denied(_) => Vec::new(),
    };
    Ok(Ok(Loaded {
        chain,
        grants,
        standing,
    }))
}

async fn standing_of(
    client: &impl GenericClient,
    own: OrganizationId,
) -> Result<Option<Standing>, ApiError> {
    Ok(db::organizations::standing(client, own, false)
        .await?
        .map(|(standing, _)| standing))
}

/// May `principal` have `access` to `organization`'s data?
pub async fn check(
    client: &impl GenericClient,
    principal: &Principal,
    organization: OrganizationId,
    access: Access,
    now: DateTime<Utc>,
) -> Result<Decision, ApiError> {
    if let Some(decision) = rule::decide_by_principal(principal, access) {
        return Ok(decision);
    }
    Ok(match load(client, principal, organization, access).await? {
        Ok(loaded) => rule::decide(principal, organization, access, &loaded.facts(), now),
        Err(decided) => decided,
    })
}

/// Like [`check`], as an error a handler can return.
pub async fn require(
    client: &impl GenericClient,
    principal: &Principal,
    organization: OrganizationId,
    access: Access,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    check(client, principal, organization, access, now)
        .await?
        .required()
}

/// An overview action on a customer (such as "sync data"): every user of
/// an organization that reaches it may take it, whatever their role.
pub async fn require_overview_action(
    client: &impl GenericClient,
    principal: &Principal,
    customer: OrganizationId,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if rule::is_platform(principal) {
        return Ok(());
    }
    match load(client, principal, customer, Access::Read).await? {
        Ok(loaded) => rule::decide_overview_action(principal, customer, &loaded.facts(), now),
        Err(decided) => decided,
    }
    .required()
}

/// The partner whose overview the caller may read: the caller's own
/// partner organization (any role) while it is not canceled, or any
/// partner for administrators.
pub async fn require_overview_reader(
    client: &impl GenericClient,
    principal: &Principal,
    partner: OrganizationId,
) -> Result<(), ApiError> {
    if principal.is_platform_admin() {
        return Ok(());
    }
    if own_organization(principal) != Some(partner) {
        return Err(ApiError::PermissionDenied(format!(
            "only members of organizations/{partner} read its customers overview"
        )));
    }
    if !rule::standing_applies(principal) {
        return Ok(());
    }
    match standing_of(client, partner).await? {
        Some(standing) => crate::rules::standing::permits(
            standing,
            Access::Read,
            &OrganizationName {
                organization: partner,
            }
            .to_string(),
        )
        .map_err(ApiError::PermissionDenied),
        None => Ok(()),
    }
}
