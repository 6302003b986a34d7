//! Storage of the billing service, one module per aggregate.

pub mod dashboard;
pub mod partners;
pub mod product_licenses;
pub mod reports;
pub mod service_plans;
