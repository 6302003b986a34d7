//! The figures billing derives from stored facts: what a usage report
//! charges, whether it is over-provisioned or flagged, whether a license
//! is in force on a day, and a license's status. Some of them must also
//! run inside SQL (lists filter and the dashboard counts by them, and
//! usage reports sum seats in force over a month): there the SQL copy in
//! `db/` is what runs, and these functions state the rule it must follow;
//! `db/rules_in_sql.rs` runs both over the same generated cases so they
//! cannot drift apart.

use chrono::{Months, NaiveDate};

use super::statuses::LicenseStatus;

/// A usage report's unit figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageFigures {
    pub provisioned: i64,
    /// Measured from the customers' usage, if any was reported.
    pub used_reported: Option<i64>,
    /// The partner's own figure, which counts over the reported one.
    pub used_declared: Option<i64>,
}

impl UsageFigures {
    /// The used figure that counts: the partner's, else the reported one.
    pub fn used(&self) -> Option<i64> {
        self.used_declared.or(self.used_reported)
    }

    /// Provisioned beyond what was used.
    pub fn over_provisioned(&self) -> bool {
        self.used().is_some_and(|used| self.provisioned > used)
    }

    /// (provisioned - used) / used in whole percent, rounded down; 100
    /// when units are provisioned and none used (no finite ratio), 0 when
    /// not over-provisioned or no used figure is known.
    pub fn over_provisioned_percent(&self) -> i64 {
        match self.used() {
            Some(used) if self.provisioned > used && used > 0 => {
                (self.provisioned - used) * 100 / used
            }
            Some(0) if self.provisioned > 0 => 100,
            _ => 0,
        }
    }

    /// The units charged: provisioned ones when flagged (a penalty),
    /// else the used figure, else (nothing known used) provisioned ones.
    pub fn chargeable(&self, flagged: bool) -> i64 {
        if flagged {
            self.provisioned
        } else {
            self.used().unwrap_or(self.provisioned)
        }
    }

    /// Whether the platform's automatic submission flags the report (and
    /// so charges provisioned units): over-provisioned with no comment
    /// saying why (blank counts as none).
    pub fn flagged_on_auto_submit(&self, comment: &str) -> bool {
        self.over_provisioned() && comment.trim().is_empty()
    }
}

/// The terms of a product license that its status depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseTerms {
    pub trial: bool,
    pub seats: i64,
    pub start_date: NaiveDate,
    pub period_months: u32,
    pub auto_renewal: bool,
    /// How many days before its end a license that does not renew is
    /// expiring soon.
    pub notification_days: i64,
}

impl LicenseTerms {
    /// The end of the first period (where a license that does not renew
    /// ends).
    fn first_end(&self) -> NaiveDate {
        self.start_date
            .checked_add_months(Months::new(self.period_months))
            .unwrap_or(NaiveDate::MAX)
    }

    /// Whether its seats count on `day`: started, and renewing or not yet
    /// at its end.
    pub fn in_force(&self, day: NaiveDate) -> bool {
        self.start_date <= day && (self.auto_renewal || day < self.first_end())
    }

    /// The end of its period as of `day`: for a license that renews, the
    /// end of the period `day` falls in (the first one's before it
    /// starts); else the first period's end.
    pub fn end_date(&self, day: NaiveDate) -> NaiveDate {
        if !self.auto_renewal {
            return self.first_end();
        }
        let elapsed = whole_months(self.start_date, day);
        let periods = (elapsed.div_euclid(i64::from(self.period_months)) + 1).max(1);
        u32::try_from(periods)
            .ok()
            .and_then(|periods| periods.checked_mul(self.period_months))
            .and_then(|months| self.start_date.checked_add_months(Months::new(months)))
            .unwrap_or(NaiveDate::MAX)
    }
}

/// Whole months from `from` to `to` (negative before `from`), as
/// PostgreSQL's `age` counts them: a month is complete once its day of
/// the month is reached.
fn whole_months(from: NaiveDate, to: NaiveDate) -> i64 {
    use chrono::Datelike;
    let months =
        i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month());
    if to >= from && to.day() < from.day() {
        months - 1
    } else if to < from && to.day() > from.day() {
        months + 1
    } else {
        months
    }
}

