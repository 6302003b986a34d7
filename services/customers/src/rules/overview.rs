//! One row of the partner overview, derived from stored facts: which
//! metric groups the partner may see (status Synced or Warning, and the
//! customer entitled to the product behind the group) and when the row
//! next changes by the passage of time alone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::beacons::{self, BeaconFacts};
use super::expirations::{self, Capability, ExpirationStatus, Held, UpcomingExpiration};
use super::status::{self, CustomerStatus, GrantMode, SyncFacts};

/// Computer figures of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputerFigures {
    pub total: i64,
    pub inventoried_within_7_days: i64,
    pub not_inventoried_for_over_7_days: i64,
    pub quarantined: i64,
    pub inactive: i64,
}

/// Application figures of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationFigures {
    pub total: i64,
    pub licensable: i64,
    pub denied_installed: i64,
}

/// SaaS figures of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaasFigures {
    pub applications: i64,
    pub active_users_30_days: i64,
}

/// Licenses and usage of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFigures {
    pub product: String,
    pub quantity_purchased: i64,
    pub highest_usage_30_days: i64,
}

/// The latest compliance calculation's totals, from the licensing service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceFigures {
    pub calculated_time: DateTime<Utc>,
    pub requirement: i64,
    pub coverage: i64,
    pub compliance: i64,
    pub applications_short: i64,
}

/// What a successful sync gathered; `None` groups were unavailable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub computers: Option<ComputerFigures>,
    pub applications: Option<ApplicationFigures>,
    pub saas: Option<SaasFigures>,
    pub license_usage: Option<Vec<ProductFigures>>,
    /// `None` also while the customer was never calculated.
    pub compliance: Option<ComplianceFigures>,
}

/// The metric groups a partner may see, stored with the row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisibleMetrics {
    pub computers: Option<ComputerFigures>,
    /// Computers now minus computers in the last snapshot at least 30 days
    /// older.
    pub computers_change_30_days: Option<i64>,
    pub applications: Option<ApplicationFigures>,
    pub saas: Option<SaasFigures>,
    pub license_usage: Option<Vec<ProductFigures>>,
    /// Rows stored before compliance figures existed have none.
    #[serde(default)]
    pub compliance: Option<ComplianceFigures>,
}

/// Everything a row is derived from.
#[derive(Debug, Clone)]
pub struct RowFacts<'a> {
    pub grant: GrantMode,
    pub grant_changed: DateTime<Utc>,
    pub sync: SyncFacts,
    pub snapshot: Option<&'a Snapshot>,
    pub computers_30_days_earlier: Option<i64>,
    pub held: &'a [Held],
    /// The customer's beacons.
    pub beacons: &'a [BeaconFacts],
}

/// A derived row. While access is disabled no data of the customer is
/// shown (SPEC section 1): the row keeps its name, ids and status, and
/// everything else is withheld, so nothing about the customer changes in
/// it (or in the order it sorts in) until access is granted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedRow {
    pub status: CustomerStatus,
    pub sync_pending_overdue: bool,
    /// `None` while withheld.
    pub upcoming_expiration: Option<UpcomingExpiration>,
    /// `None` while withheld.
    pub expiration_status: Option<ExpirationStatus>,
    pub metrics: VisibleMetrics,
    /// Whether the customer's activity (beacons, syncs) may be shown.
    pub shows_activity: bool,
    /// Beacons silent or reporting a problem; 0 while withheld.
    pub beacon_problems: i64,
    pub next_change: Option<DateTime<Utc>>,
}

