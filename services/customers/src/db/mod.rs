//! Storage, one module per aggregate.

pub mod api_keys;
pub mod beacons;
pub mod entitlements;
pub mod grants;
pub mod members;
pub mod organizations;
pub mod overview;
pub mod overview_list;
pub mod sync_runs;
