//! PharmaGuard security helpers: pure crypto, no AWS, no I/O besides the
//! operating system's random number generator.
//!
//! - [`password`]: argon2id password hashes (PHC strings) and their
//!   verification, a dummy verification for unknown users, and strong
//!   generated passwords.
//! - [`secret`]: random opaque secrets (refresh tokens, device secrets), their
//!   SHA-256 fingerprints and constant-time comparison.
//! - [`token`]: EdDSA (Ed25519) access tokens: [`token::TokenSigner`] issues
//!   them, [`token::TokenVerifier`] checks them and returns the
//!   [`pharmaguard_domain::identity::Principal`].
//!
//! Nothing here logs, and no type prints a secret in its `Debug` output.

pub mod password;
pub mod secret;
pub mod token;

pub use password::{PasswordError, Passwords, generate_password};
pub use secret::{SecretError, constant_time_eq, random_secret, sha256_hex};
pub use token::{
    AccessClaims, IssuedToken, KeyError, TOKEN_LEEWAY_SECONDS, TokenError, TokenKind, TokenSigner,
    TokenVerifier, generate_ed25519_pem,
};
