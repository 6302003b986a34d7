//! The requirement: one row per (consumer, application), then the same rows
//! grouped per (node, application) for the node-level matching.
//!
//! Rows are built with one sort of the installations and one of the usage,
//! then linear passes; grouping is a two-pass counting sort, so the cost is
//! linear in the estate apart from those two sorts.

use crate::licenses::Catalog;
use crate::model::{Consumer, ConsumerKind, Estate, Metric};
use crate::outcome::NoRequirementReason;
use crate::progress::{Phase, Progress};

/// One (consumer, application) demand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub consumer: Consumer,
    pub application: u32,
    pub node: u32,
    /// Units before exclusions (0 when nothing is required).
    pub initial: u32,
    /// Units still uncovered.
    pub remaining: u32,
    /// Why nothing is required, if so.
    pub no_requirement: Option<NoRequirementReason>,
}

impl Row {
    /// Units required after exclusions.
    pub fn requirement(&self) -> u32 {
        match self.no_requirement {
            Some(_) => 0,
            None => self.initial,
        }
    }
}

/// Every row, sorted by (consumer, application); computers first.
#[derive(Debug)]
pub(crate) struct Rows {
    pub rows: Vec<Row>,
    /// Rows of computer `c` are `computer_start[c]..computer_start[c + 1]`.
    pub computer_start: Vec<u32>,
    /// Rows of user `u` are `user_start[u]..user_start[u + 1]`.
    pub user_start: Vec<u32>,
}

impl Rows {
    /// The rows of one consumer, with the position of the first.
    pub fn of(&self, consumer: Consumer) -> (usize, &[Row]) {
        let (starts, index) = match consumer {
            Consumer::Computer(index) => (&self.computer_start, index),
            Consumer::User(index) => (&self.user_start, index),
        };
        let start = starts[index as usize] as usize;
        let end = starts[index as usize + 1] as usize;
        (start, &self.rows[start..end])
    }
}

/// Exclusions of one consumer kind as sorted (consumer, application) pairs;
/// `u32::MAX` stands for every application.
struct ExclusionSet {
    pairs: Vec<(u32, u32)>,
}

impl ExclusionSet {
    fn new(estate: &Estate, kind: ConsumerKind) -> ExclusionSet {
        let mut pairs: Vec<(u32, u32)> = estate
            .exclusions
            .iter()
            .filter(|exclusion| exclusion.consumer.kind() == kind)
            .map(|exclusion| {
                let index = match exclusion.consumer {
                    Consumer::Computer(index) | Consumer::User(index) => index,
                };
                (index, exclusion.application.unwrap_or(u32::MAX))
            })
            .collect();
        pairs.sort_unstable();
        ExclusionSet { pairs }
    }

    fn excludes(&self, consumer: u32, application: u32) -> bool {
        if self.pairs.is_empty() {
            return false;
        }
        let contains = |pair: (u32, u32)| self.pairs.binary_search(&pair).is_ok();
        contains((consumer, application)) || contains((consumer, u32::MAX))
    }
}

/// Builds the rows of every consumer.
pub(crate) fn build_rows(
    estate: &Estate,
    minimum_per_computer: &[u32],
    progress: &mut Progress<'_>,
) -> Rows {
    let total = (estate.installations.len() + estate.usage.len()) as u64;
    progress.start(Phase::Requirements, total);
    let mut rows = Vec::with_capacity(estate.installations.len() + estate.usage.len());
    // The users' rows are built on a second thread meanwhile (reporting
    // no progress of their own), then appended after the computers'.
    let (computer_start, (mut users, mut user_start)) = std::thread::scope(|scope| {
        let users = scope.spawn(|| user_rows(estate));
        let computer_start = computer_rows(estate, minimum_per_computer, &mut rows, progress);
        let users = users
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (computer_start, users)
    });
    let offset = rows.len() as u32;
    for start in &mut user_start {
        *start += offset;
    }
    rows.append(&mut users);
    progress.finish();
    Rows {
        rows,
        computer_start,
        user_start,
    }
}

