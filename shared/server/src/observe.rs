//! The outermost layer of every server: a span per call (child of the
//! caller's trace), the RPC metrics, and the access-log line, all ended
//! when the response's status is known (see `estate_telemetry::rpc`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use estate_telemetry::rpc::{Call, Methods, Side, server_span};
use http::{Request, Response};
use tonic::body::Body;
use tracing::Instrument;

/// Observes every call of the server of `service` (`billing`, …), which
/// hosts `services` (and health and reflection): a path naming any other
/// service or method is counted as `unknown`, so no caller can mint
/// metric series.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    service: &'static str,
    methods: Arc<Methods>,
}

impl ObserveLayer {
    pub fn new(service: &'static str, services: &[&'static str]) -> Self {
        let paths = estate_proto::method_paths(|name| services.contains(&name));
        Self {
            service,
            methods: Arc::new(Methods::new(Side::Server, service, paths)),
        }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            service: self.service,
            methods: self.methods.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    service: &'static str,
    methods: Arc<Methods>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<Request<Body>> for Observe<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = self.methods.get(request.uri().path());
        let span = server_span(self.service, &method, request.headers());
        let call = Call::start(method, span.clone());
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(call.caller());
        let request = Request::from_parts(parts, Body::new(call.count_requests(body)));
        let response = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(
            async move {
                match response.await {
                    Ok(response) => Ok(call.observe(response).map(Body::new)),
                    Err(error) => {
                        call.fail(2, &error.to_string());
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}
