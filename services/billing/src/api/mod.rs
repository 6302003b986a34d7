//! gRPC adapters of the billing service.

mod dashboard;
mod partners;
mod product_licenses;
mod reports;
mod service_plans;
mod summary;

use std::sync::Arc;

use estate_auth::{Access, CallerToken};
use estate_errors::{ApiError, Violations};
use estate_proto::common::OrganizationKind;
use estate_proto::names::{DistributorId, DistributorName};

use crate::AppState;

/// The distributor of a singleton resource `distributors/{uuid}{suffix}`
/// (its dashboard, its billing settings).
fn distributor_of(name: &str, suffix: &str, field: &str) -> Result<DistributorId, ApiError> {
    let distributor = name.strip_suffix(suffix).ok_or_else(|| {
        ApiError::invalid(field, format!("must be distributors/{{uuid}}{suffix}"))
    })?;
    Ok(DistributorName::parse(field, distributor)?.distributor)
}

/// The most seats a license has, or units a customer reports for a day
/// (also a CHECK in the database): sums over a distributor's customers and
/// percentages of them stay far inside 64 bits.
pub(crate) const MAX_UNITS: i64 = 1_000_000_000;
/// The most units a partner may declare for a month (the sum over its
/// customers' reports).
pub(crate) const MAX_DECLARED_UNITS: i64 = 1_000_000_000_000;

/// Checks that `value` (in `field`) is a product id: 1..64 lowercase
/// letters and digits in words joined by single hyphens, e.g. `sam-core`.
/// Products are named by id, never by display text, so that plans, usage
/// and the capabilities they sell match.
pub(crate) fn check_product_id(violations: &mut Violations, field: &str, value: &str) {
    let word = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
    };
    if value.is_empty() || value.len() > 64 || !value.split('-').all(word) {
        violations.add(
            field,
            format!(
                "{} is not a product id: 1..64 lowercase letters and digits, words joined by \
                 single hyphens, e.g. sam-core",
                estate_errors::quote(value)
            ),
        );
    }
}

/// `Ok` when the caller may read (with `Access::Write`, change) the data
/// of distributor `distributor_id`; the error names `field`.
async fn require_distributor(
    state: &AppState,
    token: &CallerToken,
    distributor_id: DistributorId,
    access: Access,
    field: &str,
) -> Result<(), ApiError> {
    state
        .access
        .require(
            token,
            &distributor_id.to_string(),
            access,
            OrganizationKind::Distributor,
            field,
        )
        .await
}

/// `estate.billing.v1.ServicePlansService`.
#[derive(Debug, Clone)]
pub struct ServicePlans(pub Arc<AppState>);

/// `estate.billing.v1.PartnersService`.
#[derive(Debug, Clone)]
pub struct Partners(pub Arc<AppState>);

/// `estate.billing.v1.ProductLicensesService`.
#[derive(Debug, Clone)]
pub struct ProductLicenses(pub Arc<AppState>);

/// `estate.internal.v1.LicenseUsageSummaryService`.
#[derive(Debug, Clone)]
pub struct Summary(pub Arc<AppState>);

/// `estate.billing.v1.ReportsService`.
#[derive(Debug, Clone)]
pub struct Reports(pub Arc<AppState>);

/// `estate.billing.v1.DashboardService`.
#[derive(Debug, Clone)]
pub struct Dashboard(pub Arc<AppState>);

/// What every status-changing request carries.
pub(crate) trait ActionRequest {
    fn name(&self) -> &str;
    fn etag(&self) -> &str;
}

macro_rules! action_requests {
    ($($request:ty),* $(,)?) => {
        $(impl ActionRequest for $request {
            fn name(&self) -> &str {
                &self.name
            }
            fn etag(&self) -> &str {
                &self.etag
            }
        })*
    };
}

action_requests!(
    estate_proto::billing::SuspendPartnerRequest,
    estate_proto::billing::ReactivatePartnerRequest,
    estate_proto::billing::CancelPartnerRequest,
    estate_proto::billing::SubmitBillingReportRequest,
    estate_proto::billing::ReturnBillingReportRequest,
    estate_proto::billing::RejectBillingReportRequest,
    estate_proto::billing::AcceptBillingReportRequest,
    estate_proto::billing::CompleteBillingReportRequest,
);
