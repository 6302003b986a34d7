//! Turns the working state into the [`Outcome`]: sums per node, application
//! and family, license figures, consumer rows and transfers, each sorted by
//! a key that does not depend on input order.

use crate::allocation::PoolResults;
use crate::assignments::AssignmentResults;
use crate::demand::Row;
use crate::matching::{Event, Work};
use crate::model::Quantity;
use crate::outcome::{
    ApplicationCompliance, AutomaticShare, Compliance, ConsumerResult, ConsumerResults,
    ConsumerStatus, Covering, FamilyCompliance, LicenseResult, NodeCompliance, Outcome, Transfer,
};

/// Everything the phases produced.
pub(crate) struct Findings {
    pub upgrades: Vec<Transfer>,
    pub assignments: AssignmentResults,
    pub pools: PoolResults,
}

pub(crate) fn build_outcome(mut work: Work<'_>, findings: Findings) -> Outcome {
    // The consumer rows are most of the work and need only the rows and
    // their coverage events: they are built on a second thread while this
    // one builds the rest.
    let rows = std::mem::take(&mut work.rows.rows);
    let events = std::mem::take(&mut work.ledger.events);
    let key_rank = work.key_rank;
    std::thread::scope(|scope| {
        let consumers = scope.spawn(move || consumer_results(key_rank, rows, events));
        let nodes = node_compliance(&work, &findings.pools);
        let (applications, families) = totals(&work, &nodes);
        let licenses = license_results(&work, &findings);
        let mut invalid_assignments = findings.assignments.invalid.clone();
        let assignments = &work.estate.assignments;
        invalid_assignments
            .sort_by_key(|invalid| (assignments[invalid.assignment as usize].key, invalid.reason));
        let transfers = transfers(&work, &findings);
        let consumers = consumers
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Outcome {
            nodes,
            applications,
            families,
            licenses,
            invalid_assignments,
            consumers,
            transfers,
        }
    })
}

fn node_compliance(work: &Work<'_>, pools: &PoolResults) -> Vec<NodeCompliance> {
    let groups = &work.groups.groups;
    let mut entries: Vec<NodeCompliance> = Vec::with_capacity(groups.len() + pools.surplus.len());
    entries.extend(groups.iter().map(|group| {
        let requirement = group.initial - group.excluded;
        let compliance = Compliance {
            initial_requirement: group.initial,
            adjustments: -(group.excluded as i64),
            requirement,
            coverage: requirement - group.remaining,
            compliance: 0,
            unlimited: group.unlimited,
        };
        NodeCompliance {
            node: group.node,
            application: group.application,
            compliance,
        }
    }));
    // Groups come by node, and within a node in catalog order: sorting
    // each node's run by application puts them in (node, application)
    // order with small sorts that stay in cache, where one sort of every
    // group took a quarter of this phase.
    debug_assert!(entries.is_sorted_by_key(|entry| entry.node));
    for run in entries.chunk_by_mut(|a, b| a.node == b.node) {
        run.sort_unstable_by_key(|entry| entry.application);
    }
    entries.extend(pools.surplus.iter().filter_map(|surplus| {
        let scope = &work.states[surplus.license as usize].scope;
        Some(NodeCompliance {
            node: surplus.node,
            application: scope.surplus_application?,
            compliance: Compliance {
                coverage: surplus.units,
                unlimited: surplus.unlimited,
                ..Compliance::default()
            },
        })
    }));
    // The groups are one sorted run now and the surplus entries a short
    // tail: the stable sort finds the run and merges the tail into it.
    // Equal keys only ever get summed, so their order does not matter.
    let key = |entry: &NodeCompliance| (entry.node, entry.application);
    entries.sort_by_key(key);
    entries.dedup_by(|later, kept| {
        let same = key(later) == key(kept);
        if same {
            kept.compliance.add(&later.compliance);
        }
        same
    });
    for entry in &mut entries {
        let compliance = &mut entry.compliance;
        if compliance.unlimited {
            compliance.coverage = compliance.requirement;
        }
        compliance.compliance = compliance.coverage as i64 - compliance.requirement as i64;
    }
    entries
}

fn totals(
    work: &Work<'_>,
    nodes: &[NodeCompliance],
) -> (Vec<ApplicationCompliance>, Vec<FamilyCompliance>) {
    let estate = work.estate;
    let mut by_application: Vec<Option<Compliance>> = vec![None; estate.applications.len()];
    let mut by_family: Vec<Option<Compliance>> = vec![None; estate.family_count as usize];
    for entry in nodes {
        let family = estate.applications[entry.application as usize].family;
        by_application[entry.application as usize]
            .get_or_insert(Compliance::TOTAL)
            .add_row(&entry.compliance);
        by_family[family as usize]
            .get_or_insert(Compliance::TOTAL)
            .add_row(&entry.compliance);
    }
    let applications = by_application
        .into_iter()
        .enumerate()
        .filter_map(|(application, compliance)| {
            let compliance = compliance?;
            Some(ApplicationCompliance {
                application: application as u32,
                compliance,
            })
        })
        .collect();
    let families = by_family
        .into_iter()
        .enumerate()
        .filter_map(|(family, compliance)| {
            Some(FamilyCompliance {
                family: family as u32,
                compliance: compliance?,
            })
        })
        .collect();
    (applications, families)
}

