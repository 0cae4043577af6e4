//! Access tokens: JWTs signed with EdDSA (Ed25519).
//!
//! The auth function holds the private key ([`TokenSigner`]); the authorizer
//! (and the WebSocket connect function) hold only the public key
//! ([`TokenVerifier`]). Claims ([`AccessClaims`]):
//!
//! | claim | value |
//! |---|---|
//! | `iss` | [`TOKEN_ISSUER`] |
//! | `aud` | [`TOKEN_AUDIENCE`] |
//! | `sub` | the user or device id |
//! | `kind` | `user` or `device` |
//! | `org` | the organisation id |
//! | `role` | the user's role (users only) |
//! | `iat`, `nbf` | issue time, epoch seconds |
//! | `exp` | `iat` + [`ACCESS_TOKEN_TTL`] |
//! | `jti` | a random UUID |
//!
//! The header carries `alg: EdDSA` and `kid`, a short SHA-256 fingerprint of
//! the public key. The verifier accepts EdDSA only: `alg: none`, HMAC with the
//! public key as secret and every other algorithm are refused before any
//! signature check.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pharmaguard_domain::identity::{
    ACCESS_TOKEN_TTL, Principal, Role, TOKEN_AUDIENCE, TOKEN_ISSUER,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const TOKEN_LEEWAY_SECONDS: u64 = 30;
/// Longest token the verifier looks at; a real one is about 500 bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The DER prefix of an Ed25519 `SubjectPublicKeyInfo` (RFC 8410), followed
/// by the 32 bytes of the key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Whether a token speaks for a user or a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A person (has a role).
    User,
    /// A device (has no role).
    Device,
}

/// The claims of a PharmaGuard access token. Every field is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: [`TOKEN_ISSUER`].
    pub iss: String,
    /// Audience: [`TOKEN_AUDIENCE`].
    pub aud: String,
    /// The user or device id.
    pub sub: String,
    /// User or device.
    pub kind: TokenKind,
    /// The organisation id.
    pub org: String,
    /// The user's role; absent for devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Issued at, epoch seconds.
    pub iat: u64,
    /// Not before, epoch seconds.
    pub nbf: u64,
    /// Expires at, epoch seconds.
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
}

impl AccessClaims {
    /// The principal the claims describe; `None` when kind and role disagree
    /// (a user without a role, a device with one) or an id is empty.
    pub fn principal(&self) -> Option<Principal> {
        if self.sub.is_empty() || self.org.is_empty() {
            return None;
        }
        match (self.kind, self.role) {
            (TokenKind::User, Some(role)) => Some(Principal::User {
                user_id: self.sub.clone(),
                org_id: self.org.clone(),
                role,
            }),
            (TokenKind::Device, None) => Some(Principal::Device {
                device_id: self.sub.clone(),
                org_id: self.org.clone(),
            }),
            _ => None,
        }
    }
}

/// A key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PKCS#8 Ed25519 private key in PEM.
    #[error("not a PKCS#8 Ed25519 private key in PEM form")]
    InvalidPrivateKey,
    /// Not an Ed25519 public key (SubjectPublicKeyInfo) in PEM.
    #[error("not an Ed25519 public key in PEM form")]
    InvalidPublicKey,
    /// Key generation failed.
    #[error("key generation failed")]
    Generation,
}

/// Why a token was not issued or not accepted. The messages name no secret
/// and are safe to log; clients only ever see `Unauthorized`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT at all (structure, base64, JSON, size).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names another algorithm than EdDSA (including `none`).
    #[error("algorithm not accepted")]
    WrongAlgorithm,
    /// The signature does not match the key.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not [`TOKEN_ISSUER`].
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is not [`TOKEN_AUDIENCE`].
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is missing, has the wrong type, or the claims do not
    /// describe a principal.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// The token could not be signed.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        match error.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidKeyFormat => TokenError::WrongAlgorithm,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => {
                TokenError::InvalidClaims(format!("{claim} is missing"))
            }
            ErrorKind::InvalidClaimFormat(claim) => {
                TokenError::InvalidClaims(format!("{claim} has the wrong format"))
            }
            // The claims did not fit [`AccessClaims`].
            ErrorKind::Json(json) if json.is_data() => TokenError::InvalidClaims(json.to_string()),
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => TokenError::Malformed(error.to_string()),
            _ => TokenError::Malformed(error.to_string()),
        }
    }
}

