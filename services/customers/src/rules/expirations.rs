//! Entitlement expiry rules of SPEC section 1: the overview's "upcoming
//! expiration" and "expiration status" columns, as pure functions of the
//! entitlements and the time.
//!
//! Boundaries: something expired "less than 30 days ago" while fewer than
//! 30 × 24 hours have passed since its expiry; at exactly 30 days it counts
//! as expired "more than 30 days ago". "Expires in 30 days" includes an
//! expiry exactly 30 days away; "in 60 days" likewise includes day 60.

use chrono::{DateTime, Duration, Utc};

/// A capability an organization can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    SamCore,
    SaasManagement,
    ItAssetManagement,
    CloudCostOptimization,
}

impl Capability {
    pub const ALL: [Capability; 4] = [
        Self::SamCore,
        Self::SaasManagement,
        Self::ItAssetManagement,
        Self::CloudCostOptimization,
    ];

    /// The id used in resource names, storage and product names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SamCore => "sam-core",
            Self::SaasManagement => "saas-management",
            Self::ItAssetManagement => "it-asset-management",
            Self::CloudCostOptimization => "cloud-cost-optimization",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|capability| capability.as_str() == value)
    }
}

/// One held capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub capability: Capability,
    /// `None`: never expires.
    pub expire_time: Option<DateTime<Utc>>,
}

/// Whether `held` includes `capability`, usable at `now`: what gates the
/// service behind a capability (SAM Core: changes to the licensing
/// service's data).
pub fn holds_active(held: &[Held], capability: Capability, now: DateTime<Utc>) -> bool {
    held.iter()
        .any(|entry| entry.capability == capability && entry.active_at(now))
}

impl Capability {
    /// The name people read.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::SamCore => "SAM Core",
            Self::SaasManagement => "SaaS Management",
            Self::ItAssetManagement => "IT Asset Management",
            Self::CloudCostOptimization => "Cloud Cost Optimization",
        }
    }
}

impl Held {
    /// Whether the capability is usable at `now`.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.expire_time.is_none_or(|expiry| expiry > now)
    }
}

/// The "upcoming expiration" column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpcomingExpiration {
    /// The next capability to expire does so at this instant.
    Date(DateTime<Utc>),
    NoExpirations,
    NoEntitlements,
}

/// The "expiration status" column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpirationStatus {
    Expired,
    ExpiresIn30Days,
    ExpiresIn60Days,
    /// "-".
    None,
}

const RECENT: Duration = Duration::days(30);
const SOON: Duration = Duration::days(30);
const LATER: Duration = Duration::days(60);

fn expired_recently(expiry: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expiry <= now && now - expiry < RECENT
}

/// The date of the next capability to expire; else "No expirations" when
/// no dates exist or something expired less than 30 days ago (or a
/// capability without an expiry is held); "No entitlements" when every
/// capability expired 30 or more days ago, or none is held.
pub fn upcoming_expiration(held: &[Held], now: DateTime<Utc>) -> UpcomingExpiration {
    let next = held
        .iter()
        .filter_map(|entitlement| entitlement.expire_time)
        .filter(|expiry| *expiry > now)
        .min();
    if let Some(next) = next {
        return UpcomingExpiration::Date(next);
    }
    let all_expired_long_ago = held.iter().all(|entitlement| {
        entitlement
            .expire_time
            .is_some_and(|expiry| expiry <= now && !expired_recently(expiry, now))
    });
    if all_expired_long_ago {
        UpcomingExpiration::NoEntitlements
    } else {
        UpcomingExpiration::NoExpirations
    }
}

/// Expired when something expired less than 30 days ago; else the nearest
/// window (30 or 60 days) an active capability expires in; else "-".
pub fn expiration_status(held: &[Held], now: DateTime<Utc>) -> ExpirationStatus {
    let expiries = || {
        held.iter()
            .filter_map(|entitlement| entitlement.expire_time)
    };
    if expiries().any(|expiry| expired_recently(expiry, now)) {
        return ExpirationStatus::Expired;
    }
    let next = expiries().filter(|expiry| *expiry > now).min();
    match next {
        Some(next) if next - now <= SOON => ExpirationStatus::ExpiresIn30Days,
        Some(next) if next - now <= LATER => ExpirationStatus::ExpiresIn60Days,
        _ => ExpirationStatus::None,
    }
}

