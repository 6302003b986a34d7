//! Access decisions, loaded: the facts [`crate::rules::access`] decides
//! over (the organization's chain, the caller's grants on the way, its
//! standing), each loaded only when the decision can need it, then the
//! decision as an answer or an error a handler returns.

use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_errors::ApiError;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::db;
use crate::rules::access::{self as rule, Facts, GrantFact, Route};
pub use crate::rules::access::{Access, Decision, is_writer, own_organization};
use crate::rules::organizations::ChainLink;
use crate::rules::standing::Standing;

/// The facts about `organization` a decision for `principal` needs.
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

async fn load(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
) -> Result<Loaded, ApiError> {
    let mut loaded = Loaded {
        chain: Vec::new(),
        grants: Vec::new(),
        standing: None,
    };
    let Some(own) = own_organization(principal).filter(|_| !rule::is_platform(principal)) else {
        return Ok(loaded);
    };
    if rule::standing_applies(principal) {
        loaded.standing = standing_of(client, own).await?;
    }
    loaded.chain = db::organizations::chain(client, organization).await?;
    if let Route::ThroughGrant { customers } = rule::route(own, organization, &loaded.chain) {
        loaded.grants = db::grants::for_partner_among(client, own, &customers)
            .await?
            .into_iter()
            .map(|grant| GrantFact {
                customer: grant.customer_id,
                mode: grant.mode,
                managed: grant.managed,
            })
            .collect();
    }
    Ok(loaded)
}

async fn standing_of(client: &impl GenericClient, own: Uuid) -> Result<Option<Standing>, ApiError> {
    Ok(db::organizations::standing(client, own, false)
        .await?
        .map(|(standing, _)| standing))
}

/// May `principal` have `access` to `organization`'s data?
pub async fn check(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
    access: Access,
    now: DateTime<Utc>,
) -> Result<Decision, ApiError> {
    if rule::is_platform(principal) {
        return Ok(Decision::Allowed);
    }
    let loaded = load(client, principal, organization).await?;
    Ok(rule::decide(
        principal,
        organization,
        access,
        &loaded.facts(),
        now,
    ))
}

/// Like [`check`], as an error a handler can return.
pub async fn require(
    client: &impl GenericClient,
    principal: &Principal,
    organization: Uuid,
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
    customer: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if rule::is_platform(principal) {
        return Ok(());
    }
    let loaded = load(client, principal, customer).await?;
    rule::decide_overview_action(principal, customer, &loaded.facts(), now).required()
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
    if !rule::standing_applies(principal) {
        return Ok(());
    }
    match standing_of(client, partner).await? {
        Some(standing) => crate::rules::standing::permits(
            standing,
            Access::Read,
            &format!("organizations/{partner}"),
        )
        .map_err(ApiError::PermissionDenied),
        None => Ok(()),
    }
}
