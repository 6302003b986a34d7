//! Matching license units to requirement, at one node or one consumer.
//!
//! Every license scope is a version prefix of one family (see
//! [`crate::licenses`]), so scopes nest: an exact license is contained in a
//! downgrade license of the same or a later version, which is contained in a
//! family license. For nested scopes the greedy rule "each demand takes the
//! narrowest scope that still has units" is maximal at one node. It runs in
//! three passes: exact versions, then downgrades in ascending version rank
//! (each demand takes the license with the smallest rank above it), then
//! family licenses.
//!
//! The same passes serve two callers: assignments cover rows as they go,
//! while pools first only *plan* (see [`Work::plan`]), so that
//! [`crate::allocation`] can make the plan maximal across nodes before any
//! row is covered.

use crate::demand::{Groups, Rows};
use crate::licenses::{Catalog, LicenseState};
use crate::model::{Consumer, Estate, Metric};

/// Units of one license covering one row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub row: u32,
    pub license: u32,
    pub units: u32,
}

/// A license covering an earlier version than its own at a node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DowngradeEvent {
    pub license: u32,
    pub node: u32,
    pub application: u32,
    pub units: u64,
}

/// Planned units of one pool for one group (pools phase only).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow {
    /// The pool's index in the pools phase's table.
    pub pool: u32,
    pub group: u32,
    pub units: u64,
}

/// Everything the matching records, for the report.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub events: Vec<Event>,
    pub downgrades: Vec<DowngradeEvent>,
    /// Units each license covered.
    pub used: Vec<u64>,
}

/// The calculation's working state: inputs read-only, requirement mutable.
pub(crate) struct Work<'a> {
    pub estate: &'a Estate,
    pub catalog: &'a Catalog,
    pub states: &'a [LicenseState],
    /// Position of each license in key order.
    pub key_rank: &'a [u32],
    pub rows: Rows,
    pub groups: Groups,
    pub ledger: Ledger,
    /// While `Some`, matching plans instead of covering: it lowers the
    /// groups' remaining units and records a [`Flow`], and leaves rows,
    /// ledger and the `unlimited` flags alone.
    pub plan: Option<Vec<Flow>>,
}

/// Units of one license available at one node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pool {
    /// Index in the pools phase's table (0 where there is no table).
    pub id: u32,
    pub license: u32,
    /// How many nodes the pool can reach: among equally narrow pools, the
    /// one that reaches fewest nodes goes first, leaving the others' units
    /// for the nodes only they reach.
    pub reach: u32,
    /// Tie-break between equally narrow pools: manual allocations (0) before
    /// the owner-node rest (1).
    pub phase: u8,
    pub remaining: u64,
    pub unlimited: bool,
    /// The license's scope, copied in by `match_node` so the inner loops
    /// read one contiguous slice.
    order: PoolOrder,
}

/// The part of a scope the matching reads, in the order pools are tried:
/// family, application licenses before family licenses, narrowest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct PoolOrder {
    family: u32,
    is_family: bool,
    rank: u32,
    downgrade: bool,
    reach: u32,
    phase: u8,
    key_rank: u32,
    own_application: u32,
}

impl Pool {
    pub fn new(license: u32, phase: u8, remaining: u64, unlimited: bool) -> Pool {
        let order = PoolOrder::default();
        Pool {
            id: 0,
            license,
            reach: 1,
            phase,
            remaining,
            unlimited,
            order,
        }
    }

    fn has_units(&self) -> bool {
        self.unlimited || self.remaining > 0
    }

    fn available(&self) -> u64 {
        if self.unlimited {
            u64::MAX
        } else {
            self.remaining
        }
    }
}

