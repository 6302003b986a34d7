//! Who may see whom (SPEC section 1): the decision this service makes for
//! itself and, through `IdentityService.Authorize`, for every other one.
//! It is a pure function of who asks, what they ask, the facts the store
//! loads (`crate::access`) and the time.
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
//! - Changing anything needs a writer role in the caller's own
//!   organization.
//! - A partner's standing with its distributor bounds its principals
//!   everywhere (see [`super::standing`]): suspended is read-only but for
//!   usage reporting, canceled reaches nothing.
//!
//! Denials also cover organizations that do not exist, so a caller cannot
//! probe for ids it has no access to.

use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_errors::ApiError;
use estate_proto::names::OrganizationId;
use uuid::Uuid;

use super::organizations::{ChainLink, Kind};
use super::standing::{self, Standing};
use super::status::GrantMode;

pub use super::standing::Access;

/// Roles that may change an organization's data.
pub const WRITER_ROLES: &[&str] = &["owner", "admin", "authorized_partner_user"];

/// Partner roles that may open a customer's details and data.
pub const DETAIL_ROLES: &[&str] = &["owner", "admin", "authorized_partner_user"];

/// The outcome of an access decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Why not.
    Denied(String),
}

impl Decision {
    /// As an error a handler can return.
    pub fn required(self) -> Result<(), ApiError> {
        match self {
            Self::Allowed => Ok(()),
            Self::Denied(reason) => Err(ApiError::PermissionDenied(reason)),
        }
    }
}

/// A grant as access sees it: which customer gave it, whether it is in
/// effect when, and whether the partner manages the relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantFact {
    pub customer: OrganizationId,
    pub mode: GrantMode,
    pub managed: bool,
}

/// What a decision about one organization looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// The organization and its ancestors, nearest first; empty when it
    /// does not exist.
    pub chain: &'a [ChainLink],
    /// The caller's organization's grants from the customers [`route`]
    /// names (none needed otherwise).
    pub grants: &'a [GrantFact],
    /// The standing of the caller's organization, when [`standing_applies`].
    pub standing: Option<Standing>,
}

/// The organization a principal acts for, if any.
pub fn own_organization(principal: &Principal) -> Option<OrganizationId> {
    principal
        .organization_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(OrganizationId::from_uuid)
}

fn holds_any(principal: &Principal, roles: &[&str]) -> bool {
    roles.iter().any(|role| principal.has_role(role))
}

/// Whether the principal holds a role that may change data.
pub fn is_writer(principal: &Principal) -> bool {
    holds_any(principal, WRITER_ROLES)
}

/// Platform administrators and the platform's services, who may do
/// anything (and so need no facts).
pub fn is_platform(principal: &Principal) -> bool {
    principal.is_platform_admin() || principal.is_service()
}

/// Whether the caller's organization's standing bounds it: it does for
/// partners' principals, not for distributors' or customers'.
pub fn standing_applies(principal: &Principal) -> bool {
    use estate_proto::common::OrganizationKind;
    let kind = principal.organization_kind;
    kind != i32::from(OrganizationKind::Distributor)
        && kind != i32::from(OrganizationKind::Customer)
}

/// How `own` could reach `target` (whose chain is `chain`), before grants
/// and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Itself, or below it in its own subtree.
    Direct,
    /// Only through an effective grant of one of these customers (the
    /// target and the customers above it, nearest first).
    ThroughGrant {
        customers: Vec<OrganizationId>,
    },
    Denied(String),
}

fn no_access(own: OrganizationId, target: OrganizationId) -> String {
    format!("organizations/{own} has no access to organizations/{target}")
}

