//! The input: one customer's estate with every identifier already mapped to
//! a dense `u32` index (the position in its vector).
//!
//! Dense indices let the engine use plain vectors instead of hash maps on
//! the hot path. Licenses and assignments also carry their `u128` key (the
//! bits of their UUID): the key, never the position, decides every tie, so
//! the outcome does not depend on the order the service read the rows in.

/// The metric a license (and an application's requirement) is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// One unit per computer with the application installed.
    Installations,
    /// `max(processors, minimum per computer)` per computer.
    Processors,
    /// `max(cores, minimum per computer)` per computer.
    Cores,
    /// One unit per user who used the application in the metering period.
    Users,
    /// One unit per computer with the application installed.
    Devices,
    /// Counted like [`Metric::Users`]: an upper bound until concurrency is metered.
    ConcurrentUsers,
    /// One unit per computer with the application installed.
    Site,
}

impl Metric {
    /// Whether a license counted in `self` covers requirement counted in
    /// `application` (see the crate's rule 1): the same metric; metrics
    /// counting the same thing (installations, devices and site count one
    /// per computer; users and concurrent users one per user); or a site
    /// license, which covers every computer-counted requirement. A
    /// per-processor or per-core license does not cover requirement counted
    /// per computer, nor the reverse, and nothing crosses between computers
    /// and users.
    pub fn covers(self, application: Metric) -> bool {
        use Metric::*;
        let per_computer = |metric| matches!(metric, Installations | Devices | Site);
        let per_user = |metric| matches!(metric, Users | ConcurrentUsers);
        self == application
            || (per_computer(self) && per_computer(application))
            || (per_user(self) && per_user(application))
            || (self == Site && application.consumer_kind() == ConsumerKind::Computer)
    }

    /// Whether a license counted in `self` covers requirement counted per
    /// computer in `application` by its processors or cores: a per-processor
    /// (per-core) license spends `max(processors (cores), its minimum per
    /// computer, 1)` units on each computer it covers (the crate's rule 1).
    pub fn converts(self, application: Metric) -> bool {
        matches!(self, Metric::Processors | Metric::Cores)
            && matches!(
                application,
                Metric::Installations | Metric::Devices | Metric::Site
            )
    }

    /// Which kind of consumer carries the requirement in this metric.
    pub fn consumer_kind(self) -> ConsumerKind {
        match self {
            Metric::Users | Metric::ConcurrentUsers => ConsumerKind::User,
            Metric::Installations
            | Metric::Processors
            | Metric::Cores
            | Metric::Devices
            | Metric::Site => ConsumerKind::Computer,
        }
    }
}

/// The two kinds of consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsumerKind {
    /// A computer or datacenter.
    Computer,
    /// A user.
    User,
}

/// A computer or a user, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Consumer {
    /// Index into [`Estate::computers`].
    Computer(u32),
    /// Index into [`Estate::users`].
    User(u32),
}

impl Consumer {
    /// The kind of this consumer.
    pub fn kind(self) -> ConsumerKind {
        match self {
            Consumer::Computer(_) => ConsumerKind::Computer,
            Consumer::User(_) => ConsumerKind::User,
        }
    }
}

/// A node of the organization tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Node {
    /// The parent node; `None` only for the root (index 0). A parent always
    /// has a smaller index than its child, so index order is a topological order.
    pub parent: Option<u32>,
}

/// One application (a version or edition of a product) from the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Application {
    /// The family: all versions and editions of one product.
    pub family: u32,
    /// The order of versions inside the family: higher is later.
    pub version_rank: u32,
    /// The catalog's default metric; the requirement is counted in it.
    pub metric: Metric,
    /// Whether licenses of this application may be used for earlier versions.
    pub downgrade_allowed: bool,
    /// Freeware and the like: consumers of it require nothing.
    pub no_license_required: bool,
}

/// A computer or datacenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Computer {
    /// The node the computer belongs to.
    pub node: u32,
    /// Processor count, for the processors metric.
    pub processors: u32,
    /// Core count, for the cores metric.
    pub cores: u32,
    /// Active and quarantined computers count; inactive ones do not.
    pub counted: bool,
}

/// A user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// The node the user belongs to.
    pub node: u32,
}

