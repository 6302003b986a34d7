//! Phases 2 and 3: organization and site licenses cover through pools.
//!
//! A license becomes pools: manual allocations (one per node), and the
//! rest, which is pinned to the owner node or, with automatic allocation,
//! reaches the owner's whole subtree. Every pool that reaches a node is
//! matched there together, in one order: narrowest scope first, then the
//! pool that reaches fewest nodes, manual before owner pool before
//! automatic, then key. Nodes go in preorder, so ancestors take from a
//! shared automatic pool before their descendants.
//!
//! That greedy walk is maximal at each node but not across nodes: a node
//! can spend a license that a sibling needed while a license only it
//! reaches stays unused. So the walk only plans, per (pool, node and
//! application group), and [`augment`] then moves planned units along
//! augmenting paths (the Ford–Fulkerson step on pools and groups) until
//! none is left, which makes the total coverage a maximum flow. Only then
//! are rows covered, per group in pool order. What no node took stays
//! where the pool is pinned (the owner node for the rest) as surplus.

use std::collections::{HashMap, VecDeque};

use crate::matching::{Flow, Pool, Work};
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

/// One pool and where it reaches.
#[derive(Debug, Clone, Copy)]
struct Entry {
    pool: Pool,
    /// Where the pool is pinned: its surplus shows here.
    node: u32,
    /// The preorder positions it reaches: `first..past`.
    first: u32,
    past: u32,
    automatic: bool,
}

/// Every pool, with the tree's preorder.
struct Table {
    entries: Vec<Entry>,
    /// Pool ids in matching order.
    sorted: Vec<u32>,
    order: Vec<u32>,
}

/// Plans every pool, makes the plan maximal, then covers by it.
pub(crate) fn cover_pools(
    work: &mut Work<'_>,
    key_order: &[u32],
    progress: &mut Progress<'_>,
) -> PoolResults {
    let mut table = build_table(work, key_order);
    let saved: Vec<u64> = work
        .groups
        .groups
        .iter()
        .map(|group| group.remaining)
        .collect();
    work.plan = Some(Vec::new());
    progress.start(Phase::FixedPools, table.order.len() as u64);
    plan_greedily(work, &mut table, progress);
    progress.finish();
    let mut flows = work.plan.take().unwrap_or_default();
    progress.start(Phase::AutomaticAllocation, 1);
    augment(work, &mut table, &mut flows);
    for (group, remaining) in work.groups.groups.iter_mut().zip(saved) {
        group.remaining = remaining;
    }
    let results = apply(work, &mut table, flows);
    progress.finish();
    results
}

fn build_table(work: &Work<'_>, key_order: &[u32]) -> Table {
    let estate = work.estate;
    let order = preorder(estate);
    let ranges = subtree_ranges(estate, &order);
    let mut entries = Vec::new();
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
        split_license(license_index, license, effective, &ranges, &mut entries);
    }
    let mut pools: Vec<Pool> = entries
        .iter_mut()
        .enumerate()
        .map(|(id, entry)| {
            entry.pool.id = id as u32;
            entry.pool
        })
        .collect();
    work.sort_pools(&mut pools);
    // The sorted copies carry their matching order; the table keeps them.
    for pool in &pools {
        entries[pool.id as usize].pool = *pool;
    }
    let sorted = pools.iter().map(|pool| pool.id).collect();
    Table {
        entries,
        sorted,
        order,
    }
}

/// Nodes in preorder, each matching every pool that reaches it and still
/// has units.
fn plan_greedily(work: &mut Work<'_>, table: &mut Table, progress: &mut Progress<'_>) {
    let mut candidates: Vec<Pool> = Vec::new();
    for done in 0..table.order.len() {
        progress.tick(done as u64);
        let node = table.order[done];
        if !has_uncovered_requirement(work, node) {
            continue;
        }
        candidates.clear();
        for &id in &table.sorted {
            let entry = &table.entries[id as usize];
            let here = done as u32;
            if here < entry.first || here >= entry.past {
                continue;
            }
            // Converting pools cover in their own pass (see `convert`).
            let converts = work.states[entry.pool.license as usize].scope.converts;
            if !converts && (entry.pool.unlimited || entry.pool.remaining > 0) {
                candidates.push(entry.pool);
            }
        }
        work.match_sorted(node, &mut candidates);
        for pool in &candidates {
            table.entries[pool.id as usize].pool.remaining = pool.remaining;
        }
    }
}

