//! Resolving callers' credentials to principals, with a short cache so the
//! customers service is asked at most once per credential per TTL.
//!
//! Resolution is single-flight: when an entry expires under load, the first
//! caller asks the customers service and every concurrent caller with the
//! same credential waits for that one answer instead of sending its own
//! (no thundering herd every TTL). Failures are not cached.
//!
//! The cache holds principals, not tokens: each call gets a freshly signed
//! internal token, so a token's lifetime never depends on the cache's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use estate_auth::{CallerToken, Principal, TokenSigner, forward};
use estate_proto::internal::ResolveCredentialRequest;
use estate_proto::internal::identity_service_client::IdentityServiceClient;
use estate_transport::Balanced;
use http::HeaderValue;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tonic::{Code, Status};

/// Beyond this many cached credentials, expired entries are swept.
const CACHE_SWEEP_THRESHOLD: usize = 10_000;

/// How long the gateway waits for the customers service to resolve a
/// credential before answering UNAVAILABLE.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A resolved caller: the principal and the internal token naming it, ready
/// to be put in a header.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub principal: Principal,
    pub token: HeaderValue,
}

/// One credential's cache slot: filled once, trusted until `expires`.
#[derive(Debug)]
struct Slot {
    expires: Instant,
    principal: OnceCell<Principal>,
}

#[derive(Debug, Clone)]
pub struct CredentialResolver {
    client: IdentityServiceClient<Balanced>,
    signer: TokenSigner,
    ttl: Duration,
    /// Keyed by the credential's SHA-256, so raw secrets are not kept.
    cache: Arc<Mutex<HashMap<[u8; 32], Arc<Slot>>>>,
}

impl CredentialResolver {
    /// A resolver asking the customers service over `customers` (the
    /// channel the proxy routes its calls on), trusting answers for `ttl`.
    pub fn new(customers: Balanced, signer: TokenSigner, ttl: Duration) -> Self {
        Self {
            client: IdentityServiceClient::new(customers),
            signer,
            ttl,
            cache: Arc::default(),
        }
    }

    /// The slot for `key`, replacing an expired one.
    fn slot(&self, key: [u8; 32]) -> Arc<Slot> {
        let now = Instant::now();
        let mut cache = self.cache.lock().expect("cache mutex poisoned");
        if let Some(slot) = cache.get(&key)
            && slot.expires > now
        {
            return slot.clone();
        }
        if cache.len() >= CACHE_SWEEP_THRESHOLD {
            cache.retain(|_, slot| slot.expires > now);
        }
        let slot = Arc::new(Slot {
            expires: now + self.ttl,
            principal: OnceCell::new(),
        });
        cache.insert(key, slot.clone());
        slot
    }

    /// The principal `credential` stands for. UNAUTHENTICATED for unknown or
    /// revoked credentials, UNAVAILABLE when the customers service cannot
    /// answer.
    pub async fn resolve(&self, credential: &str) -> Result<Resolved, Status> {
        let key: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        let slot = self.slot(key);
        let result = if slot.principal.initialized() {
            "hit"
        } else {
            "miss"
        };
        metrics::counter!("estate_gateway_credential_cache_total", "result" => result).increment(1);
        let principal = slot
            .principal
            .get_or_try_init(|| self.ask(credential))
            .await
            .cloned();
        if principal.is_err() {
            // Failures are not cached: forget the empty slot, so unknown
            // credentials cannot fill the cache.
            let mut cache = self.cache.lock().expect("cache mutex poisoned");
            if cache
                .get(&key)
                .is_some_and(|current| Arc::ptr_eq(current, &slot))
            {
                cache.remove(&key);
            }
        }
        let principal = principal?;
        let token = HeaderValue::try_from(self.signer.sign(&principal))
            .map_err(|_| Status::internal("internal token is not a valid header"))?;
        Ok(Resolved { principal, token })
    }

    /// Readiness: whether the customers service accepts the gateway's
    /// internal token (a wrong secret fails every call).
    pub async fn probe(&self) -> Result<(), String> {
        let token = CallerToken(self.signer.sign(&Principal::service("gateway")));
        estate_auth::access::probe_token(self.client.clone(), &token).await
    }

    async fn ask(&self, credential: &str) -> Result<Principal, Status> {
        let service_token = CallerToken(self.signer.sign(&Principal::service("gateway")));
        let mut request = forward(
            ResolveCredentialRequest {
                credential: credential.to_string(),
            },
            &service_token,
        );
        request.set_timeout(RESOLVE_TIMEOUT);
        let response = self
            .client
            .clone()
            .resolve_credential(request)
            .await
            .map_err(|status| match status.code() {
                Code::NotFound => Status::unauthenticated("unknown or revoked credential"),
                Code::Unauthenticated | Code::PermissionDenied => {
                    // The customers service refused the gateway itself: a
                    // platform fault (secret mismatch, clock skew), not the
                    // caller's.
                    tracing::error!(
                        detail = status.message(),
                        "customers service refused the gateway"
                    );
                    Status::unavailable("authentication is unavailable, retry later")
                }
                code => {
                    tracing::warn!(
                        ?code,
                        detail = status.message(),
                        "credential resolution failed"
                    );
                    Status::unavailable("authentication is unavailable, retry later")
                }
            })?;
        Ok(response
            .into_inner()
            .principal
            .ok_or_else(|| Status::internal("customers service returned no principal"))?
            .into())
    }
}
