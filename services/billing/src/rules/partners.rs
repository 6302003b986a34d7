//! A partner's standing with its distributor as transition functions:
//! active ⇄ suspended, and either → canceled for good.

use super::reports::Refusal;
use super::statuses::{PartnerState, Stored};

/// What a distributor can do to a partner's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerAction {
    Suspend,
    Reactivate,
    Cancel,
}

impl PartnerAction {
    /// The statuses a partner may take this action from.
    pub fn from(self) -> &'static [PartnerState] {
        match self {
            Self::Suspend => &[PartnerState::Active],
            Self::Reactivate => &[PartnerState::Suspended],
            Self::Cancel => &[PartnerState::Active, PartnerState::Suspended],
        }
    }

    /// The status it leads to.
    pub fn to(self) -> PartnerState {
        match self {
            Self::Suspend => PartnerState::Suspended,
            Self::Reactivate => PartnerState::Active,
            Self::Cancel => PartnerState::Canceled,
        }
    }
}

/// The status a partner in `current` moves to by `action`, or why not.
pub fn partner_transition(
    action: PartnerAction,
    current: PartnerState,
) -> Result<PartnerState, Refusal> {
    if action.from().contains(&current) {
        return Ok(action.to());
    }
    let from: Vec<&str> = action.from().iter().map(|status| status.column()).collect();
    Err(Refusal {
        violation: "INVALID_PARTNER_TRANSITION",
        description: format!(
            "the partner is {}; only a partner that is {} can become {}",
            current.column(),
            from.join(" or "),
            action.to().column()
        ),
    })
}

/// Whether a partner in `status` (and what belongs to it: customers,
/// licenses, usage reports) may be changed: only while active.
pub fn editable(status: PartnerState) -> Result<(), Refusal> {
    let why = match status {
        PartnerState::Active => return Ok(()),
        PartnerState::Suspended => "a suspended partner is read-only until reactivated",
        PartnerState::Canceled => "a canceled partner can no longer be changed",
    };
    Err(Refusal {
        violation: "PARTNER_NOT_ACTIVE",
        description: format!("the partner is {}: {why}", status.column()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partner_action_from_every_status() {
        use PartnerAction::*;
        use PartnerState::*;
        for action in [Suspend, Reactivate, Cancel] {
            for &status in PartnerState::ALL {
                let expected = match (action, status) {
                    (Suspend, Active) => Some(Suspended),
                    (Reactivate, Suspended) => Some(Active),
                    (Cancel, Active | Suspended) => Some(Canceled),
                    _ => None,
                };
                let got = partner_transition(action, status);
                assert_eq!(got.clone().ok(), expected, "{action:?} from {status:?}");
                if let Err(refusal) = got {
                    assert_eq!(refusal.violation, "INVALID_PARTNER_TRANSITION");
                }
            }
        }
        assert_eq!(
            partner_transition(Reactivate, Canceled)
                .unwrap_err()
                .description,
            "the partner is canceled; only a partner that is suspended can become active"
        );
    }

    #[test]
    fn only_an_active_partner_is_editable() {
        assert_eq!(editable(PartnerState::Active), Ok(()));
        for status in [PartnerState::Suspended, PartnerState::Canceled] {
            let refusal = editable(status).unwrap_err();
            assert_eq!(refusal.violation, "PARTNER_NOT_ACTIVE");
            assert!(
                refusal
                    .description
                    .starts_with(&format!("the partner is {}", status.column()))
            );
        }
    }
}
