//! What each license can cover: its status, its scope (which applications it
//! reaches) and its effective quantity once upgrades took their units.
//!
//! The scope of every license is a version prefix of one family: its own
//! application, plus earlier versions with downgrade, or the whole family.
//! Those sets nest, which is what lets the matching be greedy and maximal.

use crate::model::{Application, Estate, Metric, Quantity, Target, Validity};
use crate::outcome::{LicenseStatus, Transfer};

/// The catalog in family order, built once.
#[derive(Debug)]
pub(crate) struct Catalog {
    /// Position of each application in (family, version rank, index) order.
    pub app_order: Vec<u32>,
    /// Applications in that order, cut into families by `family_start`.
    pub family_members: Vec<u32>,
    /// `family_members[family_start[f]..family_start[f + 1]]` is family `f`.
    pub family_start: Vec<u32>,
}

impl Catalog {
    pub fn new(estate: &Estate) -> Catalog {
        let applications = &estate.applications;
        let mut family_members: Vec<u32> = (0..applications.len() as u32).collect();
        family_members.sort_unstable_by_key(|&index| {
            let application = &applications[index as usize];
            (application.family, application.version_rank, index)
        });
        let mut app_order = vec![0; applications.len()];
        for (position, &index) in family_members.iter().enumerate() {
            app_order[index as usize] = position as u32;
        }
        let family_count = estate.family_count as usize;
        let mut family_start = vec![0u32; family_count + 1];
        for application in applications {
            family_start[application.family as usize + 1] += 1;
        }
        for family in 0..family_count {
            family_start[family + 1] += family_start[family];
        }
        Catalog {
            app_order,
            family_members,
            family_start,
        }
    }

    /// The applications of a family, earliest version first.
    pub fn family(&self, family: u32) -> &[u32] {
        let start = self.family_start[family as usize] as usize;
        let end = self.family_start[family as usize + 1] as usize;
        &self.family_members[start..end]
    }
}

/// Which applications a license reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope {
    pub family: u32,
    /// The target application; `None` for a family license.
    pub own_application: Option<u32>,
    /// Where pooled surplus is shown: the own application, or the latest
    /// version of the family in the license's metric.
    pub surplus_application: Option<u32>,
    /// The target's version rank (0 for a family license).
    pub rank: u32,
    /// Downgrade needs both the license's rights and the application's consent.
    pub downgrade: bool,
    pub metric: Metric,
    /// A per-processor (per-core) license of an application counted per
    /// computer: it covers whole computers at their processor (core) count,
    /// in a pass of its own after the matching (see `crate::allocation`).
    pub converts: bool,
}

impl Scope {
    pub fn is_family(&self) -> bool {
        self.own_application.is_none()
    }

    /// Whether the license may cover this application one for one.
    pub fn covers(&self, index: u32, application: &Application) -> bool {
        self.metric.covers(application.metric) && self.reaches(index, application)
    }

    /// Whether a converting license may cover this application, one
    /// computer at its processor (core) count.
    pub fn converts_for(&self, index: u32, application: &Application) -> bool {
        self.converts
            && self.metric.converts(application.metric)
            && self.reaches(index, application)
    }

    /// Whether the application is in the license's version scope.
    fn reaches(&self, index: u32, application: &Application) -> bool {
        if application.family != self.family {
            return false;
        }
        match self.own_application {
            None => true,
            Some(own) => own == index || (self.downgrade && application.version_rank < self.rank),
        }
    }
}

/// A license after the first pass: status, scope and quantity.
#[derive(Debug, Clone)]
pub(crate) struct LicenseState {
    pub status: LicenseStatus,
    pub scope: Scope,
    pub effective: Quantity,
    pub taken_by_upgrades: u64,
}

impl LicenseState {
    pub fn is_valid(&self) -> bool {
        self.status == LicenseStatus::Valid
    }
}