/// The route from `own` to `target`.
pub fn route(own: OrganizationId, target: OrganizationId, chain: &[ChainLink]) -> Route {
    let Some(first) = chain.first() else {
        return Route::Denied(no_access(own, target));
    };
    if first.id == own {
        return Route::Direct;
    }
    let own_kind = chain
        .iter()
        .find(|link| link.id == own)
        .map(|link| link.kind);
    // Within one's own subtree: customers see their sub-customers; partners
    // and distributors see the partners below them.
    match (own_kind, first.kind) {
        (Some(Kind::Customer), _)
        | (Some(Kind::Distributor | Kind::Partner), Kind::Partner | Kind::Distributor) => {
            return Route::Direct;
        }
        _ => {}
    }
    if first.kind != Kind::Customer {
        return Route::Denied(no_access(own, target));
    }
    // A customer (or a tier below one): only through a grant of one of the
    // customers on the way up.
    Route::ThroughGrant {
        customers: chain
            .iter()
            .take_while(|link| link.kind == Kind::Customer)
            .map(|link| link.id)
            .collect(),
    }
}

/// How the caller's organization reaches the target, grants considered.
enum Reach {
    Direct,
    Granted {
        customer: OrganizationId,
        managed: bool,
    },
    Denied(String),
}

fn reach(
    own: OrganizationId,
    target: OrganizationId,
    facts: &Facts<'_>,
    now: DateTime<Utc>,
) -> Reach {
    match route(own, target, facts.chain) {
        Route::Direct => Reach::Direct,
        Route::Denied(reason) => Reach::Denied(reason),
        Route::ThroughGrant { customers } => {
            let grants: Vec<&GrantFact> = facts
                .grants
                .iter()
                .filter(|grant| customers.contains(&grant.customer))
                .collect();
            match grants.iter().find(|grant| grant.mode.effective_at(now)) {
                Some(grant) => Reach::Granted {
                    customer: grant.customer,
                    managed: grant.managed,
                },
                None if grants.is_empty() => Reach::Denied(no_access(own, target)),
                None => Reach::Denied(format!(
                    "the access organizations/{own} was granted to organizations/{target} \
                     is not in effect"
                )),
            }
        }
    }
}

/// The bound the caller's standing puts on `access`.
fn within_standing(own: OrganizationId, facts: &Facts<'_>, access: Access) -> Result<(), String> {
    match facts.standing {
        Some(standing) => standing::permits(standing, access, &format!("organizations/{own}")),
        None => Ok(()),
    }
}

/// What the principal alone decides, before any fact is loaded: platform
/// principals may, one acting for no organization may not, and changing
/// needs a writer role. `None`: the facts decide.
pub fn decide_by_principal(principal: &Principal, access: Access) -> Option<Decision> {
    if is_platform(principal) {
        return Some(Decision::Allowed);
    }
    if own_organization(principal).is_none() {
        return Some(Decision::Denied(
            "the caller acts for no organization".into(),
        ));
    }
    if access != Access::Read && !is_writer(principal) {
        return Some(Decision::Denied(
            "changing data needs the owner, admin or authorized partner user role".into(),
        ));
    }
    None
}

/// The denial the caller's organization's `standing` puts on `access`,
/// if any (decided before the target is looked at).
pub fn denied_by_standing(
    principal: &Principal,
    standing: Option<Standing>,
    access: Access,
) -> Option<Decision> {
    let own = own_organization(principal)?;
    let facts = Facts {
        standing,
        ..Facts::default()
    };
    within_standing(own, &facts, access)
        .err()
        .map(Decision::Denied)
}

/// May `principal` have `access` to `target` at `now`?
pub fn decide(
    principal: &Principal,
    target: OrganizationId,
    access: Access,
    facts: &Facts<'_>,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(decision) = decide_by_principal(principal, access) {
        return decision;
    }
    let Some(own) = own_organization(principal) else {
        return Decision::Denied("the caller acts for no organization".into());
    };
    let write = access != Access::Read;
    if let Err(reason) = within_standing(own, facts, access) {
        return Decision::Denied(reason);
    }
    match reach(own, target, facts, now) {
        Reach::Direct => Decision::Allowed,
        Reach::Denied(reason) => Decision::Denied(reason),
        Reach::Granted { .. } if !holds_any(principal, DETAIL_ROLES) => Decision::Denied(
            "only authorized partner users and administrators open a customer's details".into(),
        ),
        Reach::Granted { customer, managed } if write && !managed => Decision::Denied(format!(
            "organizations/{customer} owns its relationship: the partner is view-only"
        )),
        Reach::Granted { .. } => Decision::Allowed,
    }
}