fn computer_rows(
    estate: &Estate,
    minimum_per_computer: &[u32],
    rows: &mut Vec<Row>,
    progress: &mut Progress<'_>,
) -> Vec<u32> {
    let mut keys: Vec<u64> = estate
        .installations
        .iter()
        .map(|installation| {
            u64::from(installation.computer) << 32 | u64::from(installation.application)
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let exclusions = ExclusionSet::new(estate, ConsumerKind::Computer);
    let mut starts = vec![0u32; estate.computers.len() + 1];
    for (done, key) in keys.into_iter().enumerate() {
        progress.tick(done as u64);
        let computer_index = (key >> 32) as u32;
        let application_index = key as u32;
        let application = &estate.applications[application_index as usize];
        if application.metric.consumer_kind() != ConsumerKind::Computer {
            continue;
        }
        let computer = &estate.computers[computer_index as usize];
        let units = match application.metric {
            Metric::Processors => computer.processors,
            Metric::Cores => computer.cores,
            _ => 1,
        };
        // A computer always has a processor: missing data must not hide a requirement.
        let units = units
            .max(minimum_per_computer[application_index as usize])
            .max(1);
        let (initial, no_requirement) = if application.no_license_required {
            (0, Some(NoRequirementReason::NoLicenseRequired))
        } else if !computer.counted {
            (0, Some(NoRequirementReason::Inactive))
        } else if exclusions.excludes(computer_index, application_index) {
            (units, Some(NoRequirementReason::Excluded))
        } else {
            (units, None)
        };
        starts[computer_index as usize + 1] += 1;
        rows.push(Row {
            consumer: Consumer::Computer(computer_index),
            application: application_index,
            node: computer.node,
            initial,
            remaining: if no_requirement.is_none() { initial } else { 0 },
            no_requirement,
        });
    }
    prefix_sum(&mut starts);
    starts
}

/// The users' rows, and where each user's start in them.
fn user_rows(estate: &Estate) -> (Vec<Row>, Vec<u32>) {
    let mut usage: Vec<(u64, i64)> = estate
        .usage
        .iter()
        .map(|usage| {
            let key = u64::from(usage.user) << 32 | u64::from(usage.application);
            (key, usage.last_used)
        })
        .collect();
    usage.sort_unstable();
    let exclusions = ExclusionSet::new(estate, ConsumerKind::User);
    let mut rows = Vec::new();
    let mut starts = vec![0u32; estate.users.len() + 1];
    let mut position = 0;
    while position < usage.len() {
        let key = usage[position].0;
        // Sorted ascending, so the last entry of a key holds the latest use.
        while position + 1 < usage.len() && usage[position + 1].0 == key {
            position += 1;
        }
        let last_used = usage[position].1;
        position += 1;
        let user_index = (key >> 32) as u32;
        let application_index = key as u32;
        let application = &estate.applications[application_index as usize];
        if application.metric.consumer_kind() != ConsumerKind::User {
            continue;
        }
        let (initial, no_requirement) = if application.no_license_required {
            (0, Some(NoRequirementReason::NoLicenseRequired))
        } else if last_used < estate.metering_start {
            (0, Some(NoRequirementReason::NotUsed))
        } else if exclusions.excludes(user_index, application_index) {
            (1, Some(NoRequirementReason::Excluded))
        } else {
            (1, None)
        };
        starts[user_index as usize + 1] += 1;
        rows.push(Row {
            consumer: Consumer::User(user_index),
            application: application_index,
            node: estate.users[user_index as usize].node,
            initial,
            remaining: if no_requirement.is_none() { initial } else { 0 },
            no_requirement,
        });
    }
    prefix_sum(&mut starts);
    (rows, starts)
}

fn prefix_sum(starts: &mut [u32]) {
    let mut running = 0;
    for start in starts.iter_mut() {
        running += *start;
        *start = running;
    }
}

/// The rows of one application at one node, in consumer order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pub node: u32,
    pub application: u32,
    /// The group's uncovered rows are within `order[cursor..end]`: pools fill
    /// rows in consumer order, so the cursor only moves forward.
    pub cursor: u32,
    pub end: u32,
    pub initial: u64,
    pub excluded: u64,
    pub remaining: u64,
    pub unlimited: bool,
}

/// Rows grouped by (node, application), nodes ascending and applications
/// in family and version order inside a node.
#[derive(Debug)]
pub(crate) struct Groups {
    pub order: Vec<u32>,
    pub groups: Vec<Group>,
    /// Groups of node `n` are `node_start[n]..node_start[n + 1]`.
    pub node_start: Vec<u32>,
    /// The group of each row, `u32::MAX` for rows that require nothing.
    pub row_group: Vec<u32>,
}

/// Groups the rows that carry a requirement (excluded rows included, for the
/// adjustments).
pub(crate) fn group_rows(estate: &Estate, catalog: &Catalog, rows: &Rows) -> Groups {
    // Everything the grouping needs, copied in one sequential pass, so
    // neither the two counting-sort passes nor the group walk chase rows in
    // random order.
    let keyed: Vec<Keyed> = rows
        .rows
        .iter()
        .enumerate()
        .filter(|(_, row)| row.initial > 0)
        .map(|(index, row)| Keyed {
            application_order: catalog.app_order[row.application as usize],
            node: row.node,
            row: index as u32,
            initial: row.initial,
            remaining: row.remaining,
        })
        .collect();
    // Two stable passes, the second back into the first's input: fresh
    // memory costs a page fault per page, reused memory does not.
    let mut by_node = keyed;
    let mut by_application = Vec::new();
    counting_sort(
        &by_node,
        &mut by_application,
        |item| item.application_order,
        estate.applications.len(),
    );
    counting_sort(
        &by_application,
        &mut by_node,
        |item| item.node,
        estate.nodes.len(),
    );
    drop(by_application);
    let mut order = Vec::with_capacity(by_node.len());
    let mut groups: Vec<Group> = Vec::new();
    let mut row_group = vec![u32::MAX; rows.rows.len()];
    let mut node_start = vec![0u32; estate.nodes.len() + 1];
    for (position, item) in by_node.iter().enumerate() {
        order.push(item.row);
        let application = catalog.family_members[item.application_order as usize];
        let same = groups
            .last()
            .is_some_and(|group| group.node == item.node && group.application == application);
        if !same {
            node_start[item.node as usize + 1] += 1;
            groups.push(Group {
                node: item.node,
                application,
                cursor: position as u32,
                end: position as u32,
                initial: 0,
                excluded: 0,
                remaining: 0,
                unlimited: false,
            });
        }
        let group_index = groups.len() - 1;
        let group = &mut groups[group_index];
        group.end += 1;
        group.initial += u64::from(item.initial);
        group.remaining += u64::from(item.remaining);
        // Before any matching, only exclusions leave a row's units uncounted.
        group.excluded += u64::from(item.initial - item.remaining);
        row_group[item.row as usize] = group_index as u32;
    }
    prefix_sum(&mut node_start);
    Groups {
        order,
        groups,
        node_start,
        row_group,
    }
}

/// A row's grouping data.
#[derive(Debug, Clone, Copy, Default)]
struct Keyed {
    application_order: u32,
    node: u32,
    row: u32,
    initial: u32,
    remaining: u32,
}

/// A stable counting sort of `items` by a small dense key, into `sorted`
/// (its old content replaced).
fn counting_sort<T: Copy + Default>(
    items: &[T],
    sorted: &mut Vec<T>,
    key: impl Fn(&T) -> u32,
    key_count: usize,
) {
    let mut starts = vec![0usize; key_count + 1];
    for item in items {
        starts[key(item) as usize + 1] += 1;
    }
    for index in 0..key_count {
        starts[index + 1] += starts[index];
    }
    sorted.clear();
    sorted.resize(items.len(), T::default());
    for item in items {
        let slot = &mut starts[key(item) as usize];
        sorted[*slot] = *item;
        *slot += 1;
    }
}
