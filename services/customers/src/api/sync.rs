//! `estate.customers.v1.SyncService`: "sync data" on demand and the run
//! history. The runs themselves are executed by [`crate::sync`].

use estate_db::PageRequest;
use estate_errors::ApiError;
use estate_proto::customers::sync_service_server::SyncService;
use estate_proto::customers::{
    GetSyncRunRequest, ListSyncRunsRequest, ListSyncRunsResponse, SyncCustomerRequest,
    SyncRun as ProtoRun, SyncState, SyncTrigger,
};
use estate_proto::names::SyncRunName;
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::{Sync, caller, commit, existing_organization, organization_id, transaction};
use crate::access;
use crate::db::organizations::Kind;
use crate::db::overview;
use crate::db::sync_runs::{self, SyncRun};
use crate::rules::status::RunState;

pub(crate) fn to_proto(run: SyncRun) -> ProtoRun {
    let state = match run.state {
        RunState::Queued => SyncState::Queued,
        RunState::Running => SyncState::Running,
        RunState::Succeeded => SyncState::Succeeded,
        RunState::Failed => SyncState::Failed,
    };
    let trigger = match run.trigger.as_str() {
        "schedule" => SyncTrigger::Schedule,
        _ => SyncTrigger::OnDemand,
    };
    ProtoRun {
        name: SyncRunName {
            customer: run.customer_id,
            run: run.id,
        }
        .to_string(),
        state: state.into(),
        trigger: trigger.into(),
        create_time: Some(to_timestamp(run.create_time)),
        start_time: run.start_time.map(to_timestamp),
        end_time: run.end_time.map(to_timestamp),
        error: run.error,
        unavailable_sources: run.unavailable_sources,
    }
}

#[tonic::async_trait]
impl SyncService for Sync {
    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn sync_customer(
        &self,
        request: Request<SyncCustomerRequest>,
    ) -> Result<Response<ProtoRun>, Status> {
        let principal = caller(&request)?;
        let customer = organization_id("name", &request.get_ref().name)?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_action(&**client, &principal, customer, now).await?;
        if existing_organization(&**client, customer).await?.kind != Kind::Customer {
            return Err(ApiError::invalid("name", "only customers are synchronized").into());
        }
        let transaction = transaction(&mut client).await?;
        let (run, queued) = sync_runs::queue(&transaction, customer, "on_demand", now).await?;
        if queued {
            overview::refresh(&transaction, &[customer], now).await?;
        }
        commit(transaction).await?;
        if queued {
            self.0.sync_wakeup.notify_one();
            tracing::info!(run = %run.id, %customer, "sync queued on demand");
        }
        Ok(Response::new(to_proto(run)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_sync_run(
        &self,
        request: Request<GetSyncRunRequest>,
    ) -> Result<Response<ProtoRun>, Status> {
        let principal = caller(&request)?;
        let name = request.into_inner().name;
        let target = SyncRunName::parse("name", &name)?;
        let client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_action(&**client, &principal, target.customer, self.0.clock.now())
            .await?;
        let run = sync_runs::get(&**client, target.customer, target.run)
            .await?
            .ok_or(ApiError::NotFound {
                resource_type: "sync run",
                name,
            })?;
        Ok(Response::new(to_proto(run)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_sync_runs(
        &self,
        request: Request<ListSyncRunsRequest>,
    ) -> Result<Response<ListSyncRunsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let customer = organization_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_action(&**client, &principal, customer, self.0.clock.now())
            .await?;
        let mut rows = sync_runs::list(&**client, customer, &page).await?;
        let next_page_token = page.finish(&mut rows, |row| row.id.uuid());
        Ok(Response::new(ListSyncRunsResponse {
            sync_runs: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