/// Groups of one family that the repair looks at, and its pools.
struct Family {
    /// (preorder position of the group's node, group index), sorted.
    groups: Vec<(u32, u32)>,
    /// The family's pools in matching order.
    pools: Vec<u32>,
}

/// The flows into each group: the plan's, counting-sorted by group, plus
/// the few that paths add.
struct FlowIndex {
    start: Vec<u32>,
    planned: Vec<u32>,
    added: HashMap<u32, Vec<u32>>,
}

impl FlowIndex {
    fn new(flows: &[Flow], group_count: usize) -> FlowIndex {
        let mut start = vec![0u32; group_count + 1];
        for flow in flows {
            start[flow.group as usize + 1] += 1;
        }
        for index in 0..group_count {
            start[index + 1] += start[index];
        }
        let mut fill = start.clone();
        let mut planned = vec![0u32; flows.len()];
        for (index, flow) in flows.iter().enumerate() {
            planned[fill[flow.group as usize] as usize] = index as u32;
            fill[flow.group as usize] += 1;
        }
        FlowIndex {
            start,
            planned,
            added: HashMap::new(),
        }
    }

    fn of(&self, group: u32) -> impl Iterator<Item = u32> + '_ {
        let range = self.start[group as usize] as usize..self.start[group as usize + 1] as usize;
        let added = self.added.get(&group).map(Vec::as_slice).unwrap_or(&[]);
        self.planned[range].iter().chain(added).copied()
    }

    /// Adds units of a pool to a group, as a new flow if it had none there.
    fn add(&mut self, flows: &mut Vec<Flow>, pool: u32, group: u32, units: u64) {
        let existing = self
            .of(group)
            .find(|&flow| flows[flow as usize].pool == pool);
        match existing {
            Some(flow) => flows[flow as usize].units += units,
            None => {
                self.added
                    .entry(group)
                    .or_default()
                    .push(flows.len() as u32);
                flows.push(Flow { pool, group, units });
            }
        }
    }
}

/// The search state of [`augment`], reset through the touched lists so a
/// search costs what it visits, not the estate's size.
struct Search {
    pool_seen: Vec<bool>,
    /// The flow through which a pool was reached (`u32::MAX`: a source).
    pool_via: Vec<u32>,
    group_seen: Vec<bool>,
    /// The pool through which a group was reached.
    group_via: Vec<u32>,
    touched_pools: Vec<u32>,
    touched_groups: Vec<u32>,
    queue: VecDeque<u32>,
}

impl Search {
    fn reset(&mut self) {
        for pool in self.touched_pools.drain(..) {
            self.pool_seen[pool as usize] = false;
        }
        for group in self.touched_groups.drain(..) {
            self.group_seen[group as usize] = false;
        }
        self.queue.clear();
    }

    fn reach_pool(&mut self, pool: u32, via: u32) {
        self.pool_seen[pool as usize] = true;
        self.pool_via[pool as usize] = via;
        self.touched_pools.push(pool);
        self.queue.push_back(pool);
    }
}

/// Moves planned units along augmenting paths until no pool with units
/// left can reach, directly or by displacing other pools, a group with
/// requirement left. Each path starts at a pool with units left, enters a
/// group the pool may cover, leaves it through a pool that covers part of
/// it, and so on, until a group with uncovered requirement: every pool on
/// the path takes over the units the next one gives up. A pool covers only
/// its own family, so each family is repaired on its own, and only
/// families with both units left and requirement left are looked at.
fn augment(work: &mut Work<'_>, table: &mut Table, flows: &mut Vec<Flow>) {
    let estate = work.estate;
    let family_count = estate.family_count as usize;
    let family_of = |group: u32| {
        let application = work.groups.groups[group as usize].application;
        estate.applications[application as usize].family
    };
    let pool_family =
        |entry: &Entry| work.states[entry.pool.license as usize].scope.family as usize;
    let mut spare = vec![false; family_count];
    for entry in &table.entries {
        if work.states[entry.pool.license as usize].scope.converts {
            continue;
        }
        if entry.pool.unlimited || entry.pool.remaining > 0 {
            spare[pool_family(entry)] = true;
        }
    }
    let mut families: Vec<Option<Family>> = (0..family_count).map(|_| None).collect();
    let mut any = false;
    for (index, group) in work.groups.groups.iter().enumerate() {
        let family = family_of(index as u32) as usize;
        if group.remaining > 0 && spare[family] && families[family].is_none() {
            families[family] = Some(Family {
                groups: Vec::new(),
                pools: Vec::new(),
            });
            any = true;
        }
    }
    if !any {
        return;
    }
    // Nodes in preorder: each family's list comes sorted by position.
    for (position, &node) in table.order.iter().enumerate() {
        let start = work.groups.node_start[node as usize];
        let end = work.groups.node_start[node as usize + 1];
        for group in start..end {
            if let Some(family) = &mut families[family_of(group) as usize] {
                family.groups.push((position as u32, group));
            }
        }
    }
    for &id in &table.sorted {
        let entry = &table.entries[id as usize];
        if work.states[entry.pool.license as usize].scope.converts {
            continue;
        }
        if let Some(family) = &mut families[pool_family(entry)] {
            family.pools.push(id);
        }
    }
    let group_count = work.groups.groups.len();
    let mut flows_of = FlowIndex::new(flows, group_count);
    let pool_count = table.entries.len();
    let mut search = Search {
        pool_seen: vec![false; pool_count],
        pool_via: vec![u32::MAX; pool_count],
        group_seen: vec![false; group_count],
        group_via: vec![u32::MAX; group_count],
        touched_pools: Vec::new(),
        touched_groups: Vec::new(),
        queue: VecDeque::new(),
    };
    for family in families.iter().flatten() {
        while let Some(end) = find_path(work, table, family, flows, &flows_of, &mut search) {
            shift_along(work, table, flows, &mut flows_of, &search, end);
            search.reset();
        }
        search.reset();
    }
}

