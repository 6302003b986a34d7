//! Customer overview paging: `ListCustomerOverviews` (page_size 100,
//! order_by "status") called straight on the customers service, against
//! the bare SQL read of the same 100 rows (one prepared statement, one
//! connection), for a partner with 1,000 customers and one with 10,000, in
//! the same run. Both the first page and a middle page (reached by following
//! `next_page_token`) are measured. Every call of every series is
//! interleaved, alternating which side goes first, so drift on a shared
//! machine hits all of them alike. Targets: RPC/SQL at most 3x, and the RPC
//! as fast at 10,000 customers as at 1,000.
//!
//! The customers are created with `BatchCreateOrganizations` (100 per call)
//! and a third of them synced on demand (the sync worker finishes those runs
//! as SYNCED, licensing and billing answering UNIMPLEMENTED), so statuses
//! vary. Measuring starts once no run is queued or running and the table
//! is analyzed; the plans of both SQL reads are printed first.
//!
//! Run: `cargo bench -p estate-e2e --bench customers_overview`
//! (needs DATABASE_URL or a server on 127.0.0.1:5432, like the tests;
//! about 40 s once built, half of it seeding).

use std::time::{Duration, Instant};

use estate_auth::{CallerToken, Principal};
use estate_e2e::seeding::{self, BATCH, SEED_CONCURRENCY, in_parallel};
use estate_e2e::{Platform, with_token};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::customer_overview_service_client::CustomerOverviewServiceClient;
use estate_proto::customers::sync_service_client::SyncServiceClient;
use estate_proto::customers::{ListCustomerOverviewsRequest, Organization, SyncCustomerRequest};
use tokio_postgres::Statement;
use tonic::transport::Channel;
use uuid::Uuid;

/// Customers of each measured partner.
const SIZES: [usize; 2] = [1_000, 10_000];
const PAGE_SIZE: usize = 100;
const ORDER_BY: &str = "status";
/// Pages followed to reach the measured middle page (rows 501..600).
const PAGES_BEFORE_MIDDLE: usize = 5;
const WARM_UP: usize = 50;
const ITERATIONS: usize = 300;

const FIRST_PAGE_SQL: &str = "SELECT customer_id, display_name, external_id, status, \
     sync_pending_overdue, beacon_count, upcoming_expiration_kind, upcoming_expiration_time, \
     expiration_status, last_successful_sync_time, metrics FROM overview_rows \
     WHERE partner_id = $1 ORDER BY status, customer_id LIMIT 100";
const MIDDLE_PAGE_SQL: &str = "SELECT customer_id, display_name, external_id, status, \
     sync_pending_overdue, beacon_count, upcoming_expiration_kind, upcoming_expiration_time, \
     expiration_status, last_successful_sync_time, metrics FROM overview_rows \
     WHERE partner_id = $1 AND (status, customer_id) > ($2, $3) \
     ORDER BY status, customer_id LIMIT 100";

#[derive(Debug, Clone, Copy)]
enum Page {
    First,
    Middle,
}

const PAGES: [Page; 2] = [Page::First, Page::Middle];

impl Page {
    fn label(self) -> &'static str {
        match self {
            Page::First => "first",
            Page::Middle => "middle",
        }
    }
}

/// The bare SQL side: one connection in the customers schema.
struct Sql {
    client: tokio_postgres::Client,
    first: Statement,
    middle: Statement,
}

/// One measured partner and its latencies, indexed by [`Page`].
struct Target {
    size: usize,
    partner: String,
    partner_id: Uuid,
    token: CallerToken,
    /// The page token of the middle page.
    middle_token: String,
    /// The keyset position the middle page starts after.
    middle_after: (i16, Uuid),
    rpc: [Vec<Duration>; 2],
    sql: [Vec<Duration>; 2],
}

impl Target {
    fn request(&self, page_token: String) -> tonic::Request<ListCustomerOverviewsRequest> {
        with_token(
            ListCustomerOverviewsRequest {
                parent: self.partner.clone(),
                page_size: PAGE_SIZE as i32,
                page_token,
                order_by: ORDER_BY.into(),
                filter: None,
            },
            &self.token,
        )
    }

