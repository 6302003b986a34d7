//! Gateway overhead: the same unary RPC (GetOrganization, one indexed
//! PostgreSQL read) called straight on the customers service, through the
//! gateway, and through a gateway serving TLS (certificate made at run
//! time), in the same run, on the same machine, rounds alternating so
//! drift on a shared machine hits every side alike.
//!
//! Then replicas: a billing read (ListPartners) through a gateway to one
//! billing replica and through one to two, and a round during which one
//! of the two stops (as a rolling restart does), counting the errors
//! callers see.
//!
//! Run: `cargo bench -p estate-e2e --bench gateway_overhead`
//! (needs DATABASE_URL or a server on 127.0.0.1:5432, like the tests).
//! Knobs: ESTATE_LOAD_SECONDS (per round, default 5),
//! ESTATE_LOAD_CONCURRENCY (comma list, default "1,32").

use std::time::{Duration, Instant};

use estate_e2e::{Platform, with_key, with_token};
use estate_proto::billing::ListPartnersRequest;
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::common::OrganizationKind;
use estate_proto::customers::GetOrganizationRequest;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    Gateway,
    GatewayTls,
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
                    Path::Gateway | Path::GatewayTls => with_key(message, &key),
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

    // A gateway serving TLS, its certificate made now.
    let certificate = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("tls.crt"), certificate.cert.pem())?;
    std::fs::write(
        dir.path().join("tls.key"),
        certificate.signing_key.serialize_pem(),
    )?;
    let files = estate_transport::ServerTlsFiles {
        certificate: estate_transport::SettingPath::new(
            "ESTATE_TLS_CERT_FILE",
            dir.path().join("tls.crt"),
        ),
        key: estate_transport::SettingPath::new("ESTATE_TLS_KEY_FILE", dir.path().join("tls.key")),
        client_ca: None,
    };
    let tls_gateway = platform
        .spawn_gateway(|config| config.server.tls = Some(files))
        .await?;
    let tls = Channel::from_shared(format!("https://{}", tls_gateway.address))?
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .domain_name("localhost")
                .ca_certificate(tonic::transport::Certificate::from_pem(
                    certificate.cert.pem(),
                )),
        )?
        .connect()
        .await?;
    round(
        &platform,
        tls.clone(),
        Path::GatewayTls,
        &organization.name,
        4,
        Duration::from_secs(1),
    )
    .await;

    println!(
        "GetOrganization, {seconds}s per round, rounds alternate direct/gateway/gateway-tls twice"
    );
    println!(
        "{:>11} {:>11} {:>10} {:>9} {:>9}",
        "concurrency", "path", "req/s", "p50 ms", "p99 ms"
    );
    for &concurrency in &concurrencies {
        let paths = [
            (Path::Direct, "direct", direct.clone()),
            (Path::Gateway, "gateway", gateway.clone()),
            (Path::GatewayTls, "gateway-tls", tls.clone()),
        ];
        let mut samples: Vec<Sample> = paths.iter().map(|_| Sample::default()).collect();
        let per_round = Duration::from_secs(seconds) / 2;
        for _ in 0..2 {
            for ((path, _, channel), sample) in paths.iter().zip(samples.iter_mut()) {
                sample.merge(
                    round(
                        &platform,
                        channel.clone(),
                        *path,
                        &organization.name,
                        concurrency,
                        per_round,
                    )
                    .await,
                );
            }
        }
        let direct_rps = samples[0].rps();
        let direct_p50 = samples[0].percentile(0.5);
        for ((_, label, _), sample) in paths.iter().zip(samples.iter_mut()) {
            let (p50, p99) = (sample.percentile(0.5), sample.percentile(0.99));
            println!(
                "{concurrency:>11} {label:>11} {:>10.0} {:>9.3} {:>9.3}   kept {:>3.0}% of direct, p50 +{:.3} ms",
                sample.rps(),
                ms(p50),
                ms(p99),
                100.0 * sample.rps() / direct_rps,
                ms(p50) - ms(direct_p50),
            );
        }
    }

    replicas(&platform, seconds).await?;
    platform.shutdown().await?;
    Ok(())
}

