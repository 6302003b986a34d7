//! Resolving callers' credentials to principals, with a short cache so the
//! customers service is asked at most once per credential per TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use estate_auth::{CallerToken, Principal, TokenSigner, forward};
use estate_proto::internal::ResolveCredentialRequest;
use estate_proto::internal::identity_service_client::IdentityServiceClient;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::Config;

/// Beyond this many cached credentials, expired entries are swept.
const CACHE_SWEEP_THRESHOLD: usize = 10_000;

/// A resolved caller: the principal and the internal token naming it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub principal: Principal,
    pub token: String,
    /// When the token must be re-minted at the latest.
    minted: Instant,
}

#[derive(Debug, Clone)]
pub struct CredentialResolver {
    client: IdentityServiceClient<Channel>,
    signer: TokenSigner,
    ttl: Duration,
    /// Keyed by the credential's SHA-256, so raw secrets are not kept.
    cache: Arc<Mutex<HashMap<[u8; 32], Resolved>>>,
}

impl CredentialResolver {
    pub fn new(config: &Config, signer: TokenSigner) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(config.customers_url.clone())?
            .connect_timeout(config.backend_connect_timeout)
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(Self {
            client: IdentityServiceClient::new(channel),
            signer,
            ttl: config.credential_cache_ttl,
            cache: Arc::default(),
        })
    }

    /// The principal `credential` stands for. UNAUTHENTICATED for unknown or
    /// revoked credentials, UNAVAILABLE when the customers service cannot
    /// answer.
    pub async fn resolve(&self, credential: &str) -> Result<Resolved, Status> {
        let key: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        let now = Instant::now();
        if let Some(hit) = self.cache.lock().expect("cache mutex poisoned").get(&key)
            && now.duration_since(hit.minted) < self.ttl
        {
            return Ok(hit.clone());
        }

        let service_token = CallerToken(self.signer.sign(&Principal::service("gateway")));
        let request = forward(
            ResolveCredentialRequest {
                credential: credential.to_string(),
            },
            &service_token,
        );
        let response = self
            .client
            .clone()
            .resolve_credential(request)
            .await
            .map_err(|status| match status.code() {
                Code::Unauthenticated => Status::unauthenticated("unknown or revoked credential"),
                code => {
                    tracing::warn!(
                        ?code,
                        message = status.message(),
                        "credential resolution failed"
                    );
                    Status::unavailable("authentication is unavailable, retry later")
                }
            })?;
        let principal: Principal = response
            .into_inner()
            .principal
            .ok_or_else(|| Status::internal("customers service returned no principal"))?
            .into();
        let resolved = Resolved {
            token: self.signer.sign(&principal),
            principal,
            minted: Instant::now(),
        };

        let mut cache = self.cache.lock().expect("cache mutex poisoned");
        if cache.len() >= CACHE_SWEEP_THRESHOLD {
            let ttl = self.ttl;
            cache.retain(|_, entry| now.duration_since(entry.minted) < ttl);
        }
        cache.insert(key, resolved.clone());
        Ok(resolved)
    }
}
