//! Rule 5: organization and site licenses cover through manual allocations,
//! the owner node, or automatic allocation over the owner's subtree.

use estate_compliance::{AutomaticShare, ManualAllocation, Metric, Quantity, Transfer};

use crate::at;
use crate::builder::{EstateBuilder, organization};

/// Root 0 with children 1 and 2; node 3 is a child of 1.
fn tree(estate: &mut EstateBuilder) -> [u32; 3] {
    let left = estate.node(0);
    let right = estate.node(0);
    let grandchild = estate.node(left);
    [left, right, grandchild]
}

#[test]
fn without_allocation_a_license_covers_only_its_owner_node() {
    let mut estate = EstateBuilder::new();
    let [left, ..] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 1);
    estate.installed(left, application, 2);
    estate.license(organization(&estate, application, 10));
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, 0, application).coverage, 10);
    assert_eq!(at(&outcome, 0, application).compliance, 9);
    assert_eq!(at(&outcome, left, application).compliance, -2);
}

#[test]
fn a_manual_allocation_covers_only_its_node_and_the_rest_stays_at_the_owner() {
    let mut estate = EstateBuilder::new();
    let [left, right, _] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(left, application, 3);
    estate.installed(right, application, 2);
    let mut license = organization(&estate, application, 10);
    license.manual_allocations = vec![ManualAllocation {
        node: left,
        quantity: 4,
    }];
    license.automatic_allocation = true;
    let license = estate.license(license);
    let outcome = estate.calculate();
    assert_eq!(
        at(&outcome, left, application).coverage,
        4,
        "3 covered, 1 surplus"
    );
    assert_eq!(at(&outcome, left, application).compliance, 1);
    // The automatic rest (6) covers the right node, never the manual node.
    assert_eq!(at(&outcome, right, application).compliance, 0);
    assert_eq!(at(&outcome, 0, application).coverage, 4);
    let shares = &outcome.licenses[license as usize].automatic_shares;
    assert_eq!(
        shares,
        &vec![AutomaticShare {
            node: right,
            units: 2
        }]
    );
}

#[test]
fn manually_allocated_units_never_join_automatic_allocation() {
    let mut estate = EstateBuilder::new();
    let [left, right, _] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(right, application, 5);
    let mut license = organization(&estate, application, 5);
    license.manual_allocations = vec![ManualAllocation {
        node: left,
        quantity: 3,
    }];
    license.automatic_allocation = true;
    estate.license(license);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, right, application).compliance, -3);
    assert_eq!(at(&outcome, left, application).compliance, 3);
}

#[test]
fn automatic_allocation_follows_each_nodes_requirement_and_leaves_surplus_at_the_owner() {
    let mut estate = EstateBuilder::new();
    let [left, right, grandchild] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 1);
    estate.installed(left, application, 2);
    estate.installed(grandchild, application, 3);
    estate.installed(right, application, 4);
    let mut license = organization(&estate, application, 12);
    license.automatic_allocation = true;
    let license = estate.license(license);
    let outcome = estate.calculate();
    for node in [left, right, grandchild] {
        assert_eq!(at(&outcome, node, application).compliance, 0, "node {node}");
    }
    assert_eq!(
        at(&outcome, 0, application).coverage,
        3,
        "1 covered, 2 surplus"
    );
    let shares = &outcome.licenses[license as usize].automatic_shares;
    let expected = [(0, 1), (left, 2), (right, 4), (grandchild, 3)]
        .map(|(node, units)| AutomaticShare { node, units });
    assert_eq!(shares, &expected.to_vec());
    assert_eq!(outcome.licenses[license as usize].surplus, 2);
    let allocation = Transfer::Allocation {
        license,
        node: grandchild,
        units: 3,
    };
    assert!(outcome.transfers.contains(&allocation));
}

#[test]
fn automatic_allocation_is_greedy_in_preorder_when_short() {
    let mut estate = EstateBuilder::new();
    let [left, right, grandchild] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(grandchild, application, 3);
    estate.installed(right, application, 3);
    let mut license = organization(&estate, application, 4);
    license.automatic_allocation = true;
    estate.license(license);
    let outcome = estate.calculate();
    // Preorder visits 0, left, grandchild, right.
    assert_eq!(at(&outcome, grandchild, application).compliance, 0);
    assert_eq!(at(&outcome, right, application).compliance, -2);
    assert_eq!(at(&outcome, left, application), Default::default());
}

#[test]
fn automatic_allocation_stays_inside_the_owners_subtree() {
    let mut estate = EstateBuilder::new();
    let [left, right, grandchild] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(right, application, 2);
    estate.installed(grandchild, application, 1);
    let mut license = organization(&estate, application, 10);
    license.automatic_allocation = true;
    license.legal_owner = left;
    estate.license(license);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, grandchild, application).compliance, 0);
    assert_eq!(at(&outcome, right, application).compliance, -2);
    assert_eq!(at(&outcome, left, application).coverage, 9);
}

#[test]
fn automatic_allocation_with_downgrade_counts_earlier_versions_on_sub_nodes() {
    let mut estate = EstateBuilder::new();
    let [left, right, _] = tree(&mut estate);
    let family = estate.family();
    let old = estate.application(family, 1, Metric::Installations);
    let new = estate.application(family, 2, Metric::Installations);
    estate.installed(left, old, 2);
    estate.installed(right, new, 2);
    let mut license = organization(&estate, new, 4);
    license.automatic_allocation = true;
    license.downgrade_rights = true;
    estate.license(license);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, left, old).compliance, 0);
    assert_eq!(at(&outcome, right, new).compliance, 0);
}

#[test]
fn an_unlimited_license_without_allocation_covers_only_its_owner_node() {
    let mut estate = EstateBuilder::new();
    let [left, ..] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 3);
    estate.installed(left, application, 3);
    let mut license = organization(&estate, application, 0);
    license.quantity = Quantity::Unlimited;
    estate.license(license);
    let outcome = estate.calculate();
    assert!(at(&outcome, 0, application).unlimited);
    assert_eq!(at(&outcome, 0, application).compliance, 0);
    assert_eq!(at(&outcome, left, application).compliance, -3);
}