/// ListPartners through a gateway to one billing replica and through one
/// to two, then a round in which one of the two stops.
async fn replicas(platform: &Platform, seconds: u64) -> anyhow::Result<()> {
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "Replicas")
        .await?
        .name
        .replace("organizations/", "distributors/");
    let mut second = platform.spawn_billing(|_| {}).await?;
    let first_relay = estate_e2e::relay::Relay::start(platform.billing.address).await?;
    let second_relay = estate_e2e::relay::Relay::start(second.address).await?;
    let both = platform
        .spawn_gateway(|config| {
            config.billing_url = format!("{},{}", first_relay.url(), second_relay.url());
        })
        .await?;
    estate_e2e::wait_serving(&both).await?;
    let one = platform.gateway_channel().await?;
    let two = Channel::from_shared(both.url())?.connect().await?;
    let concurrency = 32;
    let per_round = Duration::from_secs(seconds) / 2;
    println!();
    println!("ListPartners at {concurrency} callers, {seconds}s per side, alternating");
    let (mut one_total, mut two_total) = ((0, Duration::ZERO), (0, Duration::ZERO));
    let (first_before, second_before) = (first_relay.calls(), second_relay.calls());
    for _ in 0..2 {
        let (calls, errors, elapsed) = billing_round(
            one.clone(),
            &platform.admin_key,
            &distributor,
            concurrency,
            per_round,
        )
        .await;
        assert_eq!(errors, 0);
        one_total = (one_total.0 + calls, one_total.1 + elapsed);
        let (calls, errors, elapsed) = billing_round(
            two.clone(),
            &platform.admin_key,
            &distributor,
            concurrency,
            per_round,
        )
        .await;
        assert_eq!(errors, 0);
        two_total = (two_total.0 + calls, two_total.1 + elapsed);
    }
    let rps = |(calls, elapsed): (u64, Duration)| calls as f64 / elapsed.as_secs_f64();
    let (first_calls, second_calls) = (
        first_relay.calls() - first_before,
        second_relay.calls() - second_before,
    );
    println!("{:>14} {:>10.0} req/s", "one replica", rps(one_total));
    println!(
        "{:>14} {:>10.0} req/s ({:.2}x), split {}/{} ({:.0}% / {:.0}%)",
        "two replicas",
        rps(two_total),
        rps(two_total) / rps(one_total),
        first_calls,
        second_calls,
        100.0 * first_calls as f64 / (first_calls + second_calls) as f64,
        100.0 * second_calls as f64 / (first_calls + second_calls) as f64,
    );
    // A rolling restart: one replica stops a third into the round.
    let stop_after = per_round * 2 / 3;
    let stopping = async {
        tokio::time::sleep(stop_after).await;
        second_relay.stop_accepting();
        second.begin_shutdown();
        second.stopped().await
    };
    let ((calls, errors, _), stopped) = tokio::join!(
        billing_round(
            two.clone(),
            &platform.admin_key,
            &distributor,
            concurrency,
            per_round * 2
        ),
        stopping
    );
    stopped?;
    println!(
        "{:>14} {calls} calls, {errors} client-visible errors while a replica stopped",
        "rolling"
    );
    Ok(())
}

/// (calls, errors, elapsed) of `concurrency` callers reading partners.
async fn billing_round(
    channel: Channel,
    key: &str,
    distributor: &str,
    concurrency: usize,
    duration: Duration,
) -> (u64, u64, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let mut client = PartnersServiceClient::new(channel.clone());
        let (key, distributor) = (key.to_string(), distributor.to_string());
        workers.spawn(async move {
            let (mut calls, mut errors) = (0, 0);
            while Instant::now() < deadline {
                let request = ListPartnersRequest {
                    parent: distributor.clone(),
                    ..Default::default()
                };
                match client.list_partners(with_key(request, &key)).await {
                    Ok(_) => calls += 1,
                    Err(status) => {
                        eprintln!("error: {status:?}");
                        errors += 1
                    }
                }
            }
            (calls, errors)
        });
    }
    let (mut calls, mut errors) = (0, 0);
    while let Some(result) = workers.join_next().await {
        let (c, e) = result.expect("worker");
        calls += c;
        errors += e;
    }
    (calls, errors, started.elapsed())
}
