//! Invariants on generated estates: small trees, a few families with
//! versions, computers, users, installations, usage, exclusions, licenses of
//! every kind and assignments.

use estate_compliance::{
    Application, Assignment, AssignmentType, Computer, Consumer, Estate, Exclusion, Installation,
    License, LicenseStatus, ManualAllocation, Metric, Node, Outcome, Quantity, Target, Transfer,
    UpgradeOf, Usage, User, Validity, calculate,
};
use proptest::prelude::*;

/// Turns a vector of random numbers into choices; shrinking the numbers
/// towards zero shrinks the estate towards a simple one.
struct Picker<'a> {
    picks: &'a [u32],
    position: usize,
}

impl Picker<'_> {
    fn pick(&mut self, bound: u32) -> u32 {
        let value = self.picks[self.position % self.picks.len()];
        self.position += 1;
        if bound == 0 { 0 } else { value % bound }
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.pick(100) < percent
    }
}

const METRICS: [Metric; 7] = [
    Metric::Installations,
    Metric::Processors,
    Metric::Users,
    Metric::Cores,
    Metric::Devices,
    Metric::ConcurrentUsers,
    Metric::Site,
];

fn generate(picks: &[u32]) -> Estate {
    let mut picker = Picker { picks, position: 0 };
    let mut estate = Estate {
        metering_start: 0,
        ..Estate::default()
    };
    let node_count = 1 + picker.pick(8);
    estate.nodes.push(Node { parent: None });
    for index in 1..node_count {
        estate.nodes.push(Node {
            parent: Some(picker.pick(index)),
        });
    }
    estate.family_count = 1 + picker.pick(3);
    for family in 0..estate.family_count {
        let metric = METRICS[picker.pick(METRICS.len() as u32) as usize];
        for version_rank in 0..1 + picker.pick(4) {
            let mixed = picker.chance(10);
            estate.applications.push(Application {
                family,
                version_rank,
                metric: if mixed {
                    METRICS[picker.pick(METRICS.len() as u32) as usize]
                } else {
                    metric
                },
                downgrade_allowed: !picker.chance(20),
                no_license_required: picker.chance(5),
            });
        }
    }
    generate_inventory(&mut picker, &mut estate);
    for index in 0..picker.pick(12) {
        let license = generate_license(&mut picker, &estate, index);
        estate.licenses.push(license);
    }
    generate_assignments(&mut picker, &mut estate);
    estate
}

fn generate_inventory(picker: &mut Picker<'_>, estate: &mut Estate) {
    let nodes = estate.nodes.len() as u32;
    let applications = estate.applications.len() as u32;
    for _ in 0..picker.pick(13) {
        estate.computers.push(Computer {
            node: picker.pick(nodes),
            processors: picker.pick(5),
            cores: 1 + picker.pick(8),
            counted: !picker.chance(10),
        });
    }
    for _ in 0..picker.pick(7) {
        estate.users.push(User {
            node: picker.pick(nodes),
        });
    }
    let computers = estate.computers.len() as u32;
    if computers > 0 {
        for _ in 0..picker.pick(40) {
            let computer = picker.pick(computers);
            let application = picker.pick(applications);
            estate.installations.push(Installation {
                computer,
                application,
            });
        }
    }
    let users = estate.users.len() as u32;
    if users > 0 {
        for _ in 0..picker.pick(20) {
            let last_used = i64::from(picker.pick(10)) - 5;
            let (user, application) = (picker.pick(users), picker.pick(applications));
            estate.usage.push(Usage {
                user,
                application,
                last_used,
            });
        }
    }
    for _ in 0..picker.pick(3) {
        let consumer = if users > 0 && picker.chance(30) {
            Consumer::User(picker.pick(users))
        } else if computers > 0 {
            Consumer::Computer(picker.pick(computers))
        } else {
            continue;
        };
        let application = picker.chance(50).then(|| picker.pick(applications));
        estate.exclusions.push(Exclusion {
            consumer,
            application,
            reason: 0,
        });
    }
}

