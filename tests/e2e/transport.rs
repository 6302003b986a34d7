//! Production transport: calls spread over every replica and survive one
//! stopping, health that follows real dependencies, a bounded shutdown,
//! TLS (certificates made at test time, rotated without a restart;
//! internal mutual TLS), gRPC-Web text and CORS for browsers, and
//! compression.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use estate_e2e::relay::Relay;
use estate_e2e::{Platform, health_of, wait_health, with_key};
use estate_proto::billing::ListPartnersRequest;
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::common::OrganizationKind;
use estate_proto::customers::GetOrganizationRequest;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_transport::tls::{ServerTlsFiles, SettingPath};
use prost::Message;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, ClientTlsConfig};

const BILLING: &str = "estate.billing.v1.PartnersService";

/// A distributor and a cheap billing read of it through `gateway`.
async fn list_partners(
    channel: Channel,
    key: &str,
    distributor: &str,
) -> Result<(), tonic::Status> {
    PartnersServiceClient::new(channel)
        .list_partners(with_key(
            ListPartnersRequest {
                parent: distributor.to_string(),
                ..Default::default()
            },
            key,
        ))
        .await
        .map(|_| ())
}

async fn distributor(platform: &Platform) -> String {
    let organization = platform
        .create_organization("", OrganizationKind::Distributor, "Northwind")
        .await
        .unwrap();
    organization.name.replace("organizations/", "distributors/")
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn calls_spread_over_replicas_and_a_replica_stopping_under_load_shows_no_error() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = distributor(&platform).await;
    let mut second = platform.spawn_billing(|_| {}).await.unwrap();
    let first_relay = Relay::start(platform.billing.address).await.unwrap();
    let second_relay = Relay::start(second.address).await.unwrap();
    let gateway = platform
        .spawn_gateway(|config| {
            config.billing_url = format!("{},{}", first_relay.url(), second_relay.url());
        })
        .await
        .unwrap();
    estate_e2e::wait_serving(&gateway).await.unwrap();
    let gateway_channel = channel(&gateway.url()).await;

    // Split: one gateway connection in, calls spread over both replicas.
    let (before_first, before_second) = (first_relay.calls(), second_relay.calls());
    let calls = 400;
    futures::future::join_all((0..8).map(|_| {
        let channel = gateway_channel.clone();
        let (key, distributor) = (platform.admin_key.clone(), distributor.clone());
        async move {
            for _ in 0..calls / 8 {
                list_partners(channel.clone(), &key, &distributor)
                    .await
                    .unwrap();
            }
        }
    }))
    .await;
    let first = first_relay.calls() - before_first;
    let second_count = second_relay.calls() - before_second;
    let share = first as f64 / (first + second_count) as f64;
    assert!(
        (0.4..=0.6).contains(&share),
        "replica one took {first}, replica two {second_count} of {calls} calls"
    );

    // Under load, the second replica stops as Kubernetes stops a pod: its
    // listener closes and it drains. No caller sees an error.
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let stop = tokio_util::sync::CancellationToken::new();
    let load: Vec<_> = (0..8)
        .map(|_| {
            let channel = gateway_channel.clone();
            let (key, distributor) = (platform.admin_key.clone(), distributor.clone());
            let (errors, done, stop) = (errors.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    match list_partners(channel.clone(), &key, &distributor).await {
                        Ok(()) => done.fetch_add(1, Ordering::SeqCst),
                        Err(status) => {
                            eprintln!("client-visible error: {status:?}");
                            errors.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    second_relay.stop_accepting();
    second.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    second.stopped().await.unwrap();
    let after_stop = first_relay.calls();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "{} calls succeeded",
        done.load(Ordering::SeqCst)
    );
    assert!(
        first_relay.calls() > after_stop,
        "the remaining replica takes the calls"
    );
    // Once set aside, the stopped replica is not asked again and again.
    assert!(done.load(Ordering::SeqCst) > 50);
}

#[tokio::test]
async fn health_says_not_serving_while_a_dependency_fails_and_serving_once_it_recovers() {
    let platform = Platform::spawn().await.unwrap();
    let within = Duration::from_secs(5);

    // A gateway whose internal-token secret the customers service refuses.
    let wrong_secret = platform
        .spawn_gateway(|config| {
            config.internal_token_secret = "not-the-platform-secret-at-all".into();
        })
        .await
        .unwrap();
    wait_health(&wrong_secret, "", false, within).await.unwrap();
    wait_health(&wrong_secret, BILLING, false, within)
        .await
        .unwrap();
    assert_eq!(health_of(&wrong_secret, "liveness").await, Some(true));

    // A gateway whose backends are all down.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let no_backends = platform
        .spawn_gateway(|config| {
            config.customers_url = closed.clone();
            config.licensing_url = closed.clone();
            config.billing_url = closed.clone();
        })
        .await
        .unwrap();
    wait_health(&no_backends, "", false, within).await.unwrap();
    wait_health(&no_backends, BILLING, false, within)
        .await
        .unwrap();
    assert_eq!(health_of(&no_backends, "liveness").await, Some(true));

    // One backend down takes only its own services out of rotation.
    let billing_down = platform
        .spawn_gateway(|config| config.billing_url = closed.clone())
        .await
        .unwrap();
    wait_health(&billing_down, BILLING, false, within)
        .await
        .unwrap();
    wait_health(&billing_down, "", true, within).await.unwrap();
    wait_health(
        &billing_down,
        "estate.customers.v1.OrganizationsService",
        true,
        within,
    )
    .await
    .unwrap();

    // A billing replica whose database connection is cut, then restored.
    let database_address = {
        let config: tokio_postgres::Config = platform.database.url.parse().unwrap();
        let host = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(host) => host.clone(),
            other => panic!("the test database must be reached over TCP: {other:?}"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap()
    };
    let database_relay = Relay::start(database_address).await.unwrap();
    let relayed_url = {
        let mut config: tokio_postgres::Config = platform.database.url.parse().unwrap();
        config.host("127.0.0.1").port(database_relay.address.port());
        format!(
            "postgres://{}@127.0.0.1:{}/{}",
            config.get_user().unwrap_or("postgres"),
            database_relay.address.port(),
            config.get_dbname().unwrap()
        )
    };
    let billing = platform
        .spawn_billing(|config| {
            config.backend.database_url = relayed_url.clone();
            config.backend.migrate = false;
        })
        .await
        .unwrap();
    database_relay.cut();
    wait_health(&billing, "", false, within).await.unwrap();
    wait_health(&billing, BILLING, false, within).await.unwrap();
    assert_eq!(health_of(&billing, "liveness").await, Some(true));
    database_relay.restore();
    wait_health(&billing, "", true, within).await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_a_watch_stream_and_a_silent_upload_within_the_grace() {
    let platform = Platform::spawn().await.unwrap();
    let grace = Duration::from_secs(1);
    let mut licensing = platform
        .spawn_licensing(|config| config.backend.server.shutdown_grace = grace)
        .await
        .unwrap();
    let backend = channel(&licensing.url()).await;

    // A Watch stream, as load balancers hold.
    let mut health = tonic_health::pb::health_client::HealthClient::new(backend.clone());
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, 1);

    // An upload whose client never sends a message.
    let (_sender, silent) =
        tokio::sync::mpsc::channel::<estate_proto::licensing::IngestInventoryRequest>(1);
    let upload = {
        let mut client =
            estate_proto::licensing::inventory_service_client::InventoryServiceClient::new(backend);
        let request = estate_auth::forward(
            tokio_stream::wrappers::ReceiverStream::new(silent),
            &platform.admin_token(),
        );
        tokio::spawn(async move { client.ingest_inventory(request).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    licensing.begin_shutdown();
    // The stream learns the server is going, then ends.
    let mut statuses = Vec::new();
    let ended = loop {
        match watch.message().await {
            Ok(Some(update)) => statuses.push(update.status),
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    assert!(statuses.contains(&2), "NOT_SERVING was sent: {statuses:?}");
    let ended = ended.expect("the watch stream ends with a status");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let refused = upload.await.unwrap().unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("shutting down"), "{refused:?}");
    licensing.stopped().await.unwrap();
    // Bounded: the grace and a second to close, well before Kubernetes'
    // 30 s SIGKILL.
    assert!(
        started.elapsed() < grace + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A CA and a certificate for `localhost` and 127.0.0.1 it signed, as PEM.
struct Issued {
    ca: String,
    certificate: String,
    key: String,
}

fn issue(name: &str) -> Issued {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let certificate = params.signed_by(&key, &issuer).unwrap();
    Issued {
        ca: ca.pem(),
        certificate: certificate.pem(),
        key: key.serialize_pem(),
    }
}

/// Writes `issued`'s certificate and key into `dir` by renaming, as
/// Kubernetes swaps a mounted Secret.
fn install(dir: &std::path::Path, issued: &Issued) -> ServerTlsFiles {
    for (name, content) in [("tls.crt", &issued.certificate), ("tls.key", &issued.key)] {
        let staged = dir.join(format!(".{name}.new"));
        std::fs::write(&staged, content).unwrap();
        std::fs::rename(&staged, dir.join(name)).unwrap();
    }
    ServerTlsFiles {
        certificate: SettingPath::new("ESTATE_TLS_CERT_FILE", dir.join("tls.crt")),
        key: SettingPath::new("ESTATE_TLS_KEY_FILE", dir.join("tls.key")),
        client_ca: None,
    }
}

async fn tls_channel(
    address: std::net::SocketAddr,
    ca: &str,
) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("https://{address}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .domain_name("localhost")
                .ca_certificate(tonic::transport::Certificate::from_pem(ca)),
        )?
        .connect()
        .await
}

async fn get_organization(channel: Channel, key: &str, name: &str) -> Result<(), tonic::Status> {
    OrganizationsServiceClient::new(channel)
        .get_organization(with_key(
            GetOrganizationRequest {
                name: name.to_string(),
            },
            key,
        ))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn the_gateway_serves_tls_and_takes_a_rotated_certificate_without_a_restart() {
    let platform = Platform::spawn().await.unwrap();
    let organization = platform
        .create_organization("", OrganizationKind::Distributor, "Northwind")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = issue("first");
    let files = install(dir.path(), &first);
    let health_address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gateway = platform
        .spawn_gateway(|config| {
            config.server.tls = Some(files.clone());
            config.server.health_listen = Some(health_address);
        })
        .await
        .unwrap();
    // Probes, which cannot speak TLS, ask the plaintext health port.
    let probe = estate_e2e::Server::detached(health_address);
    wait_health(&probe, "", true, Duration::from_secs(5))
        .await
        .unwrap();
    wait_health(&probe, "liveness", true, Duration::from_secs(1))
        .await
        .unwrap();

    let secure = tls_channel(gateway.address, &first.ca).await.unwrap();
    get_organization(secure, &platform.admin_key, &organization.name)
        .await
        .unwrap();
    // No plaintext on the TLS port: the key never travels in the clear.
    let plain = Channel::from_shared(gateway.url()).unwrap().connect().await;
    if let Ok(plain) = plain {
        let refused = get_organization(plain, &platform.admin_key, &organization.name).await;
        assert!(refused.is_err(), "a plaintext call got through");
    }

    // The distributors' client speaks TLS to an https:// endpoint, and
    // never plaintext: against a plaintext port it fails instead.
    let key = platform.admin_key.clone();
    let endpoint = format!("https://127.0.0.1:{}", gateway.address.port());
    estate_billing_client::BillingClient::connect_with_ca(
        &endpoint,
        &key,
        Some(first.ca.as_bytes()),
    )
    .await
    .unwrap();
    let plaintext_port = format!("https://{}", platform.gateway.address);
    assert!(
        estate_billing_client::BillingClient::connect_with_ca(
            &plaintext_port,
            &key,
            Some(first.ca.as_bytes())
        )
        .await
        .is_err()
    );

    // cert-manager renews the certificate (here under another CA): new
    // connections get the new one within seconds, without a restart.
    let second = issue("second");
    install(dir.path(), &second);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(channel) = tls_channel(gateway.address, &second.ca).await
            && get_organization(channel, &platform.admin_key, &organization.name)
                .await
                .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(tls_channel(gateway.address, &first.ca).await.is_err());
}

#[tokio::test]
async fn internal_calls_use_mutual_tls_to_a_backend_that_requires_it() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = distributor(&platform).await;
    let dir = tempfile::tempdir().unwrap();
    let server = issue("billing");
    let client = issue("gateway");
    let mut files = install(dir.path(), &server);
    std::fs::write(dir.path().join("client-ca.crt"), &client.ca).unwrap();
    files.client_ca = Some(SettingPath::new(
        "ESTATE_TLS_CLIENT_CA_FILE",
        dir.path().join("client-ca.crt"),
    ));
    let billing = platform
        .spawn_billing_unchecked(|config| config.backend.server.tls = Some(files.clone()))
        .await
        .unwrap();

    // A gateway that trusts the billing CA and presents its own
    // certificate reaches billing over https.
    for (name, content) in [
        ("ca.crt", &server.ca),
        ("client.crt", &client.certificate),
        ("client.key", &client.key),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let tls = estate_transport::ClientTls::load(&estate_transport::ClientTlsFiles {
        ca: Some(SettingPath::new(
            "ESTATE_TLS_CA_FILE",
            dir.path().join("ca.crt"),
        )),
        identity: Some((
            SettingPath::new("ESTATE_TLS_CLIENT_CERT_FILE", dir.path().join("client.crt")),
            SettingPath::new("ESTATE_TLS_CLIENT_KEY_FILE", dir.path().join("client.key")),
        )),
    })
    .unwrap();
    let billing_url = format!("https://localhost:{}", billing.address.port());
    let gateway = platform
        .spawn_gateway(|config| {
            config.billing_url = billing_url.clone();
            config.client.tls = tls.clone();
        })
        .await
        .unwrap();
    estate_e2e::wait_serving(&gateway).await.unwrap();
    list_partners(
        channel(&gateway.url()).await,
        &platform.admin_key,
        &distributor,
    )
    .await
    .unwrap();

    // Without a client certificate the backend refuses the connection.
    let anonymous = estate_transport::ClientTls::load(&estate_transport::ClientTlsFiles {
        ca: Some(SettingPath::new(
            "ESTATE_TLS_CA_FILE",
            dir.path().join("ca.crt"),
        )),
        identity: None,
    })
    .unwrap();
    let refused = platform
        .spawn_gateway(|config| {
            config.billing_url = billing_url.clone();
            config.client.tls = anonymous;
        })
        .await
        .unwrap();
    wait_health(&refused, BILLING, false, Duration::from_secs(5))
        .await
        .unwrap();
    let status = list_partners(
        channel(&refused.url()).await,
        &platform.admin_key,
        &distributor,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

/// One HTTP/1.1 exchange with the gateway, as a browser makes it.
async fn http1(
    gateway: std::net::SocketAddr,
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> (http::response::Parts, bytes::Bytes) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(gateway).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn grpc_web_text_with_a_content_length_and_a_cors_preflight_work_through_the_gateway() {
    let platform = Platform::spawn().await.unwrap();
    let organization = platform
        .create_organization("", OrganizationKind::Distributor, "Northwind")
        .await
        .unwrap();
    let origin = "https://console.example.com";
    let gateway = platform
        .spawn_gateway(|config| config.cors_allowed_origins = vec![origin.to_string()])
        .await
        .unwrap();
    estate_e2e::wait_serving(&gateway).await.unwrap();
    let path = "/estate.customers.v1.OrganizationsService/GetOrganization";

    // The browser's preflight.
    let preflight = http::Request::builder()
        .method("OPTIONS")
        .uri(path)
        .header("host", "gateway")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,authorization",
        )
        .body(Default::default())
        .unwrap();
    let (parts, _) = http1(gateway.address, preflight).await;
    assert!(parts.status.is_success(), "{parts:?}");
    assert_eq!(parts.headers["access-control-allow-origin"], origin);
    let allowed = parts.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");

    // A text-mode call with its Content-Length (the base64 length).
    let message = GetOrganizationRequest {
        name: organization.name.clone(),
    }
    .encode_to_vec();
    let mut frame = vec![0];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let text = base64::engine::general_purpose::STANDARD.encode(&frame);
    for (mode, body) in [
        ("application/grpc-web-text", text.clone().into_bytes()),
        ("application/grpc-web+proto", frame.clone()),
    ] {
        let call = http::Request::builder()
            .method("POST")
            .uri(path)
            .header("host", "gateway")
            .header("origin", origin)
            .header("content-type", mode)
            .header("accept", mode)
            .header("x-grpc-web", "1")
            .header("content-length", body.len())
            .header("authorization", format!("Bearer {}", platform.admin_key))
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let (parts, body) = http1(gateway.address, call).await;
        assert!(parts.status.is_success(), "{mode}: {parts:?}");
        assert_eq!(parts.headers["access-control-allow-origin"], origin);
        let exposed = parts.headers["access-control-expose-headers"]
            .to_str()
            .unwrap();
        assert!(
            exposed.contains("grpc-status") && exposed.contains("grpc-message"),
            "{exposed}"
        );
        let body = if mode.ends_with("text") {
            // Each frame is encoded on its own, padding included: decode
            // quantum by quantum.
            body.chunks(4)
                .flat_map(|quantum| {
                    base64::engine::general_purpose::STANDARD
                        .decode(quantum)
                        .unwrap_or_else(|error| panic!("{error}: {body:?}"))
                })
                .collect()
        } else {
            body.to_vec()
        };
        let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        let organization_read =
            estate_proto::customers::Organization::decode(&body[5..5 + length]).unwrap();
        assert_eq!(organization_read.name, organization.name, "{mode}");
        let trailers = String::from_utf8_lossy(&body[5 + length + 5..]).to_lowercase();
        assert!(trailers.contains("grpc-status:0"), "{mode}: {trailers}");
    }

    // Another origin gets no CORS permission.
    let foreign = http::Request::builder()
        .method("OPTIONS")
        .uri(path)
        .header("host", "gateway")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .body(Default::default())
        .unwrap();
    let (parts, _) = http1(gateway.address, foreign).await;
    assert!(
        !parts.headers.contains_key("access-control-allow-origin"),
        "{parts:?}"
    );
}

#[tokio::test]
async fn compressed_requests_are_served_and_responses_compressed_for_clients_that_accept() {
    let platform = Platform::spawn().await.unwrap();
    let organization = platform
        .create_organization("", OrganizationKind::Distributor, "Northwind")
        .await
        .unwrap();
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap())
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let response = client
            .get_organization(with_key(
                GetOrganizationRequest {
                    name: organization.name.clone(),
                },
                &platform.admin_key,
            ))
            .await
            .unwrap();
        let used = response
            .metadata()
            .get("grpc-encoding")
            .map(|value| value.to_str().unwrap().to_string());
        let expected = match encoding {
            CompressionEncoding::Gzip => "gzip",
            _ => "zstd",
        };
        assert_eq!(used.as_deref(), Some(expected));
        assert_eq!(response.into_inner().name, organization.name);
    }
}

#[tokio::test]
async fn the_message_size_limit_is_configurable() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = distributor(&platform).await;
    let small = platform
        .spawn_billing(|config| config.backend.server.max_message_bytes = 64)
        .await
        .unwrap();
    let token = platform.admin_token();
    let request = |parent: String| {
        estate_auth::forward(
            ListPartnersRequest {
                parent,
                page_token: "x".repeat(100),
                ..Default::default()
            },
            &token,
        )
    };
    let refused = PartnersServiceClient::new(channel(&small.url()).await)
        .list_partners(request(distributor.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // The default platform takes the same request (and judges the token).
    let judged = PartnersServiceClient::new(channel(&platform.billing.url()).await)
        .list_partners(request(distributor))
        .await
        .unwrap_err();
    assert_eq!(judged.code(), Code::InvalidArgument, "{judged:?}");
}

#[tokio::test]
async fn service_urls_with_host_names_are_resolved_and_every_address_tried() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = distributor(&platform).await;
    // `localhost` may resolve to ::1 as well as 127.0.0.1, where nothing
    // listens: calls sent there are refused, provably unsent, and go to
    // the address that answers.
    let url = format!("http://localhost:{}", platform.billing.address.port());
    let gateway = platform
        .spawn_gateway(|config| config.billing_url = url.clone())
        .await
        .unwrap();
    estate_e2e::wait_serving(&gateway).await.unwrap();
    let channel = channel(&gateway.url()).await;
    for _ in 0..20 {
        list_partners(channel.clone(), &platform.admin_key, &distributor)
            .await
            .unwrap();
    }
}
