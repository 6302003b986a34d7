//! Gateway overhead: the same unary RPC (GetOrganization, one indexed
//! PostgreSQL read) called straight on the customers service and through
//! the gateway, in the same run, on the same machine, alternating A/B/A/B
//! so drift on a shared machine hits both sides alike.
//!
//! Run: `cargo bench -p estate-e2e --bench gateway_overhead`
//! (needs DATABASE_URL or a server on 127.0.0.1:5432, like the tests).
//! Knobs: ESTATE_LOAD_SECONDS (per round, default 5),
//! ESTATE_LOAD_CONCURRENCY (comma list, default "1,32").

use std::time::{Duration, Instant};

use estate_e2e::{Platform, with_key, with_token};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::GetOrganizationRequest;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    Gateway,
}

#[derive(Debug, Default)]
struct Sample {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Sample {
    fn merge(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
    }
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&mut self, fraction: f64) -> Duration {
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 - 1.0) * fraction).round() as usize;
        self.latencies[index]
    }
}

async fn round(
    platform: &Platform,
    channel: Channel,
    path: Path,
    name: &str,
    concurrency: usize,
    duration: Duration,
) -> Sample {
    let token = platform.admin_token();
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let mut client = OrganizationsServiceClient::new(channel.clone());
        let (token, key, name) = (token.clone(), platform.admin_key.clone(), name.to_string());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let message = GetOrganizationRequest { name: name.clone() };
                let request = match path {
                    Path::Direct => with_token(message, &token),
                    Path::Gateway => with_key(message, &key),
                };
                let call = Instant::now();
                client
                    .get_organization(request)
                    .await
                    .expect("call succeeds");
                latencies.push(call.elapsed());
            }
            latencies
        });
    }
    let mut sample = Sample::default();
    while let Some(latencies) = workers.join_next().await {
        sample.latencies.extend(latencies.expect("worker"));
    }
    sample.elapsed = started.elapsed();
    sample
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "--list") {
        return Ok(()); // `cargo test --benches` asks for a listing; nothing to list.
    }
    let seconds: u64 = std::env::var("ESTATE_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let concurrencies: Vec<usize> = std::env::var("ESTATE_LOAD_CONCURRENCY")
        .unwrap_or_else(|_| "1,32".into())
        .split(',')
        .filter_map(|value| value.trim().parse().ok())
        .collect();
    // The production default credential cache TTL (3 s).
    let platform = Platform::spawn_with_credential_cache(Duration::from_secs(3)).await?;
    let organization = platform
        .create_organization("", OrganizationKind::Distributor, "Load")
        .await?;
    let direct = platform.channel_to(&platform.customers).await?;
    let gateway = platform.gateway_channel().await?;

    // Warm up both paths (connections, credential cache, prepared plans).
    round(
        &platform,
        direct.clone(),
        Path::Direct,
        &organization.name,
        4,
        Duration::from_secs(1),
    )
    .await;
    round(
        &platform,
        gateway.clone(),
        Path::Gateway,
        &organization.name,
        4,
        Duration::from_secs(1),
    )
    .await;

    println!("GetOrganization, {seconds}s per round, rounds alternate direct/gateway twice");
    println!(
        "{:>11} {:>8} {:>10} {:>9} {:>9}",
        "concurrency", "path", "req/s", "p50 ms", "p99 ms"
    );
    for &concurrency in &concurrencies {
        let mut direct_sample = Sample::default();
        let mut gateway_sample = Sample::default();
        let per_round = Duration::from_secs(seconds) / 2;
        for _ in 0..2 {
            direct_sample.merge(
                round(
                    &platform,
                    direct.clone(),
                    Path::Direct,
                    &organization.name,
                    concurrency,
                    per_round,
                )
                .await,
            );
            gateway_sample.merge(
                round(
                    &platform,
                    gateway.clone(),
                    Path::Gateway,
                    &organization.name,
                    concurrency,
                    per_round,
                )
                .await,
            );
        }
        let (direct_p50, direct_p99) = (
            direct_sample.percentile(0.5),
            direct_sample.percentile(0.99),
        );
        let (gateway_p50, gateway_p99) = (
            gateway_sample.percentile(0.5),
            gateway_sample.percentile(0.99),
        );
        println!(
            "{concurrency:>11} {:>8} {:>10.0} {:>9.3} {:>9.3}",
            "direct",
            direct_sample.rps(),
            ms(direct_p50),
            ms(direct_p99)
        );
        println!(
            "{concurrency:>11} {:>8} {:>10.0} {:>9.3} {:>9.3}",
            "gateway",
            gateway_sample.rps(),
            ms(gateway_p50),
            ms(gateway_p99)
        );
        println!(
            "{concurrency:>11} {:>8} throughput kept {:.0}%, p50 added {:.3} ms, p99 added {:.3} ms",
            "ratio",
            100.0 * gateway_sample.rps() / direct_sample.rps(),
            ms(gateway_p50) - ms(direct_p50),
            ms(gateway_p99) - ms(direct_p99),
        );
    }
    platform.shutdown().await?;
    Ok(())
}
