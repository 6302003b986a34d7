//! The tower layer every backend puts in front of its gRPC services: no
//! request reaches a handler without a verified principal.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tonic::Status;
use tonic::body::Body;

use crate::{INTERNAL_TOKEN_HEADER, Principal, TokenSigner};

/// The raw internal token of the current call, kept so handlers can forward
/// it to other services.
#[derive(Debug, Clone)]
pub struct CallerToken(pub String);

/// Verifies the internal token of every call except the gRPC health and
/// reflection services (probes and tooling call those without credentials),
/// and puts the [`Principal`] and [`CallerToken`] in the request extensions.
#[derive(Debug, Clone)]
pub struct RequirePrincipalLayer {
    signer: TokenSigner,
}

impl RequirePrincipalLayer {
    pub fn new(signer: TokenSigner) -> Self {
        Self { signer }
    }
}

impl<S> tower::Layer<S> for RequirePrincipalLayer {
    type Service = RequirePrincipal<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequirePrincipal {
            inner,
            signer: self.signer.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequirePrincipal<S> {
    inner: S,
    signer: TokenSigner,
}

/// Health checking and reflection are open: they reveal no tenant data.
fn is_open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<Request<B>> for RequirePrincipal<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if !is_open_path(request.uri().path()) {
            let token = request
                .headers()
                .get(INTERNAL_TOKEN_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let verified: Result<(Principal, String), Status> = match token {
                None => Err(Status::unauthenticated("missing internal token")),
                Some(token) => self
                    .signer
                    .verify(&token)
                    .map(|principal| (principal, token))
                    .map_err(|error| Status::unauthenticated(format!("internal {error}"))),
            };
            match verified {
                Ok((principal, token)) => {
                    if let Some(slot) = request
                        .extensions()
                        .get::<estate_telemetry::rpc::CallerSlot>()
                    {
                        slot.set(principal.acting_for());
                    }
                    request.extensions_mut().insert(principal);
                    request.extensions_mut().insert(CallerToken(token));
                }
                Err(status) => {
                    tracing::debug!(path = request.uri().path(), %status, "rejected call");
                    return Box::pin(async move { Ok(status.into_http()) });
                }
            }
        }
        Box::pin(self.inner.call(request))
    }
}
