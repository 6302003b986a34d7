//! The time source every rule that depends on "now" reads from.
//!
//! Services receive a [`SharedClock`] at construction; production passes
//! [`SystemClock`], tests pass a [`FixedClock`] they can move, so a rule such
//! as "silent for more than 7 days" is tested at its exact boundary.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// A clock that can be shared by every component of a service.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock pinned to an instant that only moves when told to.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    /// A clock that reads `now` until it is set or advanced.
    pub fn new(now: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(now),
        })
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().expect("clock mutex poisoned") = now;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().expect("clock mutex poisoned");
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock mutex poisoned")
    }
}

/// The wall clock as a [`SharedClock`].
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// Parses an interval written as a positive whole number and a unit:
/// `30s`, `15m`, `24h` or `2d`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not an interval like 30m, 24h or 2d");
    let split = text.len().checked_sub(1).ok_or_else(invalid)?;
    if !text.is_char_boundary(split) {
        return Err(invalid());
    }
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let interval = match unit {
        "s" => Duration::try_seconds(number),
        "m" => Duration::try_minutes(number),
        "h" => Duration::try_hours(number),
        "d" => Duration::try_days(number),
        _ => None,
    }
    .ok_or_else(invalid)?;
    if interval <= Duration::zero() {
        return Err(invalid());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-02-28T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = FixedClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::seconds(1));
        assert_eq!(clock.now().to_rfc3339(), "2026-03-01T00:00:00+00:00");
    }

    #[test]
    fn intervals_parse_with_their_unit_and_refuse_anything_else() {
        assert_eq!(parse_interval("30s"), Ok(Duration::seconds(30)));
        assert_eq!(parse_interval("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_interval("24h"), Ok(Duration::hours(24)));
        assert_eq!(parse_interval("2d"), Ok(Duration::days(2)));
        for bad in [
            "",
            "h",
            "0h",
            "-1h",
            "24",
            "24x",
            "1.5h",
            "9999999999999999d",
            "2é",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }
}
