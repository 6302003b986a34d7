//! The organizations an access decision walks: their kinds, and the chain
//! from one up to the top.

use uuid::Uuid;

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