/// A freshly issued access token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: OffsetDateTime,
    /// Seconds from issue to expiry (the OAuth `expires_in`).
    pub expires_in: u64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Signs access tokens with an Ed25519 private key.
#[derive(Clone)]
pub struct TokenSigner {
    key: EncodingKey,
    public_key: Vec<u8>,
    kid: String,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer from a PKCS#8 Ed25519 private key in PEM (v1, as `openssl
    /// genpkey -algorithm ed25519` writes it, or v2).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let der = pem_body(pem, "PRIVATE KEY").ok_or(KeyError::InvalidPrivateKey)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| KeyError::InvalidPrivateKey)?;
        let public_key = pair.public_key().as_ref().to_vec();
        Ok(Self {
            key: EncodingKey::from_ed_der(&der),
            kid: key_id(&public_key),
            public_key,
        })
    }

    /// The `kid` of the tokens: a short fingerprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as PEM (`SubjectPublicKeyInfo`), what the verifiers need.
    pub fn public_key_pem(&self) -> String {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.public_key);
        to_pem("PUBLIC KEY", &der)
    }

    /// A verifier for the tokens of this signer.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::from_raw(&self.public_key)
    }

    /// Issues an access token for `principal` at `now`, valid for
    /// [`ACCESS_TOKEN_TTL`].
    pub fn issue(
        &self,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, TokenError> {
        let iat = u64::try_from(now.unix_timestamp())
            .map_err(|_| TokenError::Signing("time before the epoch".to_owned()))?;
        let ttl = ACCESS_TOKEN_TTL.as_secs();
        let (kind, role) = match principal {
            Principal::User { role, .. } => (TokenKind::User, Some(*role)),
            Principal::Device { .. } => (TokenKind::Device, None),
        };
        let claims = AccessClaims {
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            sub: principal.id().to_owned(),
            kind,
            org: principal.org_id().to_owned(),
            role,
            iat,
            nbf: iat,
            exp: iat + ttl,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = self.sign(&claims)?;
        Ok(IssuedToken {
            token,
            jti: claims.jti,
            expires_at: now + ACCESS_TOKEN_TTL,
            expires_in: ttl,
        })
    }

    /// Signs arbitrary claims (tests use it to forge wrong ones).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|error| TokenError::Signing(error.to_string()))
    }
}

/// Verifies access tokens with an Ed25519 public key.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    kid: String,
    validation: Validation,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier from an Ed25519 public key in PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, KeyError> {
        let der = pem_body(pem, "PUBLIC KEY").ok_or(KeyError::InvalidPublicKey)?;
        let raw = der
            .strip_prefix(&ED25519_SPKI_PREFIX[..])
            .filter(|raw| raw.len() == 32)
            .ok_or(KeyError::InvalidPublicKey)?;
        Ok(Self::from_raw(raw))
    }

    fn from_raw(public_key: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[TOKEN_ISSUER]);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Times are checked by `verify_at` against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            key: DecodingKey::from_ed_der(public_key),
            kid: key_id(public_key),
            validation,
        }
    }

    /// The `kid` of the tokens this verifier accepts.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Verifies `token` now.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_at(token, OffsetDateTime::now_utc())
    }

    /// Verifies `token` at `now`: algorithm EdDSA, signature, `iss`, `aud`,
    /// every claim present, `nbf` ≤ now < `exp` (± [`TOKEN_LEEWAY_SECONDS`]);
    /// returns the principal.
    pub fn verify_at(&self, token: &str, now: OffsetDateTime) -> Result<Principal, TokenError> {
        self.claims_at(token, now)?.principal().ok_or_else(|| {
            TokenError::InvalidClaims("kind, role and ids do not describe a principal".to_owned())
        })
    }

    /// Like [`TokenVerifier::verify_at`], but returns the claims.
    pub fn claims_at(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!(
                "longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let claims =
            jsonwebtoken::decode::<AccessClaims>(token, &self.key, &self.validation)?.claims;
        let now = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        if now >= claims.exp.saturating_add(TOKEN_LEEWAY_SECONDS) {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(TOKEN_LEEWAY_SECONDS) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// A freshly generated Ed25519 key pair, both halves as PEM.
///
/// `Debug` shows the public key only.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPairPem {
    /// The private key: PKCS#8 (`-----BEGIN PRIVATE KEY-----`), what
    /// [`TokenSigner::from_pkcs8_pem`] reads.
    pub private_pem: String,
    /// The public key: `SubjectPublicKeyInfo` (`-----BEGIN PUBLIC KEY-----`),
    /// what [`TokenVerifier::from_public_key_pem`] reads; equal to
    /// [`TokenSigner::public_key_pem`] of the private key.
    pub public_pem: String,
}

impl fmt::Debug for KeyPairPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPairPem")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a new Ed25519 key pair from the operating system's random number
/// generator and returns it as PEM: the private key as PKCS#8, the public key
/// as `SubjectPublicKeyInfo`, base64 in lines of 64 characters.
///
/// Tests use it so that no private key, not even a test one, has to live in
/// the repository; it also serves to set up a stage's signing keys.
///
/// # Errors
///
/// [`KeyError::Generation`] when the random number generator or the key
/// generation fails.
pub fn generate_key_pair() -> Result<KeyPairPem, KeyError> {
    let document =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Generation)?;
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).map_err(|_| KeyError::Generation)?;
    let mut spki = ED25519_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok(KeyPairPem {
        private_pem: to_pem("PRIVATE KEY", document.as_ref()),
        public_pem: to_pem("PUBLIC KEY", &spki),
    })
}

