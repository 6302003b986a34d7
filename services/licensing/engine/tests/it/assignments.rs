//! Rule 4: computer and user licenses cover only through valid assignments.

use estate_compliance::{
    AssignmentType, Computer, Consumer, ConsumerStatus, InvalidAssignment, InvalidReason, Metric,
    Outcome, Quantity, UpgradeOf,
};

use crate::builder::{EstateBuilder, assigned, organization};
use crate::{at, total};

fn reasons(outcome: &Outcome) -> Vec<(u32, InvalidReason, u64)> {
    let invalid = outcome.invalid_assignments.iter();
    invalid
        .map(|invalid| (invalid.assignment, invalid.reason, invalid.units))
        .collect()
}

#[test]
fn ten_user_licenses_with_five_assigned_cover_five_users() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Users);
    let users: Vec<u32> = (0..8).map(|_| estate.user(0)).collect();
    for &user in &users {
        estate.used(user, application, 0);
    }
    let license = estate.license(assigned(&estate, application, AssignmentType::User, 10));
    for &user in &users[..5] {
        estate.assign(license, Consumer::User(user), 1);
    }
    let outcome = estate.calculate();
    assert_eq!(total(&outcome, application).coverage, 5);
    assert_eq!(total(&outcome, application).compliance, -3);
    let result = &outcome.licenses[license as usize];
    assert_eq!(
        (result.assigned, result.unassigned, result.used),
        (5, Some(5), 5)
    );
    let unassigned_user = outcome
        .consumers
        .find(Consumer::User(users[6]), application)
        .unwrap();
    assert_eq!(unassigned_user.status, ConsumerStatus::NotCovered);
    assert!(outcome.invalid_assignments.is_empty());
}

#[test]
fn an_assignment_to_an_inactive_computer_is_invalid() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let computer = estate.computer_with(Computer {
        node: 0,
        processors: 1,
        cores: 1,
        counted: false,
    });
    estate.install(computer, application);
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 1));
    let assignment = estate.assign(license, Consumer::Computer(computer), 1);
    let outcome = estate.calculate();
    assert_eq!(
        reasons(&outcome),
        vec![(assignment, InvalidReason::InactiveComputer, 1)]
    );
    let result = &outcome.licenses[license as usize];
    assert_eq!(
        (
            result.assigned,
            result.invalid_assignments,
            result.invalid_units
        ),
        (1, 1, 1)
    );
}

#[test]
fn an_assignment_to_a_computer_without_the_application_is_invalid() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let other = estate.application(family, 2, Metric::Installations);
    let computer = estate.installed(0, other, 1)[0];
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 1));
    let assignment = estate.assign(license, Consumer::Computer(computer), 1);
    let outcome = estate.calculate();
    assert_eq!(
        reasons(&outcome),
        vec![(assignment, InvalidReason::NotInstalled, 1)]
    );
    assert_eq!(at(&outcome, 0, other).coverage, 0);
}

#[test]
fn an_assignment_to_a_user_who_did_not_use_the_application_is_invalid() {
    let mut estate = EstateBuilder::new();
    estate.estate.metering_start = 100;
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Users);
    let stale = estate.user(0);
    let never = estate.user(0);
    estate.used(stale, application, 99);
    let license = estate.license(assigned(&estate, application, AssignmentType::User, 2));
    let first = estate.assign(license, Consumer::User(stale), 1);
    let second = estate.assign(license, Consumer::User(never), 1);
    let outcome = estate.calculate();
    let expected = vec![
        (first, InvalidReason::NotUsed, 1),
        (second, InvalidReason::NotUsed, 1),
    ];
    assert_eq!(reasons(&outcome), expected);
}

#[test]
fn an_assignment_with_fewer_units_than_the_computers_processors_is_invalid() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Processors);
    let computer = estate.computer_with(Computer {
        node: 0,
        processors: 4,
        cores: 4,
        counted: true,
    });
    estate.install(computer, application);
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 10));
    let short = estate.assign(license, Consumer::Computer(computer), 2);
    let outcome = estate.calculate();
    assert_eq!(
        reasons(&outcome),
        vec![(short, InvalidReason::TooManyProcessors, 2)]
    );
    assert_eq!(total(&outcome, application).coverage, 0);
}

#[test]
fn an_assignment_covering_all_processors_covers_the_computer() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Processors);
    let computer = estate.computer_with(Computer {
        node: 0,
        processors: 4,
        cores: 4,
        counted: true,
    });
    estate.install(computer, application);
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 10));
    estate.assign(license, Consumer::Computer(computer), 4);
    let outcome = estate.calculate();
    assert!(outcome.invalid_assignments.is_empty());
    let row = outcome
        .consumers
        .find(Consumer::Computer(computer), application)
        .unwrap();
    assert_eq!((row.covered, row.status), (4, ConsumerStatus::Covered));
}

