//! The license compliance calculation: a pure, deterministic function of one
//! customer's estate.
//!
//! The licensing service reads the estate from PostgreSQL, maps every UUID
//! to a dense `u32` index, calls [`calculate`] (or
//! [`calculate_with_progress`]) and stores the [`Outcome`]. Keeping the
//! engine free of I/O makes every rule testable with a few lines of input,
//! and dense indices keep it fast: sorting plus linear passes over vectors,
//! no hash maps and no allocation per installation. Two independent parts
//! run on a second (scoped) thread: the users' requirement rows beside the
//! computers', and the consumer results beside the other results; neither
//! changes an output. Every tie is broken by a
//! license's or assignment's key (its UUID bits), never by input position,
//! so the outcome does not depend on the order rows were read in.
//!
//! # Rules
//!
//! 1. **Valid licenses only.** Archived, incomplete and expired subscription
//!    licenses cover nothing and report that status. A license covers
//!    requirement counted in its own metric or one counting the same
//!    thing ([`Metric::covers`]): installations, devices and site count
//!    one per computer and cover each other one for one; users and
//!    concurrent users likewise; a **site** license covers every
//!    computer-counted requirement (processors and cores included) at the
//!    nodes it reaches, whatever its quantity (which counts sites), so it
//!    is unlimited there. A per-processor (per-core) license of an
//!    application counted per computer ([`Metric::converts`]) covers whole
//!    computers, spending `max(processors (cores), its minimum per
//!    computer, 1)` units on each: through an assignment that has at least
//!    that many units, or from its pools in a pass of its own after the
//!    matching (nodes in preorder, computers in consumer order, while its
//!    units last; greedy, so outside rule 6's maximality). A license
//!    counted per computer does not cover processor (core) requirement, and
//!    nothing crosses between computers and users: a valid license whose
//!    application it cannot cover reports [`LicenseStatus::MetricMismatch`]
//!    (the service refuses to save those pairs, which can never cover). A family license (or a downgrade) covers only the
//!    family's applications it can cover; it is a mismatch only when it
//!    can cover none of them.
//! 2. **Requirement** per (node, application), in the application's metric,
//!    from the consumers of that node (not its sub-nodes): installations,
//!    devices and site count 1 per counted computer with the application;
//!    processors (cores) count `max(processors, m)` (`max(cores, m)`) per
//!    counted computer, `m` being the largest minimum per computer among the
//!    valid licenses that can cover the application, and at least 1 so that a
//!    computer with unknown processors still requires something. Users count
//!    1 per user whose last use is at or after the metering start; concurrent
//!    users count the same (an upper bound until concurrency is metered).
//!    Inactive computers require nothing; applications that need no license
//!    require nothing. Installations count once per computer and application
//!    however often they are listed; a user's latest use counts. Excluded
//!    consumers are reported as a negative adjustment: `requirement =
//!    initial_requirement + adjustments`. Installations of user-metric
//!    applications and usage of computer-metric applications require nothing
//!    and produce no consumer row.
//! 3. **Upgrades.** A valid upgrade license takes the listed units from each
//!    base (upgrades in key order, bases in key order), at most what the base
//!    has left; an unlimited base is not reduced. The base's effective
//!    quantity drops and a [`Transfer::Upgrade`] is recorded. An upgrade that
//!    is not valid (including a metric mismatch) takes nothing.
//! 4. **Assignments.** Computer and user licenses cover only through their
//!    assignments, in assignment key order: an assignment covers its
//!    consumer's requirement of the applications the license covers (its own
//!    application first, then earlier versions ascending when the license has
//!    downgrade rights *and* the application allows downgrade; a family
//!    license covers every version in its metric). Unassigned units cover
//!    nobody. An invalid assignment covers nothing but stays assigned; the
//!    reasons, checked in this order, are: the license is counted on the
//!    other kind of consumer ([`InvalidReason::WrongConsumerKind`]), the
//!    computer is inactive, nothing covered is installed, the user used
//!    nothing covered since the metering start, the assignment has fewer
//!    units than the computer's processor (core) requirement. Units beyond
//!    the license's effective quantity (assignments in key order; upgrades
//!    can shrink a license below what was assigned) are
//!    [`InvalidReason::ExceedsLicenseQuantity`]; units beyond what the
//!    consumer still requires after earlier assignments are
//!    [`InvalidReason::Excess`]. Assignments of organization and site
//!    licenses are ignored: those are never invalid. Assignments of invalid
//!    licenses count as assigned but are not checked.
//! 5. **Pools.** Organization and site licenses cover through pools. Manual
//!    allocations (merged per node, clamped in node order to the effective
//!    quantity) cover only their node. The rest, with automatic allocation,
//!    reaches the legal owner's subtree (owner included); without automatic
//!    allocation it reaches the owner node only. What no node took stays
//!    where the pool is pinned (the rest: at the owner) as surplus. Each
//!    automatic share at a node is a [`Transfer::Allocation`]. Unlimited
//!    licenses cover every requirement of their applications at the nodes
//!    they reach.
//! 6. **Matching is maximal.** The total requirement covered by pools is a
//!    maximum over every way of spending every pool on the nodes it reaches
//!    and the applications it may cover (a maximum flow); the order below
//!    decides only *which* license covers, never *how much*. At each node
//!    (nodes in preorder, so an ancestor takes from a shared automatic pool
//!    before its descendants) every pool that reaches it is matched
//!    together: exact versions first, then downgrades in ascending version
//!    rank, each demand taking the covering license with the smallest rank
//!    above it, then family licenses; among equally narrow pools the one
//!    reaching fewest nodes first (a manual allocation or pinned rest before
//!    an automatic pool of a larger subtree), then manual before pinned rest
//!    before automatic, then key. License scopes are nested prefixes of a
//!    family's versions, for which this order is maximal at one node. Across
//!    nodes it is not (a node can spend a shared license that only a sibling
//!    could use), so the walk is a plan that augmenting paths then make
//!    maximal before any row is covered.
//!    Within a (node, application), consumers are covered in index order,
//!    by the pools in the order above. Covering an earlier version records
//!    a [`Transfer::Downgrade`].
//! 7. **Phases:** upgrades; assignment licenses (assignments that cover
//!    nothing at all take no units of the effective quantity, so valid ones
//!    get what is left first); pools, planned node by node then made
//!    maximal. Within a phase licenses go in key order and consumers in
//!    index order.
//! 8. **Consumers.** A (consumer, application) row is covered when fully
//!    covered (listing the licenses that covered it, in key order), not
//!    covered otherwise, and has no requirement (with the reason) when the
//!    application needs no license, the computer is inactive, the user did
//!    not use it, or the consumer is excluded.
//!
//! # Reporting decisions
//!
//! - Node coverage also counts pooled units that covered nothing, at the
//!   node they are pooled at, for the license's own application (for a family
//!   license: the latest version in its metric), so surplus shows as
//!   compliance above zero. Unassigned or invalid assigned units are not
//!   coverage.
//! - Where an unlimited license reaches a node's requirement, coverage is
//!   reported equal to the requirement with the `unlimited` flag set. An
//!   application or family total is `unlimited` only when every node row in
//!   it is; otherwise its coverage is the rows' sum.
//! - Unassigned is the *effective* quantity minus the assigned units.
//!
//! # Monotonicity
//!
//! Adding a valid license never lowers the total covered requirement, and
//! archiving one never raises it, with two documented exceptions: an
//! upgrade license moves units away from its bases, and a license with a
//! minimum per computer raises the requirement itself.

