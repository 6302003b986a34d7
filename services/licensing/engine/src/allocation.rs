//! Phases 2 to 4: organization and site licenses cover through pools.
//!
//! Manual allocations and the owner-node rest of licenses without automatic
//! allocation are fixed to one node each, so they are matched together per
//! node (manual allocations win ties). Automatic allocation then walks the
//! tree in preorder: each node takes, from the licenses of its ancestors
//! (itself included), what its still-uncovered requirement can use. What no
//! node took stays at the legal owner as surplus.

use crate::matching::{Pool, Work};
use crate::model::{AssignmentType, Estate, License, Quantity};
use crate::progress::{Phase, Progress};

/// Pooled units that covered nothing, shown at a node for one application.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Surplus {
    pub license: u32,
    pub node: u32,
    pub units: u64,
    pub unlimited: bool,
}

/// Units of a license that covered at a node through automatic allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share {
    pub license: u32,
    pub node: u32,
    pub units: u64,
}

#[derive(Debug, Default)]
pub(crate) struct PoolResults {
    pub surplus: Vec<Surplus>,
    pub shares: Vec<Share>,
}

/// Runs the fixed-pool phase, then automatic allocation.
pub(crate) fn cover_pools(
    work: &mut Work<'_>,
    key_order: &[u32],
    progress: &mut Progress<'_>,
) -> PoolResults {
    let estate = work.estate;
    let mut fixed: Vec<Vec<Pool>> = vec![Vec::new(); estate.nodes.len()];
    let mut automatic: Vec<Vec<Pool>> = vec![Vec::new(); estate.nodes.len()];
    for &license_index in key_order {
        let license = &estate.licenses[license_index as usize];
        let pooled = matches!(
            license.assignment,
            AssignmentType::Organization | AssignmentType::Site
        );
        if !pooled || !work.states[license_index as usize].is_valid() {
            continue;
        }
        let effective = work.states[license_index as usize].effective;
        split_license(
            license_index,
            license,
            effective,
            &mut fixed,
            &mut automatic,
        );
    }
    let mut results = PoolResults::default();
    progress.start(Phase::FixedPools, estate.nodes.len() as u64);
    for (node, pools) in fixed.iter_mut().enumerate() {
        progress.tick(node as u64);
        work.match_node(node as u32, pools);
        for pool in pools.iter() {
            push_surplus(&mut results.surplus, pool, node as u32);
        }
    }
    progress.finish();
    allocate_automatically(work, &mut automatic, &mut results, progress);
    results
}

/// Cuts a license into manual pools (by node, clamped to what is left) and
/// the rest, which goes to automatic allocation or to the owner node.
fn split_license(
    license_index: u32,
    license: &License,
    effective: Quantity,
    fixed: &mut [Vec<Pool>],
    automatic: &mut [Vec<Pool>],
) {
    let unlimited = effective == Quantity::Unlimited;
    let mut left = match effective {
        Quantity::Count(units) => units,
        Quantity::Unlimited => u64::MAX,
    };
    let mut manual = license.manual_allocations.clone();
    manual.sort_unstable_by_key(|allocation| allocation.node);
    for (position, allocation) in manual.iter().enumerate() {
        if position > 0 && manual[position - 1].node == allocation.node {
            continue;
        }
        let requested: u64 = manual[position..]
            .iter()
            .take_while(|other| other.node == allocation.node)
            .map(|other| other.quantity)
            .fold(0, u64::saturating_add);
        let units = requested.min(left);
        if !unlimited {
            left -= units;
        }
        if units > 0 || unlimited {
            fixed[allocation.node as usize].push(Pool::new(license_index, 0, units, unlimited));
        }
    }
    let owner = license.legal_owner as usize;
    let rest = Pool::new(license_index, 1, left, unlimited);
    if license.automatic_allocation {
        automatic[owner].push(rest);
    } else {
        fixed[owner].push(rest);
    }
}

fn push_surplus(surplus: &mut Vec<Surplus>, pool: &Pool, node: u32) {
    if pool.unlimited || pool.remaining > 0 {
        let units = if pool.unlimited { 0 } else { pool.remaining };
        let unlimited = pool.unlimited;
        surplus.push(Surplus {
            license: pool.license,
            node,
            units,
            unlimited,
        });
    }
}

