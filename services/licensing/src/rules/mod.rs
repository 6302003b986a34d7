//! The licensing rules that are more than a check, as plain functions of
//! plain values: testable without a server or a database.

pub mod alerts;
pub mod archive;
pub mod assignments;
pub mod computers;
pub mod licenses;
pub mod policy;
pub mod references;
pub mod versions;
