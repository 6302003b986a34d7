//! A TCP relay in front of a server, standing for the network between
//! processes: it counts the calls it carries (the HTTP/2 HEADERS frames
//! clients send, one per call), and it can fail as networks and pods do —
//! stop accepting (the pod's listener closed: connections are refused),
//! or cut every connection and drop new ones until restored (a broken
//! link to a database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Relay {
    pub address: SocketAddr,
    calls: Arc<AtomicU64>,
    /// Set while the relay drops what it accepts.
    cut: Arc<AtomicBool>,
    /// Cancelled to cut the connections open now.
    connections: Arc<std::sync::Mutex<CancellationToken>>,
    listening: CancellationToken,
}

impl Relay {
    /// A relay to `target`, listening on a free port of 127.0.0.1.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let relay = Self {
            address: listener.local_addr()?,
            calls: Arc::default(),
            cut: Arc::default(),
            connections: Arc::new(std::sync::Mutex::new(CancellationToken::new())),
            listening: CancellationToken::new(),
        };
        let accepting = relay.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = accepting.listening.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                if accepting.cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let token = accepting.connections.lock().unwrap().clone();
                let calls = accepting.calls.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    tokio::select! {
                        () = token.cancelled() => {}
                        () = pipe(client, server, calls) => {}
                    }
                });
            }
        });
        Ok(relay)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Calls carried so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Closes the listener for good: new connections are refused.
    pub fn stop_accepting(&self) {
        self.listening.cancel();
    }

    /// Cuts every open connection and drops new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut token = self.connections.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

async fn pipe(client: TcpStream, server: TcpStream, calls: Arc<AtomicU64>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut counter = FrameCounter::default();
        let mut buffer = vec![0_u8; 16 * 1024];
        loop {
            let read = client_read.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                let _ = server_write.shutdown().await;
                return;
            }
            calls.fetch_add(counter.feed(&buffer[..read]), Ordering::SeqCst);
            if server_write.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Counts HEADERS frames in a client's HTTP/2 byte stream.
#[derive(Debug, Default)]
struct FrameCounter {
    /// Preface bytes still to pass.
    preface_seen: usize,
    header: Vec<u8>,
    skip: usize,
}

impl FrameCounter {
    const PREFACE: usize = 24;

    fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut headers = 0;
        while !bytes.is_empty() {
            if self.preface_seen < Self::PREFACE {
                let take = (Self::PREFACE - self.preface_seen).min(bytes.len());
                self.preface_seen += take;
                bytes = &bytes[take..];
                continue;
            }
            if self.skip > 0 {
                let take = self.skip.min(bytes.len());
                self.skip -= take;
                bytes = &bytes[take..];
                continue;
            }
            let take = (9 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() == 9 {
                let length = (usize::from(self.header[0]) << 16)
                    | (usize::from(self.header[1]) << 8)
                    | usize::from(self.header[2]);
                if self.header[3] == 0x1 {
                    headers += 1;
                }
                self.skip = length;
                self.header.clear();
            }
        }
        headers
    }
}
