//! gRPC adapters of the licensing service.

mod licenses;

use std::sync::Arc;

use crate::AppState;

/// `estate.licensing.v1.LicensesService`.
#[derive(Debug, Clone)]
pub struct Licenses(pub Arc<AppState>);
