//! Storage of the licensing service, one module per aggregate.

pub mod licenses;
