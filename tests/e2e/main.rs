//! End-to-end tests: real servers on port 0, real PostgreSQL (a database per
//! test), calls through the gateway as clients make them.

mod abuse;
mod access;
mod billing;
mod billing_boundaries;
mod billing_client;
mod billing_dashboard;
mod billing_reports;
mod compliance;
mod demo;
mod estate;
mod estate_rules;
mod gateway;
mod lifecycle;
mod observed;
mod organization_rules;
mod overview;
mod partner_access;
mod partner_standing;
mod races;
mod reflection;
mod resources;
mod roles;
mod schema;
mod sorting;
mod sync_schedule;
mod transport;
mod world;

use tonic::{Code, Status};

/// Asserts a call failed with `code`, printing the status otherwise.
#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got success: {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}
