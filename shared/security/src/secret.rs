//! Random opaque secrets and how to compare them.
//!
//! Refresh tokens and device secrets are 256 random bits, URL-safe base64
//! without padding (43 characters). They are stored only as their SHA-256
//! fingerprint ([`sha256_hex`]): with 256 bits of entropy a fast hash is
//! enough (nothing to brute-force), and the fingerprint doubles as a lookup
//! key. Passwords, chosen by people, use argon2id instead
//! ([`crate::password`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in a secret made by [`random_secret`].
pub const SECRET_BYTES: usize = 32;

/// The operating system's random number generator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no randomness available: {0}")]
pub struct SecretError(pub String);

/// `count` random bytes from the operating system.
pub fn random_bytes(count: usize) -> Result<Vec<u8>, SecretError> {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes).map_err(|error| SecretError(error.to_string()))?;
    Ok(bytes)
}

/// A fresh opaque secret: [`SECRET_BYTES`] random bytes, URL-safe base64
/// without padding.
pub fn random_secret() -> Result<String, SecretError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(SECRET_BYTES)?))
}

/// The lowercase hex SHA-256 of `value`: how secrets are stored.
pub fn sha256_hex(value: &str) -> String {
    sha256_hex_bytes(value.as_bytes())
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// Whether `a` and `b` are equal, in a time that depends only on their
/// lengths (which are not secret here: fingerprints have a fixed length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_url_safe_and_different() {
        let a = random_secret().expect("secret");
        let b = random_secret().expect("secret");
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn fingerprints_are_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sama"));
        assert!(!constant_time_eq(b"same", b"samey"));
        assert!(constant_time_eq(b"", b""));
    }
}