impl Work<'_> {
    /// Covers up to `units` of one row; returns the units covered.
    pub fn cover_row(&mut self, row_index: usize, license: u32, units: u64) -> u64 {
        let row = &mut self.rows.rows[row_index];
        let take = u64::from(row.remaining).min(units);
        if take == 0 {
            return 0;
        }
        row.remaining -= take as u32;
        let application = row.application;
        let node = row.node;
        let group_index = self.groups.row_group[row_index];
        if let Some(group) = self.groups.groups.get_mut(group_index as usize) {
            group.remaining -= take;
        }
        self.ledger.events.push(Event {
            row: row_index as u32,
            license,
            units: take as u32,
        });
        self.record_use(license, node, application, take);
        take
    }

    /// The units a converting license spends on one computer: its
    /// processors (cores), at least the license's minimum and at least 1.
    pub fn conversion_cost(&self, license: u32, row_index: usize) -> u64 {
        let Consumer::Computer(computer) = self.rows.rows[row_index].consumer else {
            return u64::MAX;
        };
        let computer = &self.estate.computers[computer as usize];
        let entry = &self.estate.licenses[license as usize];
        let count = match entry.metric {
            Metric::Cores => computer.cores,
            _ => computer.processors,
        };
        u64::from(count.max(entry.minimum_per_computer).max(1))
    }

    /// Covers one row's whole requirement with a converting license that
    /// spends `cost` units on it; false when nothing was left to cover.
    pub fn cover_row_converted(&mut self, row_index: usize, license: u32, cost: u64) -> bool {
        let row = &mut self.rows.rows[row_index];
        let take = row.remaining;
        if take == 0 {
            return false;
        }
        row.remaining = 0;
        let (application, node) = (row.application, row.node);
        let group_index = self.groups.row_group[row_index];
        if let Some(group) = self.groups.groups.get_mut(group_index as usize) {
            group.remaining -= u64::from(take);
        }
        self.ledger.events.push(Event {
            row: row_index as u32,
            license,
            units: take,
        });
        // Requirement is counted in the application's metric; the license
        // spends its own units.
        self.ledger.used[license as usize] += cost;
        let scope = &self.states[license as usize].scope;
        if scope.own_application.is_some_and(|own| own != application) {
            self.ledger.downgrades.push(DowngradeEvent {
                license,
                node,
                application,
                units: u64::from(take),
            });
        }
        true
    }

    /// Covers what it can of a group's uncovered rows with a converting
    /// pool, computer by computer in consumer order while its units last;
    /// returns the units spent.
    pub fn convert_group(&mut self, group_index: usize, license: u32, pool: &mut Pool) -> u64 {
        let (start, end) = {
            let group = &self.groups.groups[group_index];
            (group.cursor as usize, group.end as usize)
        };
        let mut spent = 0;
        for position in start..end {
            let row_index = self.groups.order[position] as usize;
            if self.rows.rows[row_index].remaining == 0 {
                continue;
            }
            let cost = self.conversion_cost(license, row_index);
            if !pool.unlimited && pool.remaining < cost {
                continue;
            }
            if self.cover_row_converted(row_index, license, cost) {
                if !pool.unlimited {
                    pool.remaining -= cost;
                }
                spent += cost;
            }
        }
        if pool.unlimited && spent > 0 {
            self.groups.groups[group_index].unlimited = true;
        }
        spent
    }

    /// Covers up to `units` of a group's rows in consumer order.
    pub fn cover_group(&mut self, group_index: usize, license: u32, units: u64) -> u64 {
        let group = &mut self.groups.groups[group_index];
        let wanted = units.min(group.remaining);
        let mut left = wanted;
        while left > 0 && group.cursor < group.end {
            let row_index = self.groups.order[group.cursor as usize];
            let row = &mut self.rows.rows[row_index as usize];
            let take = u64::from(row.remaining).min(left);
            if take > 0 {
                row.remaining -= take as u32;
                left -= take;
                self.ledger.events.push(Event {
                    row: row_index,
                    license,
                    units: take as u32,
                });
            }
            if row.remaining == 0 {
                group.cursor += 1;
            }
        }
        debug_assert_eq!(left, 0, "group remaining out of step with its rows");
        let covered = wanted - left;
        group.remaining -= covered;
        let (node, application) = (group.node, group.application);
        self.record_use(license, node, application, covered);
        covered
    }

    fn record_use(&mut self, license: u32, node: u32, application: u32, units: u64) {
        self.ledger.used[license as usize] += units;
        let scope = &self.states[license as usize].scope;
        if scope.own_application.is_some_and(|own| own != application) && units > 0 {
            let event = DowngradeEvent {
                license,
                node,
                application,
                units,
            };
            self.ledger.downgrades.push(event);
        }
    }

    fn pool_order(&self, pool: &Pool) -> PoolOrder {
        let scope = &self.states[pool.license as usize].scope;
        PoolOrder {
            family: scope.family,
            is_family: scope.is_family(),
            rank: scope.rank,
            downgrade: scope.downgrade,
            reach: pool.reach,
            phase: pool.phase,
            key_rank: self.key_rank[pool.license as usize],
            own_application: scope.own_application.unwrap_or(u32::MAX),
        }
    }

    /// Puts pools in the order [`Self::match_sorted`] tries them. The order
    /// is total (it ends with the license's key rank), so a sorted list
    /// stays sorted when pools are left out of it.
    pub fn sort_pools(&self, pools: &mut [Pool]) {
        for pool in pools.iter_mut() {
            pool.order = self.pool_order(pool);
        }
        pools.sort_unstable_by_key(|pool| pool.order);
    }

    /// Matches pools, already in [`Self::sort_pools`] order, against a
    /// node's uncovered groups.
    pub fn match_sorted(&mut self, node: u32, pools: &mut [Pool]) {
        let group_start = self.groups.node_start[node as usize] as usize;
        let group_end = self.groups.node_start[node as usize + 1] as usize;
        if pools.is_empty() || group_start == group_end {
            return;
        }
        debug_assert!(pools.is_sorted_by_key(|pool| pool.order));
        let mut groups = group_start;
        let mut pool_block = 0;
        while groups < group_end {
            let family = self.family_of_group(groups);
            let family_end = (groups..group_end)
                .find(|&group| self.family_of_group(group) != family)
                .unwrap_or(group_end);
            pool_block += pools[pool_block..].partition_point(|pool| pool.order.family < family);
            let pool_end = pool_block
                + pools[pool_block..].partition_point(|pool| pool.order.family == family);
            let family_pools = &mut pools[pool_block..pool_end];
            let split = family_pools.partition_point(|pool| !pool.order.is_family);
            let (application_pools, family_license_pools) = family_pools.split_at_mut(split);
            for group_index in groups..family_end {
                self.match_exact(group_index, application_pools);
            }
            for group_index in groups..family_end {
                self.match_downgrade(group_index, application_pools);
            }
            for group_index in groups..family_end {
                self.match_any(group_index, family_license_pools);
            }
            groups = family_end;
            pool_block = pool_end;
        }
    }

    fn family_of_group(&self, group: usize) -> u32 {
        let application = self.groups.groups[group].application;
        self.estate.applications[application as usize].family
    }

    /// Pass 1: licenses of the group's own application.
    fn match_exact(&mut self, group_index: usize, pools: &mut [Pool]) {
        let application = self.groups.groups[group_index].application;
        let rank = self.estate.applications[application as usize].version_rank;
        let start = pools.partition_point(|pool| pool.order.rank < rank);
        let end = start + pools[start..].partition_point(|pool| pool.order.rank == rank);
        let own = pools[start..end]
            .iter_mut()
            .filter(|pool| pool.order.own_application == application);
        for pool in own {
            if !self.take(group_index, pool) {
                return;
            }
        }
    }

    /// Pass 2: downgrade licenses of later versions, nearest version first.
    fn match_downgrade(&mut self, group_index: usize, pools: &mut [Pool]) {
        let application = self.groups.groups[group_index].application;
        let catalog_entry = &self.estate.applications[application as usize];
        let (rank, metric) = (catalog_entry.version_rank, catalog_entry.metric);
        let start = pools.partition_point(|pool| pool.order.rank <= rank);
        for pool in &mut pools[start..] {
            let license_metric = self.states[pool.license as usize].scope.metric;
            if !pool.order.downgrade || !license_metric.covers(metric) {
                continue;
            }
            if !self.take(group_index, pool) {
                return;
            }
        }
    }

    /// Pass 3: family licenses.
    fn match_any(&mut self, group_index: usize, pools: &mut [Pool]) {
        let application = self.groups.groups[group_index].application;
        let metric = self.estate.applications[application as usize].metric;
        for pool in pools.iter_mut() {
            if !self.states[pool.license as usize]
                .scope
                .metric
                .covers(metric)
            {
                continue;
            }
            if !self.take(group_index, pool) {
                return;
            }
        }
    }

    /// Covers what a pool can of a group; false once the group is covered.
    fn take(&mut self, group_index: usize, pool: &mut Pool) -> bool {
        if self.groups.groups[group_index].remaining == 0 {
            return false;
        }
        if !pool.has_units() {
            return true;
        }
        let covered = match &mut self.plan {
            Some(plan) => {
                let group = &mut self.groups.groups[group_index];
                let covered = group.remaining.min(pool.available());
                group.remaining -= covered;
                plan.push(Flow {
                    pool: pool.id,
                    group: group_index as u32,
                    units: covered,
                });
                covered
            }
            None => {
                let covered = self.cover_group(group_index, pool.license, pool.available());
                if pool.unlimited {
                    self.groups.groups[group_index].unlimited = true;
                }
                covered
            }
        };
        if !pool.unlimited {
            pool.remaining -= covered;
        }
        self.groups.groups[group_index].remaining > 0
    }
}
