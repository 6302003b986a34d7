//! Inventory ingestion throughput: one `IngestInventory` upload of N
//! computers with 20 installations each, streamed straight to the licensing
//! service (no gateway) in messages of 5,000 records, against a raw binary
//! COPY of the same rows into the same tables (`licensing.computers` and
//! `licensing.installations`, one transaction, one direct connection), for
//! N = 2,000 and N = 10,000 computers, in the same run.
//!
//! Every measured upload and every COPY writes for a fresh customer (created
//! beforehand with its root node and a catalog of 200 applications, not
//! timed), so each iteration does the same work: inserts only, no
//! rescanned computers. Installation i of computer c is application
//! (7c + i) mod 200. The two sides of each pair run one after the other,
//! alternating which goes first, and the sizes take turns within each
//! iteration, so drift on a shared machine hits every series alike. One
//! untimed pair at the smaller size warms up connections and caches, and
//! the tables are analyzed before every pair (see `Bench::measure_pair`).
//!
//! The RPC time runs from the call until its response (encoding, the
//! authorization call to the customers service, validation, the writes and
//! the commit); the COPY time from BEGIN until COMMIT returns. Both sides
//! start from rows built in memory. Target: RPC throughput at least half
//! of COPY throughput (ratio >= 0.5).
//!
//! Run: `cargo bench -p estate-e2e --bench ingestion`
//! (needs DATABASE_URL or a server on 127.0.0.1:5432, like the tests;
//! about 90 s once built).

use std::pin::pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use estate_auth::CallerToken;
use estate_e2e::{Platform, pinned_now, with_token};
use estate_proto::common::OrganizationKind;
use estate_proto::licensing::catalog_service_client::CatalogServiceClient;
use estate_proto::licensing::inventory_service_client::InventoryServiceClient;
use estate_proto::licensing::organization_structure_service_client::OrganizationStructureServiceClient;
use estate_proto::licensing::{
    Application, ComputerKind, ComputerRecord, CreateApplicationRequest, IngestInventoryRequest,
    InstallationRecord, InventoryRecord, ListOrgNodesRequest, Metric, inventory_record,
};
use tokio::task::JoinSet;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tonic::transport::Channel;
use uuid::Uuid;

/// Computers per upload.
const SIZES: [usize; 2] = [2_000, 10_000];
const INSTALLATIONS_PER_COMPUTER: usize = 20;
/// Applications in each customer's catalog.
const APPLICATIONS: usize = 200;
/// Records per streamed message.
const RECORDS_PER_MESSAGE: usize = 5_000;
const ITERATIONS: usize = 5;
/// Catalog creates in flight at once while seeding.
const SEED_CONCURRENCY: usize = 8;
const PROCESSORS: i32 = 2;
const CORES: i32 = 8;

const COPY_COMPUTERS: &str = "COPY computers (customer_id, id, hostname, node_id, kind, \
     processors, cores, last_scan_time, inactive, revision, create_time, update_time) \
     FROM STDIN BINARY";
const COMPUTER_TYPES: [Type; 12] = [
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::UUID,
    Type::TEXT,
    Type::INT4,
    Type::INT4,
    Type::TIMESTAMPTZ,
    Type::BOOL,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
];
const COPY_INSTALLATIONS: &str =
    "COPY installations (customer_id, computer_id, application_id) FROM STDIN BINARY";
const INSTALLATION_TYPES: [Type; 3] = [Type::UUID, Type::UUID, Type::UUID];
const ANALYZE: &str = "ANALYZE org_nodes, applications, computers, installations";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Rpc,
    Copy,
}

/// A fresh customer with its root node and catalog.
struct Customer {
    /// `customers/{uuid}`.
    name: String,
    id: Uuid,
    root: Uuid,
    /// The catalog, in creation order: application k is `applications[k]`.
    applications: Vec<Uuid>,
}

impl Customer {
    fn application_name(&self, index: usize) -> String {
        format!("{}/applications/{}", self.name, self.applications[index])
    }
}

/// The application of installation `installation` of computer `computer`;
/// distinct for the installations of one computer.
fn application_of(computer: usize, installation: usize) -> usize {
    (computer * 7 + installation) % APPLICATIONS
}

