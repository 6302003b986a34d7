//! Signing and verifying internal tokens.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use estate_clock::SharedClock;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Principal;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";

/// Why a token was refused. Deliberately coarse: callers learn only that
/// the token is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    principal: Principal,
    /// Expiry, seconds since the Unix epoch.
    exp: i64,
}

/// Signs and verifies internal tokens with one shared secret.
#[derive(Clone)]
pub struct TokenSigner {
    key: std::sync::Arc<[u8]>,
    clock: SharedClock,
    ttl: Duration,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// How long an internal token stays valid: long enough for a call chain,
/// short enough that a leaked token is soon useless.
pub const INTERNAL_TOKEN_TTL: Duration = Duration::from_secs(60);

impl TokenSigner {
    /// The signer every service of the platform uses.
    pub fn internal(secret: &str, clock: SharedClock) -> Self {
        Self::new(secret.as_bytes(), clock, INTERNAL_TOKEN_TTL)
    }

    /// `secret` must be the same on every service; `ttl` bounds how long a
    /// leaked token is useful.
    pub fn new(secret: &[u8], clock: SharedClock, ttl: Duration) -> Self {
        Self {
            key: secret.into(),
            clock,
            ttl,
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC accepts keys of any length")
    }

    /// A token naming `principal`, valid for the signer's ttl from now.
    pub fn sign(&self, principal: &Principal) -> String {
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX);
        let claims = Claims {
            principal: principal.clone(),
            exp: (self.clock.now() + ttl).timestamp(),
        };
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims always serialize"));
        let signed = format!("{VERSION}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// The principal a valid, unexpired token names.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (version, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        if version != VERSION {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.exp <= self.clock.now().timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims.principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use estate_clock::FixedClock;

    fn principal() -> Principal {
        Principal {
            subject: "apiKeys/1".into(),
            organization_id: Some("org-1".into()),
            organization_kind: 2,
            roles: vec!["admin".into()],
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let signer = TokenSigner::new(b"secret", clock.clone(), Duration::from_secs(60));
        let token = signer.sign(&principal());
        assert_eq!(signer.verify(&token), Ok(principal()));
        clock.advance(chrono::Duration::seconds(60));
        assert_eq!(signer.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_signed_with_another_secret_or_altered_is_refused() {
        let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let signer = TokenSigner::new(b"secret", clock.clone(), Duration::from_secs(60));
        let forger = TokenSigner::new(b"guess", clock, Duration::from_secs(60));
        assert_eq!(
            signer.verify(&forger.sign(&principal())),
            Err(TokenError::BadSignature)
        );

        let mut admin = principal();
        admin.roles = vec!["platform_admin".into()];
        let genuine = signer.sign(&principal());
        let forged_claims = signer.sign(&admin);
        let (_, genuine_signature) = genuine.rsplit_once('.').unwrap();
        let (forged_signed, _) = forged_claims.rsplit_once('.').unwrap();
        let spliced = format!("{forged_signed}.{genuine_signature}");
        assert_eq!(signer.verify(&spliced), Err(TokenError::BadSignature));
        assert_eq!(signer.verify("garbage"), Err(TokenError::Malformed));
    }
}
