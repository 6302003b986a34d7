//! What an SRE sees of a run, checked on the real binary: each process's
//! Prometheus metrics after a known set of calls, one trace that follows
//! a call gateway → billing → customers (Authorize) through an in-process
//! OTLP receiver, and stdout that is JSON line by line with the trace id
//! of a call in its access-log line. (The dashboards' metrics are checked
//! against the catalog in `estate_telemetry::metrics`.)

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use estate_proto::billing::ListPartnersRequest;
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{CreateOrganizationRequest, GetOrganizationRequest, Organization};
use estate_testkit::TestDatabase;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use tokio::io::AsyncReadExt;
use tonic::transport::Channel;

const ADMIN_KEY: &str = "estate_test_observability_key_0123456789";
const UNKNOWN_KEY: &str = "estate_no_such_key_0123456789012345678901";

/// A span as the receiver got it, with its service's name.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    /// 2 server, 3 client.
    kind: i32,
    /// 0 unset, 1 ok, 2 error.
    status: i32,
    attributes: HashMap<String, String>,
}

/// A metric data point as the receiver got it (a histogram's count).
#[derive(Debug, Clone)]
struct Point {
    service: String,
    name: String,
    unit: String,
    attributes: HashMap<String, String>,
    value: f64,
}

/// An OTLP receiver: the spans and metric points exported to it.
#[derive(Debug, Default, Clone)]
struct Receiver(Arc<Mutex<Vec<Span>>>, Arc<Mutex<Vec<Point>>>);

