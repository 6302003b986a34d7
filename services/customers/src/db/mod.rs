//! Storage of the customers service, one module per aggregate.

pub mod api_keys;
pub mod organizations;