fn license_results(work: &Work<'_>, findings: &Findings) -> Vec<LicenseResult> {
    let estate = work.estate;
    let mut results: Vec<LicenseResult> = estate
        .licenses
        .iter()
        .zip(work.states)
        .enumerate()
        .map(|(index, (license, state))| {
            let assigned = findings.assignments.assigned[index];
            let unassigned = match state.effective {
                Quantity::Count(units) if license.assignment.is_assigned() => {
                    Some(units.saturating_sub(assigned))
                }
                _ => None,
            };
            LicenseResult {
                status: state.status,
                effective_quantity: state.effective,
                taken_by_upgrades: state.taken_by_upgrades,
                used: work.ledger.used[index],
                surplus: 0,
                assigned,
                unassigned,
                invalid_assignments: 0,
                invalid_units: 0,
                automatic_shares: Vec::new(),
            }
        })
        .collect();
    for surplus in &findings.pools.surplus {
        results[surplus.license as usize].surplus += surplus.units;
    }
    let mut last_assignment = None;
    for invalid in &findings.assignments.invalid {
        let license = estate.assignments[invalid.assignment as usize].license as usize;
        results[license].invalid_units =
            results[license].invalid_units.saturating_add(invalid.units);
        if last_assignment != Some(invalid.assignment) {
            results[license].invalid_assignments += 1;
        }
        last_assignment = Some(invalid.assignment);
    }
    for share in &findings.pools.shares {
        let shares = &mut results[share.license as usize].automatic_shares;
        shares.push(AutomaticShare {
            node: share.node,
            units: share.units,
        });
    }
    for result in &mut results {
        result.automatic_shares.sort_by_key(|share| share.node);
    }
    results
}

fn transfers(work: &Work<'_>, findings: &Findings) -> Vec<Transfer> {
    let key_rank = work.key_rank;
    let mut upgrades = findings.upgrades.clone();
    upgrades.sort_by_key(|transfer| match *transfer {
        Transfer::Upgrade { base, upgrade, .. } => {
            (key_rank[upgrade as usize], key_rank[base as usize])
        }
        _ => (u32::MAX, u32::MAX),
    });
    let mut shares = findings.pools.shares.clone();
    shares.sort_by_key(|share| (key_rank[share.license as usize], share.node));
    let allocations = shares.iter().map(|share| Transfer::Allocation {
        license: share.license,
        node: share.node,
        units: share.units,
    });
    let mut downgrades = work.ledger.downgrades.clone();
    downgrades.sort_by_key(|event| {
        (
            key_rank[event.license as usize],
            event.node,
            event.application,
        )
    });
    let mut merged: Vec<Transfer> = upgrades;
    merged.extend(allocations);
    let mut last: Option<(u32, u32, u32)> = None;
    for event in downgrades {
        let identity = (event.license, event.node, event.application);
        if last == Some(identity) {
            if let Some(Transfer::Downgrade { units, .. }) = merged.last_mut() {
                *units += event.units;
            }
            continue;
        }
        last = Some(identity);
        let from_application = work.states[event.license as usize].scope.own_application;
        merged.push(Transfer::Downgrade {
            license: event.license,
            from_application: from_application.unwrap_or(event.application),
            to_application: event.application,
            node: event.node,
            units: event.units,
        });
    }
    merged
}

/// Rows with their coverings: events bucketed by row (a counting sort, the
/// events are millions), then each row's few licenses put in key order.
fn consumer_results(key_rank: &[u32], rows: Vec<Row>, events: Vec<Event>) -> ConsumerResults {
    let mut starts = vec![0u32; rows.len() + 1];
    for event in &events {
        starts[event.row as usize + 1] += 1;
    }
    for index in 0..rows.len() {
        starts[index + 1] += starts[index];
    }
    let mut by_row: Vec<Event> = vec![
        Event {
            row: 0,
            license: 0,
            units: 0
        };
        events.len()
    ];
    let mut fill = starts.clone();
    for event in events {
        let slot = &mut fill[event.row as usize];
        by_row[*slot as usize] = event;
        *slot += 1;
    }
    let mut coverings: Vec<Covering> = Vec::with_capacity(by_row.len());
    let mut results: Vec<ConsumerResult> = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let slice = &mut by_row[starts[index] as usize..starts[index + 1] as usize];
        slice.sort_unstable_by_key(|event| key_rank[event.license as usize]);
        let first_covering = coverings.len() as u32;
        for event in slice.iter() {
            let own = &mut coverings[first_covering as usize..];
            match own.last_mut() {
                Some(last) if last.license == event.license => last.units += event.units,
                _ => coverings.push(Covering {
                    license: event.license,
                    units: event.units,
                }),
            }
        }
        let requirement = row.requirement();
        let status = match row.no_requirement {
            Some(reason) => ConsumerStatus::NoRequirement(reason),
            None if row.remaining == 0 => ConsumerStatus::Covered,
            None => ConsumerStatus::NotCovered,
        };
        results.push(ConsumerResult {
            consumer: row.consumer,
            application: row.application,
            requirement,
            covered: requirement - row.remaining,
            status,
            first_covering,
            covering_count: coverings.len() as u32 - first_covering,
        });
    }
    ConsumerResults {
        rows: results,
        coverings,
    }
}