/// An application installed on a computer. Duplicates count once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installation {
    /// Index into [`Estate::computers`].
    pub computer: u32,
    /// Index into [`Estate::applications`].
    pub application: u32,
}

/// The last time a user used an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Index into [`Estate::users`].
    pub user: u32,
    /// Index into [`Estate::applications`].
    pub application: u32,
    /// Unix seconds; the user used the application when this is at or after
    /// [`Estate::metering_start`].
    pub last_used: i64,
}

/// A consumer taken out of the requirement, for one application or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exclusion {
    /// The excluded consumer.
    pub consumer: Consumer,
    /// The application, or `None` for every application.
    pub application: Option<u32>,
    /// An opaque reason index, kept for the service's reports.
    pub reason: u32,
}

/// What a license is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One application (plus earlier versions with downgrade rights).
    Application(u32),
    /// Every application of a family.
    Family(u32),
}

/// How a license reaches its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentType {
    /// Pooled at nodes of the organization tree.
    Organization,
    /// Pooled at nodes of the organization tree.
    Site,
    /// Covers only the computers it is assigned to.
    Computer,
    /// Covers only the users it is assigned to.
    User,
}

impl AssignmentType {
    /// Whether the license covers only through its assignments.
    pub fn is_assigned(self) -> bool {
        matches!(self, AssignmentType::Computer | AssignmentType::User)
    }
}

/// A number of units, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quantity {
    /// A finite number of units.
    Count(u64),
    /// Site or enterprise licenses: covers every requirement it reaches.
    Unlimited,
}

/// Whether a license takes part in compliance at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Validity {
    /// Takes part.
    Valid,
    /// Kept for reference, excluded from compliance.
    Archived,
    /// Missing data, excluded until completed.
    Incomplete,
    /// A subscription outside its period.
    ExpiredSubscription,
}

/// Part of a license's quantity pinned to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManualAllocation {
    /// The node the units cover.
    pub node: u32,
    /// How many units.
    pub quantity: u64,
}

/// A base license an upgrade license consumes units of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeOf {
    /// Index into [`Estate::licenses`].
    pub base: u32,
    /// Units taken from the base.
    pub quantity: u64,
}

/// A license purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// The bits of the license's UUID: the tie-break order everywhere.
    pub key: u128,
    /// The application or family.
    pub target: Target,
    /// The metric; it must equal the covered application's metric.
    pub metric: Metric,
    /// How the license reaches consumers.
    pub assignment: AssignmentType,
    /// Purchased units.
    pub quantity: Quantity,
    /// The legal node the license is registered on.
    pub legal_owner: u32,
    /// Redistribute over the owner's subtree on every calculation.
    pub automatic_allocation: bool,
    /// May cover earlier versions (if the application allows downgrade too).
    pub downgrade_rights: bool,
    /// Units pinned to nodes.
    pub manual_allocations: Vec<ManualAllocation>,
    /// Base licenses this upgrade consumes.
    pub upgrade_of: Vec<UpgradeOf>,
    /// Whether the license takes part at all.
    pub validity: Validity,
    /// Processors/cores counted per computer at least; 0 for none.
    pub minimum_per_computer: u32,
}

/// A computer or user license assigned to a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    /// The bits of the assignment's UUID: decides which assignment is in excess.
    pub key: u128,
    /// Index into [`Estate::licenses`].
    pub license: u32,
    /// Who the license is assigned to.
    pub consumer: Consumer,
    /// Assigned units.
    pub quantity: u64,
}

/// Everything the calculation reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Estate {
    /// The organization tree; index 0 is the root.
    pub nodes: Vec<Node>,
    /// Families are `0..family_count`.
    pub family_count: u32,
    /// The catalog's applications.
    pub applications: Vec<Application>,
    /// Computers and datacenters.
    pub computers: Vec<Computer>,
    /// Users.
    pub users: Vec<User>,
    /// Installations in any order.
    pub installations: Vec<Installation>,
    /// Usage in any order.
    pub usage: Vec<Usage>,
    /// Start of the metering period, unix seconds (inclusive).
    pub metering_start: i64,
    /// Consumers excluded from the requirement.
    pub exclusions: Vec<Exclusion>,
    /// License purchases in any order.
    pub licenses: Vec<License>,
    /// Assignments of computer and user licenses in any order.
    pub assignments: Vec<Assignment>,
}