#[test]
fn more_assigned_than_required_is_excess_on_the_later_assignment() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let computer = estate.installed(0, application, 1)[0];
    let first_license = estate.license(assigned(&estate, application, AssignmentType::Computer, 5));
    let second_license =
        estate.license(assigned(&estate, application, AssignmentType::Computer, 5));
    let first = estate.assign(second_license, Consumer::Computer(computer), 1);
    let second = estate.assign(first_license, Consumer::Computer(computer), 2);
    let outcome = estate.calculate();
    assert_eq!(reasons(&outcome), vec![(second, InvalidReason::Excess, 2)]);
    assert_eq!(outcome.licenses[second_license as usize].used, 1);
    assert_eq!(outcome.licenses[first_license as usize].used, 0);
    assert_eq!(at(&outcome, 0, application).coverage, 1);
    assert!(
        !reasons(&outcome)
            .iter()
            .any(|(assignment, ..)| *assignment == first)
    );
}

#[test]
fn units_assigned_beyond_the_effective_quantity_cover_nothing() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let computers = estate.installed(0, application, 3);
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 3));
    let mut upgrade = organization(&estate, application, 1);
    upgrade.upgrade_of = vec![UpgradeOf {
        base: license,
        quantity: 1,
    }];
    estate.license(upgrade);
    let assignments: Vec<u32> = computers
        .iter()
        .map(|&computer| estate.assign(license, Consumer::Computer(computer), 1))
        .collect();
    let outcome = estate.calculate();
    let expected = vec![(assignments[2], InvalidReason::ExceedsLicenseQuantity, 1)];
    assert_eq!(reasons(&outcome), expected);
    let result = &outcome.licenses[license as usize];
    assert_eq!(result.effective_quantity, Quantity::Count(2));
    assert_eq!((result.assigned, result.unassigned), (3, Some(0)));
}

#[test]
fn when_an_upgrade_shrinks_a_license_valid_assignments_keep_the_units_left() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let computers = estate.installed(0, application, 2);
    let idle = estate.computer(0);
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 3));
    let mut upgrade = organization(&estate, application, 1);
    upgrade.upgrade_of = vec![UpgradeOf {
        base: license,
        quantity: 1,
    }];
    estate.license(upgrade);
    // The assignment to a computer without the application comes first in
    // key order; it must not take one of the two units left.
    let nothing_installed = estate.assign(license, Consumer::Computer(idle), 1);
    for &computer in &computers {
        estate.assign(license, Consumer::Computer(computer), 1);
    }
    let outcome = estate.calculate();
    let expected = vec![(nothing_installed, InvalidReason::NotInstalled, 1)];
    assert_eq!(reasons(&outcome), expected);
    // Both installations covered by their assignments; the upgrade's own
    // unit is surplus.
    assert_eq!(outcome.licenses[license as usize].used, 2);
    assert_eq!(total(&outcome, application).compliance, 1);
}

#[test]
fn a_computer_license_assigned_to_a_user_is_invalid() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let user = estate.user(0);
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 1));
    let assignment = estate.assign(license, Consumer::User(user), 1);
    let expected = vec![InvalidAssignment {
        assignment,
        reason: InvalidReason::WrongConsumerKind,
        units: 1,
    }];
    assert_eq!(estate.calculate().invalid_assignments, expected);
}

#[test]
fn an_assigned_license_covers_earlier_versions_with_downgrade() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let old = estate.application(family, 1, Metric::Installations);
    let new = estate.application(family, 2, Metric::Installations);
    let computer = estate.installed(0, old, 1)[0];
    let mut license = assigned(&estate, new, AssignmentType::Computer, 1);
    license.downgrade_rights = true;
    let license = estate.license(license);
    estate.assign(license, Consumer::Computer(computer), 1);
    let outcome = estate.calculate();
    assert!(outcome.invalid_assignments.is_empty());
    assert_eq!(at(&outcome, 0, old).compliance, 0);
}

#[test]
fn organization_licenses_ignore_assignments_and_are_never_invalid() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let computer = estate.computer_with(Computer {
        node: 0,
        processors: 1,
        cores: 1,
        counted: false,
    });
    let license = estate.license(organization(&estate, application, 1));
    estate.assign(license, Consumer::Computer(computer), 1);
    let outcome = estate.calculate();
    assert!(outcome.invalid_assignments.is_empty());
    assert_eq!(outcome.licenses[license as usize].unassigned, None);
}

#[test]
fn assignments_cover_first_and_pooled_licenses_cover_the_rest() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let computers = estate.installed(0, application, 2);
    // The pooled license has the smaller key, yet the assignment phase runs first.
    let pooled = estate.license(organization(&estate, application, 1));
    let license = estate.license(assigned(&estate, application, AssignmentType::Computer, 1));
    estate.assign(license, Consumer::Computer(computers[1]), 1);
    let outcome = estate.calculate();
    let first = outcome
        .consumers
        .find(Consumer::Computer(computers[0]), application)
        .unwrap();
    let second = outcome
        .consumers
        .find(Consumer::Computer(computers[1]), application)
        .unwrap();
    assert_eq!(outcome.consumers.coverings_of(first)[0].license, pooled);
    assert_eq!(outcome.consumers.coverings_of(second)[0].license, license);
    assert_eq!(at(&outcome, 0, application).compliance, 0);
}
