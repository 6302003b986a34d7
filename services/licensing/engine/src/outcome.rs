//! The output: compliance per node, application and family, per license and
//! per consumer, plus the transfers that explain where coverage came from.
//!
//! Indices refer back to the input vectors. Every list is sorted by a key
//! that does not depend on input order (node, application, consumer, or a
//! license's key), so two runs over the same estate compare equal.

use crate::model::{Consumer, Quantity};

/// Requirement against coverage for one slice of the estate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compliance {
    /// Units required before exclusions.
    pub initial_requirement: u64,
    /// Exclusions, as a negative number of units (or zero).
    pub adjustments: i64,
    /// `initial_requirement + adjustments`.
    pub requirement: u64,
    /// Units covered by valid licenses, plus pooled surplus of a license's own
    /// application. Equals `requirement` when `unlimited`.
    pub coverage: u64,
    /// `coverage - requirement`: surplus when positive, shortfall when negative.
    pub compliance: i64,
    /// Unlimited licenses reach all of this slice's requirement, so
    /// `coverage` is reported equal to `requirement`. At a node: an
    /// unlimited license reaches the application there. In application and
    /// family totals: every node row summed into the total is unlimited (a
    /// total mixing unlimited and counted rows is not).
    pub unlimited: bool,
}

impl Compliance {
    /// Sums two parts of one node row (`unlimited` when either is).
    pub fn add(&mut self, other: &Compliance) {
        self.initial_requirement += other.initial_requirement;
        self.adjustments += other.adjustments;
        self.requirement += other.requirement;
        self.coverage += other.coverage;
        self.compliance += other.compliance;
        self.unlimited |= other.unlimited;
    }

    /// Adds one node row to an application or family total, which starts
    /// from [`Compliance::TOTAL`]: numbers sum, `unlimited` holds only while
    /// every row is.
    pub fn add_row(&mut self, row: &Compliance) {
        let unlimited = self.unlimited && row.unlimited;
        self.add(row);
        self.unlimited = unlimited;
    }

    /// The empty total [`Compliance::add_row`] starts from.
    pub const TOTAL: Compliance = Compliance {
        initial_requirement: 0,
        adjustments: 0,
        requirement: 0,
        coverage: 0,
        compliance: 0,
        unlimited: true,
    };
}

/// Compliance of one application at one node (its own consumers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCompliance {
    /// Index into `Estate::nodes`.
    pub node: u32,
    /// Index into `Estate::applications`.
    pub application: u32,
    /// The figures.
    pub compliance: Compliance,
}

/// Compliance of one application summed over all nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplicationCompliance {
    /// Index into `Estate::applications`.
    pub application: u32,
    /// The figures.
    pub compliance: Compliance,
}

/// Compliance of one family summed over its applications and all nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyCompliance {
    /// The family.
    pub family: u32,
    /// The figures.
    pub compliance: Compliance,
}

/// Whether a license took part, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LicenseStatus {
    /// Took part.
    Valid,
    /// Archived: covers nothing.
    Archived,
    /// Incomplete: covers nothing.
    Incomplete,
    /// A subscription outside its period: covers nothing.
    ExpiredSubscription,
    /// Its metric is not the metric of any application it targets.
    MetricMismatch,
}

/// Units of a license covering at one node through automatic allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutomaticShare {
    /// The node.
    pub node: u32,
    /// Units that covered requirement there.
    pub units: u64,
}

/// What one license did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseResult {
    /// Valid, or why it covers nothing.
    pub status: LicenseStatus,
    /// The quantity after upgrades took their units.
    pub effective_quantity: Quantity,
    /// Units upgrade licenses took from this one.
    pub taken_by_upgrades: u64,
    /// Units that covered requirement.
    pub used: u64,
    /// Pooled units that covered nothing (organization and site licenses).
    pub surplus: u64,
    /// Units assigned (computer and user licenses).
    pub assigned: u64,
    /// `effective quantity - assigned`, at least 0; `None` for organization
    /// and site licenses and for unlimited licenses.
    pub unassigned: Option<u64>,
    /// Assignments of this license with at least one invalid part.
    pub invalid_assignments: u32,
    /// Assigned units that cover nothing because they are invalid.
    pub invalid_units: u64,
    /// Units covering per node through automatic allocation, by node.
    pub automatic_shares: Vec<AutomaticShare>,
}