    /// The customer ids of one page through the RPC, how long it took, and
    /// the next page token.
    async fn rpc_page(
        &self,
        client: &mut CustomerOverviewServiceClient<Channel>,
        page_token: String,
    ) -> anyhow::Result<(Vec<String>, Duration, String)> {
        let request = self.request(page_token);
        let started = Instant::now();
        let response = client.list_customer_overviews(request).await?;
        let elapsed = started.elapsed();
        let response = response.into_inner();
        let customers = response
            .customer_overviews
            .into_iter()
            .map(|row| row.customer)
            .collect();
        Ok((customers, elapsed, response.next_page_token))
    }

    async fn rpc(
        &self,
        client: &mut CustomerOverviewServiceClient<Channel>,
        page: Page,
    ) -> anyhow::Result<Duration> {
        let token = match page {
            Page::First => String::new(),
            Page::Middle => self.middle_token.clone(),
        };
        let (customers, elapsed, _) = self.rpc_page(client, token).await?;
        anyhow::ensure!(customers.len() == PAGE_SIZE, "a short RPC page");
        Ok(elapsed)
    }

    /// The customer ids of one page through SQL, and how long it took.
    async fn sql_page(&self, sql: &Sql, page: Page) -> anyhow::Result<(Vec<String>, Duration)> {
        let started = Instant::now();
        let rows = match page {
            Page::First => sql.client.query(&sql.first, &[&self.partner_id]).await?,
            Page::Middle => {
                let (status, customer) = &self.middle_after;
                sql.client
                    .query(&sql.middle, &[&self.partner_id, status, customer])
                    .await?
            }
        };
        let elapsed = started.elapsed();
        let customers = rows
            .iter()
            .map(|row| format!("organizations/{}", row.get::<_, Uuid>(0)))
            .collect();
        Ok((customers, elapsed))
    }

    async fn sql(&self, sql: &Sql, page: Page) -> anyhow::Result<Duration> {
        let (customers, elapsed) = self.sql_page(sql, page).await?;
        anyhow::ensure!(customers.len() == PAGE_SIZE, "a short SQL page");
        Ok(elapsed)
    }
}

/// Queues an on-demand sync of each of `customers`.
async fn queue_syncs(platform: &Platform, customers: Vec<String>) -> anyhow::Result<()> {
    let client = SyncServiceClient::new(platform.channel_to(&platform.customers).await?);
    let token = platform.admin_token();
    let calls = customers.into_iter().map(|name| {
        let (mut client, token) = (client.clone(), token.clone());
        async move {
            client
                .sync_customer(with_token(SyncCustomerRequest { name }, &token))
                .await?;
            anyhow::Ok(())
        }
    });
    in_parallel(calls).await?;
    Ok(())
}

