//! Password hashes: argon2id in the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! The cost is the OWASP minimum for argon2id (19 MiB of memory, 2 passes, 1
//! lane), which fits a 256 MB Lambda. A hash records its own parameters, so
//! raising the cost later still verifies the old hashes.

use std::fmt;

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::secret::{SecretError, random_bytes};

/// Memory cost of a new hash, in KiB (19 MiB, OWASP's minimum for argon2id).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Passes over the memory.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Lanes (threads); a Lambda of 256 MB has a fraction of one vCPU.
pub const ARGON2_PARALLELISM: u32 = 1;
/// Bytes of random salt per hash.
pub const SALT_BYTES: usize = 16;

/// Largest memory cost a stored hash may ask for when it is verified: a
/// corrupted or planted hash must not make one login exhaust the function.
pub const MAX_VERIFY_MEMORY_KIB: u32 = 262_144;
/// Largest number of passes a stored hash may ask for.
pub const MAX_VERIFY_ITERATIONS: u32 = 16;

/// Length of a [`generate_password`] password.
pub const GENERATED_PASSWORD_CHARS: usize = 24;

/// A hash of a random, forgotten password with the default parameters, for
/// [`Passwords::verify_dummy`]: verifying against it costs what verifying a
/// real password costs, so an unknown email answers as slowly as a wrong
/// password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$MlXD3EphZTiq8bEzK2l1yg$\
                          /DrL397k5BBa7WNvVwQu6ZS97YOrtN2HJY/t9EMTdfg";

/// Letters and digits that cannot be mistaken for one another when read
/// aloud or copied by hand (no `0 O o 1 l I`), plus a few symbols.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789-_.!";

/// Hashing failed (bad parameters, or no randomness for the salt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The cost parameters are out of argon2's range.
    #[error("invalid argon2 parameters: {0}")]
    Parameters(String),
    /// No salt could be drawn.
    #[error(transparent)]
    Random(#[from] SecretError),
    /// The hash could not be computed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes and verifies passwords with argon2id. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    dummy: String,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish_non_exhaustive()
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    /// The production cost ([`ARGON2_MEMORY_KIB`], [`ARGON2_ITERATIONS`],
    /// [`ARGON2_PARALLELISM`]).
    pub fn new() -> Self {
        let params = Params::new(
            ARGON2_MEMORY_KIB,
            ARGON2_ITERATIONS,
            ARGON2_PARALLELISM,
            None,
        )
        .unwrap_or_default();
        Self {
            params,
            dummy: DUMMY_HASH.to_owned(),
        }
    }

    /// Another cost (tests use a tiny one); computes its own dummy hash.
    pub fn with_cost(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|error| PasswordError::Parameters(error.to_string()))?;
        let mut passwords = Self {
            params,
            dummy: String::new(),
        };
        let forgotten = crate::secret::random_secret()?;
        passwords.dummy = passwords.hash(&forgotten)?;
        Ok(passwords)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string of `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::encode_b64(&random_bytes(SALT_BYTES)?)
            .map_err(|error| PasswordError::Hashing(error.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| PasswordError::Hashing(error.to_string()))
    }

    /// Whether `password` matches the PHC string `hash` (argon2id only, with
    /// the parameters the hash records, within sane bounds). The final
    /// comparison is constant-time; a malformed hash never matches.
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return false;
        }
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        if params.m_cost() > MAX_VERIFY_MEMORY_KIB || params.t_cost() > MAX_VERIFY_ITERATIONS {
            return false;
        }
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    /// Does the work of one [`Passwords::verify`] and always answers no: for
    /// a login whose user does not exist, so that it takes as long as one
    /// with a wrong password.
    pub fn verify_dummy(&self, password: &str) -> bool {
        let _ = self.verify(password, &self.dummy);
        false
    }
}

/// A strong random password of [`GENERATED_PASSWORD_CHARS`] characters from
/// an unambiguous alphabet of 60 (about 140 bits), for the first admin.
pub fn generate_password() -> Result<String, SecretError> {
    // Rejection sampling keeps every character equally likely.
    let limit = u8::MAX - (u8::MAX % PASSWORD_ALPHABET.len() as u8);
    let mut password = String::with_capacity(GENERATED_PASSWORD_CHARS);
    while password.len() < GENERATED_PASSWORD_CHARS {
        for byte in random_bytes(GENERATED_PASSWORD_CHARS * 2)? {
            if byte < limit && password.len() < GENERATED_PASSWORD_CHARS {
                let index = usize::from(byte) % PASSWORD_ALPHABET.len();
                password.push(char::from(PASSWORD_ALPHABET[index]));
            }
        }
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::with_cost(64, 1, 1).expect("cheap parameters")
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let passwords = cheap();
        let hash = passwords.hash("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(passwords.verify("correct horse battery", &hash));
        assert!(!passwords.verify("correct horse batterY", &hash));
        assert!(!passwords.verify("", &hash));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let passwords = cheap();
        let a = passwords.hash("same password here").expect("hash");
        let b = passwords.hash("same password here").expect("hash");
        assert_ne!(a, b);
        assert!(passwords.verify("same password here", &a));
        assert!(passwords.verify("same password here", &b));
    }

    #[test]
    fn production_hashes_use_the_owasp_parameters() {
        let passwords = Passwords::new();
        let hash = passwords.hash("a production password").expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords.verify("a production password", &hash));
        // verification follows the parameters recorded in the hash
        assert!(cheap().verify("a production password", &hash));
    }

    #[test]
    fn the_dummy_hash_has_the_production_parameters_and_never_matches() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("a PHC string");
        let params = Params::try_from(&parsed).expect("params");
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM)
        );
        assert!(!Passwords::new().verify_dummy("anything"));
        assert!(!cheap().verify_dummy(""));
    }

    #[test]
    fn malformed_or_foreign_hashes_never_match() {
        let passwords = cheap();
        for hash in [
            "",
            "plain text",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
            // argon2i, not argon2id
            "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$dGhpcyBpcyBub3QgYSByZWFsIGhhc2g",
            // a memory cost far above the bound
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$dGhpcyBpcyBub3QgYSByZWFsIGhhc2g",
        ] {
            assert!(!passwords.verify("password", hash), "{hash}");
        }
    }

    #[test]
    fn bad_parameters_are_an_error() {
        assert!(matches!(
            Passwords::with_cost(1, 1, 1),
            Err(PasswordError::Parameters(_))
        ));
    }

    #[test]
    fn generated_passwords_are_long_random_and_unambiguous() {
        let a = generate_password().expect("password");
        let b = generate_password().expect("password");
        assert_eq!(a.chars().count(), GENERATED_PASSWORD_CHARS);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
        assert!(!a.contains(['0', 'O', 'o', '1', 'l', 'I']));
    }

    #[test]
    fn debug_output_shows_no_hash() {
        let text = format!("{:?}", Passwords::new());
        assert!(!text.contains("argon2id$"), "{text}");
    }
}
