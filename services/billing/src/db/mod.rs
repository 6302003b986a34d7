//! Storage of the billing service, one module per aggregate.

pub mod dashboard;
pub mod license_status;
pub mod partners;
pub mod product_licenses;
pub mod reports;
pub mod service_plans;
mod stored;

#[cfg(test)]
mod rules_in_sql;

/// How a read locks the rows it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    None,
    /// Kept unchanged until the transaction ends (checks on it hold).
    Share,
    /// About to be changed.
    Update,
}

impl Lock {
    pub fn clause(self) -> &'static str {
        match self {
            Lock::None => "",
            Lock::Share => " FOR SHARE",
            Lock::Update => " FOR UPDATE",
        }
    }
}