fn hostname(computer: usize) -> String {
    format!("host-{computer:06}.bench.test")
}

/// Rows stored by one upload of `size` computers.
fn rows(size: usize) -> usize {
    size * (1 + INSTALLATIONS_PER_COMPUTER)
}

/// The id in the last segment of a resource name.
fn last_id(name: &str) -> anyhow::Result<Uuid> {
    let id = name.rsplit('/').next().unwrap_or_default();
    Ok(id.parse()?)
}

/// Creates a customer under `partner`, its root node (by listing the
/// nodes) and its catalog.
async fn prepare_customer(
    platform: &Platform,
    channel: &Channel,
    partner: &str,
    display_name: &str,
) -> anyhow::Result<Customer> {
    let organization = platform
        .create_organization(partner, OrganizationKind::Customer, display_name)
        .await?;
    let id = last_id(&organization.name)?;
    let name = format!("customers/{id}");
    let token = platform.admin_token();

    let mut nodes = OrganizationStructureServiceClient::new(channel.clone());
    let listed = nodes
        .list_org_nodes(with_token(
            ListOrgNodesRequest {
                parent: name.clone(),
                page_size: 10,
                page_token: String::new(),
                children_of: String::new(),
                order_by: String::new(),
            },
            &token,
        ))
        .await?
        .into_inner();
    let root = listed
        .org_nodes
        .first()
        .ok_or_else(|| anyhow::anyhow!("{name} has no root node"))?;
    anyhow::ensure!(root.parent.is_empty(), "the first node is not the root");
    let root = last_id(&root.name)?;

    let catalog = CatalogServiceClient::new(channel.clone());
    let mut running = JoinSet::new();
    let mut created = Vec::with_capacity(APPLICATIONS);
    for index in 0..APPLICATIONS {
        if running.len() == SEED_CONCURRENCY
            && let Some(result) = running.join_next().await
        {
            created.push(result??);
        }
        let request = CreateApplicationRequest {
            parent: name.clone(),
            application: Some(Application {
                manufacturer: "Bench Software".into(),
                display_name: format!("Bench App {index:03}"),
                version: "1.0".into(),
                default_metric: Metric::Installations as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let (mut catalog, token) = (catalog.clone(), token.clone());
        running.spawn(async move {
            let application = catalog
                .create_application(with_token(request, &token))
                .await?
                .into_inner();
            anyhow::Ok((index, last_id(&application.name)?))
        });
    }
    while let Some(result) = running.join_next().await {
        created.push(result??);
    }
    created.sort_unstable_by_key(|(index, _)| *index);
    Ok(Customer {
        name,
        id,
        root,
        applications: created.into_iter().map(|(_, id)| id).collect(),
    })
}

/// The upload of `size` computers for `customer`, in messages of
/// [`RECORDS_PER_MESSAGE`] records; each computer's record precedes its
/// installations.
fn upload(customer: &Customer, size: usize) -> Vec<IngestInventoryRequest> {
    let mut records = Vec::with_capacity(rows(size));
    for computer in 0..size {
        records.push(InventoryRecord {
            kind: Some(inventory_record::Kind::Computer(ComputerRecord {
                hostname: hostname(computer),
                node: String::new(),
                kind: ComputerKind::Computer.into(),
                processors: PROCESSORS,
                cores: CORES,
                // Without reference columns, as the baseline's rows are.
                ..Default::default()
            })),
        });
        for installation in 0..INSTALLATIONS_PER_COMPUTER {
            records.push(InventoryRecord {
                kind: Some(inventory_record::Kind::Installation(InstallationRecord {
                    hostname: hostname(computer),
                    application: customer.application_name(application_of(computer, installation)),
                })),
            });
        }
    }
    let mut messages = Vec::new();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        messages.push(IngestInventoryRequest {
            records: records.by_ref().take(RECORDS_PER_MESSAGE).collect(),
            ..Default::default()
        });
    }
    let first = &mut messages[0];
    first.parent = customer.name.clone();
    first.upload_id = format!("bench-{}", Uuid::new_v4());
    first.scan_time = Some(estate_proto::time::to_timestamp(pinned_now()));
    messages
}

/// Streams one upload of `size` computers; how long until the response.
async fn ingest(
    client: &mut InventoryServiceClient<Channel>,
    token: &CallerToken,
    customer: &Customer,
    size: usize,
) -> anyhow::Result<Duration> {
    let messages = upload(customer, size);
    let request = with_token(tokio_stream::iter(messages), token);
    let started = Instant::now();
    let response = client.ingest_inventory(request).await?;
    let elapsed = started.elapsed();
    let response = response.into_inner();
    anyhow::ensure!(
        !response.replayed
            && response.computers == size as i64
            && response.installations == (size * INSTALLATIONS_PER_COMPUTER) as i64,
        "unexpected ingestion result: {response:?}"
    );
    Ok(elapsed)
}

/// Writes the same rows as [`ingest`] with binary COPY in one transaction;
/// how long from BEGIN until COMMIT returned.
async fn copy(
    database: &mut tokio_postgres::Client,
    customer: &Customer,
    size: usize,
) -> anyhow::Result<Duration> {
    let now: DateTime<Utc> = pinned_now();
    let computers: Vec<(Uuid, String)> = (0..size)
        .map(|computer| (Uuid::now_v7(), hostname(computer)))
        .collect();
    let started = Instant::now();
    let transaction = database.transaction().await?;
    let sink = transaction.copy_in(COPY_COMPUTERS).await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &COMPUTER_TYPES));
    for (id, hostname) in &computers {
        let row: [&(dyn ToSql + Sync); 12] = [
            &customer.id,
            id,
            hostname,
            &customer.root,
            &"computer",
            &PROCESSORS,
            &CORES,
            &now,
            &false,
            &1_i64,
            &now,
            &now,
        ];
        writer.as_mut().write(&row).await?;
    }
    let copied_computers = writer.finish().await?;
    let sink = transaction.copy_in(COPY_INSTALLATIONS).await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &INSTALLATION_TYPES));
    for (computer, (id, _)) in computers.iter().enumerate() {
        for installation in 0..INSTALLATIONS_PER_COMPUTER {
            let application = &customer.applications[application_of(computer, installation)];
            writer
                .as_mut()
                .write(&[&customer.id, id, application])
                .await?;
        }
    }
    let copied_installations = writer.finish().await?;
    transaction.commit().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        copied_computers == size as u64
            && copied_installations == (size * INSTALLATIONS_PER_COMPUTER) as u64,
        "copied {copied_computers} computers and {copied_installations} installations"
    );
    Ok(elapsed)
}