/// Breadth-first search from the family's pools with units left to a group
/// with requirement left; returns that group, the path in `search`.
fn find_path(
    work: &Work<'_>,
    table: &Table,
    family: &Family,
    flows: &[Flow],
    flows_of: &FlowIndex,
    search: &mut Search,
) -> Option<u32> {
    let estate = work.estate;
    for &id in &family.pools {
        let pool = &table.entries[id as usize].pool;
        if pool.unlimited || pool.remaining > 0 {
            search.reach_pool(id, u32::MAX);
        }
    }
    while let Some(id) = search.queue.pop_front() {
        let entry = &table.entries[id as usize];
        let scope = &work.states[entry.pool.license as usize].scope;
        let start = family.groups.partition_point(|&(at, _)| at < entry.first);
        for &(at, group) in &family.groups[start..] {
            if at >= entry.past {
                break;
            }
            let application = work.groups.groups[group as usize].application;
            if search.group_seen[group as usize]
                || !scope.covers(application, &estate.applications[application as usize])
            {
                continue;
            }
            search.group_seen[group as usize] = true;
            search.group_via[group as usize] = id;
            search.touched_groups.push(group);
            if work.groups.groups[group as usize].remaining > 0 {
                return Some(group);
            }
            for flow in flows_of.of(group) {
                let other = flows[flow as usize].pool;
                if flows[flow as usize].units > 0 && !search.pool_seen[other as usize] {
                    search.reach_pool(other, flow);
                }
            }
        }
    }
    None
}

/// Moves the path's bottleneck: the uncovered units at its end, every flow
/// it displaces, and the units its first pool has left.
fn shift_along(
    work: &mut Work<'_>,
    table: &mut Table,
    flows: &mut Vec<Flow>,
    flows_of: &mut FlowIndex,
    search: &Search,
    end: u32,
) {
    let mut units = work.groups.groups[end as usize].remaining;
    let mut group = end;
    loop {
        let pool = search.group_via[group as usize] as usize;
        let via = search.pool_via[pool];
        if via == u32::MAX {
            let entry = &table.entries[pool];
            if !entry.pool.unlimited {
                units = units.min(entry.pool.remaining);
            }
            break;
        }
        units = units.min(flows[via as usize].units);
        group = flows[via as usize].group;
    }
    work.groups.groups[end as usize].remaining -= units;
    let mut group = end;
    loop {
        let pool = search.group_via[group as usize];
        flows_of.add(flows, pool, group, units);
        let via = search.pool_via[pool as usize];
        if via == u32::MAX {
            let entry = &mut table.entries[pool as usize];
            if !entry.pool.unlimited {
                entry.pool.remaining -= units;
            }
            break;
        }
        flows[via as usize].units -= units;
        group = flows[via as usize].group;
    }
}

