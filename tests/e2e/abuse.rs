//! The standing abuse suite: one tenant misbehaves (streams that stall,
//! oversized fields, malformed bytes, silent connections) while another
//! works, and the second tenant's calls must keep succeeding. Each case
//! also checks what the misbehaving caller is told.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use estate_e2e::{Options, Platform, with_key};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::customer_overview_service_client::CustomerOverviewServiceClient;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{
    CreateOrganizationRequest, GetOrganizationRequest, ListCustomerOverviewsRequest, Organization,
    OverviewFilter, UpdateOrganizationRequest,
};
use estate_proto::licensing::{IngestInventoryRequest, ListComputersRequest};
use estate_proto::time::to_timestamp;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use crate::assert_code;
use crate::estate::{Estate, computer};

/// A customer with a key of its own (its own tenant and caller).
pub(crate) async fn tenant(platform: &Platform, name: &str) -> Estate {
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, &format!("{name} dist"))
        .await
        .unwrap();
    let organization = platform
        .create_organization(&distributor.name, OrganizationKind::Customer, name)
        .await
        .unwrap();
    let key = platform
        .create_api_key(&organization.name, &["admin"])
        .await
        .unwrap();
    let channel = platform.gateway_channel().await.unwrap();
    Estate::new(channel, &key, &organization.name)
}

/// Calls `victim` over and over until the returned handle is stopped;
/// then the number of calls and every failure.
struct Victim {
    stop: CancellationToken,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<Status>>,
}