fn generate_license(picker: &mut Picker<'_>, estate: &Estate, index: u32) -> License {
    let nodes = estate.nodes.len() as u32;
    let application = picker.pick(estate.applications.len() as u32);
    let family = estate.applications[application as usize].family;
    let target = if picker.chance(20) {
        Target::Family(family)
    } else {
        Target::Application(application)
    };
    let metric = if picker.chance(10) {
        METRICS[picker.pick(METRICS.len() as u32) as usize]
    } else {
        estate.applications[application as usize].metric
    };
    let assignment = [
        AssignmentType::Organization,
        AssignmentType::Site,
        AssignmentType::Computer,
        AssignmentType::User,
    ][picker.pick(4) as usize];
    let quantity = if picker.chance(10) {
        Quantity::Unlimited
    } else {
        Quantity::Count(picker.pick(12).into())
    };
    let manual_allocations = (0..picker.pick(3).saturating_sub(1))
        .map(|_| ManualAllocation {
            node: picker.pick(nodes),
            quantity: picker.pick(5).into(),
        })
        .collect();
    let upgrade_of = if index > 0 && picker.chance(20) {
        vec![UpgradeOf {
            base: picker.pick(index),
            quantity: picker.pick(5).into(),
        }]
    } else {
        Vec::new()
    };
    let validity = [
        Validity::Valid,
        Validity::Valid,
        Validity::Valid,
        Validity::Archived,
    ][picker.pick(4) as usize];
    License {
        key: u128::from(picker.pick(1000)) << 32 | u128::from(index),
        target,
        metric,
        assignment,
        quantity,
        legal_owner: picker.pick(nodes),
        automatic_allocation: picker.chance(50),
        downgrade_rights: picker.chance(60),
        manual_allocations,
        upgrade_of,
        validity,
        minimum_per_computer: if picker.chance(20) {
            2 + picker.pick(3)
        } else {
            0
        },
    }
}

fn generate_assignments(picker: &mut Picker<'_>, estate: &mut Estate) {
    let licenses = estate.licenses.len() as u32;
    let computers = estate.computers.len() as u32;
    let users = estate.users.len() as u32;
    if licenses == 0 {
        return;
    }
    for index in 0..picker.pick(10) {
        let license = picker.pick(licenses);
        let consumer = if users > 0 && picker.chance(40) {
            Consumer::User(picker.pick(users))
        } else if computers > 0 {
            Consumer::Computer(picker.pick(computers))
        } else {
            continue;
        };
        let key = u128::from(picker.pick(1000)) << 32 | u128::from(index);
        let quantity = 1 + u64::from(picker.pick(4));
        estate.assignments.push(Assignment {
            key,
            license,
            consumer,
            quantity,
        });
    }
}

/// Units of requirement covered, over every consumer.
fn covered_requirement(outcome: &Outcome) -> u64 {
    outcome
        .consumers
        .rows
        .iter()
        .map(|row| u64::from(row.covered))
        .sum()
}

fn finite(quantity: Quantity) -> Option<u64> {
    match quantity {
        Quantity::Count(units) => Some(units),
        Quantity::Unlimited => None,
    }
}

/// A license whose addition or removal leaves the requirement and the other
/// licenses' quantities alone (see the crate docs on monotonicity).
fn is_plain(license: &License) -> bool {
    license.upgrade_of.is_empty() && license.minimum_per_computer == 0
}

