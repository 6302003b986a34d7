//! `estate.customers.v1.SyncService`: "sync data" on demand and the run
//! history. The runs themselves are executed by [`crate::sync`].

use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_db::PageRequest;
use estate_errors::ApiError;
use estate_proto::customers::sync_service_server::SyncService;
use estate_proto::customers::{
    GetSyncRunRequest, ListSyncRunsRequest, ListSyncRunsResponse, SyncCustomerRequest,
    SyncRun as ProtoRun, SyncState, SyncTrigger,
};
use estate_proto::time::to_timestamp;
use tokio_postgres::GenericClient;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Sync, caller, commit, db, existing_organization, organization_id, parse_name, transaction,
};
use crate::access::{self, Access};
use crate::db::organizations::Kind;
use crate::db::sync_runs::{self as store, SyncRun};
use crate::db::{grants, overview};
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
        name: format!("organizations/{}/syncRuns/{}", run.customer_id, run.id),
        state: state.into(),
        trigger: trigger.into(),
        create_time: Some(to_timestamp(run.create_time)),
        start_time: run.start_time.map(to_timestamp),
        end_time: run.end_time.map(to_timestamp),
        error: run.error,
        unavailable_sources: run.unavailable_sources,
    }
}

/// "Sync data" is an overview action: any user of a partner with effective
/// access may start it, as may whoever may read the customer.
async fn require_sync_access(
    client: &impl GenericClient,
    principal: &Principal,
    customer: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if access::check(client, principal, customer, false, now).await? == Access::Allowed {
        return Ok(());
    }
    if let Some(own) = access::own_organization(principal) {
        let grants = grants::for_partner_among(client, own, &[customer]).await?;
        if grants.iter().any(|grant| grant.mode.effective_at(now)) {
            return Ok(());
        }
    }
    Err(ApiError::PermissionDenied(format!(
        "no effective access to organizations/{customer}"
    )))
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
        require_sync_access(&**client, &principal, customer, now).await?;
        if existing_organization(&**client, customer).await?.kind != Kind::Customer {
            return Err(ApiError::invalid("name", "only customers are synchronized").into());
        }
        let transaction = transaction(&mut client).await?;
        let (run, queued) = store::queue(&transaction, customer, "on_demand", now)
            .await
            .map_err(db)?;
        if queued {
            overview::refresh(&transaction, &[customer], now)
                .await
                .map_err(db)?;
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
        let ids = parse_name("name", &name, &["organizations", "syncRuns"])?;
        let client = estate_db::connection(&self.0.pool).await?;
        require_sync_access(&**client, &principal, ids[0], self.0.clock.now()).await?;
        let run = store::get(&**client, ids[0], ids[1])
            .await
            .map_err(db)?
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
        let page = PageRequest::parse(message.page_size, &message.page_token)?;
        let client = estate_db::connection(&self.0.pool).await?;
        require_sync_access(&**client, &principal, customer, self.0.clock.now()).await?;
        let mut rows = store::list(&**client, customer, &page).await.map_err(db)?;
        let next_page_token = page.finish(&mut rows, |row| row.id);
        Ok(Response::new(ListSyncRunsResponse {
            sync_runs: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