/// The seats of `licenses` (one customer's, of one product) in force on
/// `day`.
pub fn seats_in_force(licenses: &[LicenseTerms], day: NaiveDate) -> i64 {
    licenses
        .iter()
        .filter(|license| license.in_force(day))
        .map(|license| license.seats)
        .sum()
}

/// Of `used` units a customer used on a day, those charged: units beyond
/// its full seats in force and within its trial seats are trial usage,
/// which is not charged.
pub fn charged_usage(used: i64, full_seats: i64, trial_seats: i64) -> i64 {
    used - (used - full_seats).max(0).min(trial_seats)
}

/// The days before a day whose usage counts against its seats.
pub const EXCEEDED_WINDOW_DAYS: u64 = 30;

/// Whether a customer exceeded its allocation of a product on `day`: on
/// some day of the window (the 30 days before and the day itself) it used
/// more units than the seats in force on `day`. `max_used` is the most
/// units used on a day of the window, `None` when none were reported.
pub fn exceeded(max_used: Option<i64>, seats_in_force: i64) -> bool {
    max_used.is_some_and(|used| used > seats_in_force)
}

/// A license's status on `day`, the first that holds of: expired (does
/// not renew and its end is reached), exceeded allocation (its customer's
/// product, see [`exceeded`]), expiring soon (does not renew and ends
/// within its notification days), trial, active.
pub fn license_status(license: &LicenseTerms, day: NaiveDate, exceeded: bool) -> LicenseStatus {
    let end = license.end_date(day);
    if !license.auto_renewal && day >= end {
        LicenseStatus::Expired
    } else if exceeded {
        LicenseStatus::ExceededAllocation
    } else if !license.auto_renewal && (end - day).num_days() <= license.notification_days {
        LicenseStatus::ExpiringSoon
    } else if license.trial {
        LicenseStatus::Trial
    } else {
        LicenseStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn figures(provisioned: i64, reported: Option<i64>, declared: Option<i64>) -> UsageFigures {
        UsageFigures {
            provisioned,
            used_reported: reported,
            used_declared: declared,
        }
    }

    #[test]
    fn over_provisioning_is_a_whole_percent_of_what_was_used_rounded_down() {
        let percent = |provisioned, reported, declared| {
            figures(provisioned, reported, declared).over_provisioned_percent()
        };
        assert_eq!(percent(10, Some(8), None), 25);
        // 2 / 3 = 66.67 %: rounded down.
        assert_eq!(percent(5, Some(3), None), 66);
        // The partner's correction counts over the reported figure.
        assert_eq!(percent(10, Some(8), Some(5)), 100);
        assert_eq!(percent(10, Some(10), None), 0);
        assert_eq!(percent(10, Some(12), None), 0);
        // Nothing used of something provisioned: no finite ratio.
        assert_eq!(percent(4, Some(0), None), 100);
        assert_eq!(percent(0, Some(0), None), 0);
        assert_eq!(percent(10, None, None), 0);
    }

    #[test]
    fn a_report_charges_used_units_unless_flagged() {
        // (figures, flagged, chargeable)
        let table = [
            (figures(10, Some(8), None), false, 8),
            (figures(10, Some(8), None), true, 10),
            (figures(10, Some(8), Some(9)), false, 9),
            (figures(10, Some(12), None), false, 12),
            (figures(10, None, None), false, 10),
            (figures(0, Some(3), None), false, 3),
        ];
        for (figures, flagged, expected) in table {
            assert_eq!(
                figures.chargeable(flagged),
                expected,
                "{figures:?} flagged {flagged}"
            );
        }
    }

    #[test]
    fn only_an_unexplained_over_provisioned_report_is_flagged() {
        assert!(figures(10, Some(8), None).flagged_on_auto_submit(""));
        assert!(figures(10, Some(8), None).flagged_on_auto_submit("  \n"));
        assert!(!figures(10, Some(8), None).flagged_on_auto_submit("seasonal"));
        assert!(!figures(10, Some(10), None).flagged_on_auto_submit(""));
        assert!(!figures(10, None, None).flagged_on_auto_submit(""));
        // The partner's figure decides.
        assert!(!figures(10, Some(8), Some(10)).flagged_on_auto_submit(""));
    }

    fn terms(start: &str, months: u32, auto_renewal: bool) -> LicenseTerms {
        LicenseTerms {
            trial: false,
            seats: 5,
            start_date: day(start),
            period_months: months,
            auto_renewal,
            notification_days: 30,
        }
    }

    #[test]
    fn a_renewing_license_ends_with_the_period_the_day_falls_in() {
        let license = terms("2026-01-31", 1, true);
        // Month ends clamp, as PostgreSQL's date + interval does.
        assert_eq!(license.end_date(day("2026-02-15")), day("2026-02-28"));
        assert_eq!(license.end_date(day("2026-02-28")), day("2026-02-28"));
        assert_eq!(license.end_date(day("2026-03-01")), day("2026-03-31"));
        // Before it starts: the first period.
        assert_eq!(license.end_date(day("2025-06-01")), day("2026-02-28"));
        let yearly = terms("2025-03-10", 12, true);
        assert_eq!(yearly.end_date(day("2026-03-09")), day("2026-03-10"));
        assert_eq!(yearly.end_date(day("2026-03-10")), day("2027-03-10"));
        // One that does not renew ends once.
        assert_eq!(
            terms("2025-03-10", 12, false).end_date(day("2030-01-01")),
            day("2026-03-10")
        );
    }

    #[test]
    fn a_license_is_in_force_from_its_start_until_its_end_unless_it_renews() {
        let once = terms("2026-01-10", 3, false);
        assert!(!once.in_force(day("2026-01-09")));
        assert!(once.in_force(day("2026-01-10")));
        assert!(once.in_force(day("2026-04-09")));
        assert!(!once.in_force(day("2026-04-10")));
        let renewing = terms("2026-01-10", 3, true);
        assert!(!renewing.in_force(day("2026-01-09")));
        assert!(renewing.in_force(day("2036-04-10")));
        assert_eq!(
            seats_in_force(&[once, renewing], day("2026-02-01")),
            10,
            "both"
        );
        assert_eq!(seats_in_force(&[once, renewing], day("2026-05-01")), 5);
    }

    #[test]
    fn a_license_takes_the_first_status_that_holds() {
        let today = day("2026-06-15");
        let trial = LicenseTerms {
            trial: true,
            ..terms("2026-06-01", 12, true)
        };
        // (terms, exceeded, status)
        let table = [
            (
                terms("2025-06-15", 12, false),
                false,
                LicenseStatus::Expired,
            ),
            // Expired wins over exceeded.
            (terms("2025-06-15", 12, false), true, LicenseStatus::Expired),
            (
                terms("2025-06-16", 12, false),
                true,
                LicenseStatus::ExceededAllocation,
            ),
            // Ends in exactly its notification days (30): expiring soon.
            (
                terms("2025-07-15", 12, false),
                false,
                LicenseStatus::ExpiringSoon,
            ),
            (terms("2025-07-16", 12, false), false, LicenseStatus::Active),
            // A renewing license never expires nor is expiring soon.
            (terms("2025-06-20", 12, true), false, LicenseStatus::Active),
            (trial, false, LicenseStatus::Trial),
            (trial, true, LicenseStatus::ExceededAllocation),
            // Not started yet: active (or trial), counted by its terms.
            (terms("2026-09-01", 12, false), false, LicenseStatus::Active),
        ];
        for (license, exceeded, expected) in table {
            assert_eq!(
                license_status(&license, today, exceeded),
                expected,
                "{license:?} exceeded {exceeded}"
            );
        }
    }

    #[test]
    fn usage_within_trial_seats_beyond_full_ones_is_not_charged() {
        // (used, full seats, trial seats, charged)
        let table = [
            (5, 10, 0, 5),
            (12, 10, 0, 12),
            (12, 10, 5, 10),
            (17, 10, 5, 12),
            (3, 0, 5, 0),
            (0, 0, 0, 0),
        ];
        for (used, full, trial, charged) in table {
            assert_eq!(
                charged_usage(used, full, trial),
                charged,
                "{used} of {full}+{trial}"
            );
        }
    }

    #[test]
    fn allocation_is_exceeded_only_by_more_units_than_seats() {
        assert!(!exceeded(None, 0));
        assert!(!exceeded(Some(5), 5));
        assert!(exceeded(Some(6), 5));
        assert!(exceeded(Some(1), 0));
    }
}