/// The outcome with every license and assignment index replaced by its key,
/// so outcomes of permuted estates compare equal.
fn canonical(estate: &Estate, outcome: &Outcome) -> String {
    let license_key = |index: u32| estate.licenses[index as usize].key;
    let mut licenses: Vec<_> = estate
        .licenses
        .iter()
        .zip(&outcome.licenses)
        .map(|(license, result)| (license.key, format!("{result:?}")))
        .collect();
    licenses.sort();
    let invalid: Vec<_> = outcome
        .invalid_assignments
        .iter()
        .map(|invalid| {
            let key = estate.assignments[invalid.assignment as usize].key;
            (key, invalid.reason, invalid.units)
        })
        .collect();
    let rows: Vec<_> = outcome
        .consumers
        .rows
        .iter()
        .map(|row| {
            let coverings: Vec<_> = outcome
                .consumers
                .coverings_of(row)
                .iter()
                .map(|covering| (license_key(covering.license), covering.units))
                .collect();
            (
                row.consumer,
                row.application,
                row.requirement,
                row.covered,
                row.status,
                coverings,
            )
        })
        .collect();
    let transfers: Vec<_> = outcome
        .transfers
        .iter()
        .map(|transfer| match *transfer {
            Transfer::Upgrade {
                base,
                upgrade,
                units,
            } => {
                format!(
                    "upgrade {} {} {units}",
                    license_key(base),
                    license_key(upgrade)
                )
            }
            Transfer::Allocation {
                license,
                node,
                units,
            } => {
                format!("allocation {} {node} {units}", license_key(license))
            }
            Transfer::Downgrade {
                license,
                from_application,
                to_application,
                node,
                units,
            } => {
                let key = license_key(license);
                format!("downgrade {key} {from_application} {to_application} {node} {units}")
            }
        })
        .collect();
    let figures = (&outcome.nodes, &outcome.applications, &outcome.families);
    format!("{figures:?}\n{licenses:?}\n{invalid:?}\n{rows:?}\n{transfers:?}")
}

/// The same estate with licenses, installations, usage and assignments in
/// another order (indices into licenses remapped).
fn permuted(estate: &Estate, rotation: usize) -> Estate {
    let mut permuted = estate.clone();
    let count = estate.licenses.len();
    if count > 0 {
        // New position of license i: reversed, then rotated.
        let new_position = |index: u32| ((count - 1 - index as usize) + rotation) % count;
        for (index, license) in estate.licenses.iter().enumerate() {
            permuted.licenses[new_position(index as u32)] = license.clone();
        }
        for license in &mut permuted.licenses {
            for upgrade in &mut license.upgrade_of {
                upgrade.base = new_position(upgrade.base) as u32;
            }
        }
        for assignment in &mut permuted.assignments {
            assignment.license = new_position(assignment.license) as u32;
        }
    }
    permuted.installations.reverse();
    permuted
        .installations
        .rotate_left(rotation % estate.installations.len().max(1));
    permuted.usage.reverse();
    permuted.assignments.reverse();
    permuted
        .assignments
        .rotate_left(rotation % estate.assignments.len().max(1));
    permuted
}

/// The estate with no license converting (per-processor or per-core
/// licenses covering computer-counted applications at each computer's
/// count). Conversion is a greedy pass after the maximum flow, not part
/// of it, so it is not monotone: archiving one license can change which
/// units the flow leaves over and let the pass cover more. Monotonicity
/// is asserted without it.
fn without_conversion(mut estate: Estate) -> Estate {
    let applications = estate.applications.clone();
    for license in &mut estate.licenses {
        if may_convert(license, &applications) {
            license.validity = Validity::Archived;
        }
    }
    estate
}

/// Whether `license` could cover an application of its target by
/// conversion.
fn may_convert(license: &License, applications: &[Application]) -> bool {
    match license.target {
        Target::Application(own) => license.metric.converts(applications[own as usize].metric),
        Target::Family(family) => applications.iter().any(|application| {
            application.family == family && license.metric.converts(application.metric)
        }),
    }
}