/// Why (part of) an assignment covers nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InvalidReason {
    /// The license's metric is counted on the other kind of consumer.
    WrongConsumerKind,
    /// The computer is inactive.
    InactiveComputer,
    /// Nothing the license covers is installed on the computer.
    NotInstalled,
    /// The user used nothing the license covers in the metering period.
    NotUsed,
    /// The computer has more processors (or cores) than the assignment covers.
    TooManyProcessors,
    /// More units are assigned than the license's effective quantity; the
    /// assignments latest in key order lose their units.
    ExceedsLicenseQuantity,
    /// More is assigned to the consumer than it requires.
    Excess,
}

/// One invalid part of an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidAssignment {
    /// Index into `Estate::assignments`.
    pub assignment: u32,
    /// Why.
    pub reason: InvalidReason,
    /// Units that cover nothing for this reason.
    pub units: u64,
}

/// Why a consumer requires nothing for an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoRequirementReason {
    /// The application needs no license.
    NoLicenseRequired,
    /// The computer is inactive.
    Inactive,
    /// The user did not use the application in the metering period.
    NotUsed,
    /// An exclusion took the consumer out.
    Excluded,
}

/// The state of one (consumer, application) demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsumerStatus {
    /// Fully covered.
    Covered,
    /// Not (fully) covered.
    NotCovered,
    /// Nothing to cover.
    NoRequirement(NoRequirementReason),
}

/// One (consumer, application) demand. Kept small: big estates have millions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerResult {
    /// The computer or user.
    pub consumer: Consumer,
    /// Index into `Estate::applications`.
    pub application: u32,
    /// Units required after exclusions.
    pub requirement: u32,
    /// Units covered.
    pub covered: u32,
    /// Covered, not covered, or why nothing is required.
    pub status: ConsumerStatus,
    /// Start of this row's licenses in [`ConsumerResults::coverings`].
    pub first_covering: u32,
    /// How many licenses covered this row.
    pub covering_count: u32,
}

/// Units of one license covering one consumer row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covering {
    /// Index into `Estate::licenses`.
    pub license: u32,
    /// Units.
    pub units: u32,
}

/// Every (consumer, application) demand, sorted by (consumer, application),
/// with the licenses that covered each in one flat vector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerResults {
    /// The rows.
    pub rows: Vec<ConsumerResult>,
    /// Licenses per row, in license key order inside each row.
    pub coverings: Vec<Covering>,
}

impl ConsumerResults {
    /// The licenses that covered a row, in license key order.
    pub fn coverings_of(&self, row: &ConsumerResult) -> &[Covering] {
        let start = row.first_covering as usize;
        let end = start + row.covering_count as usize;
        self.coverings.get(start..end).unwrap_or(&[])
    }

    /// The row of a (consumer, application) pair, if it has one.
    pub fn find(&self, consumer: Consumer, application: u32) -> Option<&ConsumerResult> {
        let position = self
            .rows
            .binary_search_by(|row| (row.consumer, row.application).cmp(&(consumer, application)))
            .ok()?;
        self.rows.get(position)
    }
}

/// Where coverage moved from and to: the "why" of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// An upgrade license consumed units of its base.
    Upgrade {
        /// Index of the base license.
        base: u32,
        /// Index of the upgrade license.
        upgrade: u32,
        /// Units taken.
        units: u64,
    },
    /// Automatic allocation moved units of a license to a node.
    Allocation {
        /// Index of the license.
        license: u32,
        /// The node.
        node: u32,
        /// Units that covered requirement there.
        units: u64,
    },
    /// A license covered an earlier version than its own application.
    Downgrade {
        /// Index of the license.
        license: u32,
        /// The license's application.
        from_application: u32,
        /// The earlier version it covered.
        to_application: u32,
        /// The node of the covered consumers.
        node: u32,
        /// Units.
        units: u64,
    },
}

/// Everything the calculation found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Per (node, application) with any requirement or coverage, sorted.
    pub nodes: Vec<NodeCompliance>,
    /// Per application, sorted by application.
    pub applications: Vec<ApplicationCompliance>,
    /// Per family, sorted by family.
    pub families: Vec<FamilyCompliance>,
    /// Per license, at the license's input position.
    pub licenses: Vec<LicenseResult>,
    /// Invalid parts of assignments, sorted by assignment key then reason.
    pub invalid_assignments: Vec<InvalidAssignment>,
    /// Per (consumer, application).
    pub consumers: ConsumerResults,
    /// Upgrades (by upgrade key, then base key), then allocations (by license
    /// key, node), then downgrades (by license key, node, application).
    pub transfers: Vec<Transfer>,
}
