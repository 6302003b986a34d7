//! The web console: static files built from `console/` (TypeScript,
//! bundled at build time) and embedded in the binary, served to browsers
//! from `/` on the gateway's own origin, so the console calls the same
//! public API over gRPC-Web as any other client and needs no CORS.
//!
//! Only `GET` and `HEAD` reach here (every gRPC and gRPC-Web call is a
//! `POST`); this layer sits outside the gRPC-Web translation, which
//! refuses anything else over HTTP/1.1. Every page carries a strict
//! Content-Security-Policy: scripts, styles and calls from this origin
//! only, no inline code, no framing.

use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};

use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tonic::body::Body;

/// `(URL path, content type, bytes)` of every built file (see build.rs).
const FILES: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

/// What the page may load and call: its own origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Shown at `/` by a gateway built without the console.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
     <title>Estate console not built</title></head><body><h1>The console was not built</h1>\
     <p>This gateway was compiled without the web console. Build it with \
     <code>npm ci &amp;&amp; npm run build</code> in <code>services/gateway/console</code> \
     (<code>deploy/local/run.sh</code> does this) and compile the gateway again.</p></body></html>";

/// Whether this gateway carries a built console.
pub fn is_built() -> bool {
    !FILES.is_empty()
}

/// The answer to a `GET`/`HEAD` of `path`.
pub fn respond(method: &Method, path: &str) -> Response<Body> {
    let path = if path == "/" { "/index.html" } else { path };
    let found = FILES.iter().find(|(file, _, _)| *file == path);
    let (status, content_type, bytes, cache) = match found {
        // Names under assets/ carry a hash of their content: a new build
        // has new names, so a browser may keep these for good.
        Some((file, content_type, bytes)) if file.starts_with("/assets/") => (
            StatusCode::OK,
            *content_type,
            *bytes,
            "public, max-age=31536000, immutable",
        ),
        Some((_, content_type, bytes)) => (StatusCode::OK, *content_type, *bytes, "no-cache"),
        None if path == "/index.html" => (
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
            NOT_BUILT.as_bytes(),
            "no-cache",
        ),
        None => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            &b"not found\n"[..],
            "no-cache",
        ),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::new(axum::body::Body::from(bytes))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Serves the console for `GET` and `HEAD`; passes everything else on.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleLayer;

impl<S> tower::Layer<S> for ConsoleLayer {
    type Service = Console<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Console { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Console<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for Console<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    // Every gRPC call passes through here: its future goes on unboxed.
    type Future = Either<Ready<Result<Response<Body>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        if method == Method::GET || method == Method::HEAD {
            return Either::Left(ready(Ok(respond(method, request.uri().path()))));
        }
        Either::Right(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_carries_the_content_security_policy() {
        for path in ["/", "/index.html", "/nothing-here", "/assets/missing.js"] {
            let response = respond(&Method::GET, path);
            assert_eq!(
                response.headers()["content-security-policy"],
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        }
    }

    #[test]
    fn an_unknown_file_is_not_found_and_never_the_page() {
        let response = respond(&Method::GET, "/etc/passwd");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn the_policy_allows_nothing_inline_and_nothing_from_elsewhere() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(!CONTENT_SECURITY_POLICY.contains("http"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn hashed_assets_are_cached_for_good_and_the_page_never() {
        let page = respond(&Method::GET, "/");
        assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
        if let Some((asset, _, _)) = FILES.iter().find(|(f, _, _)| f.starts_with("/assets/")) {
            let response = respond(&Method::HEAD, asset);
            assert_eq!(response.status(), StatusCode::OK);
            assert!(
                response.headers()[CACHE_CONTROL]
                    .to_str()
                    .unwrap()
                    .contains("immutable")
            );
        }
    }
}
