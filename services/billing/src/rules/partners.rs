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

/// A partner account's type (a contract number; 0 is unspecified), from
/// what the request `asked` and what its organization is `known` as in the
/// customers service, which owns it: a request may leave it out (the
/// organization's is taken) or must agree; with neither there is none.
pub fn partner_type(asked: i32, known: i32) -> Result<i32, &'static str> {
    match (asked, known) {
        (0, 0) => Err("is required: the organization has no partner type"),
        (0, known) => Ok(known),
        (asked, known) if known != 0 && asked != known => {
            Err("must match the organization's partner_type in the customers service")
        }
        (asked, _) => Ok(asked),
    }
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
    fn the_organizations_partner_type_is_the_accounts() {
        // (asked, the organization's, outcome); 1 and 2 are MSP and reseller.
        let table = [
            (0, 1, Ok(1)),
            (2, 2, Ok(2)),
            (2, 0, Ok(2)),
            (1, 2, Err("must match")),
            (0, 0, Err("is required")),
        ];
        for (asked, known, expected) in table {
            let got = partner_type(asked, known);
            match expected {
                Ok(kind) => assert_eq!(got, Ok(kind), "{asked} for {known}"),
                Err(start) => assert!(
                    got.is_err_and(|reason| reason.starts_with(start)),
                    "{asked} for {known}"
                ),
            }
        }
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
