//! Partner access and the customer status of SPEC section 1, as pure
//! functions of a grant, the sync history and the time.

use chrono::{DateTime, Duration, Utc};

/// How a customer grants a partner access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantMode {
    Continuous,
    /// From `start` (inclusive) to `end` (exclusive).
    Period {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    Disabled,
}

impl GrantMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continuous => "continuous",
            Self::Period { .. } => "period",
            Self::Disabled => "disabled",
        }
    }

    /// The mode stored as `mode`, `start_time`, `end_time`.
    pub fn from_columns(
        mode: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Self {
        match (mode, start, end) {
            ("continuous", _, _) => Self::Continuous,
            ("period", Some(start), Some(end)) => Self::Period { start, end },
            _ => Self::Disabled,
        }
    }

    /// Whether the grant gives access at `now`.
    pub fn effective_at(self, now: DateTime<Utc>) -> bool {
        match self {
            Self::Continuous => true,
            Self::Period { start, end } => start <= now && now < end,
            Self::Disabled => false,
        }
    }

    /// The next instant after `now` at which effectiveness flips.
    pub fn next_change(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Period { start, .. } if now < start => Some(start),
            Self::Period { end, .. } if now < end => Some(end),
            _ => None,
        }
    }

    /// Since when the grant has given access, given when it was last
    /// changed.
    pub fn effective_since(self, changed: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Period { start, .. } => start.max(changed),
            _ => changed,
        }
    }
}

/// The state of a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl RunState {
    pub fn parse(value: &str) -> Self {
        match value {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            _ => Self::Failed,
        }
    }
}

/// What the status needs to know about a customer's synchronization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncFacts {
    /// The latest run of any state.
    pub latest_run: Option<RunState>,
    /// When the last successful run ended.
    pub last_success_time: Option<DateTime<Utc>>,
    /// When the first run after the last success was queued.
    pub first_run_after_success: Option<DateTime<Utc>>,
    /// From the last successful snapshot: computers silent for more than
    /// 7 days, and denied applications installed (unknown when the
    /// licensing service could not say).
    pub silent_computers: Option<i64>,
    pub denied_installed: Option<i64>,
}

/// The customer status column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CustomerStatus {
    Synced = 1,
    Warning = 2,
    SyncPending = 3,
    AccessDisabled = 4,
}

impl CustomerStatus {
    pub fn from_rank(rank: i16) -> Self {
        match rank {
            1 => Self::Synced,
            2 => Self::Warning,
            3 => Self::SyncPending,
            _ => Self::AccessDisabled,
        }
    }

    /// Whether metric groups may be shown.
    pub fn shows_data(self) -> bool {
        matches!(self, Self::Synced | Self::Warning)
    }
}

/// A derived status with its time-dependence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerivedStatus {
    pub status: CustomerStatus,
    /// Sync pending for more than 24 hours.
    pub pending_overdue: bool,
    /// When time alone changes this status next.
    pub next_change: Option<DateTime<Utc>>,
}

/// How long a pending sync may take before the overview flags it.
pub const PENDING_GRACE: Duration = Duration::hours(24);

/// Access disabled without an effective grant; sync pending while no sync
/// has completed, one is queued or running, or the latest one failed (the
/// previous snapshot is no longer current); warning when the last
/// successful snapshot saw a computer silent for more than 7 days or a
/// denied application installed; synced otherwise. Pending is measured
/// from the first run after the last success, or, before any success, from
/// when access took effect.
pub fn customer_status(
    grant: GrantMode,
    grant_changed: DateTime<Utc>,
    sync: &SyncFacts,
    now: DateTime<Utc>,
) -> DerivedStatus {
    let access_change = grant.next_change(now);
    if !grant.effective_at(now) {
        return DerivedStatus {
            status: CustomerStatus::AccessDisabled,
            pending_overdue: false,
            next_change: access_change,
        };
    }
    let pending = sync.last_success_time.is_none()
        || !matches!(sync.latest_run, Some(RunState::Succeeded) | None);
    if pending {
        let since = match (sync.last_success_time, sync.first_run_after_success) {
            (Some(_), Some(first)) => first,
            _ => grant.effective_since(grant_changed),
        };
        let overdue_at = since + PENDING_GRACE;
        let pending_overdue = now > overdue_at;
        let overdue_change = (!pending_overdue).then_some(overdue_at + Duration::microseconds(1));
        return DerivedStatus {
            status: CustomerStatus::SyncPending,
            pending_overdue,
            next_change: earliest(access_change, overdue_change),
        };
    }
    let warning = sync.silent_computers.unwrap_or(0) > 0 || sync.denied_installed.unwrap_or(0) > 0;
    DerivedStatus {
        status: if warning {
            CustomerStatus::Warning
        } else {
            CustomerStatus::Synced
        },
        pending_overdue: false,
        next_change: access_change,
    }
}

