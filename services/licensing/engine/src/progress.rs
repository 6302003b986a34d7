//! Progress reporting: the service streams it to the user while a big estate
//! is calculated. Reports are throttled to one per [`REPORT_EVERY`] items so
//! the callback costs nothing measurable.

/// Items between two reports inside a phase.
pub const REPORT_EVERY: u64 = 1 << 16;

/// The steps of the calculation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Checking indices.
    Validating,
    /// License statuses, and upgrades consuming their bases.
    Upgrades,
    /// Building (consumer, application) requirement rows.
    Requirements,
    /// Computer and user licenses covering through assignments.
    Assignments,
    /// Every pool matched node by node in preorder (the plan).
    FixedPools,
    /// The plan made maximal across nodes, then rows covered by it.
    AutomaticAllocation,
    /// Summing up the outcome.
    Results,
}

/// Calls the callback at the start and end of each phase and every
/// [`REPORT_EVERY`] items in between.
pub(crate) struct Progress<'a> {
    callback: &'a mut dyn FnMut(Phase, u64, u64),
    phase: Phase,
    total: u64,
    next_report: u64,
}

impl<'a> Progress<'a> {
    pub fn new(callback: &'a mut dyn FnMut(Phase, u64, u64)) -> Progress<'a> {
        Progress {
            callback,
            phase: Phase::Validating,
            total: 0,
            next_report: 0,
        }
    }

    pub fn start(&mut self, phase: Phase, total: u64) {
        self.phase = phase;
        self.total = total;
        self.next_report = REPORT_EVERY;
        (self.callback)(phase, 0, total);
    }

    #[inline]
    pub fn tick(&mut self, done: u64) {
        if done >= self.next_report {
            self.next_report = done + REPORT_EVERY;
            (self.callback)(self.phase, done, self.total);
        }
    }

    pub fn finish(&mut self) {
        (self.callback)(self.phase, self.total, self.total);
    }
}
