//! API key secrets: generation, hashing and the visible prefix.
//!
//! A key is `estate_` followed by 32 random bytes in base64url. Only its
//! SHA-256 is stored; the secret exists in the create response and nowhere
//! else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const KEY_MARKER: &str = "estate_";
/// How many leading characters identify a key in lists and logs.
const PREFIX_LENGTH: usize = 14;

/// A freshly generated key.
#[derive(Debug)]
pub struct GeneratedKey {
    pub secret: String,
}

impl GeneratedKey {
    pub fn new() -> anyhow::Result<Self> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
        Ok(Self {
            secret: format!("{KEY_MARKER}{}", URL_SAFE_NO_PAD.encode(bytes)),
        })
    }
}

/// The stored form of a key.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The part of a key that may be shown after creation.
pub fn prefix(secret: &str) -> String {
    secret.chars().take(PREFIX_LENGTH).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_only_their_hash_identifies_them() {
        let first = GeneratedKey::new().unwrap();
        let second = GeneratedKey::new().unwrap();
        assert_ne!(first.secret, second.secret);
        assert!(first.secret.starts_with("estate_"));
        assert_eq!(first.secret.len(), 7 + 43);
        assert_eq!(hash(&first.secret), hash(&first.secret.clone()));
        assert_ne!(hash(&first.secret), hash(&second.secret));
        assert_eq!(prefix(&first.secret).len(), 14);
    }
}
