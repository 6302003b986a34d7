//! A computer's status, derived when read so it is always current: no job
//! has to flip computers to quarantined as days pass.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Counts in compliance.
    Active,
    /// Not scanned for more than the quarantine period; still counts.
    Quarantined,
    /// Marked inactive by a user; does not count.
    Inactive,
}

/// The status of a computer last scanned at `last_scan_time`.
pub fn status(
    inactive: bool,
    last_scan_time: DateTime<Utc>,
    quarantine_after_days: i32,
    now: DateTime<Utc>,
) -> Status {
    if inactive {
        Status::Inactive
    } else if now - last_scan_time > Duration::days(i64::from(quarantine_after_days)) {
        Status::Quarantined
    } else {
        Status::Active
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_computer_silent_for_more_than_the_quarantine_period_is_quarantined() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let exactly = now - Duration::days(30);
        assert_eq!(status(false, exactly, 30, now), Status::Active);
        let over = exactly - Duration::seconds(1);
        assert_eq!(status(false, over, 30, now), Status::Quarantined);
        assert_eq!(status(true, now, 30, now), Status::Inactive);
    }
}
