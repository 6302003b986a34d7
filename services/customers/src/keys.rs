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

/// A freshly generated key secret.
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    Ok(format!("{KEY_MARKER}{}", URL_SAFE_NO_PAD.encode(bytes)))
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
        let first = generate().unwrap();
        let second = generate().unwrap();
        assert_ne!(first, second);
        assert!(first.starts_with("estate_"));
        assert_eq!(first.len(), 7 + 43);
        assert_eq!(hash(&first), hash(&first.clone()));
        assert_ne!(hash(&first), hash(&second));
        assert_eq!(prefix(&first).len(), 14);
    }
}