/// Statuses, scopes, effective quantities, and the upgrade transfers.
pub(crate) fn analyze(
    estate: &Estate,
    catalog: &Catalog,
    key_order: &[u32],
) -> (Vec<LicenseState>, Vec<Transfer>) {
    let mut states: Vec<LicenseState> = estate
        .licenses
        .iter()
        .map(|license| {
            let scope = scope_of(estate, catalog, license.target, license.metric);
            let scope = Scope {
                downgrade: scope.downgrade && license.downgrade_rights,
                ..scope
            };
            // A site license covers every computer-counted requirement
            // at the nodes it reaches: its quantity counts sites, not units.
            let effective = match license.metric {
                Metric::Site => Quantity::Unlimited,
                _ => license.quantity,
            };
            LicenseState {
                status: status_of(license.validity, scope),
                scope,
                effective,
                taken_by_upgrades: 0,
            }
        })
        .collect();
    let transfers = apply_upgrades(estate, key_order, &mut states);
    (states, transfers)
}

fn scope_of(estate: &Estate, catalog: &Catalog, target: Target, metric: Metric) -> Scope {
    match target {
        Target::Application(index) => {
            let application = &estate.applications[index as usize];
            let matches = metric.covers(application.metric);
            Scope {
                family: application.family,
                own_application: Some(index),
                surplus_application: matches.then_some(index),
                rank: application.version_rank,
                downgrade: application.downgrade_allowed,
                metric,
                converts: !matches && metric.converts(application.metric),
            }
        }
        Target::Family(family) => {
            let latest = catalog
                .family(family)
                .iter()
                .rev()
                .copied()
                .find(|&index| metric.covers(estate.applications[index as usize].metric));
            Scope {
                family,
                own_application: None,
                surplus_application: latest,
                rank: 0,
                downgrade: false,
                metric,
                converts: false,
            }
        }
    }
}

fn status_of(validity: Validity, scope: Scope) -> LicenseStatus {
    match validity {
        Validity::Archived => LicenseStatus::Archived,
        Validity::Incomplete => LicenseStatus::Incomplete,
        Validity::ExpiredSubscription => LicenseStatus::ExpiredSubscription,
        Validity::Valid if scope.surplus_application.is_none() && !scope.converts => {
            LicenseStatus::MetricMismatch
        }
        Validity::Valid => LicenseStatus::Valid,
    }
}

/// Upgrades in key order take units from their bases; a base cannot go
/// below zero and an unlimited base is not reduced. Only valid upgrades
/// take anything: an upgrade that covers nothing must not cost its base.
fn apply_upgrades(
    estate: &Estate,
    key_order: &[u32],
    states: &mut [LicenseState],
) -> Vec<Transfer> {
    let mut transfers = Vec::new();
    for &upgrade in key_order {
        if !states[upgrade as usize].is_valid() {
            continue;
        }
        let mut bases = estate.licenses[upgrade as usize].upgrade_of.clone();
        bases.sort_by_key(|base| estate.licenses[base.base as usize].key);
        for base in bases {
            if base.base == upgrade || base.quantity == 0 {
                continue;
            }
            let state = &mut states[base.base as usize];
            let units = match state.effective {
                Quantity::Unlimited => base.quantity,
                Quantity::Count(left) => {
                    let units = base.quantity.min(left);
                    state.effective = Quantity::Count(left - units);
                    units
                }
            };
            state.taken_by_upgrades = state.taken_by_upgrades.saturating_add(units);
            transfers.push(Transfer::Upgrade {
                base: base.base,
                upgrade,
                units,
            });
        }
    }
    transfers
}

/// The largest minimum per computer among the valid licenses that can
/// cover each application (0 when none has one).
pub(crate) fn minimum_per_computer(
    estate: &Estate,
    catalog: &Catalog,
    states: &[LicenseState],
) -> Vec<u32> {
    let mut minimum = vec![0u32; estate.applications.len()];
    for (license, state) in estate.licenses.iter().zip(states) {
        if !state.is_valid() || license.minimum_per_computer == 0 {
            continue;
        }
        for &index in catalog.family(state.scope.family) {
            if state
                .scope
                .covers(index, &estate.applications[index as usize])
            {
                let slot = &mut minimum[index as usize];
                *slot = (*slot).max(license.minimum_per_computer);
            }
        }
    }
    minimum
}
