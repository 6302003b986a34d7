//! Seeding many customers for benches: `BatchCreateOrganizations` calls of
//! the API's maximum size, a few in flight at once, as the administrator
//! straight on the customers service.

use std::future::Future;
use std::time::{Duration, Instant};

use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{
    BatchCreateOrganizationsRequest, CreateOrganizationRequest, InitialOwner, Organization,
};
use tokio::task::JoinSet;

use crate::{Platform, with_token};

/// Creates per `BatchCreateOrganizations` call (the API's maximum).
pub const BATCH: usize = 100;
/// Seeding calls in flight at once.
pub const SEED_CONCURRENCY: usize = 4;

/// Runs `tasks` with at most [`SEED_CONCURRENCY`] in flight; the results in
/// completion order.
pub async fn in_parallel<T, F>(tasks: impl IntoIterator<Item = F>) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut running = JoinSet::new();
    let mut results = Vec::new();
    for task in tasks {
        if running.len() == SEED_CONCURRENCY
            && let Some(result) = running.join_next().await
        {
            results.push(result??);
        }
        running.spawn(task);
    }
    while let Some(result) = running.join_next().await {
        results.push(result??);
    }
    Ok(results)
}

/// Creates `count` customers under `partner` (owners numbered from
/// `first_owner`); returns their names and the latency of each batch call.
pub async fn create_customers(
    platform: &Platform,
    partner: &str,
    first_owner: usize,
    count: usize,
) -> anyhow::Result<(Vec<String>, Vec<Duration>)> {
    let client = OrganizationsServiceClient::new(platform.channel_to(&platform.customers).await?);
    let token = platform.admin_token();
    let owners = first_owner..first_owner + count;
    let batches = owners.step_by(BATCH).map(|start| {
        let requests = (start..(start + BATCH).min(first_owner + count))
            .map(|owner| CreateOrganizationRequest {
                parent: String::new(),
                organization: Some(Organization {
                    kind: OrganizationKind::Customer.into(),
                    display_name: format!("Customer {owner:05}"),
                    ..Default::default()
                }),
                request_id: String::new(),
                initial_owner: Some(InitialOwner {
                    email: format!("owner-{owner}@bench.test"),
                    display_name: format!("Owner {owner}"),
                }),
            })
            .collect();
        let request = BatchCreateOrganizationsRequest {
            parent: partner.to_string(),
            requests,
        };
        let (mut client, token) = (client.clone(), token.clone());
        async move {
            let started = Instant::now();
            let created = client
                .batch_create_organizations(with_token(request, &token))
                .await?
                .into_inner()
                .organizations;
            let names: Vec<String> = created
                .into_iter()
                .map(|organization| organization.name)
                .collect();
            anyhow::Ok((names, started.elapsed()))
        }
    });
    let (names, latencies): (Vec<Vec<String>>, Vec<Duration>) =
        in_parallel(batches).await?.into_iter().unzip();
    Ok((names.concat(), latencies))
}