/// Per-processor (per-core) pools of applications counted per computer,
/// after the matching: each in matching order walks the nodes it reaches
/// in preorder and covers whole computers, in consumer order, at their
/// processor (core) count while its units last. Greedy, so outside the
/// maximality of rule 6: units are spent per computer, not per unit.
fn convert(work: &mut Work<'_>, table: &mut Table, results: &mut PoolResults) {
    let estate = work.estate;
    for position in 0..table.sorted.len() {
        let id = table.sorted[position] as usize;
        let entry = table.entries[id];
        let license = entry.pool.license;
        let scope = work.states[license as usize].scope;
        if !scope.converts {
            continue;
        }
        let mut pool = entry.pool;
        for at in entry.first..entry.past {
            if !pool.unlimited && pool.remaining == 0 {
                break;
            }
            let node = table.order[at as usize];
            let start = work.groups.node_start[node as usize] as usize;
            let end = work.groups.node_start[node as usize + 1] as usize;
            let mut spent_here = 0;
            for group in start..end {
                let application = work.groups.groups[group].application;
                if work.groups.groups[group].remaining == 0
                    || !scope.converts_for(application, &estate.applications[application as usize])
                {
                    continue;
                }
                spent_here += work.convert_group(group, license, &mut pool);
            }
            if entry.automatic && spent_here > 0 {
                results.shares.push(Share {
                    license,
                    node,
                    units: spent_here,
                });
            }
        }
        table.entries[id].pool = pool;
    }
}

/// Covers the rows by the plan: per group, pools in matching order.
fn apply(work: &mut Work<'_>, table: &mut Table, mut flows: Vec<Flow>) -> PoolResults {
    let mut rank = vec![0u32; table.entries.len()];
    for (position, &id) in table.sorted.iter().enumerate() {
        rank[id as usize] = position as u32;
    }
    flows.retain(|flow| flow.units > 0);
    flows.sort_unstable_by_key(|flow| (flow.group, rank[flow.pool as usize]));
    let mut results = PoolResults::default();
    for flow in &flows {
        let entry = &table.entries[flow.pool as usize];
        let license = entry.pool.license;
        let covered = work.cover_group(flow.group as usize, license, flow.units);
        debug_assert_eq!(covered, flow.units, "the plan covers what it planned");
        let group = &mut work.groups.groups[flow.group as usize];
        if entry.pool.unlimited {
            group.unlimited = true;
        }
        if entry.automatic {
            // Merged with the conversion pass's shares below.
            results.shares.push(Share {
                license,
                node: group.node,
                units: covered,
            });
        }
    }
    convert(work, table, &mut results);
    results
        .shares
        .sort_unstable_by_key(|share| (share.license, share.node));
    let mut merged: Vec<Share> = Vec::with_capacity(results.shares.len());
    for share in results.shares.drain(..) {
        match merged.last_mut() {
            Some(last) if last.license == share.license && last.node == share.node => {
                last.units += share.units;
            }
            _ => merged.push(share),
        }
    }
    results.shares = merged;
    for entry in &table.entries {
        push_surplus(&mut results.surplus, &entry.pool, entry.node);
    }
    results
}

/// Cuts a license into manual pools (by node, clamped to what is left) and
/// the rest, pinned to the owner node or, with automatic allocation,
/// reaching the owner's subtree.
fn split_license(
    license_index: u32,
    license: &License,
    effective: Quantity,
    ranges: &[(u32, u32)],
    entries: &mut Vec<Entry>,
) {
    let unlimited = effective == Quantity::Unlimited;
    let mut left = match effective {
        Quantity::Count(units) => units,
        Quantity::Unlimited => u64::MAX,
    };
    let pinned = |node: u32, pool: Pool| Entry {
        pool,
        node,
        first: ranges[node as usize].0,
        past: ranges[node as usize].0 + 1,
        automatic: false,
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
            let pool = Pool::new(license_index, 0, units, unlimited);
            entries.push(pinned(allocation.node, pool));
        }
    }
    let owner = license.legal_owner;
    if license.automatic_allocation {
        let (first, past) = ranges[owner as usize];
        let mut pool = Pool::new(license_index, 2, left, unlimited);
        pool.reach = past - first;
        entries.push(Entry {
            pool,
            node: owner,
            first,
            past,
            automatic: true,
        });
    } else {
        entries.push(pinned(owner, Pool::new(license_index, 1, left, unlimited)));
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

fn has_uncovered_requirement(work: &Work<'_>, node: u32) -> bool {
    let start = work.groups.node_start[node as usize] as usize;
    let end = work.groups.node_start[node as usize + 1] as usize;
    work.groups.groups[start..end]
        .iter()
        .any(|group| group.remaining > 0)
}
