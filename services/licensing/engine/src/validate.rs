//! Checks an estate once, up front, so the calculation can index vectors
//! without panicking on bad input data.
//!
//! The service builds the dense indices itself, so a failure here is a bug
//! in that mapping; it is still reported as an error, never a panic.

use std::fmt;

use crate::model::{Consumer, Estate, Target};

/// Why an estate cannot be calculated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EstateError {
    /// The organization tree has no root.
    NoNodes,
    /// Node 0 has a parent.
    RootHasParent,
    /// A node other than the root has no parent, or a parent not before it.
    BadParent {
        /// The node.
        node: u32,
    },
    /// An index points past the end of its vector.
    IndexOutOfRange {
        /// Which field holds the index, e.g. `installations.computer`.
        field: &'static str,
        /// The position of the record holding it.
        position: usize,
        /// The index.
        index: u32,
    },
    /// Two licenses share a key, so the tie-break order is not total.
    DuplicateLicenseKey {
        /// The key.
        key: u128,
    },
    /// Two assignments share a key, so the excess order is not total.
    DuplicateAssignmentKey {
        /// The key.
        key: u128,
    },
}

impl fmt::Display for EstateError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EstateError::NoNodes => write!(formatter, "the organization tree has no root"),
            EstateError::RootHasParent => write!(formatter, "the root node has a parent"),
            EstateError::BadParent { node } => {
                write!(formatter, "node {node} has no parent with a smaller index")
            }
            EstateError::IndexOutOfRange {
                field,
                position,
                index,
            } => {
                write!(
                    formatter,
                    "{field} of record {position} is out of range: {index}"
                )
            }
            EstateError::DuplicateLicenseKey { key } => {
                write!(formatter, "duplicate license key {key:032x}")
            }
            EstateError::DuplicateAssignmentKey { key } => {
                write!(formatter, "duplicate assignment key {key:032x}")
            }
        }
    }
}

impl std::error::Error for EstateError {}

/// Checks every index and the shape of the tree.
pub(crate) fn validate(estate: &Estate) -> Result<(), EstateError> {
    validate_tree(estate)?;
    validate_inventory(estate)?;
    validate_licenses(estate)?;
    validate_assignments(estate)
}

fn check(field: &'static str, position: usize, index: u32, len: usize) -> Result<(), EstateError> {
    if (index as usize) < len {
        return Ok(());
    }
    Err(EstateError::IndexOutOfRange {
        field,
        position,
        index,
    })
}

fn check_consumer(
    estate: &Estate,
    field: &'static str,
    position: usize,
    consumer: Consumer,
) -> Result<(), EstateError> {
    match consumer {
        Consumer::Computer(index) => check(field, position, index, estate.computers.len()),
        Consumer::User(index) => check(field, position, index, estate.users.len()),
    }
}

fn validate_tree(estate: &Estate) -> Result<(), EstateError> {
    let Some(root) = estate.nodes.first() else {
        return Err(EstateError::NoNodes);
    };
    if root.parent.is_some() {
        return Err(EstateError::RootHasParent);
    }
    for (position, node) in estate.nodes.iter().enumerate().skip(1) {
        match node.parent {
            Some(parent) if (parent as usize) < position => {}
            _ => {
                return Err(EstateError::BadParent {
                    node: position as u32,
                });
            }
        }
    }
    Ok(())
}

fn validate_inventory(estate: &Estate) -> Result<(), EstateError> {
    let nodes = estate.nodes.len();
    let applications = estate.applications.len();
    let families = estate.family_count as usize;
    for (position, application) in estate.applications.iter().enumerate() {
        check(
            "applications.family",
            position,
            application.family,
            families,
        )?;
    }
    for (position, computer) in estate.computers.iter().enumerate() {
        check("computers.node", position, computer.node, nodes)?;
    }
    for (position, user) in estate.users.iter().enumerate() {
        check("users.node", position, user.node, nodes)?;
    }
    for (position, installation) in estate.installations.iter().enumerate() {
        let computers = estate.computers.len();
        check(
            "installations.computer",
            position,
            installation.computer,
            computers,
        )?;
        check(
            "installations.application",
            position,
            installation.application,
            applications,
        )?;
    }
    for (position, usage) in estate.usage.iter().enumerate() {
        check("usage.user", position, usage.user, estate.users.len())?;
        check(
            "usage.application",
            position,
            usage.application,
            applications,
        )?;
    }
    for (position, exclusion) in estate.exclusions.iter().enumerate() {
        check_consumer(estate, "exclusions.consumer", position, exclusion.consumer)?;
        if let Some(application) = exclusion.application {
            check(
                "exclusions.application",
                position,
                application,
                applications,
            )?;
        }
    }
    Ok(())
}

fn validate_licenses(estate: &Estate) -> Result<(), EstateError> {
    let nodes = estate.nodes.len();
    let licenses = estate.licenses.len();
    for (position, license) in estate.licenses.iter().enumerate() {
        match license.target {
            Target::Application(application) => {
                let applications = estate.applications.len();
                check("licenses.target", position, application, applications)?;
            }
            Target::Family(family) => {
                check(
                    "licenses.target",
                    position,
                    family,
                    estate.family_count as usize,
                )?;
            }
        }
        check("licenses.legal_owner", position, license.legal_owner, nodes)?;
        for allocation in &license.manual_allocations {
            check(
                "licenses.manual_allocations",
                position,
                allocation.node,
                nodes,
            )?;
        }
        for upgrade in &license.upgrade_of {
            check("licenses.upgrade_of", position, upgrade.base, licenses)?;
        }
    }
    let mut keys: Vec<u128> = estate.licenses.iter().map(|license| license.key).collect();
    keys.sort_unstable();
    if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(EstateError::DuplicateLicenseKey { key: pair[0] });
    }
    Ok(())
}

fn validate_assignments(estate: &Estate) -> Result<(), EstateError> {
    for (position, assignment) in estate.assignments.iter().enumerate() {
        check(
            "assignments.license",
            position,
            assignment.license,
            estate.licenses.len(),
        )?;
        check_consumer(
            estate,
            "assignments.consumer",
            position,
            assignment.consumer,
        )?;
    }
    let mut keys: Vec<u128> = estate
        .assignments
        .iter()
        .map(|assignment| assignment.key)
        .collect();
    keys.sort_unstable();
    if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(EstateError::DuplicateAssignmentKey { key: pair[0] });
    }
    Ok(())
}
