//! Phase 1: computer and user licenses cover only the consumers they are
//! assigned to, assignment by assignment in key order.
//!
//! Running first lets an assignment cover exactly the consumer it names;
//! pooled licenses then cover whatever is left. Processing in key order
//! decides which assignment is the one in excess: the later one. Units of
//! the license's effective quantity go to assignments that can cover
//! something first: an assignment that covers nothing (nothing installed,
//! not used, ...) never leaves a valid one exceeding the quantity.

use crate::matching::Work;
use crate::model::{Assignment, Consumer, Metric, Quantity};
use crate::outcome::{InvalidAssignment, InvalidReason, NoRequirementReason};
use crate::progress::{Phase, Progress};

/// Per license: units assigned; plus every invalid part of an assignment.
#[derive(Debug, Default)]
pub(crate) struct AssignmentResults {
    pub assigned: Vec<u64>,
    pub invalid: Vec<InvalidAssignment>,
}

pub(crate) fn cover_assignments(
    work: &mut Work<'_>,
    progress: &mut Progress<'_>,
) -> AssignmentResults {
    let estate = work.estate;
    let mut order: Vec<u32> = (0..estate.assignments.len() as u32).collect();
    order.sort_unstable_by_key(|&index| estate.assignments[index as usize].key);
    progress.start(Phase::Assignments, order.len() as u64);
    let mut budget: Vec<u64> = work
        .states
        .iter()
        .map(|state| match state.effective {
            Quantity::Count(units) => units,
            Quantity::Unlimited => u64::MAX,
        })
        .collect();
    let mut results = AssignmentResults {
        assigned: vec![0; estate.licenses.len()],
        invalid: Vec::new(),
    };
    let mut candidates = Vec::new();
    // Assignments that cover nothing at all are found first: they never
    // take units of the license's effective quantity from valid ones.
    let whole: Vec<Option<InvalidReason>> = order
        .iter()
        .map(|&index| {
            let assignment = &estate.assignments[index as usize];
            let license = assignment.license as usize;
            let checked = estate.licenses[license].assignment.is_assigned()
                && work.states[license].is_valid();
            checked
                .then(|| whole_assignment_reason(work, assignment, &mut candidates))
                .flatten()
        })
        .collect();
    for (done, (&index, reason)) in order.iter().zip(whole).enumerate() {
        progress.tick(done as u64);
        let assignment = &estate.assignments[index as usize];
        let license = assignment.license as usize;
        if !estate.licenses[license].assignment.is_assigned() {
            // Organization and site licenses are pooled; an assignment means nothing.
            continue;
        }
        results.assigned[license] = results.assigned[license].saturating_add(assignment.quantity);
        if !work.states[license].is_valid() {
            continue;
        }
        let mut invalid = |reason, units| {
            results.invalid.push(InvalidAssignment {
                assignment: index,
                reason,
                units,
            });
        };
        if let Some(reason) = reason {
            invalid(reason, assignment.quantity);
            continue;
        }
        let backed = assignment.quantity.min(budget[license]);
        if budget[license] != u64::MAX {
            budget[license] -= backed;
        }
        if backed < assignment.quantity {
            invalid(
                InvalidReason::ExceedsLicenseQuantity,
                assignment.quantity - backed,
            );
        }
        // Fills `candidates` for this assignment again (it was computed
        // for all of them above); the answer is None once more.
        let again = whole_assignment_reason(work, assignment, &mut candidates);
        debug_assert!(again.is_none());
        let covered = if work.states[license].scope.converts {
            convert_consumer(work, assignment.license, &candidates, backed)
        } else {
            cover_consumer(work, assignment.license, &mut candidates, backed)
        };
        if covered < backed {
            invalid(InvalidReason::Excess, backed - covered);
        }
    }
    progress.finish();
    results
}

/// Why an assignment covers nothing at all, if it does not. Fills
/// `candidates` with the consumer's rows the license may cover.
fn whole_assignment_reason(
    work: &Work<'_>,
    assignment: &Assignment,
    candidates: &mut Vec<(u32, usize)>,
) -> Option<InvalidReason> {
    let estate = work.estate;
    let scope = &work.states[assignment.license as usize].scope;
    if scope.metric.consumer_kind() != assignment.consumer.kind() {
        return Some(InvalidReason::WrongConsumerKind);
    }
    if let Consumer::Computer(computer) = assignment.consumer
        && !estate.computers[computer as usize].counted
    {
        return Some(InvalidReason::InactiveComputer);
    }
    candidates.clear();
    let (first, rows) = work.rows.of(assignment.consumer);
    for (offset, row) in rows.iter().enumerate() {
        let application = &estate.applications[row.application as usize];
        if !scope.covers(row.application, application)
            && !scope.converts_for(row.application, application)
        {
            continue;
        }
        if row.no_requirement == Some(NoRequirementReason::NotUsed) {
            continue;
        }
        // The license's own application first, then earlier versions ascending.
        let priority = if scope.own_application == Some(row.application) {
            0
        } else {
            1 + work.catalog.app_order[row.application as usize]
        };
        candidates.push((priority, first + offset));
    }
    if candidates.is_empty() {
        return Some(match assignment.consumer {
            Consumer::Computer(_) => InvalidReason::NotInstalled,
            Consumer::User(_) => InvalidReason::NotUsed,
        });
    }
    if matches!(scope.metric, Metric::Processors | Metric::Cores) {
        // A converting license spends the computer's processor (core)
        // count on each application it covers there.
        let per_computer = candidates
            .iter()
            .map(|&(_, row)| match scope.converts {
                true => work.conversion_cost(assignment.license, row),
                false => u64::from(work.rows.rows[row].initial),
            })
            .max()
            .unwrap_or(0);
        if assignment.quantity < per_computer {
            return Some(InvalidReason::TooManyProcessors);
        }
    }
    candidates.sort_unstable();
    None
}

fn cover_consumer(
    work: &mut Work<'_>,
    license: u32,
    candidates: &mut [(u32, usize)],
    units: u64,
) -> u64 {
    let mut left = units;
    for &mut (_, row) in candidates.iter_mut() {
        if left == 0 {
            break;
        }
        left -= work.cover_row(row, license, left);
    }
    units - left
}

/// [`cover_consumer`] for a converting license: each application covered
/// on the computer costs its processor (core) count; returns the units
/// spent.
fn convert_consumer(
    work: &mut Work<'_>,
    license: u32,
    candidates: &[(u32, usize)],
    units: u64,
) -> u64 {
    let mut left = units;
    for &(_, row) in candidates {
        let cost = work.conversion_cost(license, row);
        if cost > left {
            continue;
        }
        if work.cover_row_converted(row, license, cost) {
            left -= cost;
        }
    }
    units - left
}
