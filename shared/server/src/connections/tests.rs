use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Server;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A server with only health checking, on `limits`; its address.
async fn server(limits: ConnectionLimits) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming(listener, limits)),
    );
    address
}

/// Reads until the server closes the connection; what it sent, or `None`
/// when it did not close within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    tokio::time::timeout(within, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await
    .ok()
    .map(|()| received)
}

async fn healthy(address: std::net::SocketAddr) -> bool {
    let Ok(channel) = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok()
}

/// Opens `count` connections that send the preface and stay, asserts the
/// next one is refused with the reason, and returns the ones held.
async fn fill_then_refuse(address: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(PREFACE).await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = TcpStream::connect(address).await.unwrap();
    let sent = closed_within(&mut refused, Duration::from_secs(3))
        .await
        .expect("the connection over the cap is closed");
    assert!(
        sent.windows(20)
            .any(|window| window == b"too many connections"),
        "{sent:?}"
    );
    held
}

fn limits(max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        max_connections,
        max_connections_per_peer: 0,
        handshake_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(800),
        max_calls_per_connection: 512,
    }
}

async fn channel(address: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A connection with its most calls in flight has the next one refused
/// with UNAVAILABLE, and the metrics outside the limit count it; another
/// connection's calls pass meanwhile, and an ended call frees its place.
#[tokio::test]
async fn a_call_over_its_connections_limit_is_refused_and_counted_and_others_pass() {
    let recorder = estate_telemetry::metrics::builder()
        .unwrap()
        .build_recorder();
    let scrape = recorder.handle();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    // Every call admitted is counted, then waits here until the test
    // opens the gate.
    let gate = Arc::new(Semaphore::new(0));
    let admitted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (held, counted) = (gate.clone(), admitted.clone());
    let hold = tower::util::MapFutureLayer::new(move |call| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let gate = held.clone();
        async move {
            let _open = gate.acquire().await;
            call.await
        }
    });
    let admitted_reach = |count: usize| {
        let admitted = admitted.clone();
        async move {
            let reached = tokio::time::timeout(Duration::from_secs(5), async {
                while admitted.load(std::sync::atomic::Ordering::SeqCst) < count {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            assert!(
                reached.await.is_ok(),
                "{count} calls never reached the gate"
            );
        }
    };
    // Fails instead of waiting forever at a gate that stays shut.
    let within = |what: &'static str, call: tokio::task::JoinHandle<_>| async move {
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .unwrap_or_else(|_| panic!("{what} never ended"))
            .unwrap()
    };
    tokio::spawn(
        Server::builder()
            .layer(crate::ObserveLayer::new("test", &[]))
            .layer(CallsPerConnectionLayer)
            .layer(hold)
            .add_service(health)
            .serve_with_incoming(incoming(
                listener,
                ConnectionLimits {
                    max_calls_per_connection: 1,
                    ..limits(16)
                },
            )),
    );
    let check = |channel: &tonic::transport::Channel| {
        let mut client = HealthClient::new(channel.clone());
        tokio::spawn(async move { client.check(HealthCheckRequest::default()).await })
    };
    let (first, second) = (channel(address).await, channel(address).await);
    let held_call = check(&first);
    admitted_reach(1).await;
    let refused = within("the refused call", check(&first)).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("1 calls in flight"),
        "{refused:?}"
    );
    // Another connection's call is admitted (it reaches the gate).
    let elsewhere = check(&second);
    admitted_reach(2).await;
    gate.add_permits(16);
    within("the held call", held_call).await.unwrap();
    within("the other connection's call", elsewhere)
        .await
        .unwrap();
    within("a call after the place was freed", check(&first))
        .await
        .unwrap();

    let text = scrape.render();
    let count = |code: &str| -> f64 {
        text.lines()
            .filter(|line| {
                line.starts_with("rpc_server_call_duration_seconds_count{")
                    && line.contains(&format!("rpc_grpc_status_code=\"{code}\""))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(count("8"), 1.0, "{text}");
    assert_eq!(count("0"), 3.0, "{text}");
}

#[tokio::test]
async fn a_connection_that_never_speaks_or_stops_inside_the_preface_is_closed() {
    let address = server(limits(16)).await;
    let mut silent = TcpStream::connect(address).await.unwrap();
    let mut partial = TcpStream::connect(address).await.unwrap();
    partial.write_all(&PREFACE[..16]).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(3))
            .await
            .is_some()
    );
    assert!(
        closed_within(&mut partial, Duration::from_secs(3))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_connection_that_goes_silent_after_the_preface_is_closed_once_idle() {
    let address = server(limits(16)).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    // Past the handshake timeout it is still open (it spoke)…
    let started = Instant::now();
    let closed = closed_within(&mut stream, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "never closed");
    // …and closed by the idle timeout, not the handshake's.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_speaks_is_served_past_the_handshake_timeout() {
    let address = server(limits(16)).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    for _ in 0..3 {
        client.check(HealthCheckRequest::default()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Over the process's cap, and over one address's share: the next
/// connection is refused with the reason, and a freed place is taken again.
#[tokio::test]
async fn one_connection_over_a_cap_is_refused_with_a_reason_and_a_freed_slot_is_reused() {
    for (max_connections, max_connections_per_peer) in [(2, 0), (16, 2)] {
        let address = server(ConnectionLimits {
            max_connections_per_peer,
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(30),
            ..limits(max_connections)
        })
        .await;
        let mut held = fill_then_refuse(address, 2).await;
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(healthy(address).await);
    }
}

#[tokio::test]
async fn a_stream_silent_both_ways_is_closed_past_the_idle_timeout() {
    let address = server(ConnectionLimits {
        idle_timeout: Duration::from_millis(400),
        ..limits(16)
    })
    .await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let mut watch = client
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    // One status now; the stream then stays open, silent both ways
    // (HTTP/2 pings come only every 30 s): past the idle timeout it is
    // closed, which the client sees as the stream ending in an error.
    watch.message().await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(3), watch.message()).await;
    assert!(ended.is_ok(), "a connection idle both ways is closed");
}

#[tokio::test]
async fn a_response_still_being_written_keeps_its_connection_past_the_idle_timeout() {
    // The server writes for three idle timeouts while the client sends
    // nothing, as a response streamed over HTTP/1 (no pings) does.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut accepted = incoming(
        listener,
        ConnectionLimits {
            idle_timeout: Duration::from_millis(300),
            ..limits(16)
        },
    );
    let mut client = TcpStream::connect(address).await.unwrap();
    client.write_all(PREFACE).await.unwrap();
    let mut server = futures::StreamExt::next(&mut accepted)
        .await
        .unwrap()
        .unwrap();
    let writer = tokio::spawn(async move {
        let mut buffer = [0u8; 64];
        let _ = server.read(&mut buffer).await; // the preface
        for _ in 0..9 {
            tokio::select! {
                read = server.read(&mut buffer) => return Err(format!("read ended: {read:?}")),
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            server
                .write_all(b"chunk")
                .await
                .map_err(|error| error.to_string())?;
        }
        Ok::<_, String>(())
    });
    let mut received = Vec::new();
    let mut buffer = [0u8; 64];
    while received.len() < 45 {
        let read = client.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed early");
        received.extend_from_slice(&buffer[..read]);
    }
    writer.await.unwrap().unwrap();
}
