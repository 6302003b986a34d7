//! `estate.internal.v1.LicenseUsageSummaryService`: licenses and usage per
//! product of one customer, for the customers service's sync. Only
//! platform services may call it.

use estate_errors::ApiError;
use estate_proto::internal::license_usage_summary_service_server::LicenseUsageSummaryService;
use estate_proto::internal::{
    GetLicenseUsageSummaryRequest, GetLicenseUsageSummaryResponse, ProductUsageSummary,
};
use estate_proto::names::CustomerId;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::Summary;

#[tonic::async_trait]
impl LicenseUsageSummaryService for Summary {
    #[tracing::instrument(skip_all, fields(organization = %request.get_ref().organization_id))]
    async fn get_license_usage_summary(
        &self,
        request: Request<GetLicenseUsageSummaryRequest>,
    ) -> Result<Response<GetLicenseUsageSummaryResponse>, Status> {
        let (principal, _) = estate_auth::caller(&request)?;
        if !principal.is_service() {
            return Err(ApiError::PermissionDenied(
                "only platform services may read license usage summaries".into(),
            )
            .into());
        }
        let customer_id = Uuid::parse_str(&request.get_ref().organization_id)
            .map(CustomerId::from_uuid)
            .map_err(|_| ApiError::invalid("organization_id", "must be a UUID"))?;
        let products = super::product_licenses::usage_summary(&self.0, customer_id)
            .await?
            .into_iter()
            .map(
                |(product, quantity_purchased, highest_usage_30_days)| ProductUsageSummary {
                    product,
                    quantity_purchased,
                    highest_usage_30_days,
                },
            )
            .collect();
        Ok(Response::new(GetLicenseUsageSummaryResponse { products }))
    }
}