/// The earlier of two optional instants.
pub fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn synced_facts() -> SyncFacts {
        SyncFacts {
            latest_run: Some(RunState::Succeeded),
            last_success_time: Some(now() - Duration::hours(2)),
            first_run_after_success: None,
            silent_computers: Some(0),
            denied_installed: Some(0),
        }
    }

    fn status(grant: GrantMode, sync: &SyncFacts) -> DerivedStatus {
        customer_status(grant, now() - Duration::days(3), sync, now())
    }

    #[test]
    fn access_disabled_without_an_effective_grant() {
        let disabled = status(GrantMode::Disabled, &synced_facts());
        assert_eq!(disabled.status, CustomerStatus::AccessDisabled);
        let ended = GrantMode::Period {
            start: now() - Duration::days(10),
            end: now(),
        };
        assert_eq!(
            status(ended, &synced_facts()).status,
            CustomerStatus::AccessDisabled
        );
        let future = GrantMode::Period {
            start: now() + Duration::hours(1),
            end: now() + Duration::days(1),
        };
        let derived = status(future, &synced_facts());
        assert_eq!(derived.status, CustomerStatus::AccessDisabled);
        assert_eq!(derived.next_change, Some(now() + Duration::hours(1)));
    }

    #[test]
    fn a_period_gives_access_from_its_start_until_its_end() {
        let period = GrantMode::Period {
            start: now() - Duration::days(1),
            end: now() + Duration::days(1),
        };
        let derived = status(period, &synced_facts());
        assert_eq!(derived.status, CustomerStatus::Synced);
        assert_eq!(derived.next_change, Some(now() + Duration::days(1)));
    }

    #[test]
    fn sync_pending_before_any_sync_completed() {
        let derived = status(GrantMode::Continuous, &SyncFacts::default());
        assert_eq!(derived.status, CustomerStatus::SyncPending);
        // Access took effect three days ago.
        assert!(derived.pending_overdue);
    }

    #[test]
    fn sync_pending_while_a_run_is_queued_or_running() {
        for state in [RunState::Queued, RunState::Running] {
            let facts = SyncFacts {
                latest_run: Some(state),
                first_run_after_success: Some(now() - Duration::hours(1)),
                ..synced_facts()
            };
            let derived = status(GrantMode::Continuous, &facts);
            assert_eq!(derived.status, CustomerStatus::SyncPending);
            assert!(!derived.pending_overdue);
            assert_eq!(
                derived.next_change,
                Some(now() + Duration::hours(23) + Duration::microseconds(1))
            );
        }
    }

    #[test]
    fn pending_is_flagged_after_more_than_24_hours() {
        let queued_at = now() - Duration::hours(24);
        let facts = SyncFacts {
            latest_run: Some(RunState::Queued),
            first_run_after_success: Some(queued_at),
            ..synced_facts()
        };
        assert!(!status(GrantMode::Continuous, &facts).pending_overdue);
        let later = customer_status(
            GrantMode::Continuous,
            now(),
            &facts,
            now() + Duration::seconds(1),
        );
        assert!(later.pending_overdue);
    }

    #[test]
    fn warning_when_a_computer_is_silent_for_more_than_7_days() {
        let facts = SyncFacts {
            silent_computers: Some(1),
            ..synced_facts()
        };
        assert_eq!(
            status(GrantMode::Continuous, &facts).status,
            CustomerStatus::Warning
        );
    }

    #[test]
    fn warning_when_a_denied_application_is_installed() {
        let facts = SyncFacts {
            denied_installed: Some(2),
            ..synced_facts()
        };
        assert_eq!(
            status(GrantMode::Continuous, &facts).status,
            CustomerStatus::Warning
        );
    }

    #[test]
    fn synced_when_every_computer_reported_and_nothing_denied() {
        let derived = status(GrantMode::Continuous, &synced_facts());
        assert_eq!(derived.status, CustomerStatus::Synced);
        assert_eq!(derived.next_change, None);
    }

    #[test]
    fn a_failed_latest_run_is_pending_again() {
        let facts = SyncFacts {
            latest_run: Some(RunState::Failed),
            first_run_after_success: Some(now() - Duration::hours(30)),
            ..synced_facts()
        };
        let derived = status(GrantMode::Continuous, &facts);
        assert_eq!(derived.status, CustomerStatus::SyncPending);
        assert!(derived.pending_overdue);
    }
}