/// Checks that `customer` holds exactly the rows of one upload of `size`.
async fn check_stored(
    database: &tokio_postgres::Client,
    customer: &Customer,
    size: usize,
) -> anyhow::Result<()> {
    let row = database
        .query_one(
            "SELECT (SELECT count(*) FROM computers WHERE customer_id = $1),
                    (SELECT count(*) FROM installations WHERE customer_id = $1)",
            &[&customer.id],
        )
        .await?;
    let (computers, installations): (i64, i64) = (row.get(0), row.get(1));
    anyhow::ensure!(
        computers == size as i64 && installations == (size * INSTALLATIONS_PER_COMPUTER) as i64,
        "{} holds {computers} computers and {installations} installations",
        customer.name
    );
    Ok(())
}

/// What every measured pair shares.
struct Bench {
    platform: Platform,
    /// Straight to the licensing service.
    channel: Channel,
    inventory: InventoryServiceClient<Channel>,
    token: CallerToken,
    /// The partner every customer is created under.
    partner: String,
    /// A direct connection in the licensing schema.
    database: tokio_postgres::Client,
}

impl Bench {
    /// Seeds one pair of customers and measures both sides, the RPC first
    /// or not; the RPC and COPY times.
    async fn measure_pair(
        &mut self,
        size: usize,
        label: &str,
        rpc_first: bool,
    ) -> anyhow::Result<(Duration, Duration)> {
        let rpc_customer = prepare_customer(
            &self.platform,
            &self.channel,
            &self.partner,
            &format!("Ingest Rpc {size} {label}"),
        )
        .await?;
        let copy_customer = prepare_customer(
            &self.platform,
            &self.channel,
            &self.partner,
            &format!("Ingest Copy {size} {label}"),
        )
        .await?;
        // Measure the steady state, with statistics as autovacuum keeps
        // them on a busy database (not timed). A backend caches the plan of
        // each foreign-key check at its first use; made while these tables
        // are young and never analyzed, the check of installations'
        // application walked applications_family (every application of the
        // customer) instead of the primary key, for the life of the
        // backend, making whichever side drew such a connection about 2x
        // slower. ANALYZE invalidates those plans in every backend.
        self.database.batch_execute(ANALYZE).await?;
        let order = if rpc_first {
            [Side::Rpc, Side::Copy]
        } else {
            [Side::Copy, Side::Rpc]
        };
        let (mut rpc, mut copied) = (Duration::ZERO, Duration::ZERO);
        for side in order {
            match side {
                Side::Rpc => {
                    rpc = ingest(&mut self.inventory, &self.token, &rpc_customer, size).await?
                }
                Side::Copy => copied = copy(&mut self.database, &copy_customer, size).await?,
            }
        }
        check_stored(&self.database, &rpc_customer, size).await?;
        check_stored(&self.database, &copy_customer, size).await?;
        Ok((rpc, copied))
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn seconds(time: Duration) -> f64 {
    time.as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "--list") {
        return Ok(()); // `cargo test --benches` asks for a listing; nothing to list.
    }
    let run_started = Instant::now();
    let platform = Platform::spawn().await?;
    let database = platform.database.connect().await?;
    database
        .batch_execute("SET search_path = licensing")
        .await?;
    let channel = platform.channel_to(&platform.licensing).await?;
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "Bench Distributor")
        .await?;
    let partner = platform
        .create_organization(
            &distributor.name,
            OrganizationKind::Partner,
            "Bench Partner",
        )
        .await?;
    let mut bench = Bench {
        inventory: InventoryServiceClient::new(channel.clone()),
        token: platform.admin_token(),
        partner: partner.name,
        channel,
        database,
        platform,
    };

