//! gRPC adapters of the billing service.

mod service_plans;

use std::sync::Arc;

use crate::AppState;

/// `estate.billing.v1.ServicePlansService`.
#[derive(Debug, Clone)]
pub struct ServicePlans(pub Arc<AppState>);
