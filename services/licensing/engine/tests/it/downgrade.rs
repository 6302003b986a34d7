//! Rule 6: matching across versions — exact first, then downgrades to the
//! nearest later license, then family licenses.

use estate_compliance::{Application, Consumer, ConsumerStatus, Metric, Target, Transfer};

use crate::at;
use crate::builder::{EstateBuilder, organization};

/// Versions 8, 9 and 10 of one family, installed as given at the root, and
/// 100 licenses of version 10 with downgrade rights.
fn hundred_licenses_of_version_ten(installed: [u32; 3]) -> (EstateBuilder, [u32; 3], u32) {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let versions = [8, 9, 10].map(|rank| estate.application(family, rank, Metric::Installations));
    for (application, count) in versions.iter().zip(installed) {
        estate.installed(0, *application, count);
    }
    let mut license = organization(&estate, versions[2], 100);
    license.downgrade_rights = true;
    let license = estate.license(license);
    (estate, versions, license)
}

#[test]
fn hundred_licenses_of_version_ten_cover_hundred_installations_of_versions_ten_nine_and_eight() {
    let (estate, [v8, v9, v10], license) = hundred_licenses_of_version_ten([20, 30, 50]);
    let outcome = estate.calculate();
    for application in [v8, v9, v10] {
        let figures = at(&outcome, 0, application);
        assert_eq!(
            figures.coverage, figures.requirement,
            "application {application}"
        );
    }
    assert_eq!(outcome.licenses[license as usize].used, 100);
    assert_eq!(outcome.families[0].compliance.compliance, 0);
    let downgrade = |to_application, units| Transfer::Downgrade {
        license,
        from_application: v10,
        to_application,
        node: 0,
        units,
    };
    assert!(outcome.transfers.contains(&downgrade(v8, 20)));
    assert!(outcome.transfers.contains(&downgrade(v9, 30)));
}

#[test]
fn hundred_licenses_of_version_ten_leave_ten_of_hundred_and_ten_uncovered() {
    let (estate, [v8, v9, v10], license) = hundred_licenses_of_version_ten([20, 30, 60]);
    let outcome = estate.calculate();
    assert_eq!(outcome.licenses[license as usize].used, 100);
    assert_eq!(outcome.families[0].compliance.requirement, 110);
    assert_eq!(outcome.families[0].compliance.coverage, 100);
    assert_eq!(outcome.families[0].compliance.compliance, -10);
    // Exact version first (60), then the earliest versions ascending.
    assert_eq!(at(&outcome, 0, v10).compliance, 0);
    assert_eq!(at(&outcome, 0, v8).compliance, 0);
    assert_eq!(at(&outcome, 0, v9).compliance, -10);
}

#[test]
fn downgrade_needs_both_the_license_right_and_the_application_consent() {
    for (rights, allowed) in [(true, false), (false, true)] {
        let mut estate = EstateBuilder::new();
        let family = estate.family();
        let old = estate.application(family, 1, Metric::Installations);
        let new = estate.application_with(Application {
            family,
            version_rank: 2,
            metric: Metric::Installations,
            downgrade_allowed: allowed,
            no_license_required: false,
        });
        estate.installed(0, old, 1);
        let mut license = organization(&estate, new, 1);
        license.downgrade_rights = rights;
        estate.license(license);
        let outcome = estate.calculate();
        assert_eq!(
            at(&outcome, 0, old).coverage,
            0,
            "rights {rights}, allowed {allowed}"
        );
    }
}

#[test]
fn a_downgrade_never_covers_a_later_version() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let old = estate.application(family, 1, Metric::Installations);
    let new = estate.application(family, 2, Metric::Installations);
    estate.installed(0, new, 1);
    let mut license = organization(&estate, old, 1);
    license.downgrade_rights = true;
    estate.license(license);
    assert_eq!(at(&estate.calculate(), 0, new).coverage, 0);
}

#[test]
fn each_earlier_version_takes_the_nearest_later_license() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let [v7, v8, v9, v10] =
        [7, 8, 9, 10].map(|rank| estate.application(family, rank, Metric::Installations));
    estate.installed(0, v7, 10);
    estate.installed(0, v9, 10);
    // Key order puts the version 10 license first: a key-order greedy would
    // spend it on version 7 and leave version 9 uncovered.
    let mut ten = organization(&estate, v10, 10);
    ten.downgrade_rights = true;
    estate.license(ten);
    let mut eight = organization(&estate, v8, 10);
    eight.downgrade_rights = true;
    estate.license(eight);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, 0, v7).compliance, 0);
    assert_eq!(at(&outcome, 0, v9).compliance, 0);
}

#[test]
fn exact_licenses_are_used_before_downgrades_and_family_licenses() {
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let old = estate.application(family, 1, Metric::Installations);
    let new = estate.application(family, 2, Metric::Installations);
    let old_computers = estate.installed(0, old, 1);
    let new_computers = estate.installed(0, new, 1);
    let mut family_license = organization(&estate, new, 1);
    family_license.target = Target::Family(family);
    let family_license = estate.license(family_license);
    let mut downgrade = organization(&estate, new, 1);
    downgrade.downgrade_rights = true;
    let downgrade = estate.license(downgrade);
    let outcome = estate.calculate();
    let new_row = outcome
        .consumers
        .find(Consumer::Computer(new_computers[0]), new)
        .unwrap();
    let old_row = outcome
        .consumers
        .find(Consumer::Computer(old_computers[0]), old)
        .unwrap();
    assert_eq!(
        outcome.consumers.coverings_of(new_row)[0].license,
        downgrade
    );
    assert_eq!(
        outcome.consumers.coverings_of(old_row)[0].license,
        family_license
    );
    assert_eq!(old_row.status, ConsumerStatus::Covered);
}
