//! API keys: random tokens, shown once, stored as SHA-256 hashes.
//!
//! SECURITY: keys are 32 random bytes (hex), so a fast hash is enough; nothing stores or
//! logs the key itself. Comparison happens on hashes through a database lookup.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random hex token of `bytes` bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// Pulls the key out of an `Authorization: Key <key>` header value.
pub fn parse_authorization(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("key").then(|| key.trim()).filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_header() {
        assert_eq!(parse_authorization("Key abc"), Some("abc"));
        assert_eq!(parse_authorization("key  abc "), Some("abc"));
        assert_eq!(parse_authorization("Bearer abc"), None);
        assert_eq!(parse_authorization("Key "), None);
    }

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let a = random_token(32);
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token(32));
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), a);
    }
}
