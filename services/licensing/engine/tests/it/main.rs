//! The compliance engine's tests: one module per group of rules, worked
//! estates small enough to check by hand, and property tests on generated
//! estates.

mod allocation;
mod assignments;
mod builder;
mod downgrade;
mod licenses;
mod properties;
mod requirement;

use estate_compliance::{Compliance, Outcome};

/// The figures of one application at one node (zero when absent).
pub fn at(outcome: &Outcome, node: u32, application: u32) -> Compliance {
    outcome
        .nodes
        .iter()
        .find(|entry| entry.node == node && entry.application == application)
        .map(|entry| entry.compliance)
        .unwrap_or_default()
}

/// The figures of one application over all nodes (zero when absent).
pub fn total(outcome: &Outcome, application: u32) -> Compliance {
    outcome
        .applications
        .iter()
        .find(|entry| entry.application == application)
        .map(|entry| entry.compliance)
        .unwrap_or_default()
}
