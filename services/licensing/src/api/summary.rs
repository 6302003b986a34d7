//! `estate.internal.v1.EstateSummaryService`: figures for the customers
//! service's sync. Only service principals may call it; the gateway does
//! not route internal services at all.

use chrono::Duration;
use estate_errors::ApiError;
use estate_proto::internal::estate_summary_service_server::EstateSummaryService;
use estate_proto::internal::{
    ApplicationSummary, ComplianceSummary, ComputerSummary, GetEstateSummaryRequest,
    GetEstateSummaryResponse, SaasSummary,
};
use estate_proto::names::CustomerId;
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::Summary;
use crate::compliance::store;
use crate::db::{settings, summary};

/// "Inventoried within 7 days" in the customers overview.
const RECENT_DAYS: i64 = 7;

#[tonic::async_trait]
impl EstateSummaryService for Summary {
    #[tracing::instrument(skip_all, fields(organization = %request.get_ref().organization_id))]
    async fn get_estate_summary(
        &self,
        request: Request<GetEstateSummaryRequest>,
    ) -> Result<Response<GetEstateSummaryResponse>, Status> {
        let (principal, _) = estate_auth::caller(&request)?;
        if !principal.is_service() {
            return Err(ApiError::PermissionDenied(
                "only platform services may read estate summaries".into(),
            )
            .into());
        }
        let customer_id = Uuid::parse_str(&request.get_ref().organization_id)
            .map(CustomerId::from_uuid)
            .map_err(|_| ApiError::invalid("organization_id", "must be a UUID"))?;
        let client = estate_db::connection(&self.0.pool).await?;
        let settings = settings::get(&**client, customer_id).await?;
        let now = self.0.clock.now();
        let figures = summary::estate(
            &**client,
            customer_id,
            now - Duration::days(RECENT_DAYS),
            now - Duration::days(i64::from(settings.quarantine_after_days)),
        )
        .await?;
        let saas =
            crate::db::saas::summary(&**client, customer_id, now - Duration::days(30)).await?;
        let compliance =
            store::latest(&**client, customer_id)
                .await?
                .map(|run| ComplianceSummary {
                    calculated_time: run.end_time.map(to_timestamp),
                    requirement: run.totals.requirement,
                    coverage: run.totals.coverage,
                    compliance: run.totals.compliance,
                    applications_short: run.applications_short,
                });
        Ok(Response::new(GetEstateSummaryResponse {
            computers: Some(ComputerSummary {
                total: figures.computers,
                inventoried_within_7_days: figures.inventoried_recently,
                not_inventoried_for_over_7_days: figures.not_inventoried_recently,
                quarantined: figures.quarantined,
                inactive: figures.inactive,
            }),
            applications: Some(ApplicationSummary {
                total: figures.applications,
                licensable: figures.licensable,
                denied_installed: figures.denied_installed,
            }),
            // Unset until the SaaS source reported anything.
            saas: saas.map(|(applications, active_users_30_days)| SaasSummary {
                applications,
                active_users_30_days,
            }),
            compliance,
        }))
    }
}
