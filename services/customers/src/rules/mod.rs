//! The domain rules of SPEC section 1 as plain functions over plain types:
//! no database, no server, so every branch is unit-tested with a pinned
//! clock. Storage loads the facts, these functions decide.

pub mod access;
pub mod beacons;
pub mod expirations;
pub mod needs;
pub mod organizations;
pub mod overview;
pub mod roles;
pub mod standing;
pub mod status;
