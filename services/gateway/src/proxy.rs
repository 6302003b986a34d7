//! The transparent proxy: one HTTP/2 request in, the same request out to
//! the owning backend, with identity metadata replaced.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body as AxumBody;
use estate_auth::{INTERNAL_TOKEN_HEADER, RESERVED_HEADER_PREFIX, TokenSigner};
use estate_transport::Balanced;
use http::{HeaderMap, Request, Response};
use tonic::Status;
use tower::ServiceExt;

use crate::Config;
use crate::credentials::CredentialResolver;

/// A backend and the package prefix of the services it owns.
#[derive(Debug, Clone)]
struct Backend {
    package: &'static str,
    name: &'static str,
    channel: Balanced,
}

#[derive(Debug, Clone)]
pub struct Proxy {
    backends: std::sync::Arc<[Backend]>,
    resolver: CredentialResolver,
}

impl Proxy {
    /// The proxy to `config`'s backends; credentials are resolved over the
    /// same channel to customers that customers' calls take.
    pub fn new(config: &Config, signer: TokenSigner) -> anyhow::Result<Self> {
        let backends = [
            (
                "estate.customers.v1.",
                "customers",
                "ESTATE_CUSTOMERS_URL",
                &config.customers_url,
            ),
            (
                "estate.licensing.v1.",
                "licensing",
                "ESTATE_LICENSING_URL",
                &config.licensing_url,
            ),
            (
                "estate.billing.v1.",
                "billing",
                "ESTATE_BILLING_URL",
                &config.billing_url,
            ),
        ]
        .into_iter()
        .map(|(package, name, setting, url)| {
            Ok(Backend {
                package,
                name,
                channel: Balanced::new(name, setting, url, config.client.clone())?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
        let customers = backends
            .iter()
            .find(|backend| backend.name == "customers")
            .map(|backend| backend.channel.clone())
            .ok_or_else(|| anyhow::anyhow!("no customers backend"))?;
        let resolver = CredentialResolver::new(customers, signer, config.credential_cache_ttl);
        Ok(Self {
            backends: backends.into(),
            resolver,
        })
    }

    /// How callers' credentials are resolved (for readiness).
    pub fn resolver(&self) -> &CredentialResolver {
        &self.resolver
    }

    /// Readiness of each backend: (its name, the public services it
    /// owns, its channel), for the gateway's health.
    pub fn backends(&self) -> Vec<(&'static str, Vec<&'static str>, Balanced)> {
        self.backends
            .iter()
            .map(|backend| {
                let services = estate_proto::PUBLIC_SERVICES
                    .iter()
                    .copied()
                    .filter(|service| service.starts_with(backend.package))
                    .collect();
                (backend.name, services, backend.channel.clone())
            })
            .collect()
    }

    /// The backend owning the service a path (`/pkg.Service/Method`) names;
    /// only public services are routable.
    fn route(&self, path: &str) -> Option<&Backend> {
        let service = path.strip_prefix('/')?.split('/').next()?;
        if !estate_proto::PUBLIC_SERVICES.contains(&service) {
            return None;
        }
        self.backends
            .iter()
            .find(|backend| service.starts_with(backend.package))
    }

    async fn handle(self, mut request: Request<AxumBody>) -> Response<AxumBody> {
        let path = request.uri().path().to_owned();
        let Some(backend) = self.route(&path).cloned() else {
            return reply(Status::unimplemented(format!(
                "no public service serves {}",
                estate_errors::quote(&path)
            )));
        };
        let metadata = header_list_size(request.headers());
        if metadata > MAX_FORWARDED_METADATA_BYTES {
            refused("metadata_too_large");
            return reply(Status::resource_exhausted(format!(
                "the request metadata is {} bytes, at most {} are accepted",
                estate_errors::thousands(metadata),
                estate_errors::thousands(MAX_FORWARDED_METADATA_BYTES)
            )));
        }
        let Some(credential) = credential(request.headers()) else {
            refused("missing_credential");
            return reply(Status::unauthenticated(
                "missing credential: send `authorization: Bearer <api key>` or `x-api-key`",
            ));
        };
        let resolved = match self.resolver.resolve(&credential).await {
            Ok(resolved) => resolved,
            Err(status) => {
                refused(match status.code() {
                    tonic::Code::Unauthenticated => "unknown_credential",
                    tonic::Code::Unavailable => "authentication_unavailable",
                    _ => "authentication_failed",
                });
                return reply(status);
            }
        };
        if let Some(slot) = request
            .extensions()
            .get::<estate_telemetry::rpc::CallerSlot>()
        {
            slot.set(resolved.principal.acting_for());
        }
        tracing::debug!(subject = %resolved.principal.subject, backend = backend.name, "routing call");

        let headers = request.headers_mut();
        strip_identity(headers);
        // HTTP/2 frames the body itself, and a gRPC-Web text request's
        // length is that of its base64 text, not of the decoded body.
        headers.remove(http::header::CONTENT_LENGTH);
        headers.insert(INTERNAL_TOKEN_HEADER, resolved.token);

        let request = request.map(tonic::body::Body::new);
        match backend.channel.clone().oneshot(request).await {
            Ok(response) => response.map(AxumBody::new),
            Err(error) => {
                tracing::warn!(backend = backend.name, %error, "backend unreachable");
                reply(Status::unavailable(format!(
                    "the {} service is unavailable",
                    backend.name
                )))
            }
        }
    }
}

/// Most request metadata forwarded to a backend, counted as HTTP/2 counts
/// it: with the internal token added it stays well inside the backends'
/// 16 KiB header list, so no caller can make a backend refuse a header
/// block on the connection other callers' calls share.
pub const MAX_FORWARDED_METADATA_BYTES: usize = 8 * 1024;

/// The size of `headers` as HTTP/2 counts a header list (RFC 9113
/// 6.5.2): each name and value plus 32 bytes.
fn header_list_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// The caller's credential: `authorization: Bearer <key>` or `x-api-key`.
fn credential(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION)
        && let Ok(value) = value.to_str()
        && let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
    {
        return Some(token.trim().to_owned()).filter(|token| !token.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Removes the caller's credential (backends never need it) and every
/// platform-reserved header, so no caller can assert an identity.
fn strip_identity(headers: &mut HeaderMap) {
    headers.remove(http::header::AUTHORIZATION);
    headers.remove("x-api-key");
    let reserved: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(RESERVED_HEADER_PREFIX))
        .cloned()
        .collect();
    for name in reserved {
        headers.remove(name);
    }
}

/// Counts a call refused before routing, by `reason`.
fn refused(reason: &'static str) {
    metrics::counter!("estate_gateway_auth_failures_total", "reason" => reason).increment(1);
}

fn reply(status: Status) -> Response<AxumBody> {
    status.into_http::<AxumBody>()
}

impl tower::Service<Request<AxumBody>> for Proxy {
    type Response = Response<AxumBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Channels buffer internally; readiness is awaited per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<AxumBody>) -> Self::Future {
        let proxy = self.clone();
        Box::pin(async move { Ok(proxy.handle(request).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_from_callers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer secret".parse().unwrap());
        headers.insert("x-estate-internal-token", "forged".parse().unwrap());
        headers.insert("x-estate-principal", "admin".parse().unwrap());
        headers.insert("traceparent", "00-abc".parse().unwrap());
        assert_eq!(credential(&headers).as_deref(), Some("secret"));
        strip_identity(&mut headers);
        let left: Vec<_> = headers.keys().map(|name| name.as_str()).collect();
        assert_eq!(left, ["traceparent"]);
    }

    #[test]
    fn the_api_key_header_is_a_credential_too() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", " key ".parse().unwrap());
        assert_eq!(credential(&headers).as_deref(), Some("key"));
        assert_eq!(credential(&HeaderMap::new()), None);
    }
}
