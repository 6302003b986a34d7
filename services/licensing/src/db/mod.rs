//! Storage of the licensing service, one module per aggregate.

pub mod agreements;
pub mod assignments;
pub mod catalog;
pub mod inventory;
pub mod licenses;
pub mod nodes;
pub mod settings;
pub mod summary;