impl Victim {
    fn start<F, Fut>(victim: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send,
    {
        let stop = CancellationToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let stop = stop.clone();
            let calls = calls.clone();
            async move {
                let mut failures = Vec::new();
                while !stop.is_cancelled() {
                    let call = tokio::time::timeout(Duration::from_secs(5), victim()).await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    match call {
                        Ok(Ok(())) => {}
                        Ok(Err(status)) => failures.push(status),
                        Err(_) => failures.push(Status::deadline_exceeded("victim call hung")),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                failures
            }
        });
        Self { stop, calls, task }
    }

    /// Lets a few more calls run, stops, and asserts that every call
    /// succeeded.
    async fn assert_unharmed(self) {
        let enough = self.calls.load(Ordering::Relaxed) + 3;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.calls.load(Ordering::Relaxed) < enough && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop.cancel();
        let failures = self.task.await.unwrap();
        let calls = self.calls.load(Ordering::Relaxed);
        assert!(calls >= 3, "the victim made only {calls} calls");
        assert!(
            failures.is_empty(),
            "{} of {calls} victim calls failed: {failures:?}",
            failures.len()
        );
    }
}

/// Lists the victim's computers (a licensing call with a database read).
fn list_computers(
    estate: &Estate,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), Status>> + Send>> + Send + 'static
{
    let estate = estate.clone();
    move || {
        let estate = estate.clone();
        Box::pin(async move {
            estate
                .inventory()
                .list_computers(estate.request(ListComputersRequest {
                    parent: estate.customer.clone(),
                    ..Default::default()
                }))
                .await
                .map(|_| ())
        })
    }
}

/// An upload's first message, with one computer.
fn first_message(estate: &Estate, upload_id: &str) -> IngestInventoryRequest {
    IngestInventoryRequest {
        parent: estate.customer.clone(),
        upload_id: upload_id.into(),
        scan_time: Some(to_timestamp(estate_e2e::pinned_now())),
        records: vec![computer("pc-1", 1)],
    }
}

/// Starts an upload that sends its first message and then nothing; the
/// call's result, and the sender that keeps the stream open.
fn stalled_upload(
    estate: &Estate,
    upload_id: &str,
) -> (
    tokio::task::JoinHandle<Result<(), Status>>,
    tokio::sync::mpsc::Sender<IngestInventoryRequest>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    sender.try_send(first_message(estate, upload_id)).unwrap();
    let estate = estate.clone();
    let call = tokio::spawn(async move {
        estate
            .inventory()
            .ingest_inventory(estate.request(tokio_stream::wrappers::ReceiverStream::new(receiver)))
            .await
            .map(|_| ())
    });
    (call, sender)
}

fn upload_limits() -> estate_licensing::IngestLimits {
    estate_licensing::IngestLimits {
        message_timeout: Duration::from_secs(2),
        upload_timeout: Duration::from_secs(20),
        max_uploads: 64,
        max_uploads_per_customer: 64,
        max_uploads_per_caller: 64,
        ..Default::default()
    }
}

#[tokio::test]
async fn stalled_uploads_hold_no_connection_and_end_at_their_deadline() {
    // Twice as many stalled uploads as the licensing pool has connections.
    let platform = Platform::spawn_with(Options {
        backend_database_pool_size: 4,
        ingest: upload_limits(),
        ..Options::default()
    })
    .await
    .unwrap();
    let attacker = tenant(&platform, "Attacker").await;
    let victim = tenant(&platform, "Victim").await;
    let victim_calls = Victim::start(list_computers(&victim));
    let stalled: Vec<_> = (0..8)
        .map(|index| stalled_upload(&attacker, &format!("stalled-{index}")))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    victim_calls.assert_unharmed().await;
    for (call, sender) in stalled {
        let status = call.await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        assert!(
            status.message().contains("nothing was stored"),
            "{status:?}"
        );
        drop(sender);
    }
    // Nothing of the abandoned uploads was stored.
    assert!(attacker.computers(Default::default()).await.is_empty());
}

#[tokio::test]
async fn uploads_are_capped_per_customer_and_per_caller_with_resource_exhausted() {
    let platform = Platform::spawn_with(Options {
        ingest: estate_licensing::IngestLimits {
            max_uploads_per_customer: 1,
            max_uploads_per_caller: 2,
            ..upload_limits()
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let first = tenant(&platform, "First").await;
    let other = tenant(&platform, "Other").await;
    let (held, _keep_open) = stalled_upload(&first, "held");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (refused, _sender) = stalled_upload(&first, "second");
    let status = refused.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains(&first.customer), "{status:?}");
    // Another tenant's upload goes through meanwhile.
    other
        .upload("other-1", vec![vec![computer("pc-9", 2)]])
        .await
        .unwrap();
    drop(_keep_open);
    let _ = held.await;
}

#[tokio::test]
async fn long_values_and_long_lists_are_refused_by_their_size_while_others_are_served() {
    let platform = Platform::spawn().await.unwrap();
    let attacker = tenant(&platform, "Attacker").await;
    let victim = tenant(&platform, "Victim").await;
    let victim_calls = Victim::start(list_computers(&victim));
    let mut organizations = OrganizationsServiceClient::new(attacker.channel.clone());
    let mut overviews = CustomerOverviewServiceClient::new(attacker.channel.clone());
    let organization = attacker
        .customer
        .replacen("customers/", "organizations/", 1);
    for attempt in 0..3 {
        for name_length in [16_500, 3_900_000] {
            let status = organizations
                .create_organization(with_key(
                    CreateOrganizationRequest {
                        parent: organization.clone(),
                        organization: Some(Organization {
                            kind: OrganizationKind::Customer.into(),
                            display_name: "n".repeat(name_length),
                            ..Default::default()
                        }),
                        request_id: format!("long-{attempt}-{name_length}"),
                        initial_owner: None,
                    },
                    &attacker.key,
                ))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().len() < 1024, "{}", status.message().len());
            assert!(
                status.message().contains("organization.display_name"),
                "{status:?}"
            );
        }
        let status = overviews
            .list_customer_overviews(with_key(
                ListCustomerOverviewsRequest {
                    parent: organization.clone(),
                    filter: Some(OverviewFilter {
                        statuses: vec![1; 10_000],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &attacker.key,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("10,000 elements"), "{status:?}");
        let status = organizations
            .update_organization(with_key(
                UpdateOrganizationRequest {
                    organization: Some(Organization {
                        name: organization.clone(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: (0..10_000).map(|index| format!("path_{index}")).collect(),
                    }),
                },
                &attacker.key,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().len() < 1024, "{}", status.message().len());
    }
    victim_calls.assert_unharmed().await;
}

#[tokio::test]
async fn a_nul_character_anywhere_is_invalid_argument_naming_the_field() {
    let platform = Platform::spawn().await.unwrap();
    let estate = tenant(&platform, "Contoso").await;
    let organization = estate.customer.replacen("customers/", "organizations/", 1);
    let mut organizations = OrganizationsServiceClient::new(estate.channel.clone());
    let create = |display_name: &str, request_id: &str| CreateOrganizationRequest {
        parent: organization.clone(),
        organization: Some(Organization {
            kind: OrganizationKind::Customer.into(),
            display_name: display_name.into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
        initial_owner: estate_e2e::initial_owner(&organization, "Sub"),
    };
    for (request, field) in [
        (create("a\0b", ""), "organization.display_name"),
        (create("Sub", "r\0x"), "request_id"),
    ] {
        let status = assert_code(
            organizations
                .create_organization(estate.request(request))
                .await,
            Code::InvalidArgument,
        );
        assert!(status.message().starts_with(field), "{status:?}");
    }
    let status = assert_code(
        organizations
            .get_organization(estate.request(GetOrganizationRequest {
                name: format!("{organization}\0"),
            }))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().starts_with("name"), "{status:?}");
    let upload = estate
        .upload("upload\0id", vec![vec![computer("pc-1", 1)]])
        .await
        .unwrap_err();
    assert_eq!(upload.code(), Code::InvalidArgument, "{upload:?}");
    assert!(upload.message().starts_with("upload_id"), "{upload:?}");
    let application = estate
        .catalog()
        .create_application(
            estate.request(estate_proto::licensing::CreateApplicationRequest {
                parent: estate.customer.clone(),
                application: Some(estate_proto::licensing::Application {
                    display_name: "Word\0".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(application.code(), Code::InvalidArgument, "{application:?}");
    assert!(
        application
            .message()
            .starts_with("application.display_name"),
        "{application:?}"
    );
}

/// Sends `bytes` as the request message of `path` through the gateway.
async fn raw_call(estate: &Estate, path: &'static str, bytes: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut client = tonic::client::Grpc::new(estate.channel.clone());
    client
        .ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    client
        .unary(
            estate.request(bytes),
            http::uri::PathAndQuery::from_static(path),
            RawCodec,
        )
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn bytes_that_are_not_the_message_get_invalid_argument_and_oversize_resource_exhausted() {
    let platform = Platform::spawn().await.unwrap();
    let estate = tenant(&platform, "Contoso").await;
    const GET: &str = "/estate.customers.v1.OrganizationsService/GetOrganization";
    // A field that ends inside its length.
    let status = raw_call(&estate, GET, vec![0x0a, 0x20, b'o'])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // `name` that is not UTF-8.
    let status = raw_call(&estate, GET, vec![0x0a, 0x02, 0xc3, 0x28])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("UTF-8"), "{status:?}");
    // Over the 4 MiB a call message may have.
    let mut huge = vec![0x0a];
    let length = 5 * 1024 * 1024;
    let mut value = length as u64;
    while value >= 0x80 {
        huge.push((value as u8) | 0x80);
        value >>= 7;
    }
    huge.push(value as u8);
    huge.resize(huge.len() + length, b'a');
    let status = raw_call(&estate, GET, huge).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

#[tokio::test]
async fn silent_connections_are_closed_and_capped_while_open_channels_keep_working() {
    let platform = Platform::spawn_with(Options {
        server: estate_server::ServerOptions {
            connections: estate_server::ConnectionLimits {
                max_connections: 24,
                max_connections_per_peer: 0,
                handshake_timeout: Duration::from_millis(500),
                idle_timeout: Duration::from_secs(60),
                ..estate_server::ConnectionLimits::default()
            },
            ..estate_e2e::test_server_options()
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let victim = tenant(&platform, "Victim").await;
    let victim_calls = Victim::start(list_computers(&victim));
    // More silent sockets than the gateway takes; none sends a byte.
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(
            tokio::net::TcpStream::connect(platform.gateway.address)
                .await
                .unwrap(),
        );
    }
    // Each is closed: refused at once over the cap, else at the handshake
    // timeout.
    for stream in &mut silent {
        let mut buffer = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a silent connection stayed open");
    }
    victim_calls.assert_unharmed().await;
    // New connections are taken again.
    let fresh = platform.gateway_channel().await.unwrap();
    let fresh = Estate::new(
        fresh,
        &victim.key,
        &victim.customer.replacen("customers/", "organizations/", 1),
    );
    list_computers(&fresh)().await.unwrap();
}

/// Request and response messages as raw bytes.
#[derive(Debug, Clone, Copy)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buffer: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use bytes::BufMut;
        buffer.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(
        &mut self,
        buffer: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, Status> {
        use bytes::Buf;
        let mut bytes = vec![0; buffer.remaining()];
        buffer.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// Replaces the sort value a sorted page token carries (after its 8-byte
/// fingerprint and 16-byte id) with `value`.
fn tampered(token: &str, value: &[u8]) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = engine.decode(token).unwrap();
    bytes.truncate(24);
    bytes.extend_from_slice(value);
    engine.encode(bytes)
}

#[tokio::test]
async fn a_tampered_page_token_or_one_from_another_customer_is_invalid_argument() {
    use estate_proto::licensing::{
        ListApplicationsRequest, ListFamiliesRequest, ListOrgNodesRequest,
    };

    let platform = Platform::spawn().await.unwrap();
    let estate = tenant(&platform, "Contoso").await;
    let other = tenant(&platform, "Fabrikam").await;
    for (family, version) in [("Word", "1"), ("Excel", "2"), ("Visio", "3")] {
        estate.application(family, version).await;
        other.application(family, version).await;
    }
    let root = estate.root().await;
    estate.node(&root, "Sales", true).await;
    estate.node(&root, "Support", true).await;

    let applications = |estate: &Estate, order_by: &str, page_token: String| {
        let estate = estate.clone();
        let order_by = order_by.to_string();
        async move {
            estate
                .catalog()
                .list_applications(estate.request(ListApplicationsRequest {
                    parent: estate.customer.clone(),
                    page_size: 1,
                    page_token,
                    order_by,
                    ..Default::default()
                }))
                .await
                .map(|response| response.into_inner().next_page_token)
        }
    };
    for order_by in ["", "update_time desc", "display_name"] {
        let token = applications(&estate, order_by, String::new())
            .await
            .unwrap();
        assert!(!token.is_empty());
        applications(&estate, order_by, token.clone())
            .await
            .unwrap();
        for value in [&b"not a value"[..], b"a\0b", b"\xff\xfe"] {
            let status = applications(&estate, order_by, tampered(&token, value)).await;
            if order_by == "display_name" && value == b"not a value" {
                // Any text is a name.
                status.unwrap();
                continue;
            }
            let status = status.unwrap_err();
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{order_by} {value:?}: {status:?}"
            );
            assert!(status.message().starts_with("page_token"), "{status:?}");
        }
        // A token of one customer's list is not accepted on another's.
        let status = applications(&other, order_by, token).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
    let nodes = |page_token: String| {
        let estate = estate.clone();
        async move {
            estate
                .nodes()
                .list_org_nodes(estate.request(ListOrgNodesRequest {
                    parent: estate.customer.clone(),
                    page_size: 1,
                    page_token,
                    order_by: "depth".into(),
                    ..Default::default()
                }))
                .await
                .map(|response| response.into_inner().next_page_token)
        }
    };
    let token = nodes(String::new()).await.unwrap();
    let status = nodes(tampered(&token, b"deep")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let families = |page_token: String| {
        let estate = estate.clone();
        async move {
            estate
                .catalog()
                .list_families(estate.request(ListFamiliesRequest {
                    parent: estate.customer.clone(),
                    page_size: 1,
                    page_token,
                    order_by: String::new(),
                }))
                .await
                .map(|response| response.into_inner().next_page_token)
        }
    };
    let token = families(String::new()).await.unwrap();
    let status = families(tampered(&token, b"x")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

/// Empty dates sort as infinities: a page that ends on one hands out a
/// token that the next call takes (the value check knows them).
#[tokio::test]
async fn a_page_ending_on_an_empty_date_continues() {
    use estate_proto::licensing::agreements_service_client::AgreementsServiceClient;
    use estate_proto::licensing::{
        Agreement, AgreementKind, CreateAgreementRequest, ListAgreementsRequest, Period,
    };

    let platform = Platform::spawn().await.unwrap();
    let estate = tenant(&platform, "Contoso").await;
    let mut agreements = AgreementsServiceClient::new(estate.channel.clone());
    for (name, period) in [
        ("Open A", None),
        ("Open B", None),
        ("Dated", Some("2026-01-01")),
    ] {
        agreements
            .create_agreement(estate.request(CreateAgreementRequest {
                parent: estate.customer.clone(),
                agreement: Some(Agreement {
                    display_name: name.into(),
                    kind: AgreementKind::Software.into(),
                    period: period.map(|start: &str| Period {
                        start_date: start.into(),
                        end_date: "2026-12-31".into(),
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            }))
            .await
            .unwrap();
    }
    for order_by in ["start_date", "end_date desc", "start_date desc"] {
        let mut names = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = agreements
                .list_agreements(estate.request(ListAgreementsRequest {
                    parent: estate.customer.clone(),
                    page_size: 1,
                    page_token,
                    order_by: order_by.into(),
                    ..Default::default()
                }))
                .await
                .unwrap_or_else(|status| panic!("{order_by}: {status:?}"))
                .into_inner();
            names.extend(
                page.agreements
                    .into_iter()
                    .map(|agreement| agreement.display_name),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(names.len(), 3, "{order_by}: {names:?}");
    }
}
