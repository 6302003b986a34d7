//! The organizations an access decision walks: their kinds, and the chain
//! from one up to the top.

use uuid::Uuid;

use super::status::GrantMode;

/// What an organization is (the `kind` column's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Distributor,
    Partner,
    Customer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Distributor => "distributor",
            Self::Partner => "partner",
            Self::Customer => "customer",
        }
    }

    /// The kind a `kind` column value names.
    pub fn parse(value: &str) -> Self {
        match value {
            "distributor" => Self::Distributor,
            "partner" => Self::Partner,
            _ => Self::Customer,
        }
    }
}

/// One link of the chain from an organization up to the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    pub id: Uuid,
    pub kind: Kind,
}

/// The partner's grant after a customer's relationship changes owner:
/// managed by the partner means continuous access; a customer taking
/// ownership keeps the partner's current access (disabled when it had
/// none) until it changes the grant itself.
pub fn grant_after_owner_change(managed: bool, current: Option<GrantMode>) -> GrantMode {
    match (managed, current) {
        (true, _) => GrantMode::Continuous,
        (false, Some(mode)) => mode,
        (false, None) => GrantMode::Disabled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_managed_relationship_grants_continuous_access_an_owned_one_keeps_its_grant() {
        let period = GrantMode::Period {
            start: chrono::DateTime::UNIX_EPOCH,
            end: chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(30),
        };
        assert_eq!(grant_after_owner_change(true, None), GrantMode::Continuous);
        assert_eq!(
            grant_after_owner_change(true, Some(GrantMode::Disabled)),
            GrantMode::Continuous
        );
        assert_eq!(grant_after_owner_change(false, None), GrantMode::Disabled);
        assert_eq!(
            grant_after_owner_change(false, Some(GrantMode::Continuous)),
            GrantMode::Continuous
        );
        assert_eq!(grant_after_owner_change(false, Some(period)), period);
    }
}
