//! One HTTP/2 connection to one replica, driven by hyper directly: a call
//! goes from the caller's task to the connection's task and nowhere else
//! (tonic's channel adds a buffer task between them). The connection is
//! opened on first use and again after it closes; concurrent callers wait
//! for one connect rather than each opening their own.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tonic::body::Body;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A failure to open a connection: nothing was sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {address}: {source}")]
pub struct ConnectFailed {
    address: SocketAddr,
    #[source]
    source: BoxError,
}

/// How to reach one replica.
pub(crate) struct Connector {
    pub address: SocketAddr,
    /// The `:scheme` and `:authority` of requests.
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    pub tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    pub connect_timeout: Duration,
}

impl Connector {
    async fn connect(
        &self,
    ) -> Result<hyper::client::conn::http2::SendRequest<Body>, ConnectFailed> {
        let failed = |source: BoxError| ConnectFailed {
            address: self.address,
            source,
        };
        let within = |what: &'static str| move |_| failed(format!("{what} timed out").into());
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.address))
            .await
            .map_err(within("connecting"))?
            .map_err(|error| failed(Box::new(error)))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            Some((connector, name)) => Box::new(
                tokio::time::timeout(self.connect_timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(within("the TLS handshake"))?
                    .map_err(|error| failed(Box::new(error)))?,
            ),
            None => Box::new(tcp),
        };
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(false)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|error| failed(Box::new(error)))?;
        let address = self.address;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%address, %error, "connection to a replica ended");
            }
        });
        Ok(sender)
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// One connection, opened when needed.
pub(crate) struct Connection {
    connector: Arc<Connector>,
    sender: std::sync::Mutex<Option<hyper::client::conn::http2::SendRequest<Body>>>,
    connecting: tokio::sync::Mutex<()>,
}

impl Connection {
    pub fn new(connector: Arc<Connector>) -> Self {
        Self {
            connector,
            sender: std::sync::Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    fn open(&self) -> Option<hyper::client::conn::http2::SendRequest<Body>> {
        let sender = self.sender.lock().ok()?;
        sender
            .as_ref()
            .filter(|sender| !sender.is_closed())
            .cloned()
    }

    async fn sender(&self) -> Result<hyper::client::conn::http2::SendRequest<Body>, ConnectFailed> {
        if let Some(sender) = self.open() {
            return Ok(sender);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(sender) = self.open() {
            return Ok(sender);
        }
        let sender = self.connector.connect().await?;
        if let Ok(mut slot) = self.sender.lock() {
            *slot = Some(sender.clone());
        }
        Ok(sender)
    }

    /// Sends `request` (its URI a path) on this connection.
    pub async fn send(&self, mut request: Request<Body>) -> Result<Response<Body>, BoxError> {
        let mut sender = self.sender().await?;
        let mut uri = std::mem::take(request.uri_mut()).into_parts();
        uri.scheme = Some(self.connector.scheme.clone());
        uri.authority = Some(self.connector.authority.clone());
        if uri.path_and_query.is_none() {
            uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        *request.uri_mut() = http::Uri::from_parts(uri)?;
        *request.version_mut() = http::Version::HTTP_2;
        let response = sender.send_request(request).await?;
        Ok(response.map(Body::new))
    }
}
