//! Rules 1 and 3: which licenses count, metric mismatches, upgrades,
//! unlimited licenses and surplus.

use estate_compliance::{
    AssignmentType, Consumer, LicenseStatus, Metric, Quantity, Target, Transfer, UpgradeOf,
    Validity,
};

use crate::builder::{EstateBuilder, assigned, organization};
use crate::{at, total};

#[test]
fn archived_incomplete_and_expired_licenses_cover_nothing() {
    let cases = [
        (Validity::Archived, LicenseStatus::Archived),
        (Validity::Incomplete, LicenseStatus::Incomplete),
        (
            Validity::ExpiredSubscription,
            LicenseStatus::ExpiredSubscription,
        ),
    ];
    for (validity, status) in cases {
        let mut estate = EstateBuilder::new();
        let family = estate.family();
        let application = estate.application(family, 1, Metric::Installations);
        let computers = estate.installed(0, application, 2);
        let mut license = organization(&estate, application, 5);
        license.validity = validity;
        let license = estate.license(license);
        let mut user_license = assigned(&estate, application, AssignmentType::Computer, 1);
        user_license.validity = validity;
        let user_license = estate.license(user_license);
        estate.assign(user_license, Consumer::Computer(computers[0]), 1);
        let outcome = estate.calculate();
        assert_eq!(total(&outcome, application).coverage, 0, "{validity:?}");
        assert_eq!(outcome.licenses[license as usize].status, status);
        assert_eq!(outcome.licenses[license as usize].used, 0);
        assert_eq!(outcome.licenses[user_license as usize].assigned, 1);
        assert!(outcome.invalid_assignments.is_empty());
    }
}

#[test]
fn a_license_in_a_metric_that_cannot_cover_its_application_covers_nothing() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 2);
    let mut license = organization(&estate, application, 5);
    license.metric = Metric::Users;
    let license = estate.license(license);
    let outcome = estate.calculate();
    assert_eq!(
        outcome.licenses[license as usize].status,
        LicenseStatus::MetricMismatch
    );
    assert_eq!(total(&outcome, application).coverage, 0);
}

#[test]
fn a_family_license_covers_only_the_versions_in_its_metric() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let old = estate.application(family, 1, Metric::Installations);
    let new = estate.application(family, 2, Metric::Processors);
    estate.installed(0, old, 1);
    estate.installed(0, new, 1);
    let mut license = organization(&estate, old, 10);
    license.target = Target::Family(family);
    let license = estate.license(license);
    let outcome = estate.calculate();
    assert_eq!(
        outcome.licenses[license as usize].status,
        LicenseStatus::Valid
    );
    assert_eq!(
        at(&outcome, 0, old).coverage,
        10,
        "covers 1, surplus 9 shown on its version"
    );
    assert_eq!(at(&outcome, 0, old).compliance, 9);
    assert_eq!(at(&outcome, 0, new).coverage, 0);
}

#[test]
fn an_upgrade_consumes_units_of_its_base() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let old = estate.application(family, 1, Metric::Installations);
    let new = estate.application(family, 2, Metric::Installations);
    estate.installed(0, old, 10);
    let base = estate.license(organization(&estate, old, 10));
    let mut upgrade = organization(&estate, new, 4);
    upgrade.upgrade_of = vec![UpgradeOf { base, quantity: 4 }];
    let upgrade = estate.license(upgrade);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, 0, old).coverage, 6);
    assert_eq!(
        outcome.licenses[base as usize].effective_quantity,
        Quantity::Count(6)
    );
    assert_eq!(outcome.licenses[base as usize].taken_by_upgrades, 4);
    assert!(outcome.transfers.contains(&Transfer::Upgrade {
        base,
        upgrade,
        units: 4
    }));
    assert_eq!(
        at(&outcome, 0, new).coverage,
        4,
        "the upgrade's own units are surplus"
    );
}

#[test]
fn an_upgrade_takes_at_most_what_the_base_has_and_nothing_from_unlimited() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let small = estate.license(organization(&estate, application, 3));
    let mut unlimited = organization(&estate, application, 0);
    unlimited.quantity = Quantity::Unlimited;
    let unlimited = estate.license(unlimited);
    let mut upgrade = organization(&estate, application, 1);
    upgrade.upgrade_of = vec![
        UpgradeOf {
            base: small,
            quantity: 5,
        },
        UpgradeOf {
            base: unlimited,
            quantity: 5,
        },
    ];
    estate.license(upgrade);
    let outcome = estate.calculate();
    assert_eq!(
        outcome.licenses[small as usize].effective_quantity,
        Quantity::Count(0)
    );
    assert_eq!(outcome.licenses[small as usize].taken_by_upgrades, 3);
    assert_eq!(
        outcome.licenses[unlimited as usize].effective_quantity,
        Quantity::Unlimited
    );
}

#[test]
fn an_invalid_upgrade_takes_nothing() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let base = estate.license(organization(&estate, application, 10));
    let mut upgrade = organization(&estate, application, 4);
    upgrade.upgrade_of = vec![UpgradeOf { base, quantity: 4 }];
    upgrade.validity = Validity::Incomplete;
    estate.license(upgrade);
    let outcome = estate.calculate();
    assert_eq!(
        outcome.licenses[base as usize].effective_quantity,
        Quantity::Count(10)
    );
    assert!(outcome.transfers.is_empty());
}