/// Preorder with children in index order. Parents precede children in
/// index order, so one counting pass builds the child lists.
pub(crate) fn preorder(estate: &Estate) -> Vec<u32> {
    let count = estate.nodes.len();
    let mut child_start = vec![0usize; count + 1];
    for node in estate.nodes.iter().skip(1) {
        if let Some(parent) = node.parent {
            child_start[parent as usize + 1] += 1;
        }
    }
    for index in 0..count {
        child_start[index + 1] += child_start[index];
    }
    let mut children = vec![0u32; count.saturating_sub(1)];
    let mut fill = child_start.clone();
    for (index, node) in estate.nodes.iter().enumerate().skip(1) {
        if let Some(parent) = node.parent {
            children[fill[parent as usize]] = index as u32;
            fill[parent as usize] += 1;
        }
    }
    let mut order = Vec::with_capacity(count);
    let mut stack = vec![0u32];
    while let Some(node) = stack.pop() {
        order.push(node);
        let own = &children[child_start[node as usize]..child_start[node as usize + 1]];
        stack.extend(own.iter().rev());
    }
    order
}

/// Each node's subtree as a range of preorder positions: `a` is an
/// ancestor of `b` (or `b` itself) when `b`'s position is in `a`'s range.
fn subtree_ranges(estate: &Estate, order: &[u32]) -> Vec<(u32, u32)> {
    let mut ranges = vec![(0, 0); estate.nodes.len()];
    for (position, &node) in order.iter().enumerate() {
        ranges[node as usize] = (position as u32, position as u32 + 1);
    }
    // Children come after their parents in preorder: walking it backwards
    // finishes every subtree before its parent's.
    for &node in order.iter().rev() {
        if let Some(parent) = estate.nodes[node as usize].parent {
            let end = ranges[node as usize].1;
            let parent_range = &mut ranges[parent as usize];
            parent_range.1 = parent_range.1.max(end);
        }
    }
    ranges
}

fn allocate_automatically(
    work: &mut Work<'_>,
    automatic: &mut [Vec<Pool>],
    results: &mut PoolResults,
    progress: &mut Progress<'_>,
) {
    let estate = work.estate;
    progress.start(Phase::AutomaticAllocation, estate.nodes.len() as u64);
    let order = preorder(estate);
    let ranges = subtree_ranges(estate, &order);
    // Every automatic pool, sorted once. A node's pools are those of its
    // ancestors (itself included): picked out of this list in order, they
    // are sorted already.
    let mut all: Vec<Pool> = automatic.iter().flatten().copied().collect();
    work.sort_pools(&mut all);
    let owner_ranges: Vec<(u32, u32)> = all
        .iter()
        .map(|pool| ranges[estate.licenses[pool.license as usize].legal_owner as usize])
        .collect();
    // The current state of each license's one automatic pool.
    let mut by_license: Vec<Option<Pool>> = vec![None; estate.licenses.len()];
    for pool in &all {
        by_license[pool.license as usize] = Some(*pool);
    }
    let mut pools: Vec<Pool> = Vec::new();
    for (done, &node) in order.iter().enumerate() {
        progress.tick(done as u64);
        if !has_uncovered_requirement(work, node) {
            continue;
        }
        let position = ranges[node as usize].0;
        pools.clear();
        for (pool, &(first, past)) in all.iter().zip(&owner_ranges) {
            if position < first || position >= past {
                continue;
            }
            let Some(current) = by_license[pool.license as usize] else {
                continue;
            };
            if current.unlimited || current.remaining > 0 {
                let mut pool = current;
                pool.covered = 0;
                pools.push(pool);
            }
        }
        work.match_sorted(node, &mut pools);
        for pool in &pools {
            if pool.covered > 0 {
                results.shares.push(Share {
                    license: pool.license,
                    node,
                    units: pool.covered,
                });
            }
            by_license[pool.license as usize] = Some(*pool);
        }
    }
    for (owner, pools) in automatic.iter().enumerate() {
        for pool in pools {
            if let Some(current) = by_license[pool.license as usize] {
                push_surplus(&mut results.surplus, &current, owner as u32);
            }
        }
    }
    progress.finish();
}

fn has_uncovered_requirement(work: &Work<'_>, node: u32) -> bool {
    let start = work.groups.node_start[node as usize] as usize;
    let end = work.groups.node_start[node as usize + 1] as usize;
    work.groups.groups[start..end]
        .iter()
        .any(|group| group.remaining > 0)
}
