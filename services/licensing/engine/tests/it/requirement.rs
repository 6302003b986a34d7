//! Rule 2: what each consumer requires, and rule 8: consumer rows.

use estate_compliance::{
    Application, Computer, Consumer, ConsumerStatus, Metric, NoRequirementReason, calculate,
};

use crate::builder::{EstateBuilder, organization};
use crate::{at, total};

#[test]
fn installations_count_one_per_counted_computer_at_its_own_node() {
    let mut estate = EstateBuilder::new();
    let child = estate.node(0);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 2);
    estate.installed(child, application, 3);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, 0, application).requirement, 2);
    assert_eq!(at(&outcome, child, application).requirement, 3);
    assert_eq!(total(&outcome, application).requirement, 5);
    assert_eq!(outcome.families[0].compliance.requirement, 5);
    assert_eq!(total(&outcome, application).compliance, -5);
}

#[test]
fn an_installation_listed_twice_counts_once() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Devices);
    let computer = estate.computer(0);
    estate.install(computer, application);
    estate.install(computer, application);
    assert_eq!(total(&estate.calculate(), application).requirement, 1);
}

#[test]
fn inactive_computers_require_nothing() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let inactive = estate.computer_with(Computer {
        node: 0,
        processors: 1,
        cores: 1,
        counted: false,
    });
    estate.install(inactive, application);
    estate.installed(0, application, 1);
    let outcome = estate.calculate();
    assert_eq!(total(&outcome, application).initial_requirement, 1);
    let row = outcome
        .consumers
        .find(Consumer::Computer(inactive), application)
        .unwrap();
    assert_eq!(
        row.status,
        ConsumerStatus::NoRequirement(NoRequirementReason::Inactive)
    );
    assert_eq!(row.requirement, 0);
}

#[test]
fn applications_that_need_no_license_require_nothing() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let free = estate.application_with(Application {
        family,
        version_rank: 1,
        metric: Metric::Installations,
        downgrade_allowed: false,
        no_license_required: true,
    });
    let computers = estate.installed(0, free, 2);
    let outcome = estate.calculate();
    assert_eq!(total(&outcome, free).requirement, 0);
    let row = outcome
        .consumers
        .find(Consumer::Computer(computers[0]), free)
        .unwrap();
    let reason = NoRequirementReason::NoLicenseRequired;
    assert_eq!(row.status, ConsumerStatus::NoRequirement(reason));
}

#[test]
fn exclusions_show_as_negative_adjustments() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let other = estate.application(family, 2, Metric::Installations);
    let computers = estate.installed(0, application, 4);
    estate.install(computers[0], other);
    estate.install(computers[1], other);
    estate.exclude(Consumer::Computer(computers[0]), Some(application));
    estate.exclude(Consumer::Computer(computers[1]), None);
    let outcome = estate.calculate();
    let figures = at(&outcome, 0, application);
    assert_eq!(figures.initial_requirement, 4);
    assert_eq!(figures.adjustments, -2);
    assert_eq!(figures.requirement, 2);
    let other_figures = at(&outcome, 0, other);
    assert_eq!(
        (other_figures.initial_requirement, other_figures.requirement),
        (2, 1)
    );
    let row = outcome
        .consumers
        .find(Consumer::Computer(computers[0]), application)
        .unwrap();
    assert_eq!(
        row.status,
        ConsumerStatus::NoRequirement(NoRequirementReason::Excluded)
    );
    let row = outcome
        .consumers
        .find(Consumer::Computer(computers[0]), other)
        .unwrap();
    assert_eq!(row.status, ConsumerStatus::NotCovered);
}

#[test]
fn excluded_consumers_are_not_covered_and_take_no_units() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let computers = estate.installed(0, application, 2);
    estate.exclude(Consumer::Computer(computers[0]), None);
    estate.license(organization(&estate, application, 1));
    let outcome = estate.calculate();
    let second = outcome
        .consumers
        .find(Consumer::Computer(computers[1]), application)
        .unwrap();
    assert_eq!(second.status, ConsumerStatus::Covered);
    assert_eq!(at(&outcome, 0, application).compliance, 0);
}

#[test]
fn processors_count_at_least_the_largest_minimum_per_computer() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Processors);
    let small = estate.computer_with(Computer {
        node: 0,
        processors: 2,
        cores: 8,
        counted: true,
    });
    let big = estate.computer_with(Computer {
        node: 0,
        processors: 8,
        cores: 8,
        counted: true,
    });
    estate.install(small, application);
    estate.install(big, application);
    let mut license = organization(&estate, application, 12);
    license.minimum_per_computer = 4;
    estate.license(license);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, 0, application).requirement, 12);
    assert_eq!(at(&outcome, 0, application).compliance, 0);
    let row = outcome
        .consumers
        .find(Consumer::Computer(small), application)
        .unwrap();
    assert_eq!((row.requirement, row.status), (4, ConsumerStatus::Covered));
}

#[test]
fn cores_count_the_computers_cores() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Cores);
    let computer = estate.computer_with(Computer {
        node: 0,
        processors: 2,
        cores: 16,
        counted: true,
    });
    estate.install(computer, application);
    assert_eq!(total(&estate.calculate(), application).requirement, 16);
}

#[test]
fn users_count_when_used_at_or_after_the_metering_start() {
    for metric in [Metric::Users, Metric::ConcurrentUsers] {
        let mut estate = EstateBuilder::new();
        estate.estate.metering_start = 1_000;
        let family = estate.family();
        let application = estate.application(family, 1, metric);
        let exactly = estate.user(0);
        let before = estate.user(0);
        let after = estate.user(0);
        estate.used(exactly, application, 1_000);
        estate.used(before, application, 999);
        estate.used(after, application, 500);
        estate.used(after, application, 5_000);
        let outcome = estate.calculate();
        assert_eq!(total(&outcome, application).requirement, 2, "{metric:?}");
        let row = outcome
            .consumers
            .find(Consumer::User(before), application)
            .unwrap();
        assert_eq!(
            row.status,
            ConsumerStatus::NoRequirement(NoRequirementReason::NotUsed)
        );
        let row = outcome
            .consumers
            .find(Consumer::User(exactly), application)
            .unwrap();
        assert_eq!(row.status, ConsumerStatus::NotCovered);
    }
}

#[test]
fn the_outcome_names_the_licenses_that_covered_a_consumer_in_key_order() {
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
    let mut later = organization(&estate, application, 2);
    later.key = 20;
    let mut earlier = organization(&estate, application, 2);
    earlier.key = 10;
    let later = estate.license(later);
    let earlier = estate.license(earlier);
    let outcome = estate.calculate();
    let row = outcome
        .consumers
        .find(Consumer::Computer(computer), application)
        .unwrap();
    let licenses: Vec<u32> = outcome
        .consumers
        .coverings_of(row)
        .iter()
        .map(|covering| covering.license)
        .collect();
    assert_eq!(licenses, vec![earlier, later]);
    assert_eq!(row.status, ConsumerStatus::Covered);
}

#[test]
fn an_index_out_of_range_is_an_error_not_a_panic() {
    let mut estate = EstateBuilder::new();
    estate.install(3, 4);
    assert!(calculate(&estate.estate).is_err());
}

#[test]
fn progress_reports_every_phase_in_order() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 3);
    let mut phases = Vec::new();
    estate_compliance::calculate_with_progress(&estate.estate, &mut |phase, done, total| {
        assert!(done <= total);
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
    })
    .unwrap();
    let mut sorted = phases.clone();
    sorted.sort();
    assert_eq!(phases, sorted);
    assert_eq!(phases.last(), Some(&estate_compliance::Phase::Results));
}