/// May `principal` take an overview action (such as "sync data") on
/// `customer`? Every user of an organization that reaches it may, whatever
/// their role: refreshing what the overview shows changes no customer
/// data, so a suspended partner may too, a canceled one may not.
pub fn decide_overview_action(
    principal: &Principal,
    customer: OrganizationId,
    facts: &Facts<'_>,
    now: DateTime<Utc>,
) -> Decision {
    if is_platform(principal) {
        return Decision::Allowed;
    }
    let Some(own) = own_organization(principal) else {
        return Decision::Denied("the caller acts for no organization".into());
    };
    if let Err(reason) = within_standing(own, facts, Access::Read) {
        return Decision::Denied(reason);
    }
    match reach(own, customer, facts, now) {
        Reach::Denied(reason) => Decision::Denied(reason),
        Reach::Direct | Reach::Granted { .. } => Decision::Allowed,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use estate_proto::common::OrganizationKind;

    use super::*;

    fn id(n: u128) -> OrganizationId {
        OrganizationId::from_uuid(Uuid::from_u128(n))
    }

    // The tree: distributor D above partner P above partner P2; partner Q
    // elsewhere; customer C with customer C2 below it; customer X elsewhere.
    const D: u128 = 1;
    const P: u128 = 2;
    const P2: u128 = 3;
    const Q: u128 = 4;
    const C: u128 = 5;
    const C2: u128 = 6;
    const X: u128 = 7;
    const MISSING: u128 = 99;

    fn chain_of(target: u128) -> Vec<ChainLink> {
        let link = |n, kind| ChainLink { id: id(n), kind };
        match target {
            D => vec![link(D, Kind::Distributor)],
            P => vec![link(P, Kind::Partner), link(D, Kind::Distributor)],
            P2 => vec![
                link(P2, Kind::Partner),
                link(P, Kind::Partner),
                link(D, Kind::Distributor),
            ],
            Q => vec![link(Q, Kind::Partner)],
            C => vec![link(C, Kind::Customer)],
            C2 => vec![link(C2, Kind::Customer), link(C, Kind::Customer)],
            X => vec![link(X, Kind::Customer)],
            _ => vec![],
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Who {
        Admin,
        Service,
        Unattached,
        Member(u128, OrganizationKind, &'static str),
    }

    fn principal(who: Who) -> Principal {
        let (organization, kind, roles) = match who {
            Who::Admin => (None, 0, vec!["platform_admin".to_string()]),
            Who::Service => (None, 0, vec!["service".to_string()]),
            Who::Unattached => (None, 0, vec!["owner".to_string()]),
            Who::Member(organization, kind, role) => (
                Some(id(organization).to_string()),
                i32::from(kind),
                vec![role.to_string()],
            ),
        };
        Principal {
            subject: "apiKeys/test".into(),
            organization_id: organization,
            organization_kind: kind,
            roles,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-06T12:00:00Z".parse().unwrap()
    }

    #[derive(Debug, Clone, Copy)]
    enum GrantState {
        None,
        Continuous { managed: bool },
        Disabled,
        Current,
        Future,
        Ended,
    }

    fn grants(state: GrantState, customer: u128) -> Vec<GrantFact> {
        let now = now();
        let grant = |mode, managed| GrantFact {
            customer: id(customer),
            mode,
            managed,
        };
        let period = |start, end| GrantMode::Period { start, end };
        match state {
            GrantState::None => vec![],
            GrantState::Continuous { managed } => vec![grant(GrantMode::Continuous, managed)],
            GrantState::Disabled => vec![grant(GrantMode::Disabled, true)],
            GrantState::Current => vec![grant(
                period(now - Duration::days(1), now + Duration::days(1)),
                true,
            )],
            GrantState::Future => vec![grant(
                period(now + Duration::hours(1), now + Duration::days(1)),
                true,
            )],
            GrantState::Ended => vec![grant(period(now - Duration::days(2), now), true)],
        }
    }

    /// Allowed, or denied with a reason containing the text.
    #[derive(Debug, Clone, Copy)]
    enum Expect {
        Allowed,
        Denied(&'static str),
    }

    use Access::{Read, ReportUsage, Write};
    use Expect::{Allowed, Denied};
    use OrganizationKind::{Customer as CustomerKind, Distributor as DistributorKind, Partner};

    const OWNER: &str = "owner";
    const ADMIN: &str = "admin";
    const AUTHORIZED: &str = "authorized_partner_user";
    const MEMBER: &str = "member";

    const NO_ACCESS: &str = "has no access to";
    const NOT_IN_EFFECT: &str = "is not in effect";
    const NEEDS_WRITER: &str = "needs the owner, admin or authorized partner user role";
    const DETAILS: &str = "only authorized partner users and administrators";
    const VIEW_ONLY: &str = "the partner is view-only";
    const SUSPENDED: &str = "is a suspended partner";
    const CANCELED: &str = "is a canceled partner";

    fn check(
        who: Who,
        target: u128,
        access: Access,
        grant: (GrantState, u128),
        standing: Option<Standing>,
        expect: Expect,
    ) {
        let chain = chain_of(target);
        let grants = grants(grant.0, grant.1);
        let facts = Facts {
            chain: &chain,
            grants: &grants,
            standing,
        };
        let decision = decide(&principal(who), id(target), access, &facts, now());
        let context = format!("{who:?} {access:?} on {target} with {grant:?}, {standing:?}");
        match (expect, &decision) {
            (Allowed, Decision::Allowed) => {}
            (Denied(text), Decision::Denied(reason)) => {
                assert!(
                    reason.contains(text),
                    "{context}: {reason:?} lacks {text:?}"
                );
            }
            _ => panic!("{context}: expected {expect:?}, got {decision:?}"),
        }
    }

    #[test]
    fn platform_principals_reach_everything_and_unattached_ones_nothing() {
        let none = (GrantState::None, C);
        for access in [Read, Write, ReportUsage] {
            for target in [D, P, C, C2, X, MISSING] {
                check(Who::Admin, target, access, none, None, Allowed);
                check(Who::Service, target, access, none, None, Allowed);
                check(
                    Who::Unattached,
                    target,
                    access,
                    none,
                    None,
                    Denied("acts for no organization"),
                );
            }
        }
    }

    #[test]
    fn organizations_reach_themselves_and_their_own_subtree() {
        let none = (GrantState::None, C);
        let active = Some(Standing::Active);
        let cases = [
            // Customers: themselves and the customers below, not above.
            (Who::Member(C, CustomerKind, OWNER), C, Write, None, Allowed),
            (
                Who::Member(C, CustomerKind, OWNER),
                C2,
                Write,
                None,
                Allowed,
            ),
            (
                Who::Member(C, CustomerKind, MEMBER),
                C2,
                Read,
                None,
                Allowed,
            ),
            (
                Who::Member(C, CustomerKind, MEMBER),
                C,
                Write,
                None,
                Denied(NEEDS_WRITER),
            ),
            (
                Who::Member(C2, CustomerKind, OWNER),
                C,
                Read,
                None,
                Denied(NO_ACCESS),
            ),
            (
                Who::Member(C, CustomerKind, OWNER),
                X,
                Read,
                None,
                Denied(NO_ACCESS),
            ),
            // Distributors and partners: the partners below them.
            (
                Who::Member(D, DistributorKind, OWNER),
                P,
                Write,
                None,
                Allowed,
            ),
            (
                Who::Member(D, DistributorKind, MEMBER),
                P2,
                Read,
                None,
                Allowed,
            ),
            (Who::Member(P, Partner, OWNER), P2, Write, active, Allowed),
            (
                Who::Member(P, Partner, OWNER),
                P,
                ReportUsage,
                active,
                Allowed,
            ),
            (
                Who::Member(P2, Partner, OWNER),
                P,
                Read,
                active,
                Denied(NO_ACCESS),
            ),
            (
                Who::Member(P, Partner, OWNER),
                D,
                Read,
                active,
                Denied(NO_ACCESS),
            ),
            (
                Who::Member(P, Partner, OWNER),
                Q,
                Read,
                active,
                Denied(NO_ACCESS),
            ),
            // A distributor reaches no customer without a grant.
            (
                Who::Member(D, DistributorKind, OWNER),
                C,
                Read,
                None,
                Denied(NO_ACCESS),
            ),
            // Nothing reaches what does not exist, and says only "no access".
            (
                Who::Member(C, CustomerKind, OWNER),
                MISSING,
                Read,
                None,
                Denied(NO_ACCESS),
            ),
            (
                Who::Member(P, Partner, OWNER),
                MISSING,
                Read,
                active,
                Denied(NO_ACCESS),
            ),
        ];
        for (who, target, access, standing, expect) in cases {
            check(who, target, access, none, standing, expect);
        }
    }

    #[test]
    fn partners_reach_customers_only_through_a_grant_in_effect() {
        let active = Some(Standing::Active);
        let managed = GrantState::Continuous { managed: true };
        let owned = GrantState::Continuous { managed: false };
        let cases = [
            // Every role that opens details, through a managed grant.
            (OWNER, C, Write, (managed, C), Allowed),
            (ADMIN, C, Write, (managed, C), Allowed),
            (AUTHORIZED, C, Write, (managed, C), Allowed),
            (AUTHORIZED, C, ReportUsage, (managed, C), Allowed),
            // A grant of a customer above reaches the tier below.
            (AUTHORIZED, C2, Read, (managed, C), Allowed),
            // A grant of a tier below does not reach up.
            (OWNER, C, Read, (managed, C2), Denied(NO_ACCESS)),
            // A grant of another customer reaches nothing here.
            (OWNER, C, Read, (managed, X), Denied(NO_ACCESS)),
            // Ordinary partner users see the overview only.
            (MEMBER, C, Read, (managed, C), Denied(DETAILS)),
            (MEMBER, C, Write, (managed, C), Denied(NEEDS_WRITER)),
            // A customer-owned relationship: view-only.
            (OWNER, C, Read, (owned, C), Allowed),
            (OWNER, C, Write, (owned, C), Denied(VIEW_ONLY)),
            (OWNER, C, ReportUsage, (owned, C), Denied(VIEW_ONLY)),
            // The grant's state, at the time of the call.
            (OWNER, C, Read, (GrantState::None, C), Denied(NO_ACCESS)),
            (
                OWNER,
                C,
                Read,
                (GrantState::Disabled, C),
                Denied(NOT_IN_EFFECT),
            ),
            (OWNER, C, Read, (GrantState::Current, C), Allowed),
            (
                OWNER,
                C,
                Read,
                (GrantState::Future, C),
                Denied(NOT_IN_EFFECT),
            ),
            (
                OWNER,
                C2,
                Read,
                (GrantState::Ended, C),
                Denied(NOT_IN_EFFECT),
            ),
        ];
        for (role, target, access, grant, expect) in cases {
            check(
                Who::Member(P, Partner, role),
                target,
                access,
                grant,
                active,
                expect,
            );
        }
    }

    #[test]
    fn a_partners_standing_bounds_it_everywhere() {
        let managed = (GrantState::Continuous { managed: true }, C);
        let owner = Who::Member(P, Partner, OWNER);
        let suspended = Some(Standing::Suspended);
        let canceled = Some(Standing::Canceled);
        let cases = [
            (C, Read, suspended, Allowed),
            (C, ReportUsage, suspended, Allowed),
            (C, Write, suspended, Denied(SUSPENDED)),
            (P, Write, suspended, Denied(SUSPENDED)),
            (P, Read, suspended, Allowed),
            (C, Read, canceled, Denied(CANCELED)),
            (P, Read, canceled, Denied(CANCELED)),
            (P2, ReportUsage, canceled, Denied(CANCELED)),
        ];
        for (target, access, standing, expect) in cases {
            check(owner, target, access, managed, standing, expect);
        }
        // Whose standing is looked at: partners' principals only.
        assert!(standing_applies(&principal(owner)));
        assert!(!standing_applies(&principal(Who::Member(
            D,
            DistributorKind,
            OWNER
        ))));
        assert!(!standing_applies(&principal(Who::Member(
            C,
            CustomerKind,
            OWNER
        ))));
    }

    #[test]
    fn overview_actions_need_reach_whatever_the_role() {
        let managed = [GrantFact {
            customer: id(C),
            mode: GrantMode::Continuous,
            managed: false,
        }];
        let chain = chain_of(C2);
        let decide_for = |role, grants: &[GrantFact], standing| {
            let facts = Facts {
                chain: &chain,
                grants,
                standing,
            };
            decide_overview_action(
                &principal(Who::Member(P, Partner, role)),
                id(C2),
                &facts,
                now(),
            )
        };
        let active = Some(Standing::Active);
        assert_eq!(decide_for(MEMBER, &managed, active), Decision::Allowed);
        assert_eq!(
            decide_for(MEMBER, &managed, Some(Standing::Suspended)),
            Decision::Allowed
        );
        assert!(matches!(
            decide_for(OWNER, &managed, Some(Standing::Canceled)),
            Decision::Denied(reason) if reason.contains(CANCELED)
        ));
        assert!(matches!(
            decide_for(OWNER, &[], active),
            Decision::Denied(reason) if reason.contains(NO_ACCESS)
        ));
    }

    /// The loader stops at the first step that decides; what it stops
    /// with is what the whole decision says.
    #[test]
    fn early_decisions_agree_with_the_whole_decision() {
        let whos = [
            Who::Admin,
            Who::Service,
            Who::Unattached,
            Who::Member(P, Partner, OWNER),
            Who::Member(P, Partner, MEMBER),
            Who::Member(C, CustomerKind, MEMBER),
            Who::Member(D, DistributorKind, OWNER),
        ];
        let standings = [
            None,
            Some(Standing::Active),
            Some(Standing::Suspended),
            Some(Standing::Canceled),
        ];
        let grants = grants(GrantState::Continuous { managed: true }, C);
        for who in whos {
            let principal = principal(who);
            for access in [Read, Write, ReportUsage] {
                for standing in standings {
                    for target in [P, C, C2, X, MISSING] {
                        let chain = chain_of(target);
                        let facts = Facts {
                            chain: &chain,
                            grants: &grants,
                            standing,
                        };
                        let whole = decide(&principal, id(target), access, &facts, now());
                        let early = decide_by_principal(&principal, access)
                            .or_else(|| denied_by_standing(&principal, standing, access));
                        if let Some(early) = early {
                            assert_eq!(early, whole, "{who:?} {access:?} {standing:?} {target}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn routes_name_the_customers_whose_grants_count() {
        assert_eq!(route(id(C), id(C2), &chain_of(C2)), Route::Direct);
        assert_eq!(
            route(id(P), id(C2), &chain_of(C2)),
            Route::ThroughGrant {
                customers: vec![id(C2), id(C)]
            }
        );
        assert!(matches!(route(id(P), id(MISSING), &[]), Route::Denied(_)));
    }
}