fn text(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|pair| (pair.key.clone(), text(&pair.value)))
        .collect()
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans
                .resource
                .map(|resource| attributes(&resource.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Span {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        name: span.name,
                        kind: span.kind,
                        status: span.status.map_or(0, |status| status.code),
                        attributes: attributes(&span.attributes),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut points = self.1.lock().unwrap();
        for resource_metrics in request.into_inner().resource_metrics {
            let resource = resource_metrics
                .resource
                .map(|resource| attributes(&resource.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for scope in resource_metrics.scope_metrics {
                for metric in scope.metrics {
                    let mut point = |attributes: &[KeyValue], value: f64| {
                        points.push(Point {
                            service: service.clone(),
                            name: metric.name.clone(),
                            unit: metric.unit.clone(),
                            attributes: self::attributes(attributes),
                            value,
                        })
                    };
                    let number = |value: &Option<number_data_point::Value>| match value {
                        Some(number_data_point::Value::AsDouble(value)) => *value,
                        Some(number_data_point::Value::AsInt(value)) => *value as f64,
                        None => f64::NAN,
                    };
                    match &metric.data {
                        Some(Data::Sum(sum)) => {
                            for data in &sum.data_points {
                                point(&data.attributes, number(&data.value));
                            }
                        }
                        Some(Data::Gauge(gauge)) => {
                            for data in &gauge.data_points {
                                point(&data.attributes, number(&data.value));
                            }
                        }
                        Some(Data::Histogram(histogram)) => {
                            for data in &histogram.data_points {
                                point(&data.attributes, data.count as f64);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Serves an OTLP receiver (traces, metrics) on a free port.
async fn receiver() -> (Receiver, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .add_service(MetricsServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (receiver, address)
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// One `estate` process.
struct Process {
    name: &'static str,
    child: tokio::process::Child,
    metrics: SocketAddr,
}

impl Process {
    fn spawn(name: &'static str, args: &[&str], env: &[(&str, String)], otlp: SocketAddr) -> Self {
        let metrics = free_port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_estate"));
        command
            .args(args)
            .env("ESTATE_LOG_FORMAT", "json")
            .env("ESTATE_METRICS_LISTEN", metrics.to_string())
            .env("ESTATE_INTERNAL_TOKEN_SECRET", "observability-test-secret")
            .env("ESTATE_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY)
            .env("ESTATE_SHUTDOWN_GRACE_S", "2")
            .env("ESTATE_SYNC_SCHEDULE", "off")
            .env("ESTATE_COMPLIANCE_SCHEDULE", "off")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_RESOURCE_ATTRIBUTES")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        Self {
            name,
            child: command.spawn().unwrap(),
            metrics,
        }
    }

    async fn scrape(&self) -> Scrape {
        let address = self.metrics;
        let text = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            text
        })
        .await
        .unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{}: {text}", self.name);
        Scrape::parse(&text)
    }

    /// Stops the process as Kubernetes does (SIGTERM) and returns its
    /// stdout and stderr.
    async fn stop(mut self) -> (String, String) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop", self.name))
            .unwrap();
        let (mut stdout, mut stderr) = (String::new(), String::new());
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .await
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        (stdout, stderr)
    }
}

/// Samples of a Prometheus text page: (name, labels) → value.
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    fn parse(page: &str) -> Self {
        let body = page.split("\r\n\r\n").nth(1).unwrap_or_default();
        let mut samples = Vec::new();
        for line in body.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap();
                    (key.to_string(), value.trim_matches('"').to_string())
                })
                .collect();
            samples.push((name.to_string(), labels, value.parse().unwrap()));
        }
        Self(samples)
    }

    /// The sum over series of `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(series, found, _)| {
                series == name
                    && labels
                        .iter()
                        .all(|(key, value)| found.get(*key).map(String::as_str) == Some(*value))
            })
            .map(|(_, _, value)| value)
            .sum()
    }

    fn names(&self) -> std::collections::BTreeSet<&str> {
        self.0.iter().map(|(name, _, _)| name.as_str()).collect()
    }
}

fn with_key<T>(message: T, key: &str, traceparent: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    if let Some(traceparent) = traceparent {
        request
            .metadata_mut()
            .insert("traceparent", traceparent.parse().unwrap());
    }
    request
}

/// A channel to the gateway once it answers authenticated calls.
async fn gateway(address: SocketAddr) -> Channel {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    let mut client = OrganizationsServiceClient::new(channel.clone());
    for _ in 0..300 {
        let probe = client
            .get_organization(with_key(
                GetOrganizationRequest {
                    name: "organizations/00000000-0000-0000-0000-000000000000".into(),
                },
                ADMIN_KEY,
                None,
            ))
            .await;
        if matches!(&probe, Err(status) if status.code() == tonic::Code::NotFound) {
            return channel;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the platform did not come up");
}

const TRACE_OK: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_REFUSED: &str = "5bf92f3577b34da6a3ce929d0e0e4737";

/// The known calls: 2 organizations created, 1 malformed get, 1 call with
/// an unknown key, 1 partners list (traced as TRACE_OK), 1 list on a
/// distributor that does not exist (traced as TRACE_REFUSED).
async fn known_calls(channel: Channel) {
    let mut organizations = OrganizationsServiceClient::new(channel.clone());
    let mut distributor = String::new();
    for name in ["Observed One", "Observed Two"] {
        distributor = organizations
            .create_organization(with_key(
                CreateOrganizationRequest {
                    organization: Some(Organization {
                        kind: OrganizationKind::Distributor.into(),
                        display_name: name.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ADMIN_KEY,
                None,
            ))
            .await
            .unwrap()
            .into_inner()
            .name;
    }
    let malformed = organizations
        .get_organization(with_key(
            GetOrganizationRequest {
                name: "organizations/not-a-uuid".into(),
            },
            ADMIN_KEY,
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument);
    let unknown = organizations
        .get_organization(with_key(
            GetOrganizationRequest {
                name: distributor.clone(),
            },
            UNKNOWN_KEY,
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unauthenticated);

    let mut partners = PartnersServiceClient::new(channel);
    partners
        .list_partners(with_key(
            ListPartnersRequest {
                parent: distributor.replace("organizations/", "distributors/"),
                ..Default::default()
            },
            ADMIN_KEY,
            Some(&format!("00-{TRACE_OK}-00f067aa0ba902b7-01")),
        ))
        .await
        .unwrap();
    let refused = partners
        .list_partners(with_key(
            ListPartnersRequest {
                parent: "distributors/00000000-0000-0000-0000-000000000000".into(),
                ..Default::default()
            },
            ADMIN_KEY,
            Some(&format!("00-{TRACE_REFUSED}-00f067aa0ba902b7-01")),
        ))
        .await
        .unwrap_err();
    assert_ne!(refused.code(), tonic::Code::Ok);
}

fn server_count(scrape: &Scrape, server: &str, method: &str, code: &str) -> f64 {
    scrape.value(
        "rpc_server_call_duration_seconds_count",
        &[
            ("server", server),
            ("rpc_system", "grpc"),
            ("rpc_method", method),
            ("rpc_grpc_status_code", code),
        ],
    )
}

/// Every stdout line parses as JSON; returns them.
fn json_lines(process: &str, stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("{process}: not JSON ({error}): {line}"))
        })
        .collect()
}

/// Spans of `trace`, waiting for the exporters' batches.
async fn trace(receiver: &Receiver, trace: &str, at_least: usize) -> Vec<Span> {
    for _ in 0..100 {
        let spans: Vec<Span> = receiver
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|span| span.trace_id == trace)
            .cloned()
            .collect();
        if spans.len() >= at_least {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|span| span.trace_id == trace)
        .cloned()
        .collect()
}

fn find<'a>(spans: &'a [Span], service: &str, kind: i32, name: &str) -> &'a Span {
    spans
        .iter()
        .find(|span| span.service == service && span.kind == kind && span.name == name)
        .unwrap_or_else(|| panic!("no {kind} span {name} of {service} in {spans:#?}"))
}

/// The trace of a partners list: gateway (server, then client) → billing
/// (server, then client) → customers (Authorize), each under its own
/// service name, parent to child, with the conventions' attributes; and
/// the refused list's client span has status Error.
async fn assert_traces(receiver: &Receiver) {
    let list = "estate.billing.v1.PartnersService/ListPartners";
    let authorize = "estate.internal.v1.IdentityService/Authorize";
    let spans = trace(receiver, TRACE_OK, 5).await;
    let gateway_server = find(&spans, "estate-gateway", 2, list);
    let gateway_client = find(&spans, "estate-gateway", 3, list);
    let billing_server = find(&spans, "estate-billing", 2, list);
    let billing_client = find(&spans, "estate-billing", 3, authorize);
    let customers_server = find(&spans, "estate-customers", 2, authorize);
    assert_eq!(gateway_server.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(gateway_client.parent_span_id, gateway_server.span_id);
    assert_eq!(billing_server.parent_span_id, gateway_client.span_id);
    assert!(
        spans
            .iter()
            .any(|span| span.span_id == billing_client.parent_span_id
                && span.service == "estate-billing"),
        "billing's Authorize call is inside its call: {spans:#?}"
    );
    assert_eq!(customers_server.parent_span_id, billing_client.span_id);
    for span in [gateway_server, billing_server, customers_server] {
        assert_eq!(span.attributes["rpc.system"], "grpc", "{span:?}");
        assert_eq!(span.attributes["rpc.grpc.status_code"], "0", "{span:?}");
        assert_eq!(
            span.status, 0,
            "a served call leaves the status unset: {span:?}"
        );
    }
    assert_eq!(
        billing_server.attributes["rpc.service"],
        "estate.billing.v1.PartnersService"
    );
    assert_eq!(billing_server.attributes["rpc.method"], "ListPartners");

    let refused = trace(receiver, TRACE_REFUSED, 3).await;
    let client = find(&refused, "estate-gateway", 3, list);
    assert_eq!(
        client.status, 2,
        "a refused call is an Error on the client: {client:?}"
    );
    assert_ne!(client.attributes["rpc.grpc.status_code"], "0");
    let server = find(&refused, "estate-billing", 2, list);
    let code: i32 = server.attributes["rpc.grpc.status_code"].parse().unwrap();
    assert_eq!(
        server.status == 2,
        matches!(code, 2 | 4 | 12 | 13 | 14 | 15),
        "servers mark Error only for server faults: {server:?}"
    );
}

#[tokio::test]
async fn each_process_exports_metrics_traces_and_json_logs() {
    let database = TestDatabase::create().await.unwrap();
    let (receiver, otlp) = receiver().await;
    let [gateway_at, customers_at, licensing_at, billing_at] =
        [free_port(), free_port(), free_port(), free_port()];
    let urls = [
        ("ESTATE_CUSTOMERS_URL", format!("http://{customers_at}")),
        ("ESTATE_LICENSING_URL", format!("http://{licensing_at}")),
        ("ESTATE_BILLING_URL", format!("http://{billing_at}")),
        ("DATABASE_URL", database.url.clone()),
    ];
    let spawn = |name: &'static str, listen: SocketAddr| {
        let listen = listen.to_string();
        Process::spawn(name, &[name, "--listen", &listen], &urls, otlp)
    };
    let customers = spawn("customers", customers_at);
    let licensing = spawn("licensing", licensing_at);
    let billing = spawn("billing", billing_at);
    let gateway_process = spawn("gateway", gateway_at);
    let channel = gateway(gateway_at).await;
    // The readiness probe's calls are counted too: measure from here.
    let before_gateway = gateway_process.scrape().await;
    let before_customers = customers.scrape().await;
    known_calls(channel).await;

    let gateway_after = gateway_process.scrape().await;
    let customers_after = customers.scrape().await;
    let billing_after = billing.scrape().await;
    for scrape in [&gateway_after, &customers_after, &billing_after] {
        assert_exports_only_catalogued_metrics(scrape);
    }
    let delta = |before: &Scrape, after: &Scrape, server: &str, method: &str, code: &str| {
        server_count(after, server, method, code) - server_count(before, server, method, code)
    };
    // Creations: counted once by the gateway and once by customers.
    for (before, after, server) in [
        (&before_gateway, &gateway_after, "gateway"),
        (&before_customers, &customers_after, "customers"),
    ] {
        assert_eq!(
            delta(before, after, server, "CreateOrganization", "0"),
            2.0,
            "{server}"
        );
        assert_eq!(
            delta(before, after, server, "GetOrganization", "3"),
            1.0,
            "{server}: INVALID_ARGUMENT"
        );
    }
    // The unknown key stops at the gateway.
    assert_eq!(
        delta(
            &before_gateway,
            &gateway_after,
            "gateway",
            "GetOrganization",
            "16"
        ),
        1.0
    );
    assert_eq!(
        server_count(&customers_after, "customers", "GetOrganization", "16"),
        0.0
    );
    assert!(
        gateway_after.value(
            "estate_gateway_auth_failures_total",
            &[("reason", "unknown_credential")]
        ) >= 1.0
    );
    assert!(
        gateway_after.value(
            "estate_gateway_credential_cache_total",
            &[("result", "miss")]
        ) >= 1.0
    );
    assert_eq!(
        server_count(&billing_after, "billing", "ListPartners", "0"),
        1.0
    );
    assert_eq!(
        gateway_after.value(
            "rpc_client_call_duration_seconds_count",
            &[
                ("peer", "billing"),
                ("rpc_method", "ListPartners"),
                ("rpc_grpc_status_code", "0")
            ]
        ),
        1.0,
        "the gateway's internal client counts its calls"
    );
    assert!(
        billing_after.value(
            "rpc_client_call_duration_seconds_count",
            &[("peer", "customers"), ("rpc_method", "Authorize")]
        ) >= 2.0
    );
    // Nothing of the known calls in flight once they are answered: each
    // of their series back at 0, on both sides of every call. (Health
    // checks and token probes run in the background and may be in flight
    // at any scrape.)
    for scrape in [&gateway_after, &customers_after, &billing_after] {
        for (name, labels, value) in &scrape.0 {
            let known = ["CreateOrganization", "GetOrganization", "ListPartners"]
                .contains(&labels.get("rpc_method").map_or("", String::as_str));
            if name.ends_with("_active_requests") && known {
                assert_eq!(*value, 0.0, "{name} {labels:?}");
            }
        }
    }
    // Database pools, per service.
    for (scrape, pool) in [(&customers_after, "customers"), (&billing_after, "billing")] {
        assert_eq!(
            scrape.value("db_client_connection_max", &[("pool_name", pool)]),
            16.0,
            "{pool}"
        );
        assert!(
            scrape.value(
                "db_client_connection_wait_time_seconds_count",
                &[("pool_name", pool)]
            ) >= 1.0
        );
    }
    assert_eq!(
        billing_after.value(
            "estate_dependency_up",
            &[("server", "billing"), ("dependency", "database")]
        ),
        1.0
    );

    // Traces: one call, three processes, one trace.
    let mut logs = Vec::new();
    for process in [gateway_process, billing, licensing, customers] {
        let name = process.name;
        let (stdout, stderr) = process.stop().await;
        logs.push((name, json_lines(name, &stdout), stderr));
    }
    assert_traces(&receiver).await;

    // Logs: every line JSON (checked above), one access-log line per
    // call, carrying the call's trace id and who it acted for.
    let (_, gateway_lines, _) = &logs[0];
    let access = gateway_lines
        .iter()
        .find(|line| line["target"] == "estate::access" && line["trace_id"] == TRACE_OK)
        .unwrap_or_else(|| panic!("no access log line of the traced call: {gateway_lines:#?}"));
    assert_eq!(
        access["method"],
        "estate.billing.v1.PartnersService/ListPartners"
    );
    assert_eq!(access["status"], "OK");
    assert!(access["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(!access["caller"].as_str().unwrap().is_empty());
    // No credential in any process's output (customers resolves the raw
    // key; the unknown one was refused).
    for (name, lines, stderr) in &logs {
        for secret in [ADMIN_KEY, UNKNOWN_KEY] {
            assert!(
                !stderr.contains(secret)
                    && !lines.iter().any(|line| line.to_string().contains(secret)),
                "a key leaked into {name}'s logs"
            );
        }
    }
    let (_, billing_lines, _) = &logs[1];
    assert!(
        billing_lines
            .iter()
            .any(|line| line["target"] == "estate::access" && line["trace_id"] == TRACE_OK),
        "billing logs the call under the same trace"
    );
}

/// `estate all` on a fresh database with `env`, exporting to a receiver,
/// once its gateway answers.
async fn spawn_all(env: &[(&str, &str)]) -> (Process, Channel, Receiver, TestDatabase) {
    let database = TestDatabase::create().await.unwrap();
    let (receiver, otlp) = receiver().await;
    let gateway_at = free_port();
    let listen = gateway_at.to_string();
    let mut variables = vec![("DATABASE_URL", database.url.clone())];
    variables.extend(env.iter().map(|(name, value)| (*name, value.to_string())));
    let all = Process::spawn(
        "all",
        &[
            "all",
            "--gateway-listen",
            &listen,
            "--customers-listen",
            "127.0.0.1:0",
            "--licensing-listen",
            "127.0.0.1:0",
            "--billing-listen",
            "127.0.0.1:0",
        ],
        &variables,
        otlp,
    );
    let channel = gateway(gateway_at).await;
    (all, channel, receiver, database)
}

/// `estate all`: one process, yet each service's spans report under its
/// own name, and the dashboards' metrics are there, scraped and pushed.
#[tokio::test]
async fn the_whole_platform_in_one_process_reports_each_service_by_name() {
    // Calls without a caller's decision are not sampled; the traced
    // calls carry `traceparent` flag 01, which decides.
    let (all, channel, receiver, _database) = spawn_all(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ("OTEL_METRICS_EXPORTER", "otlp,prometheus"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
    ])
    .await;
    known_calls(channel).await;
    let scrape = all.scrape().await;
    assert_eq!(server_count(&scrape, "billing", "ListPartners", "0"), 1.0);
    assert_eq!(server_count(&scrape, "gateway", "ListPartners", "0"), 1.0);
    assert_exports_only_catalogued_metrics(&scrape);
    let (stdout, _) = all.stop().await;
    let lines = json_lines("all", &stdout);
    assert_traces(&receiver).await;
    assert_pushed_metrics(&receiver, &scrape);

    // An unsampled call still has a trace id in its log lines (the same
    // at the gateway and at customers), and no span of it is exported.
    let created: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| {
            line["target"] == "estate::access"
                && line["method"] == "estate.customers.v1.OrganizationsService/CreateOrganization"
        })
        .collect();
    assert_eq!(
        created.len(),
        4,
        "two calls, each at the gateway and at customers"
    );
    let trace_id = created[0]["trace_id"]
        .as_str()
        .expect("a trace id")
        .to_string();
    assert_eq!(
        created
            .iter()
            .filter(|line| line["trace_id"] == trace_id.as_str())
            .count(),
        2,
        "the gateway passes the unsampled trace on"
    );
    assert!(
        !receiver
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|span| span.trace_id == trace_id),
        "an unsampled call exported spans"
    );
}

/// The metrics pushed over OTLP (the last, cumulative export, sent at
/// shutdown) are the scraped ones under OpenTelemetry's names.
fn assert_pushed_metrics(receiver: &Receiver, scrape: &Scrape) {
    let points = receiver.1.lock().unwrap().clone();
    assert!(!points.is_empty(), "no metrics were pushed");
    assert!(points.iter().all(|point| point.service == "estate"));
    // The largest value of a cumulative series is its last.
    let pushed = |name: &str, attributes: &[(&str, &str)]| {
        points
            .iter()
            .filter(|point| {
                point.name == name
                    && attributes.iter().all(|(key, value)| {
                        point.attributes.get(*key).map(String::as_str) == Some(*value)
                    })
            })
            .fold(None, |most: Option<f64>, point| {
                Some(most.map_or(point.value, |most| most.max(point.value)))
            })
    };
    for (server, method, code) in [
        ("billing", "ListPartners", "0"),
        ("gateway", "ListPartners", "0"),
        ("gateway", "GetOrganization", "16"),
    ] {
        let attributes = [
            ("server", server),
            ("rpc.system", "grpc"),
            ("rpc.method", method),
            ("rpc.grpc.status_code", code),
        ];
        assert_eq!(
            pushed("rpc.server.call.duration", &attributes),
            Some(server_count(scrape, server, method, code)),
            "{server} {method} {code}"
        );
    }
    let duration = points
        .iter()
        .find(|point| point.name == "rpc.server.call.duration")
        .unwrap();
    assert_eq!(duration.unit, "s");
    assert!(pushed("db.client.connection.max", &[]).is_some_and(|max| max > 0.0));
    assert!(pushed("estate.gateway.credential.cache", &[]).is_some());
    for point in &points {
        let mut prometheus = point.name.replace('.', "_");
        if point.unit == "s" {
            prometheus.push_str("_seconds");
        }
        let catalogued = |name: &str| {
            estate_telemetry::metrics::CATALOG
                .iter()
                .any(|(catalogued, _, _)| *catalogued == name)
        };
        assert!(
            catalogued(&prometheus) || catalogued(&format!("{prometheus}_total")),
            "{} is not catalogued",
            point.name
        );
    }
}

/// Under a sampler that decides for itself (`traceidratio`, what the
/// production gateway runs), an outside caller's sampled flag decides
/// nothing: with a ratio of 0 its call exports no span, yet its trace id
/// is kept in the call's log lines at every service it reaches.
#[tokio::test]
async fn an_outside_callers_sampled_flag_does_not_force_a_trace() {
    let (all, channel, receiver, _database) = spawn_all(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ])
    .await;
    let trace_id = "5bf92f3577b34da6a3ce929d0e0e4737";
    let mut organizations = OrganizationsServiceClient::new(channel);
    organizations
        .create_organization(with_key(
            CreateOrganizationRequest {
                organization: Some(Organization {
                    kind: OrganizationKind::Distributor.into(),
                    display_name: "Forced Trace".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ADMIN_KEY,
            Some(&format!("00-{trace_id}-00f067aa0ba902b7-01")),
        ))
        .await
        .unwrap();
    let (stdout, _) = all.stop().await;
    let lines = json_lines("all", &stdout);
    let logged = lines
        .iter()
        .filter(|line| {
            line["target"] == "estate::access"
                && line["method"] == "estate.customers.v1.OrganizationsService/CreateOrganization"
                && line["trace_id"] == trace_id
        })
        .count();
    assert_eq!(
        logged, 2,
        "the caller's trace id, at the gateway and at customers"
    );
    assert!(
        !receiver
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|span| span.trace_id == trace_id),
        "the caller's flag forced a trace"
    );
}

/// A scanner's paths, even under a real service, do not become metric
/// series.
#[tokio::test]
async fn unknown_paths_are_counted_as_unknown() {
    let (all, channel, _receiver, _database) = spawn_all(&[]).await;
    for path in [
        "/no.such.Service/Probe",
        "/another.Scan/Path",
        // A service the gateway serves, a method it does not have.
        "/estate.customers.v1.OrganizationsService/ScanProbe",
    ] {
        let mut client = tonic::client::Grpc::new(channel.clone());
        client.ready().await.unwrap();
        let answer: Result<tonic::Response<()>, _> = client
            .unary(
                with_key((), ADMIN_KEY, None),
                path.parse().unwrap(),
                tonic_prost::ProstCodec::<(), ()>::default(),
            )
            .await;
        assert_eq!(answer.unwrap_err().code(), tonic::Code::Unimplemented);
    }
    let scrape = all.scrape().await;
    assert_eq!(
        scrape.value(
            "rpc_server_call_duration_seconds_count",
            &[("server", "gateway"), ("rpc_service", "unknown")]
        ),
        3.0
    );
    assert!(
        !scrape.0.iter().any(|(_, labels, _)| labels
            .values()
            .any(|value| value.contains("Scan") || value.contains("no.such"))),
        "a caller's path became a label"
    );
    all.stop().await;
}

/// Nothing is exported outside the catalog the dashboards are checked
/// against (`estate_telemetry::metrics::CATALOG`).
fn assert_exports_only_catalogued_metrics(scrape: &Scrape) {
    use estate_telemetry::metrics::{CATALOG, base_name};
    for name in scrape.names() {
        assert!(
            CATALOG
                .iter()
                .any(|(known, _, _)| *known == base_name(name)),
            "{name} is exported but not in the catalog"
        );
    }
}