/// The estate with every license pooled (organization or site) and no
/// upgrades, so that all coverage goes through pools.
fn pooled_only(mut estate: Estate) -> Estate {
    for (index, license) in estate.licenses.iter_mut().enumerate() {
        if license.assignment.is_assigned() {
            license.assignment = if index % 2 == 0 {
                AssignmentType::Organization
            } else {
                AssignmentType::Site
            };
        }
        license.upgrade_of.clear();
    }
    // Per-processor (per-core) licenses of per-computer applications cover
    // in a greedy pass of their own, outside the maximality of rule 6.
    let applications = estate.applications.clone();
    for license in &mut estate.licenses {
        if let Target::Application(own) = license.target
            && license.metric.converts(applications[own as usize].metric)
        {
            license.validity = Validity::Archived;
        }
    }
    estate
}

/// The most requirement the estate's pooled licenses can cover, computed
/// from the rules alone as a maximum flow: source -> pool (its units) ->
/// every (node, application) it reaches and may cover -> sink (the
/// requirement there). Requirement per (node, application) is taken from
/// the outcome; everything about licenses is worked out here again.
fn max_flow_coverage(estate: &Estate, outcome: &Outcome) -> u64 {
    const UNLIMITED: u64 = 1 << 40;
    let mut children = vec![Vec::new(); estate.nodes.len()];
    for (index, node) in estate.nodes.iter().enumerate() {
        if let Some(parent) = node.parent {
            children[parent as usize].push(index as u32);
        }
    }
    let subtree = |root: u32| {
        let mut nodes = vec![root];
        let mut next = 0;
        while next < nodes.len() {
            nodes.extend(children[nodes[next] as usize].iter().copied());
            next += 1;
        }
        nodes
    };
    // Pools: (license, units, nodes reached).
    let mut pools: Vec<(usize, u64, Vec<u32>)> = Vec::new();
    for (index, license) in estate.licenses.iter().enumerate() {
        if license.validity != Validity::Valid {
            continue;
        }
        // A site license is unlimited where it reaches.
        let quantity = match license.metric {
            Metric::Site => Quantity::Unlimited,
            _ => license.quantity,
        };
        let mut left = finite(quantity).unwrap_or(UNLIMITED);
        let mut manual = license.manual_allocations.clone();
        manual.sort_by_key(|allocation| allocation.node);
        let mut nodes: Vec<u32> = manual.iter().map(|allocation| allocation.node).collect();
        nodes.dedup();
        for node in nodes {
            let requested: u64 = manual
                .iter()
                .filter(|allocation| allocation.node == node)
                .map(|allocation| allocation.quantity)
                .sum();
            let units = if quantity == Quantity::Unlimited {
                UNLIMITED
            } else {
                requested.min(left)
            };
            if quantity != Quantity::Unlimited {
                left -= units;
            }
            pools.push((index, units, vec![node]));
        }
        let reach = if license.automatic_allocation {
            subtree(license.legal_owner)
        } else {
            vec![license.legal_owner]
        };
        pools.push((index, left, reach));
    }
    // Which metric counts what: 0 per computer, 1 per processor, 2 per
    // core, 3 per user; a site license covers whatever computers count.
    let counts = |metric: Metric| match metric {
        Metric::Installations | Metric::Devices | Metric::Site => 0,
        Metric::Processors => 1,
        Metric::Cores => 2,
        Metric::Users | Metric::ConcurrentUsers => 3,
    };
    let metric_covers = |license: Metric, wanted: Metric| {
        counts(license) == counts(wanted) || (license == Metric::Site && counts(wanted) < 3)
    };
    let covers = |license: &License, application: u32| {
        let wanted = &estate.applications[application as usize];
        if !metric_covers(license.metric, wanted.metric) {
            return false;
        }
        match license.target {
            Target::Family(family) => wanted.family == family,
            Target::Application(own) => {
                let target = &estate.applications[own as usize];
                metric_covers(license.metric, target.metric)
                    && wanted.family == target.family
                    && (own == application
                        || (license.downgrade_rights
                            && target.downgrade_allowed
                            && wanted.version_rank < target.version_rank))
            }
        }
    };
    let demands: Vec<(u32, u32, u64)> = outcome
        .nodes
        .iter()
        .filter(|row| row.compliance.requirement > 0)
        .map(|row| (row.node, row.application, row.compliance.requirement))
        .collect();
    // Vertices: 0 source, 1 sink, pools, demands.
    let size = 2 + pools.len() + demands.len();
    let mut capacity = vec![vec![0u64; size]; size];
    for (pool_index, (license, units, reach)) in pools.iter().enumerate() {
        capacity[0][2 + pool_index] = *units;
        for (demand_index, &(node, application, _)) in demands.iter().enumerate() {
            if reach.contains(&node) && covers(&estate.licenses[*license], application) {
                capacity[2 + pool_index][2 + pools.len() + demand_index] = UNLIMITED;
            }
        }
    }
    for (demand_index, &(_, _, requirement)) in demands.iter().enumerate() {
        capacity[2 + pools.len() + demand_index][1] = requirement;
    }
    // Edmonds-Karp.
    let mut total = 0;
    loop {
        let mut parent = vec![usize::MAX; size];
        parent[0] = 0;
        let mut queue = std::collections::VecDeque::from([0usize]);
        while let Some(vertex) = queue.pop_front() {
            for next in 0..size {
                if parent[next] == usize::MAX && capacity[vertex][next] > 0 {
                    parent[next] = vertex;
                    queue.push_back(next);
                }
            }
        }
        if parent[1] == usize::MAX {
            return total;
        }
        let mut units = u64::MAX;
        let mut vertex = 1;
        while vertex != 0 {
            units = units.min(capacity[parent[vertex]][vertex]);
            vertex = parent[vertex];
        }
        let mut vertex = 1;
        while vertex != 0 {
            capacity[parent[vertex]][vertex] -= units;
            capacity[vertex][parent[vertex]] += units;
            vertex = parent[vertex];
        }
        total += units;
    }
}