    let (rpc, copied) = bench.measure_pair(SIZES[0], "Warmup", true).await?;
    println!(
        "warm-up {:>6} computers: rpc {:.3} s, copy {:.3} s",
        SIZES[0],
        seconds(rpc),
        seconds(copied)
    );

    let mut rpc_times: [Vec<Duration>; 2] = Default::default();
    let mut copy_times: [Vec<Duration>; 2] = Default::default();
    for iteration in 0..ITERATIONS {
        for (index, size) in SIZES.into_iter().enumerate() {
            let rpc_first = (iteration + index) % 2 == 0;
            let (rpc, copied) = bench
                .measure_pair(size, &format!("N{iteration}"), rpc_first)
                .await?;
            println!(
                "iteration {} {size:>6} computers ({} first): rpc {:.3} s, copy {:.3} s",
                iteration + 1,
                if rpc_first { "rpc" } else { "copy" },
                seconds(rpc),
                seconds(copied)
            );
            rpc_times[index].push(rpc);
            copy_times[index].push(copied);
        }
    }

    println!(
        "\nIngestInventory direct ({RECORDS_PER_MESSAGE} records per message) vs binary COPY \
         of the same rows; {ITERATIONS} iterations per size, interleaved; medians; rows = \
         computers + installations"
    );
    println!(
        "{:>9} {:>8} {:>9} {:>9} {:>12} {:>12} {:>9}",
        "computers", "rows", "rpc s", "copy s", "rpc rows/s", "copy rows/s", "ratio"
    );
    for (index, size) in SIZES.into_iter().enumerate() {
        let rpc = seconds(median(&mut rpc_times[index]));
        let copied = seconds(median(&mut copy_times[index]));
        let rows = rows(size) as f64;
        println!(
            "{size:>9} {rows:>8} {rpc:>9.3} {copied:>9.3} {:>12.0} {:>12.0} {:>9.2}",
            rows / rpc,
            rows / copied,
            copied / rpc,
        );
    }
    println!(
        "ratio = RPC throughput / COPY throughput; target >= 0.50 (whole run {:.0} s)",
        run_started.elapsed().as_secs_f64()
    );
    bench.platform.shutdown().await?;
    Ok(())
}
