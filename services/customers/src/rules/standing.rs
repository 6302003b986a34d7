//! A partner's standing with its distributor (SPEC section 3), as it bounds
//! what the partner's own principals may do anywhere on the platform.
//!
//! - **Active**: no bound.
//! - **Suspended**: read-only. Every change is refused, except the usage a
//!   suspended MSP still reports for its own customers' products.
//! - **Canceled**: access revoked. Nothing is read or changed, through any
//!   service, by any of the partner's principals.
//!
//! The billing service owns the status and tells the customers service
//! each change; the customers service answers every access decision, so the
//! bound holds on the next call after delivery.

/// The `standing` column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active,
    Suspended,
    Canceled,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Canceled => "canceled",
        }
    }

    /// The standing a column value names; unknown values are treated as
    /// canceled, so a bad value fails closed.
    pub fn parse(value: &str) -> Self {
        match value {
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            _ => Self::Canceled,
        }
    }
}

/// What the caller asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Reporting product usage: a change a suspended MSP may still make.
    ReportUsage,
}

/// Whether a partner in `standing` may have `access`; the reason when
/// not. `partner` names the partner in the reason.
pub fn permits(standing: Standing, access: Access, partner: &str) -> Result<(), String> {
    match (standing, access) {
        (Standing::Active, _) => Ok(()),
        (Standing::Suspended, Access::Read | Access::ReportUsage) => Ok(()),
        (Standing::Suspended, Access::Write) => Err(format!(
            "{partner} is a suspended partner: it may read but not change anything until \
             its distributor reactivates it"
        )),
        (Standing::Canceled, _) => Err(format!(
            "{partner} is a canceled partner: its access was revoked"
        )),
    }
}

/// Whether a delivery of `incoming` at `revision` replaces the stored
/// standing: only a newer revision does, and nothing replaces canceled.
pub fn replaces(stored: Standing, stored_revision: i64, incoming_revision: i64) -> bool {
    stored != Standing::Canceled && incoming_revision > stored_revision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_standing_bounds_each_intent() {
        use Access::*;
        use Standing::*;
        let table = [
            (Active, Read, true),
            (Active, Write, true),
            (Active, ReportUsage, true),
            (Suspended, Read, true),
            (Suspended, Write, false),
            (Suspended, ReportUsage, true),
            (Canceled, Read, false),
            (Canceled, Write, false),
            (Canceled, ReportUsage, false),
        ];
        for (standing, intent, allowed) in table {
            let answer = permits(standing, intent, "organizations/p");
            assert_eq!(answer.is_ok(), allowed, "{standing:?} {intent:?}");
            if let Err(reason) = answer {
                assert!(reason.contains("organizations/p"), "{reason}");
                assert!(reason.contains(standing.as_str()), "{reason}");
            }
        }
    }

    #[test]
    fn only_a_newer_revision_replaces_and_canceled_is_final() {
        use Standing::*;
        let table = [
            (Active, 3, 4, true),
            (Active, 3, 3, false),
            (Active, 3, 2, false),
            (Suspended, 3, 5, true),
            (Canceled, 3, 9, false),
        ];
        for (stored, revision, incoming, expected) in table {
            assert_eq!(replaces(stored, revision, incoming), expected);
        }
    }

    #[test]
    fn unknown_values_fail_closed() {
        assert_eq!(Standing::parse("paused"), Standing::Canceled);
        for standing in [Standing::Active, Standing::Suspended, Standing::Canceled] {
            assert_eq!(Standing::parse(standing.as_str()), standing);
        }
    }
}
