//! Cross-origin calls from browsers (gRPC-Web from a console served
//! elsewhere): preflights from an allowed origin are answered, and the
//! gRPC status headers are exposed so the page can read them. Origins not
//! on the list get no CORS headers, so browsers refuse them.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a gRPC-Web client sends.
const ALLOWED_HEADERS: &[&str] = &[
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "grpc-accept-encoding",
    "grpc-encoding",
    "authorization",
    "x-api-key",
    "traceparent",
    "tracestate",
];

/// Response headers a page must be able to read.
const EXPOSED_HEADERS: &[&str] = &[
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
];

/// The CORS layer for `origins` (exact origins such as
/// `https://console.example.com`; `*` for any).
pub fn layer(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let origins = origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin.trim_end_matches('/')).map_err(|_| {
                    anyhow::anyhow!("ESTATE_CORS_ALLOWED_ORIGINS: {origin:?} is not a valid origin")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(origins)
    };
    let names = |list: &[&'static str]| -> Vec<HeaderName> {
        list.iter()
            .map(|name| HeaderName::from_static(name))
            .collect()
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(names(ALLOWED_HEADERS))
        .expose_headers(names(EXPOSED_HEADERS))
        .max_age(Duration::from_secs(24 * 60 * 60)))
}