mod allocation;
mod assignments;
mod demand;
mod licenses;
mod matching;
mod model;
mod outcome;
mod progress;
mod report;
mod validate;

pub use model::{
    Application, Assignment, AssignmentType, Computer, Consumer, ConsumerKind, Estate, Exclusion,
    Installation, License, ManualAllocation, Metric, Node, Quantity, Target, UpgradeOf, Usage,
    User, Validity,
};
pub use outcome::{
    ApplicationCompliance, AutomaticShare, Compliance, ConsumerResult, ConsumerResults,
    ConsumerStatus, Covering, FamilyCompliance, InvalidAssignment, InvalidReason, LicenseResult,
    LicenseStatus, NoRequirementReason, NodeCompliance, Outcome, Transfer,
};
pub use progress::{Phase, REPORT_EVERY};
pub use validate::EstateError;

use crate::matching::{Ledger, Work};
use crate::progress::Progress;
use crate::report::Findings;

/// Calculates compliance for one estate.
pub fn calculate(estate: &Estate) -> Result<Outcome, EstateError> {
    calculate_with_progress(estate, &mut |_, _, _| {})
}

/// Calculates compliance, calling `progress(phase, done, total)` at the start
/// and end of each phase and every [`REPORT_EVERY`] items in between.
pub fn calculate_with_progress(
    estate: &Estate,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<Outcome, EstateError> {
    let mut progress = Progress::new(progress);
    progress.start(Phase::Validating, 1);
    validate::validate(estate)?;
    progress.finish();

    let catalog = licenses::Catalog::new(estate);
    let mut key_order: Vec<u32> = (0..estate.licenses.len() as u32).collect();
    key_order.sort_unstable_by_key(|&index| estate.licenses[index as usize].key);
    let mut key_rank = vec![0u32; key_order.len()];
    for (rank, &index) in key_order.iter().enumerate() {
        key_rank[index as usize] = rank as u32;
    }

    progress.start(Phase::Upgrades, estate.licenses.len() as u64);
    let (states, upgrades) = licenses::analyze(estate, &catalog, &key_order);
    progress.finish();

    let minimum = licenses::minimum_per_computer(estate, &catalog, &states);
    let rows = demand::build_rows(estate, &minimum, &mut progress);
    let groups = demand::group_rows(estate, &catalog, &rows);
    let ledger = Ledger {
        used: vec![0; estate.licenses.len()],
        ..Ledger::default()
    };
    let mut work = Work {
        estate,
        catalog: &catalog,
        states: &states,
        key_rank: &key_rank,
        rows,
        groups,
        ledger,
        plan: None,
    };

    let assignments = assignments::cover_assignments(&mut work, &mut progress);
    let pools = allocation::cover_pools(&mut work, &key_order, &mut progress);

    progress.start(Phase::Results, 1);
    let outcome = report::build_outcome(
        work,
        Findings {
            upgrades,
            assignments,
            pools,
        },
    );
    progress.finish();
    Ok(outcome)
}