pub fn derive(facts: &RowFacts<'_>, now: DateTime<Utc>) -> DerivedRow {
    let derived = status::customer_status(facts.grant, facts.grant_changed, &facts.sync, now);
    let entitled = |capability: Capability| {
        facts
            .held
            .iter()
            .any(|held| held.capability == capability && held.active_at(now))
    };
    let mut metrics = VisibleMetrics::default();
    if derived.status.shows_data()
        && let Some(snapshot) = facts.snapshot
    {
        if entitled(Capability::SamCore) {
            metrics.computers = snapshot.computers;
            metrics.computers_change_30_days = snapshot
                .computers
                .zip(facts.computers_30_days_earlier)
                .map(|(now, earlier)| now.total - earlier);
            metrics.applications = snapshot.applications;
            metrics.compliance = snapshot.compliance;
        }
        if entitled(Capability::SaasManagement) {
            metrics.saas = snapshot.saas;
        }
        metrics.license_usage = snapshot.license_usage.as_ref().map(|products| {
            products
                .iter()
                // A product that is a capability shows while the customer
                // holds it; any other product shows as sold.
                .filter(|product| Capability::parse(&product.product).is_none_or(entitled))
                .cloned()
                .collect()
        });
    }
    let shows_activity = derived.status != CustomerStatus::AccessDisabled;
    // A beacon silent or reporting a problem is a warning too (beside the
    // SPEC's silent computers and denied applications), once synced.
    let (beacon_problems, beacon_change) = beacons::problems(facts.beacons, now);
    let status = match derived.status {
        CustomerStatus::Synced if beacon_problems > 0 => CustomerStatus::Warning,
        status => status,
    };
    DerivedRow {
        status,
        sync_pending_overdue: derived.pending_overdue,
        upcoming_expiration: shows_activity
            .then(|| expirations::upcoming_expiration(facts.held, now)),
        expiration_status: shows_activity.then(|| expirations::expiration_status(facts.held, now)),
        metrics,
        shows_activity,
        beacon_problems: if shows_activity { beacon_problems } else { 0 },
        next_change: status::earliest(
            status::earliest(
                derived.next_change,
                shows_activity
                    .then(|| expirations::next_change(facts.held, now))
                    .flatten(),
            ),
            shows_activity.then_some(beacon_change).flatten(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::status::RunState;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            computers: Some(ComputerFigures {
                total: 120,
                inventoried_within_7_days: 118,
                not_inventoried_for_over_7_days: 0,
                quarantined: 2,
                inactive: 0,
            }),
            applications: Some(ApplicationFigures {
                total: 40,
                licensable: 30,
                denied_installed: 0,
            }),
            saas: Some(SaasFigures {
                applications: 12,
                active_users_30_days: 80,
            }),
            license_usage: Some(vec![
                ProductFigures {
                    product: "sam-core".into(),
                    quantity_purchased: 100,
                    highest_usage_30_days: 90,
                },
                ProductFigures {
                    product: "saas-management".into(),
                    quantity_purchased: 50,
                    highest_usage_30_days: 10,
                },
                ProductFigures {
                    product: "cloud-backup".into(),
                    quantity_purchased: 20,
                    highest_usage_30_days: 12,
                },
            ]),
            compliance: Some(ComplianceFigures {
                calculated_time: now() - Duration::hours(3),
                requirement: 500,
                coverage: 480,
                compliance: -20,
                applications_short: 2,
            }),
        }
    }

    fn synced() -> SyncFacts {
        SyncFacts {
            latest_run: Some(RunState::Succeeded),
            last_success_time: Some(now() - Duration::hours(1)),
            first_run_after_success: None,
            silent_computers: Some(0),
            denied_installed: Some(0),
        }
    }

    fn held(capability: Capability, expire_in_days: Option<i64>) -> Held {
        Held {
            capability,
            expire_time: expire_in_days.map(|days| now() + Duration::days(days)),
        }
    }

    fn row(grant: GrantMode, sync: SyncFacts, held: &[Held]) -> DerivedRow {
        row_with_beacons(grant, sync, held, &[])
    }

    fn row_with_beacons(
        grant: GrantMode,
        sync: SyncFacts,
        held: &[Held],
        beacons: &[BeaconFacts],
    ) -> DerivedRow {
        let snapshot = snapshot();
        derive(
            &RowFacts {
                grant,
                grant_changed: now() - Duration::days(2),
                sync,
                snapshot: Some(&snapshot),
                computers_30_days_earlier: Some(100),
                held,
                beacons,
            },
            now(),
        )
    }

    #[test]
    fn a_beacon_problem_is_a_warning_and_its_silence_a_coming_change() {
        use crate::rules::beacons::{DEFAULT_SILENT_AFTER, Reported};
        let beacon = |reported, hours_ago| BeaconFacts {
            reported,
            last_contact: now() - Duration::hours(hours_ago),
            silent_after: DEFAULT_SILENT_AFTER,
        };
        let fine = [beacon(Reported::Ok, 4)];
        let derived = row_with_beacons(GrantMode::Continuous, synced(), &[], &fine);
        assert_eq!(derived.status, CustomerStatus::Synced);
        assert_eq!(derived.beacon_problems, 0);
        assert_eq!(derived.next_change, Some(now() + Duration::hours(20)));
        let silent = [beacon(Reported::Ok, 25), beacon(Reported::Error, 1)];
        let derived = row_with_beacons(GrantMode::Continuous, synced(), &[], &silent);
        assert_eq!(derived.status, CustomerStatus::Warning);
        assert_eq!(derived.beacon_problems, 2);
        // Withheld without access.
        let derived = row_with_beacons(GrantMode::Disabled, synced(), &[], &silent);
        assert_eq!(derived.status, CustomerStatus::AccessDisabled);
        assert_eq!(derived.beacon_problems, 0);
    }

    #[test]
    fn computers_applications_and_compliance_need_sam_core() {
        let with = row(
            GrantMode::Continuous,
            synced(),
            &[held(Capability::SamCore, None)],
        );
        assert_eq!(with.metrics.computers.unwrap().total, 120);
        assert_eq!(with.metrics.computers_change_30_days, Some(20));
        assert!(with.metrics.applications.is_some());
        assert_eq!(with.metrics.compliance.unwrap().compliance, -20);
        assert!(with.metrics.saas.is_none());

        let without = row(
            GrantMode::Continuous,
            synced(),
            &[held(Capability::SaasManagement, None)],
        );
        assert!(without.metrics.computers.is_none());
        assert!(without.metrics.applications.is_none());
        assert!(without.metrics.compliance.is_none());
        assert_eq!(without.metrics.saas.unwrap().applications, 12);
    }

    #[test]
    fn an_expired_capability_hides_its_group() {
        let derived = row(
            GrantMode::Continuous,
            synced(),
            &[held(Capability::SamCore, Some(-1))],
        );
        assert!(derived.metrics.computers.is_none());
        assert_eq!(derived.expiration_status, Some(ExpirationStatus::Expired));
    }

    #[test]
    fn licenses_and_usage_list_entitled_capabilities_and_every_other_product() {
        let derived = row(
            GrantMode::Continuous,
            synced(),
            &[held(Capability::SamCore, None)],
        );
        let products: Vec<String> = derived
            .metrics
            .license_usage
            .unwrap()
            .into_iter()
            .map(|product| product.product)
            .collect();
        assert_eq!(products, ["sam-core", "cloud-backup"]);
    }

    #[test]
    fn no_metric_groups_unless_synced_or_warning() {
        let everything = [
            held(Capability::SamCore, None),
            held(Capability::SaasManagement, None),
        ];
        let disabled = row(GrantMode::Disabled, synced(), &everything);
        assert_eq!(disabled.metrics, VisibleMetrics::default());
        let pending = row(
            GrantMode::Continuous,
            SyncFacts {
                latest_run: Some(RunState::Running),
                first_run_after_success: Some(now()),
                ..synced()
            },
            &everything,
        );
        assert_eq!(pending.status, CustomerStatus::SyncPending);
        assert_eq!(pending.metrics, VisibleMetrics::default());
        let warning = row(
            GrantMode::Continuous,
            SyncFacts {
                denied_installed: Some(1),
                ..synced()
            },
            &everything,
        );
        assert_eq!(warning.status, CustomerStatus::Warning);
        assert!(warning.metrics.computers.is_some());
    }

    #[test]
    fn while_access_is_disabled_nothing_but_the_status_is_shown() {
        let everything = [
            held(Capability::SamCore, Some(10)),
            held(Capability::SaasManagement, None),
        ];
        let disabled = row(GrantMode::Disabled, synced(), &everything);
        assert_eq!(disabled.status, CustomerStatus::AccessDisabled);
        assert!(!disabled.shows_activity);
        assert_eq!(disabled.upcoming_expiration, None);
        assert_eq!(disabled.expiration_status, None);
        assert_eq!(disabled.metrics, VisibleMetrics::default());
        // An expiry coming closer is no change of a withheld row.
        assert_eq!(disabled.next_change, None);
        let ended = row(
            GrantMode::Period {
                start: now() - Duration::days(30),
                end: now() - Duration::days(1),
            },
            synced(),
            &everything,
        );
        assert!(!ended.shows_activity);
        let granted = row(GrantMode::Continuous, synced(), &everything);
        assert!(granted.shows_activity);
        assert!(granted.upcoming_expiration.is_some());
        assert_eq!(
            granted.expiration_status,
            Some(ExpirationStatus::ExpiresIn30Days)
        );
    }

    #[test]
    fn the_row_changes_next_at_the_earliest_time_dependent_event() {
        let period = GrantMode::Period {
            start: now() - Duration::days(1),
            end: now() + Duration::days(90),
        };
        let derived = row(period, synced(), &[held(Capability::SamCore, Some(70))]);
        // Entering the 60-day window comes before the period's end.
        assert_eq!(derived.next_change, Some(now() + Duration::days(10)));
    }
}