/// The first instant after `now` at which either column can change by the
/// passage of time alone: an expiry, the end of its 30 recent days, or its
/// entry into the 60- and 30-day windows.
pub fn next_change(held: &[Held], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    held.iter()
        .filter_map(|entitlement| entitlement.expire_time)
        .flat_map(|expiry| [expiry - LATER, expiry - SOON, expiry, expiry + RECENT])
        .filter(|instant| *instant > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn expiring_in(days: i64) -> Held {
        Held {
            capability: Capability::SamCore,
            expire_time: Some(now() + Duration::days(days)),
        }
    }

    fn expired_days_ago(days: i64) -> Held {
        expiring_in(-days)
    }

    fn never_expiring() -> Held {
        Held {
            capability: Capability::SaasManagement,
            expire_time: None,
        }
    }

    #[test]
    fn upcoming_expiration_is_the_next_future_expiry() {
        let held = [expiring_in(90), expiring_in(10), expired_days_ago(3)];
        assert_eq!(
            upcoming_expiration(&held, now()),
            UpcomingExpiration::Date(now() + Duration::days(10))
        );
    }

    #[test]
    fn no_expirations_when_no_dates_exist() {
        assert_eq!(
            upcoming_expiration(&[never_expiring()], now()),
            UpcomingExpiration::NoExpirations
        );
    }

    #[test]
    fn no_expirations_when_something_expired_less_than_30_days_ago() {
        assert_eq!(
            upcoming_expiration(&[expired_days_ago(29)], now()),
            UpcomingExpiration::NoExpirations
        );
    }

    #[test]
    fn no_entitlements_when_everything_expired_30_or_more_days_ago() {
        for days in [30, 31, 400] {
            assert_eq!(
                upcoming_expiration(&[expired_days_ago(days), expired_days_ago(45)], now()),
                UpcomingExpiration::NoEntitlements,
                "{days} days"
            );
        }
        assert_eq!(
            upcoming_expiration(&[], now()),
            UpcomingExpiration::NoEntitlements
        );
    }

    #[test]
    fn a_capability_without_expiry_keeps_no_expirations_beside_long_expired_ones() {
        assert_eq!(
            upcoming_expiration(&[expired_days_ago(90), never_expiring()], now()),
            UpcomingExpiration::NoExpirations
        );
    }

    #[test]
    fn expired_while_the_expiry_is_less_than_30_days_old() {
        assert_eq!(
            expiration_status(&[expired_days_ago(0)], now()),
            ExpirationStatus::Expired
        );
        assert_eq!(
            expiration_status(&[expired_days_ago(29)], now()),
            ExpirationStatus::Expired
        );
        assert_eq!(
            expiration_status(&[expired_days_ago(30)], now()),
            ExpirationStatus::None
        );
        assert_eq!(
            expiration_status(&[expired_days_ago(31)], now()),
            ExpirationStatus::None
        );
    }

    #[test]
    fn expired_wins_over_upcoming_windows() {
        assert_eq!(
            expiration_status(&[expired_days_ago(5), expiring_in(3)], now()),
            ExpirationStatus::Expired
        );
    }

    #[test]
    fn window_boundaries_at_29_30_31_and_59_60_61_days() {
        let cases = [
            (29, ExpirationStatus::ExpiresIn30Days),
            (30, ExpirationStatus::ExpiresIn30Days),
            (31, ExpirationStatus::ExpiresIn60Days),
            (59, ExpirationStatus::ExpiresIn60Days),
            (60, ExpirationStatus::ExpiresIn60Days),
            (61, ExpirationStatus::None),
        ];
        for (days, expected) in cases {
            assert_eq!(
                expiration_status(&[expiring_in(days)], now()),
                expected,
                "{days} days"
            );
        }
    }

    #[test]
    fn dash_when_old_expiries_and_far_future_ones() {
        assert_eq!(
            expiration_status(&[expired_days_ago(45), expiring_in(200)], now()),
            ExpirationStatus::None
        );
        assert_eq!(
            expiration_status(&[never_expiring()], now()),
            ExpirationStatus::None
        );
    }

    #[test]
    fn next_change_is_when_a_window_is_entered_or_left() {
        let held = [expiring_in(90)];
        let next = next_change(&held, now()).unwrap();
        // Entering the 60-day window.
        assert_eq!(next, now() + Duration::days(30));
        assert_eq!(
            expiration_status(&held, next),
            ExpirationStatus::ExpiresIn60Days
        );
        assert_eq!(
            expiration_status(&held, next - Duration::microseconds(1)),
            ExpirationStatus::None
        );
        let after_expiry = now() + Duration::days(91);
        assert_eq!(
            next_change(&held, after_expiry),
            Some(now() + Duration::days(120))
        );
        assert_eq!(next_change(&[never_expiring()], now()), None);
    }

    #[test]
    fn capabilities_round_trip_their_ids() {
        for capability in Capability::ALL {
            assert_eq!(Capability::parse(capability.as_str()), Some(capability));
        }
        assert_eq!(Capability::parse("sam core"), None);
    }

    #[test]
    fn a_capability_is_held_until_its_expiry() {
        let now = now();
        let held = [
            Held {
                capability: Capability::SamCore,
                expire_time: Some(now + Duration::seconds(1)),
            },
            Held {
                capability: Capability::SaasManagement,
                expire_time: Some(now),
            },
            Held {
                capability: Capability::ItAssetManagement,
                expire_time: None,
            },
        ];
        let table = [
            (Capability::SamCore, true),
            (Capability::SaasManagement, false),
            (Capability::ItAssetManagement, true),
            (Capability::CloudCostOptimization, false),
        ];
        for (capability, expected) in table {
            assert_eq!(
                holds_active(&held, capability, now),
                expected,
                "{capability:?}"
            );
        }
    }
}