fn picks() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(0u32..1_000_000, 64..400)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn finite_licenses_never_cover_more_than_their_effective_quantity(picks in picks()) {
        let estate = generate(&picks);
        let outcome = calculate(&estate).unwrap();
        let mut quantity_total = 0;
        let mut covering_total = 0;
        for result in &outcome.licenses {
            let Some(effective) = finite(result.effective_quantity) else { continue };
            if result.status != LicenseStatus::Valid {
                prop_assert_eq!(result.used + result.surplus, 0);
                continue;
            }
            prop_assert!(result.used + result.surplus <= effective, "{:?}", result);
            quantity_total += effective;
            covering_total += result.used + result.surplus;
        }
        prop_assert!(covering_total <= quantity_total);
        let by_finite: u64 = outcome
            .consumers
            .coverings
            .iter()
            .filter(|covering| {
                finite(outcome.licenses[covering.license as usize].effective_quantity).is_some()
                    // A converting license covers a whole computer for its
                    // processor count, whatever the computer's installations.
                    && !may_convert(&estate.licenses[covering.license as usize], &estate.applications)
            })
            .map(|covering| u64::from(covering.units))
            .sum();
        prop_assert!(by_finite <= quantity_total);
    }

    #[test]
    fn automatic_allocation_never_hands_out_more_than_a_license_has(picks in picks()) {
        let estate = generate(&picks);
        let outcome = calculate(&estate).unwrap();
        for (license, result) in estate.licenses.iter().zip(&outcome.licenses) {
            let shared: u64 = result.automatic_shares.iter().map(|share| share.units).sum();
            if let Some(effective) = finite(result.effective_quantity) {
                prop_assert!(shared <= effective);
            }
            if !license.automatic_allocation {
                prop_assert_eq!(shared, 0);
            }
        }
    }

    #[test]
    fn adding_a_valid_license_never_lowers_covered_requirement(
        picks in picks(),
        extra in picks(),
    ) {
        let estate = without_conversion(generate(&picks));
        let before = covered_requirement(&calculate(&estate).unwrap());
        let mut picker = Picker { picks: &extra, position: 0 };
        let index = estate.licenses.len() as u32;
        let mut license = generate_license(&mut picker, &estate, index);
        prop_assume!(!may_convert(&license, &estate.applications));
        license.validity = Validity::Valid;
        license.upgrade_of.clear();
        license.minimum_per_computer = 0;
        license.key = u128::from(picker.pick(1000)) << 32 | u128::from(index);
        let mut added = estate.clone();
        added.licenses.push(license);
        let after = covered_requirement(&calculate(&added).unwrap());
        prop_assert!(after >= before, "before {}, after {}", before, after);
    }

    #[test]
    fn archiving_a_license_never_raises_covered_requirement(
        picks in picks(),
        choice in 0usize..100,
    ) {
        let estate = without_conversion(generate(&picks));
        let plain: Vec<usize> = (0..estate.licenses.len())
            .filter(|&index| is_plain(&estate.licenses[index]))
            .collect();
        prop_assume!(!plain.is_empty());
        let before = covered_requirement(&calculate(&estate).unwrap());
        let mut archived = estate.clone();
        archived.licenses[plain[choice % plain.len()]].validity = Validity::Archived;
        let after = covered_requirement(&calculate(&archived).unwrap());
        prop_assert!(after <= before, "before {}, after {}", before, after);
    }

    /// The store writes node results one node at a time in application
    /// order, and reports page the lists by these keys.
    #[test]
    fn outcome_lists_come_sorted_by_their_keys_without_repeats(picks in picks()) {
        let outcome = calculate(&generate(&picks)).unwrap();
        let nodes: Vec<(u32, u32)> =
            outcome.nodes.iter().map(|row| (row.node, row.application)).collect();
        prop_assert!(nodes.is_sorted_by(|a, b| a < b), "{:?}", nodes);
        let applications: Vec<u32> =
            outcome.applications.iter().map(|row| row.application).collect();
        prop_assert!(applications.is_sorted_by(|a, b| a < b), "{:?}", applications);
        let families: Vec<u32> = outcome.families.iter().map(|row| row.family).collect();
        prop_assert!(families.is_sorted_by(|a, b| a < b), "{:?}", families);
    }

    #[test]
    fn results_do_not_depend_on_runs_or_input_order(picks in picks(), rotation in 0usize..10) {
        let estate = generate(&picks);
        let first = calculate(&estate).unwrap();
        let second = calculate(&estate).unwrap();
        prop_assert_eq!(&first, &second);
        let other = permuted(&estate, rotation);
        let third = calculate(&other).unwrap();
        prop_assert_eq!(canonical(&estate, &first), canonical(&other, &third));
    }

    /// Matching is maximal over everything that reaches each node: the
    /// vendor's order decides which license covers, never how much.
    #[test]
    fn pooled_coverage_is_a_maximum_flow(picks in picks()) {
        let estate = pooled_only(generate(&picks));
        let outcome = calculate(&estate).unwrap();
        let covered = covered_requirement(&outcome);
        let best = max_flow_coverage(&estate, &outcome);
        prop_assert_eq!(covered, best);
    }

    /// The same on one node, where the flaw first showed: fixed pools
    /// spending units that narrower automatic pools could have covered.
    #[test]
    fn coverage_at_a_single_node_is_a_maximum_flow(picks in picks()) {
        let mut estate = pooled_only(generate(&picks));
        estate.nodes.truncate(1);
        for computer in &mut estate.computers {
            computer.node = 0;
        }
        for user in &mut estate.users {
            user.node = 0;
        }
        for license in &mut estate.licenses {
            license.legal_owner = 0;
            for allocation in &mut license.manual_allocations {
                allocation.node = 0;
            }
        }
        let outcome = calculate(&estate).unwrap();
        prop_assert_eq!(covered_requirement(&outcome), max_flow_coverage(&estate, &outcome));
    }
}
