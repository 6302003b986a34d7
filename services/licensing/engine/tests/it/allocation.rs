//! Rule 5: organization and site licenses cover through manual allocations,
//! the owner node, or automatic allocation over the owner's subtree.

use estate_compliance::{
    AutomaticShare, Consumer, ManualAllocation, Metric, Quantity, Target, Transfer,
};

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
    // The total mixes an unlimited row with a counted one: it is counted,
    // and its coverage is the rows' sum.
    let total = crate::total(&outcome, application);
    assert!(!total.unlimited);
    assert_eq!((total.requirement, total.coverage), (6, 3));
    assert!(!outcome.families[0].compliance.unlimited);
}

#[test]
fn a_total_is_unlimited_when_every_row_in_it_is() {
    let mut estate = EstateBuilder::new();
    let [left, ..] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(0, application, 3);
    estate.installed(left, application, 3);
    let mut license = organization(&estate, application, 0);
    license.quantity = Quantity::Unlimited;
    license.automatic_allocation = true;
    estate.license(license);
    let outcome = estate.calculate();
    let total = crate::total(&outcome, application);
    assert!(total.unlimited);
    assert_eq!(
        (total.requirement, total.coverage, total.compliance),
        (6, 6, 0)
    );
}

#[test]
fn a_broad_fixed_license_leaves_the_narrow_demand_to_a_narrow_automatic_one() {
    // The smallest case seen: v1 on two computers, v2 on one; an exact v1
    // license of 1 (automatic) and a family license of 2 (no automatic
    // allocation). Everything can be covered.
    let mut estate = EstateBuilder::new();
    let family = estate.family();
    let v1 = estate.application(family, 1, Metric::Installations);
    let v2 = estate.application(family, 2, Metric::Installations);
    estate.installed(0, v1, 2);
    estate.installed(0, v2, 1);
    let mut exact = organization(&estate, v1, 1);
    exact.automatic_allocation = true;
    let exact = estate.license(exact);
    let mut broad = organization(&estate, v1, 2);
    broad.target = Target::Family(family);
    let broad = estate.license(broad);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, 0, v1).compliance, 0);
    assert_eq!(at(&outcome, 0, v2).compliance, 0);
    assert_eq!(outcome.licenses[exact as usize].used, 1);
    assert_eq!(outcome.licenses[broad as usize].used, 2);
    assert_eq!(outcome.licenses[exact as usize].surplus, 0);
}

#[test]
fn a_node_leaves_a_shared_license_to_a_sibling_that_nothing_else_covers() {
    let mut estate = EstateBuilder::new();
    let [left, right, _] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    estate.installed(left, application, 1);
    estate.installed(right, application, 1);
    // Narrow and shared by both children.
    let mut shared = organization(&estate, application, 1);
    shared.automatic_allocation = true;
    let shared = estate.license(shared);
    // Broad, but only the left subtree reaches it.
    let mut own = organization(&estate, application, 1);
    own.target = Target::Family(family);
    own.automatic_allocation = true;
    own.legal_owner = left;
    let own = estate.license(own);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, left, application).compliance, 0);
    assert_eq!(at(&outcome, right, application).compliance, 0);
    let shares = &outcome.licenses[shared as usize].automatic_shares;
    assert_eq!(
        shares,
        &vec![AutomaticShare {
            node: right,
            units: 1
        }]
    );
    assert_eq!(outcome.licenses[own as usize].used, 1);
}

#[test]
fn among_equally_narrow_licenses_the_one_reaching_fewest_nodes_covers_first() {
    let mut estate = EstateBuilder::new();
    let [left, right, _] = tree(&mut estate);
    let family = estate.family();
    let application = estate.application(family, 1, Metric::Installations);
    let left_computers = estate.installed(left, application, 1);
    estate.installed(right, application, 1);
    let mut shared = organization(&estate, application, 1);
    shared.automatic_allocation = true;
    estate.license(shared);
    let mut own = organization(&estate, application, 1);
    own.automatic_allocation = true;
    own.legal_owner = left;
    let own = estate.license(own);
    let outcome = estate.calculate();
    assert_eq!(at(&outcome, right, application).compliance, 0);
    let row = outcome
        .consumers
        .find(Consumer::Computer(left_computers[0]), application)
        .unwrap();
    assert_eq!(outcome.consumers.coverings_of(row)[0].license, own);
}