#[test]
fn an_unlimited_license_covers_everything_it_reaches_and_says_so() {
    let mut estate = EstateBuilder::new();
    let child = estate.node(0);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 7);
    estate.installed(child, application, 5);
    let mut license = organization(&estate, application, 0);
    license.quantity = Quantity::Unlimited;
    license.automatic_allocation = true;
    let license = estate.license(license);
    let outcome = estate.calculate();
    for node in [0, child] {
        let figures = at(&outcome, node, application);
        assert!(figures.unlimited);
        assert_eq!(figures.coverage, figures.requirement);
        assert_eq!(figures.compliance, 0);
    }
    assert_eq!(outcome.licenses[license as usize].used, 12);
}

#[test]
fn surplus_shows_as_positive_compliance_at_the_owner() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 3);
    let license = estate.license(organization(&estate, application, 5));
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, 0, application).coverage, 5);
    assert_eq!(at(&outcome, 0, application).compliance, 2);
    assert_eq!(outcome.licenses[license as usize].used, 3);
    assert_eq!(outcome.licenses[license as usize].surplus, 2);
}

#[test]
fn a_license_covers_requirement_counted_the_same_way_and_a_site_license_every_computer() {
    use estate_compliance::Metric::*;
    // (license metric, application metric, covered of 2 computers with 4
    // cores each (processors 1), with a license of 1).
    let table = [
        (Installations, Installations, Some(1)),
        (Devices, Installations, Some(1)),
        (Installations, Devices, Some(1)),
        (Installations, Site, Some(1)),
        (Site, Installations, Some(2)),
        (Site, Processors, Some(2)),
        (Site, Cores, Some(8)),
        // Per processor: 1 unit per 1-processor computer.
        (Processors, Installations, Some(1)),
        // Per core: 4 units per 4-core computer; 1 unit covers none.
        (Cores, Installations, Some(0)),
        (Installations, Processors, None),
        (Users, Installations, None),
        (Site, Users, None),
    ];
    for (license_metric, application_metric, covered) in table {
        let mut estate = EstateBuilder::new();
        let family = estate.family();
        let application = estate.application(family, 1, application_metric);
        if application_metric.consumer_kind() == estate_compliance::ConsumerKind::User {
            for _ in 0..2 {
                let user = estate.user(0);
                estate.used(user, application, 0);
            }
        } else {
            for _ in 0..2 {
                let computer = estate.computer_with(estate_compliance::Computer {
                    node: 0,
                    processors: 1,
                    cores: 4,
                    counted: true,
                });
                estate.install(computer, application);
            }
        }
        let mut license = organization(&estate, application, 1);
        license.metric = license_metric;
        let license = estate.license(license);
        let outcome = estate.calculate();
        let status = outcome.licenses[license as usize].status;
        match covered {
            Some(units) => {
                assert_eq!(
                    status,
                    LicenseStatus::Valid,
                    "{license_metric:?} for {application_metric:?}"
                );
                let figures = total(&outcome, application);
                assert_eq!(
                    figures.coverage.min(figures.requirement),
                    units,
                    "{license_metric:?} for {application_metric:?}"
                );
            }
            None => assert_eq!(
                status,
                LicenseStatus::MetricMismatch,
                "{license_metric:?} for {application_metric:?}"
            ),
        }
    }
}

#[test]
fn per_processor_and_per_core_licenses_cover_computers_at_their_count_and_minimum() {
    use estate_compliance::Computer;
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    // Computers of 2, 4 and 1 processors (cores 4 each).
    let computers: Vec<u32> = [2, 4, 1]
        .iter()
        .map(|&processors| {
            let computer = estate.computer_with(Computer {
                node: 0,
                processors,
                cores: 4,
                counted: true,
            });
            estate.install(computer, application);
            computer
        })
        .collect();
    // 7 processor units, minimum 2: costs 2, 4, 2 in consumer order.
    let mut pooled = organization(&estate, application, 7);
    pooled.metric = Metric::Processors;
    pooled.minimum_per_computer = 2;
    let pooled = estate.license(pooled);
    let outcome = estate.calculate();
    let result = &outcome.licenses[pooled as usize];
    assert_eq!(result.status, LicenseStatus::Valid);
    assert_eq!(
        result.used, 6,
        "2 + 4; the third computer needs 2 of the 1 left"
    );
    assert_eq!(total(&outcome, application).coverage, 2);
    let covered: Vec<bool> = computers
        .iter()
        .map(|&computer| {
            outcome
                .consumers
                .find(Consumer::Computer(computer), application)
                .unwrap()
                .covered
                > 0
        })
        .collect();
    assert_eq!(covered, [true, true, false]);

    // Assigned: an assignment covers its computer when it has the
    // computer's count, else it is too small.
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let big = estate.computer_with(Computer {
        node: 0,
        processors: 4,
        cores: 8,
        counted: true,
    });
    estate.install(big, application);
    let mut per_core = assigned(&estate, application, AssignmentType::Computer, 10);
    per_core.metric = Metric::Cores;
    let per_core = estate.license(per_core);
    let short = estate.assign(per_core, Consumer::Computer(big), 4);
    let outcome = estate.calculate();
    assert_eq!(
        outcome
            .invalid_assignments
            .iter()
            .map(|invalid| (invalid.assignment, invalid.reason))
            .collect::<Vec<_>>(),
        [(short, estate_compliance::InvalidReason::TooManyProcessors)]
    );
    let mut estate_ok = estate.clone();
    estate_ok.set_assignment_quantity(short, 8);
    let outcome = estate_ok.calculate();
    assert!(
        outcome.invalid_assignments.is_empty(),
        "{:?}",
        outcome.invalid_assignments
    );
    assert_eq!(total(&outcome, application).coverage, 1);
    assert_eq!(outcome.licenses[per_core as usize].used, 8);
}
