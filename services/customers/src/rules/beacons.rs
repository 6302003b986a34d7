//! A beacon's health, and what beacons mean for a customer's status: a
//! beacon reports its own status with each heartbeat, and one that stops
//! reporting must not stay OK forever.
//!
//! - **Disabled**: reported disabled; never a problem.
//! - **Silent**: no heartbeat for longer than its silence threshold (set
//!   per beacon, 24 hours unless registered otherwise), whatever it last
//!   reported. A problem.
//! - **Problem**: it reported WARNING or ERROR. A problem.
//! - **Ok** otherwise.
//!
//! A customer with any beacon problem shows WARNING in the overview
//! (beside the SPEC's silent computers and denied applications), and the
//! overview can list just those customers.

use chrono::{DateTime, Duration, Utc};

/// The threshold a beacon gets unless registered with another.
pub const DEFAULT_SILENT_AFTER: Duration = Duration::hours(24);
/// The shortest and longest thresholds a beacon may have.
pub const MIN_SILENT_AFTER: Duration = Duration::minutes(5);
pub const MAX_SILENT_AFTER: Duration = Duration::days(30);

/// What a beacon last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    Ok,
    Warning,
    Error,
    Disabled,
}

impl Reported {
    pub fn parse(value: &str) -> Self {
        match value {
            "ok" => Self::Ok,
            "warning" => Self::Warning,
            "error" => Self::Error,
            _ => Self::Disabled,
        }
    }
}

/// One beacon, as far as its health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconFacts {
    pub reported: Reported,
    pub last_contact: DateTime<Utc>,
    pub silent_after: Duration,
}

/// A beacon's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Problem,
    Silent,
    Disabled,
}

impl Health {
    pub fn is_problem(self) -> bool {
        matches!(self, Self::Problem | Self::Silent)
    }
}

/// When a beacon heard from last at `last_contact` counts as silent.
pub fn silent_from(beacon: &BeaconFacts) -> DateTime<Utc> {
    beacon.last_contact + beacon.silent_after
}

pub fn health(beacon: &BeaconFacts, now: DateTime<Utc>) -> Health {
    match beacon.reported {
        Reported::Disabled => Health::Disabled,
        _ if now >= silent_from(beacon) => Health::Silent,
        Reported::Warning | Reported::Error => Health::Problem,
        Reported::Ok => Health::Ok,
    }
}

/// How many of a customer's beacons have a problem at `now`, and when
/// time alone changes that next (a beacon going silent).
pub fn problems(beacons: &[BeaconFacts], now: DateTime<Utc>) -> (i64, Option<DateTime<Utc>>) {
    let count = beacons
        .iter()
        .filter(|beacon| health(beacon, now).is_problem())
        .count() as i64;
    let next = beacons
        .iter()
        .filter(|beacon| beacon.reported != Reported::Disabled)
        .map(silent_from)
        .filter(|&at| at > now)
        .min();
    (count, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn beacon(reported: Reported, hours_ago: i64) -> BeaconFacts {
        BeaconFacts {
            reported,
            last_contact: now() - Duration::hours(hours_ago),
            silent_after: DEFAULT_SILENT_AFTER,
        }
    }

    #[test]
    fn health_follows_the_report_until_the_beacon_falls_silent() {
        let table = [
            (Reported::Ok, 1, Health::Ok),
            (Reported::Warning, 1, Health::Problem),
            (Reported::Error, 1, Health::Problem),
            (Reported::Disabled, 1, Health::Disabled),
            (Reported::Ok, 23, Health::Ok),
            // Exactly at the threshold: silent.
            (Reported::Ok, 24, Health::Silent),
            (Reported::Error, 30, Health::Silent),
            (Reported::Disabled, 500, Health::Disabled),
        ];
        for (reported, hours_ago, expected) in table {
            assert_eq!(
                health(&beacon(reported, hours_ago), now()),
                expected,
                "{reported:?} {hours_ago} h ago"
            );
        }
    }

    #[test]
    fn a_customer_counts_its_problems_and_knows_when_the_next_beacon_goes_silent() {
        let beacons = [
            beacon(Reported::Ok, 2),
            beacon(Reported::Ok, 30),
            beacon(Reported::Error, 1),
            beacon(Reported::Disabled, 20),
            beacon(Reported::Ok, 10),
        ];
        let (count, next) = problems(&beacons, now());
        assert_eq!(count, 2);
        // The one heard from 10 hours ago goes silent in 14 hours.
        assert_eq!(next, Some(now() + Duration::hours(14)));
        assert_eq!(problems(&[], now()), (0, None));
    }
}