/// A new Ed25519 key pair: (PKCS#8 private key PEM, public key PEM), as
/// [`generate_key_pair`] makes it.
pub fn generate_ed25519_pem() -> Result<(String, String), KeyError> {
    let pair = generate_key_pair()?;
    Ok((pair.private_pem, pair.public_pem))
}

/// The key id: the first 8 bytes of the SHA-256 of the raw public key, hex.
fn key_id(public_key: &[u8]) -> String {
    let mut hex = crate::secret::sha256_hex_bytes(public_key);
    hex.truncate(16);
    hex
}

/// The DER inside a PEM block with this label; `None` when there is none or
/// its base64 is broken.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let base64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(base64).ok()
}

/// DER as a PEM block, 64 characters a line.
fn to_pem(label: &str, der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};
    use std::time::Duration;

    use std::sync::LazyLock;

    /// Two key pairs, generated once per test run.
    static KEY_A: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key a"));
    static KEY_B: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key b"));

    fn signer_a() -> TokenSigner {
        TokenSigner::from_pkcs8_pem(&KEY_A.private_pem).expect("test key a")
    }

    fn verifier_a() -> TokenVerifier {
        TokenVerifier::from_public_key_pem(&KEY_A.public_pem).expect("test public key a")
    }

    fn manager() -> Principal {
        Principal::User {
            user_id: "u-1".into(),
            org_id: "org-a".into(),
            role: Role::Manager,
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// Valid claims at `now` as JSON, to be spoiled by a test.
    fn claims_json(now: OffsetDateTime) -> Value {
        let iat = now.unix_timestamp();
        json!({
            "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "sub": "u-1", "kind": "user",
            "org": "org-a", "role": "MANAGER", "iat": iat, "nbf": iat,
            "exp": iat + 900, "jti": "j-1"
        })
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn a_token_round_trips_to_its_principal() {
        let now = now();
        let issued = signer_a().issue(&manager(), now).expect("token");
        assert_eq!(issued.expires_in, 900);
        assert_eq!(issued.expires_at, now + Duration::from_secs(900));
        assert_eq!(verifier_a().verify(&issued.token), Ok(manager()));

        let claims = verifier_a().claims_at(&issued.token, now).expect("claims");
        assert_eq!(claims.iss, "pharmaguard");
        assert_eq!(claims.aud, "pharmaguard-api");
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.nbf, claims.iat);
        assert_eq!(claims.jti, issued.jti);

        let header = jsonwebtoken::decode_header(&issued.token).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(signer_a().kid()));
        assert_eq!(signer_a().kid(), verifier_a().kid());
        assert_eq!(signer_a().kid().len(), 16);
    }

    #[test]
    fn device_tokens_carry_no_role() {
        let device = Principal::Device {
            device_id: "truck-7".into(),
            org_id: "org-a".into(),
        };
        let issued = signer_a().issue(&device, now()).expect("token");
        let claims = verifier_a()
            .claims_at(&issued.token, now())
            .expect("claims");
        assert_eq!((claims.kind, claims.role), (TokenKind::Device, None));
        assert_eq!(verifier_a().verify(&issued.token), Ok(device));
    }

    #[test]
    fn the_signer_derives_the_public_key_pem() {
        assert_eq!(signer_a().public_key_pem(), KEY_A.public_pem);
        let verifier = TokenVerifier::from_public_key_pem(&signer_a().public_key_pem());
        assert!(verifier.is_ok());
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let forged = TokenSigner::from_pkcs8_pem(&KEY_B.private_pem)
            .expect("test key b")
            .issue(&manager(), now())
            .expect("token");
        assert_eq!(
            verifier_a().verify(&forged.token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let issued = signer_a().issue(&manager(), now()).expect("token");
        let parts: Vec<&str> = issued.token.split('.').collect();
        let mut claims = claims_json(now());
        claims["role"] = json!("ADMIN");
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(
            verifier_a().verify(&tampered),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_refused_after_the_leeway() {
        let issued_at = now() - Duration::from_secs(900 + TOKEN_LEEWAY_SECONDS + 1);
        let issued = signer_a().issue(&manager(), issued_at).expect("token");
        assert_eq!(verifier_a().verify(&issued.token), Err(TokenError::Expired));

        let within_leeway = now() - Duration::from_secs(900 + TOKEN_LEEWAY_SECONDS - 5);
        let issued = signer_a().issue(&manager(), within_leeway).expect("token");
        assert_eq!(verifier_a().verify(&issued.token), Ok(manager()));
    }

    #[test]
    fn a_token_from_the_future_is_refused() {
        let later = now() + Duration::from_secs(TOKEN_LEEWAY_SECONDS + 60);
        let issued = signer_a().issue(&manager(), later).expect("token");
        assert_eq!(
            verifier_a().verify(&issued.token),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(verifier_a().verify_at(&issued.token, later), Ok(manager()));
    }

    #[test]
    fn wrong_audience_or_issuer_is_refused() {
        let mut claims = claims_json(now());
        claims["aud"] = json!("another-api");
        let token = signer_a().sign(&claims).expect("token");
        assert_eq!(verifier_a().verify(&token), Err(TokenError::WrongAudience));

        let mut claims = claims_json(now());
        claims["iss"] = json!("someone-else");
        let token = signer_a().sign(&claims).expect("token");
        assert_eq!(verifier_a().verify(&token), Err(TokenError::WrongIssuer));
    }

    #[test]
    fn an_alg_none_token_is_refused() {
        for alg in ["none", "None", "NONE"] {
            let header = b64(&json!({"alg": alg, "typ": "JWT"}));
            let payload = b64(&claims_json(now()));
            for token in [
                format!("{header}.{payload}."),
                format!("{header}.{payload}"),
            ] {
                assert!(verifier_a().verify(&token).is_err(), "{alg}: {token}");
            }
        }
    }

    #[test]
    fn an_hmac_token_keyed_with_the_public_key_is_refused() {
        let claims = claims_json(now());
        let der = pem_body(&KEY_A.public_pem, "PUBLIC KEY").expect("der");
        for secret in [KEY_A.public_pem.as_bytes(), &der, &der[12..]] {
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret),
            )
            .expect("hs256 token");
            assert_eq!(verifier_a().verify(&token), Err(TokenError::WrongAlgorithm));
        }
    }

    #[test]
    fn garbage_is_refused() {
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        for token in [
            "",
            "garbage",
            "a.b.c",
            "a.b",
            "....",
            "eyJhbGciOiJFZERTQSJ9.e30.AAAA",
            "\u{0}\u{1}.\u{2}.\u{3}",
            huge.as_str(),
        ] {
            assert!(
                matches!(
                    verifier_a().verify(token),
                    Err(TokenError::Malformed(_) | TokenError::BadSignature)
                ),
                "{token:.40}: {:?}",
                verifier_a().verify(token)
            );
        }
    }

    #[test]
    fn every_claim_is_required() {
        for claim in [
            "iss", "aud", "sub", "kind", "org", "iat", "nbf", "exp", "jti",
        ] {
            let mut claims = claims_json(now());
            claims
                .as_object_mut()
                .expect("object")
                .remove(claim)
                .expect("present");
            let token = signer_a().sign(&claims).expect("token");
            assert!(
                matches!(
                    verifier_a().verify(&token),
                    Err(TokenError::InvalidClaims(_))
                ),
                "{claim}: {:?}",
                verifier_a().verify(&token)
            );
        }
    }

    #[test]
    fn kind_and_role_must_agree() {
        let mut user_without_role = claims_json(now());
        user_without_role
            .as_object_mut()
            .expect("object")
            .remove("role");
        let mut device_with_role = claims_json(now());
        device_with_role["kind"] = json!("device");
        let mut unknown_role = claims_json(now());
        unknown_role["role"] = json!("ROOT");
        let mut unknown_kind = claims_json(now());
        unknown_kind["kind"] = json!("robot");
        let mut empty_sub = claims_json(now());
        empty_sub["sub"] = json!("");
        for claims in [
            user_without_role,
            device_with_role,
            unknown_role,
            unknown_kind,
            empty_sub,
        ] {
            let token = signer_a().sign(&claims).expect("token");
            assert!(
                matches!(
                    verifier_a().verify(&token),
                    Err(TokenError::InvalidClaims(_))
                ),
                "{claims}"
            );
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            TokenSigner::from_pkcs8_pem(&KEY_A.public_pem).map(|_| ()),
            Err(KeyError::InvalidPrivateKey)
        );
        assert_eq!(
            TokenSigner::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            )
            .map(|_| ()),
            Err(KeyError::InvalidPrivateKey)
        );
        assert_eq!(
            TokenVerifier::from_public_key_pem(&KEY_A.private_pem).map(|_| ()),
            Err(KeyError::InvalidPublicKey)
        );
        assert_eq!(
            TokenVerifier::from_public_key_pem("").map(|_| ()),
            Err(KeyError::InvalidPublicKey)
        );
    }

    #[test]
    fn generated_keys_work_and_pkcs8_v2_is_accepted() {
        let (private_pem, public_pem) = generate_ed25519_pem().expect("keys");
        let signer = TokenSigner::from_pkcs8_pem(&private_pem).expect("signer");
        let verifier = TokenVerifier::from_public_key_pem(&public_pem).expect("verifier");
        let issued = signer.issue(&manager(), now()).expect("token");
        assert_eq!(verifier.verify(&issued.token), Ok(manager()));
        assert_eq!(
            verifier_a().verify(&issued.token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_generated_pair_signs_and_verifies() {
        let pair = generate_key_pair().expect("keys");
        assert!(
            pair.private_pem
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        assert!(pair.private_pem.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pair.public_pem.ends_with("-----END PUBLIC KEY-----\n"));
        for line in pair.private_pem.lines().chain(pair.public_pem.lines()) {
            assert!(line.len() <= 64, "{line}");
        }

        let signer = TokenSigner::from_pkcs8_pem(&pair.private_pem).expect("signer");
        assert_eq!(signer.public_key_pem(), pair.public_pem);
        let verifier = TokenVerifier::from_public_key_pem(&pair.public_pem).expect("verifier");
        assert_eq!(signer.kid(), verifier.kid());
        let issued = signer.issue(&manager(), now()).expect("token");
        assert_eq!(verifier.verify(&issued.token), Ok(manager()));
    }

    #[test]
    fn every_generated_pair_is_new() {
        let first = generate_key_pair().expect("keys");
        let second = generate_key_pair().expect("keys");
        assert_ne!(first.private_pem, second.private_pem);
        assert_ne!(first.public_pem, second.public_pem);

        let issued = TokenSigner::from_pkcs8_pem(&first.private_pem)
            .expect("signer")
            .issue(&manager(), now())
            .expect("token");
        let other = TokenVerifier::from_public_key_pem(&second.public_pem).expect("verifier");
        assert_eq!(other.verify(&issued.token), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_key_pair_debug_shows_no_private_key() {
        let text = format!("{:?}", *KEY_A);
        assert!(text.contains("PUBLIC KEY"), "{text}");
        assert!(!text.contains("PRIVATE"), "{text}");
        for line in KEY_A
            .private_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
        {
            assert!(!text.contains(line), "{text}");
        }
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let text = format!("{:?} {:?}", signer_a(), verifier_a());
        assert!(text.contains(signer_a().kid()));
        assert!(!text.contains("content"), "{text}");
        let issued = signer_a().issue(&manager(), now()).expect("token");
        assert!(!format!("{issued:?}").contains(&issued.token));
    }
}
