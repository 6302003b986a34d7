//! Times `calculate` on a generated estate of N computers with 20
//! installations each (N from the first argument, 100,000 by default), the
//! shape of a big customer: 200 nodes, 5,000 applications in 250 families,
//! 10,000 licenses of every kind, users with usage, and assignments.
//!
//! Run in release mode:
//! `cargo run -p estate-compliance --release --example scale -- 100000`

use std::time::Instant;

use estate_compliance::{
    Application, Assignment, AssignmentType, Computer, Consumer, Estate, Installation, License,
    ManualAllocation, Metric, Node, Phase, Quantity, Target, Usage, User, Validity,
    calculate_with_progress,
};

const NODES: u32 = 200;
const FAMILIES: u32 = 250;
const VERSIONS: u32 = 20;
const LICENSES: u32 = 10_000;
const INSTALLATIONS_PER_COMPUTER: u32 = 20;

/// A small deterministic generator: the example must not need a dependency.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(bound.max(1))) as u32
    }
}

fn main() {
    let computers: u32 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    let started = Instant::now();
    let estate = generate(computers);
    println!(
        "generated {} computers, {} installations, {} users, {} usage rows, {} licenses, \
         {} assignments in {:.2?}",
        estate.computers.len(),
        estate.installations.len(),
        estate.users.len(),
        estate.usage.len(),
        estate.licenses.len(),
        estate.assignments.len(),
        started.elapsed()
    );
    let mut reports = 0u64;
    let mut phases: Vec<(Phase, Instant)> = Vec::new();
    let started = Instant::now();
    let outcome = calculate_with_progress(&estate, &mut |phase, _, _| {
        reports += 1;
        if phases.last().is_none_or(|(last, _)| *last != phase) {
            phases.push((phase, Instant::now()));
        }
    })
    .expect("the generated estate is valid");
    let elapsed = started.elapsed();
    let ends = phases
        .iter()
        .skip(1)
        .map(|(_, at)| *at)
        .chain([started + elapsed]);
    for ((phase, start), end) in phases.iter().zip(ends) {
        println!("  {phase:?}: {:.2?}", end - *start);
    }
    let millions = estate.installations.len() as f64 / 1e6;
    println!(
        "calculated in {elapsed:.2?}: {:.3} s per million installations ({} consumer rows, \
         {} node rows, {} transfers, {reports} progress reports)",
        elapsed.as_secs_f64() / millions,
        outcome.consumers.rows.len(),
        outcome.nodes.len(),
        outcome.transfers.len(),
    );
}

fn generate(computer_count: u32) -> Estate {
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut estate = Estate {
        metering_start: 1_000,
        family_count: FAMILIES,
        ..Estate::default()
    };
    estate.nodes.push(Node { parent: None });
    for index in 1..NODES {
        estate.nodes.push(Node {
            parent: Some(random.below(index)),
        });
    }
    for family in 0..FAMILIES {
        let metric = match family % 10 {
            0 => Metric::Processors,
            1 => Metric::Users,
            _ => Metric::Installations,
        };
        for version_rank in 0..VERSIONS {
            estate.applications.push(Application {
                family,
                version_rank,
                metric,
                downgrade_allowed: !family.is_multiple_of(3),
                no_license_required: family % 50 == 49,
            });
        }
    }
    let applications = estate.applications.len() as u32;
    for computer in 0..computer_count {
        estate.computers.push(Computer {
            node: random.below(NODES),
            processors: 1 + random.below(8),
            cores: 4,
            counted: random.below(20) != 0,
        });
        for _ in 0..INSTALLATIONS_PER_COMPUTER {
            let application = random.below(applications);
            estate.installations.push(Installation {
                computer,
                application,
            });
        }
    }
    for user in 0..computer_count / 2 {
        estate.users.push(User {
            node: random.below(NODES),
        });
        for _ in 0..4 {
            let application = 20 * (10 * random.below(FAMILIES / 10) + 1) + random.below(VERSIONS);
            let last_used = i64::from(random.below(2_000));
            estate.usage.push(Usage {
                user,
                application,
                last_used,
            });
        }
    }
    for index in 0..LICENSES {
        estate
            .licenses
            .push(license(&mut random, &estate, index, computer_count));
    }
    for index in 0..computer_count / 4 {
        let license = 10 * random.below(LICENSES / 10) + 7;
        let key = u128::from(index) * 7_919 + 11;
        let consumer = Consumer::Computer(random.below(computer_count));
        estate.assignments.push(Assignment {
            key,
            license,
            consumer,
            quantity: 1,
        });
    }
    estate
}

fn license(random: &mut XorShift, estate: &Estate, index: u32, computers: u32) -> License {
    let application = random.below(estate.applications.len() as u32);
    let metric = estate.applications[application as usize].metric;
    // Every tenth license (index ending in 7) is a computer license.
    let assignment = match index % 10 {
        7 => AssignmentType::Computer,
        8 => AssignmentType::Site,
        _ => AssignmentType::Organization,
    };
    let manual_allocations = if index.is_multiple_of(13) {
        vec![ManualAllocation {
            node: random.below(NODES),
            quantity: 5,
        }]
    } else {
        Vec::new()
    };
    let quantity = if index.is_multiple_of(997) {
        Quantity::Unlimited
    } else {
        Quantity::Count(u64::from(random.below(computers / 200 + 20)))
    };
    License {
        key: u128::from(random.below(u32::MAX)) << 32 | u128::from(index),
        target: if index.is_multiple_of(11) {
            Target::Family(estate.applications[application as usize].family)
        } else {
            Target::Application(application)
        },
        metric,
        assignment,
        quantity,
        legal_owner: if index.is_multiple_of(2) {
            0
        } else {
            random.below(NODES)
        },
        automatic_allocation: index % 4 != 1,
        downgrade_rights: !index.is_multiple_of(3),
        manual_allocations,
        upgrade_of: Vec::new(),
        validity: if index.is_multiple_of(50) {
            Validity::Archived
        } else {
            Validity::Valid
        },
        minimum_per_computer: if metric == Metric::Processors { 2 } else { 0 },
    }
}