/// Waits until the sync worker has no queued or running run left.
async fn wait_for_syncs(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let active: i64 = client
            .query_one(
                "SELECT count(*) FROM sync_runs WHERE state IN ('queued', 'running')",
                &[],
            )
            .await?
            .get(0);
        if active == 0 {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{active} sync runs still active");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// "rank:count" of the partner's overview rows per status.
async fn statuses(client: &tokio_postgres::Client, partner_id: Uuid) -> anyhow::Result<String> {
    let rows = client
        .query(
            "SELECT status, count(*) FROM overview_rows WHERE partner_id = $1
             GROUP BY status ORDER BY status",
            &[&partner_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| format!("{}:{}", row.get::<_, i16>(0), row.get::<_, i64>(1)))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The plan nodes of `statement` and its execution time, on one line.
async fn plan(
    client: &tokio_postgres::Client,
    statement: &str,
    parameters: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> anyhow::Result<String> {
    let lines: Vec<String> = client
        .query(&format!("EXPLAIN ANALYZE {statement}"), parameters)
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let nodes: Vec<&str> = lines
        .iter()
        .filter(|line| line.contains("(cost="))
        .map(|line| {
            let node = line.split("  (cost=").next().unwrap_or_default();
            node.trim().trim_start_matches("->").trim_start()
        })
        .collect();
    let execution = lines
        .iter()
        .find_map(|line| line.strip_prefix("Execution Time: "))
        .unwrap_or("?");
    Ok(format!("{} ({execution})", nodes.join(" > ")))
}

/// The partner's overview as one of its members sees it.
fn member_token(platform: &Platform, partner_id: Uuid) -> CallerToken {
    CallerToken(platform.signer().sign(&Principal {
        subject: "bench/user".into(),
        organization_id: Some(partner_id.to_string()),
        organization_kind: OrganizationKind::Partner as i32,
        roles: vec!["member".into()],
    }))
}

/// Finds the middle page through the RPC, and checks that the RPC and SQL
/// pages hold the same customers.
async fn prepare_target(
    platform: &Platform,
    sql: &Sql,
    overview: &mut CustomerOverviewServiceClient<Channel>,
    partner: &Organization,
    size: usize,
) -> anyhow::Result<Target> {
    let partner_id: Uuid = partner.name.trim_start_matches("organizations/").parse()?;
    let after = sql
        .client
        .query_one(
            "SELECT status, customer_id FROM overview_rows WHERE partner_id = $1
             ORDER BY status, customer_id OFFSET $2 LIMIT 1",
            &[&partner_id, &((PAGES_BEFORE_MIDDLE * PAGE_SIZE - 1) as i64)],
        )
        .await?;
    let mut target = Target {
        size,
        partner: partner.name.clone(),
        partner_id,
        token: member_token(platform, partner_id),
        middle_token: String::new(),
        middle_after: (after.get(0), after.get(1)),
        rpc: Default::default(),
        sql: Default::default(),
    };
    let (first, _, mut token) = target.rpc_page(overview, String::new()).await?;
    for _ in 1..PAGES_BEFORE_MIDDLE {
        token = target.rpc_page(overview, token).await?.2;
    }
    target.middle_token = token;
    let (middle, _, _) = target
        .rpc_page(overview, target.middle_token.clone())
        .await?;
    anyhow::ensure!(first == target.sql_page(sql, Page::First).await?.0);
    anyhow::ensure!(middle == target.sql_page(sql, Page::Middle).await?.0);
    Ok(target)
}

/// A partner of `distributor` with `size` customers (owners numbered from
/// `first_owner`), a third of them synced; prints what seeding took.
async fn seed(
    platform: &Platform,
    sql: &Sql,
    overview: &mut CustomerOverviewServiceClient<Channel>,
    distributor: &str,
    size: usize,
    first_owner: usize,
) -> anyhow::Result<Target> {
    let partner = platform
        .create_organization(
            distributor,
            OrganizationKind::Partner,
            &format!("Bench Partner {size}"),
        )
        .await?;
    let started = Instant::now();
    let (customers, mut batches) =
        seeding::create_customers(platform, &partner.name, first_owner, size).await?;
    let created = started.elapsed();
    let started = Instant::now();
    let synced: Vec<String> = customers.into_iter().step_by(3).collect();
    let queued = synced.len();
    queue_syncs(platform, synced).await?;
    let queuing = started.elapsed();
    wait_for_syncs(&sql.client).await?;
    let syncs_done = started.elapsed();
    let target = prepare_target(platform, sql, overview, &partner, size).await?;
    println!(
        "seeded {size} customers: created in {:.1}s (batches of {BATCH}, {SEED_CONCURRENCY} in \
         flight, p50 {:.0} ms per call); {queued} syncs queued in {:.1}s, all done after {:.1}s; \
         rows per status rank {}",
        created.as_secs_f64(),
        percentile(&mut batches, 0.5),
        queuing.as_secs_f64(),
        syncs_done.as_secs_f64(),
        statuses(&sql.client, target.partner_id).await?,
    );
    Ok(target)
}

fn percentile(latencies: &mut [Duration], fraction: f64) -> f64 {
    latencies.sort_unstable();
    let index = ((latencies.len() as f64 - 1.0) * fraction).round() as usize;
    latencies[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "--list") {
        return Ok(()); // `cargo test --benches` asks for a listing; nothing to list.
    }
    // The production default credential cache TTL (3 s).
    let platform = Platform::spawn_with_credential_cache(Duration::from_secs(3)).await?;
    let database = platform.database.connect().await?;
    database
        .batch_execute("SET search_path = customers")
        .await?;
    let sql = Sql {
        first: database.prepare(FIRST_PAGE_SQL).await?,
        middle: database.prepare(MIDDLE_PAGE_SQL).await?,
        client: database,
    };
    let mut overview =
        CustomerOverviewServiceClient::new(platform.channel_to(&platform.customers).await?);

    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "Bench Distributor")
        .await?;
    let mut targets = Vec::new();
    let mut owners = 0;
    for size in SIZES {
        targets.push(
            seed(
                &platform,
                &sql,
                &mut overview,
                &distributor.name,
                size,
                owners,
            )
            .await?,
        );
        owners += size;
    }
    // Measure the steady state: autovacuum analyzes a table changed this
    // much within a minute or so. Until then the planner, estimating a few
    // dozen rows per partner, reads and sorts all of the partner's rows
    // instead of walking the sort column's index.
    sql.client.batch_execute("ANALYZE overview_rows").await?;
    for target in &targets {
        let (status, customer) = &target.middle_after;
        println!(
            "plan {:>6} first:  {}",
            target.size,
            plan(&sql.client, FIRST_PAGE_SQL, &[&target.partner_id]).await?
        );
        println!(
            "plan {:>6} middle: {}",
            target.size,
            plan(
                &sql.client,
                MIDDLE_PAGE_SQL,
                &[&target.partner_id, status, customer]
            )
            .await?
        );
    }

    for iteration in 0..WARM_UP + ITERATIONS {
        for target in &mut targets {
            for page in PAGES {
                let (rpc, sql) = if iteration % 2 == 0 {
                    let rpc = target.rpc(&mut overview, page).await?;
                    (rpc, target.sql(&sql, page).await?)
                } else {
                    let sql = target.sql(&sql, page).await?;
                    (target.rpc(&mut overview, page).await?, sql)
                };
                if iteration >= WARM_UP {
                    target.rpc[page as usize].push(rpc);
                    target.sql[page as usize].push(sql);
                }
            }
        }
    }

    println!(
        "\nListCustomerOverviews direct (page_size {PAGE_SIZE}, order_by {ORDER_BY:?}) vs bare \
         SQL; {ITERATIONS} iterations after {WARM_UP} warm-up, interleaved; ms"
    );
    println!(
        "{:>9} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "customers", "page", "rpc p50", "rpc p95", "sql p50", "sql p95", "p50 ratio", "p95 ratio"
    );
    for target in &mut targets {
        for page in PAGES {
            let rpc = &mut target.rpc[page as usize];
            let (rpc_p50, rpc_p95) = (percentile(rpc, 0.5), percentile(rpc, 0.95));
            let sql = &mut target.sql[page as usize];
            let (sql_p50, sql_p95) = (percentile(sql, 0.5), percentile(sql, 0.95));
            println!(
                "{:>9} {:>6} {rpc_p50:>8.3} {rpc_p95:>8.3} {sql_p50:>8.3} {sql_p95:>8.3} \
                 {:>8.2}x {:>8.2}x",
                target.size,
                page.label(),
                rpc_p50 / sql_p50,
                rpc_p95 / sql_p95,
            );
        }
    }
    println!(
        "targets: RPC/SQL at most 3x; RPC p50 at {} vs {} customers about 1x",
        SIZES[1], SIZES[0]
    );
    for page in PAGES {
        let [small, large] = &mut targets[..] else {
            unreachable!("one target per size");
        };
        println!(
            "{:>6} page: RPC p50 at {} vs {} customers: {:.2}x",
            page.label(),
            large.size,
            small.size,
            percentile(&mut large.rpc[page as usize], 0.5)
                / percentile(&mut small.rpc[page as usize], 0.5),
        );
    }
    platform.shutdown().await?;
    Ok(())
}
