//! Accounts: the stored identities behind [`crate::identity`] — organisations,
//! users, devices and refresh tokens — and the rules their fields follow.
//!
//! - the records ([`Organisation`], [`User`], [`Device`], [`RefreshToken`]);
//!   the ones holding a secret's hash redact it from `Debug` and have no
//!   `Serialize`: their public, audit-safe form is [`User::summary`] /
//!   [`Device::summary`];
//! - [`validation`]: untrusted request bodies into validated requests, with
//!   per-field errors;
//! - [`lockout`]: the failed-login counter, its growing delay and lockout;
//! - [`session`]: whether a token or a WebSocket connection still speaks for
//!   its account (disabled accounts, tokens older than a role change);
//! - `memory` (feature `memory`, for tests): in-memory
//!   [`crate::ports::IdentityStore`] and [`crate::ports::AuditLog`].
//!
//! Secrets are never stored: passwords as argon2id hashes, refresh tokens
//! and device secrets as SHA-256 fingerprints (see `pharmaguard-security`).

pub mod lockout;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod session;
pub mod validation;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::identity::{OrganisationKind, Principal, Role};

pub use validation::{
    ChangeRoleRequest, CreateDeviceRequest, CreateOrganisationRequest, CreateUserRequest,
    DeviceTokenRequest, LoginRequest, MAX_NAME_CHARS, MAX_PASSWORD_CHARS, MAX_SECRET_CHARS,
    MIN_PASSWORD_CHARS, RefreshRequest, normalize_email, parse_change_role_request,
    parse_create_device_request, parse_create_organisation_request, parse_create_user_request,
    parse_device_status_request, parse_device_token_request, parse_login_request,
    parse_refresh_request, parse_user_status_request, validate_password,
};

/// An organisation (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Its id (`org-` and a UUID).
    pub id: String,
    /// Its display name.
    pub name: String,
    /// What kind of organisation it is.
    pub kind: OrganisationKind,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Organisation {
    /// A new organisation with a fresh id.
    pub fn new(
        name: impl Into<String>,
        kind: OrganisationKind,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            id: new_id("org"),
            name: name.into(),
            kind,
            created_at,
        }
    }

    /// Its JSON form (what the API answers and the audit trail records).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A user account. `Debug` hides the password hash; there is deliberately no
/// `Serialize`: use [`User::summary`].
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Its id (`usr-` and a UUID).
    pub id: String,
    /// The sign-in email, normalized (trimmed, lowercase); unique.
    pub email: String,
    /// The person's name.
    pub name: String,
    /// The user's organisation.
    pub org_id: String,
    /// The user's role in it.
    pub role: Role,
    /// The argon2id PHC string of the password.
    pub password_hash: String,
    /// Incremented by every change; changes are conditional on it.
    pub version: u64,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// When it was disabled; `None` while it is enabled.
    pub disabled_at: Option<OffsetDateTime>,
    /// Access tokens issued and WebSocket connections opened before this
    /// are refused, and refresh families started before it refresh no more
    /// (set by a role change and by a disable).
    pub tokens_valid_after: Option<OffsetDateTime>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("org_id", &self.org_id)
            .field("role", &self.role)
            .field("version", &self.version)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// What may be shown of a user: everything but the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The user's id.
    pub id: String,
    /// The sign-in email.
    pub email: String,
    /// The person's name.
    pub name: String,
    /// The organisation.
    pub org_id: String,
    /// The role.
    pub role: Role,
    /// The version to send back with a change.
    pub version: u64,
    /// When the account was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it was disabled; absent while it is enabled.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disabled_at: Option<OffsetDateTime>,
}

impl User {
    /// A new user (version 1) with a fresh id; `password_hash` is the PHC
    /// string of the password, never the password.
    pub fn new(
        request: &CreateUserRequest,
        password_hash: String,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            id: new_id("usr"),
            email: request.email.clone(),
            name: request.name.clone(),
            org_id: request.org_id.clone(),
            role: request.role,
            password_hash,
            version: 1,
            created_at,
            updated_at: created_at,
            disabled_at: None,
            tokens_valid_after: None,
        }
    }

    /// The user as the API shows it and the audit trail records it.
    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            org_id: self.org_id.clone(),
            role: self.role,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            disabled_at: self.disabled_at,
        }
    }

    /// [`User::summary`] as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.summary()).unwrap_or(Value::Null)
    }

    /// The principal the user acts as.
    pub fn principal(&self) -> Principal {
        Principal::User {
            user_id: self.id.clone(),
            org_id: self.org_id.clone(),
            role: self.role,
        }
    }

    /// Whether the account is disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// The user with another role, one version later, changed at `at`: the
    /// tokens, connections and refresh families of the old role end.
    pub fn with_role(&self, role: Role, at: OffsetDateTime) -> Self {
        Self {
            role,
            version: self.version + 1,
            updated_at: at,
            tokens_valid_after: Some(at),
            ..self.clone()
        }
    }

    /// The user disabled at `at`, one version later: every token,
    /// connection and refresh family of theirs ends.
    pub fn disabled(&self, at: OffsetDateTime) -> Self {
        Self {
            version: self.version + 1,
            updated_at: at,
            disabled_at: Some(at),
            tokens_valid_after: Some(at),
            ..self.clone()
        }
    }

    /// The user enabled again at `at`, one version later (they sign in
    /// anew: nothing issued before the disable comes back).
    pub fn enabled(&self, at: OffsetDateTime) -> Self {
        Self {
            version: self.version + 1,
            updated_at: at,
            disabled_at: None,
            ..self.clone()
        }
    }
}

/// A registered device (a truck's sensor). `Debug` hides the secret's hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// The device id (the `device_id` of its readings).
    pub id: String,
    /// The organisation that registered it.
    pub org_id: String,
    /// A display name.
    pub name: String,
    /// SHA-256 (hex) of the device secret.
    pub secret_hash: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it was disabled; `None` while it is enabled.
    pub disabled_at: Option<OffsetDateTime>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// What may be shown of a device: everything but the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// The device id.
    pub device_id: String,
    /// Its organisation.
    pub org_id: String,
    /// Its display name.
    pub name: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was disabled; absent while it is enabled.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disabled_at: Option<OffsetDateTime>,
}

impl Device {
    /// The device as the API shows it and the audit trail records it.
    pub fn summary(&self) -> DeviceSummary {
        DeviceSummary {
            device_id: self.id.clone(),
            org_id: self.org_id.clone(),
            name: self.name.clone(),
            created_at: self.created_at,
            disabled_at: self.disabled_at,
        }
    }

    /// Whether the device is disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// [`Device::summary`] as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.summary()).unwrap_or(Value::Null)
    }

    /// The principal the device acts as.
    pub fn principal(&self) -> Principal {
        Principal::Device {
            device_id: self.id.clone(),
            org_id: self.org_id.clone(),
        }
    }
}

/// A refresh token as stored: only its fingerprint.
///
/// Tokens form families: a login starts one, and each refresh uses up one
/// token of the family and adds the next. A token used a second time means
/// it was copied: the whole family is revoked. Every token of a family
/// expires when the family does,
/// [`crate::identity::REFRESH_FAMILY_LIFETIME`] after the login: rotation
/// never extends it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// The family (one per login).
    pub family_id: String,
    /// The user it refreshes.
    pub user_id: String,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When its family was started (the login).
    pub family_started_at: OffsetDateTime,
    /// When it stops being accepted (and the store may forget it).
    pub expires_at: OffsetDateTime,
    /// When it was used up by a refresh; `None` while it is fresh.
    pub used_at: Option<OffsetDateTime>,
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("family_id", &self.family_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

impl RefreshToken {
    /// The first token of a new family `family_id` for `user_id`, started by
    /// a login at `issued_at`; it and its successors expire
    /// [`crate::identity::REFRESH_FAMILY_LIFETIME`] later (to the whole
    /// second below).
    pub fn new(
        token_hash: impl Into<String>,
        family_id: impl Into<String>,
        user_id: impl Into<String>,
        issued_at: OffsetDateTime,
    ) -> Self {
        Self {
            token_hash: token_hash.into(),
            family_id: family_id.into(),
            user_id: user_id.into(),
            issued_at,
            family_started_at: issued_at,
            expires_at: family_end(issued_at),
            used_at: None,
        }
    }

    /// The token that replaces this one at `issued_at`: same family, same
    /// end of the family.
    pub fn successor(&self, token_hash: impl Into<String>, issued_at: OffsetDateTime) -> Self {
        Self {
            token_hash: token_hash.into(),
            family_id: self.family_id.clone(),
            user_id: self.user_id.clone(),
            issued_at,
            family_started_at: self.family_started_at,
            expires_at: family_end(self.family_started_at),
            used_at: None,
        }
    }

    /// Seconds left at `now` until the family ends (0 once it has).
    pub fn seconds_left(&self, now: OffsetDateTime) -> u64 {
        u64::try_from((self.expires_at - now).whole_seconds()).unwrap_or(0)
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

/// When a family started at `started_at` ends: whole seconds (stores keep
/// it as epoch seconds, for TTL).
fn family_end(started_at: OffsetDateTime) -> OffsetDateTime {
    let end = started_at + crate::identity::REFRESH_FAMILY_LIFETIME;
    end.replace_nanosecond(0).unwrap_or(end)
}

/// A fresh id: `prefix-` and a random UUID.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);

    fn user() -> User {
        User::new(
            &CreateUserRequest {
                email: "ana@example.org".into(),
                name: "Ana".into(),
                password: "a long enough password".into(),
                role: Role::Pharmacist,
                org_id: "org-a".into(),
            },
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            AT,
        )
    }

    #[test]
    fn a_user_never_shows_its_password_hash() {
        let user = user();
        assert!(!format!("{user:?}").contains("argon2id"));
        let json = user.to_json();
        assert!(!json.to_string().contains("argon2id"), "{json}");
        assert_eq!(json["email"], "ana@example.org");
        assert_eq!(json["role"], "PHARMACIST");
        assert_eq!(json["version"], 1);
        assert_eq!(json["created_at"], "2026-11-21T08:00:00Z");
        assert!(user.id.starts_with("usr-"));
    }

    #[test]
    fn a_role_change_is_a_new_version() {
        let user = user();
        let later = AT + time::Duration::hours(1);
        let changed = user.with_role(Role::Driver, later);
        assert_eq!(
            (changed.role, changed.version, changed.updated_at),
            (Role::Driver, 2, later)
        );
        assert_eq!(changed.created_at, user.created_at);
        assert_eq!(
            changed.principal(),
            Principal::User {
                user_id: user.id.clone(),
                org_id: "org-a".into(),
                role: Role::Driver
            }
        );
    }

    #[test]
    fn a_device_never_shows_its_secret_hash() {
        let device = Device {
            id: "truck-7".into(),
            org_id: "org-a".into(),
            name: "Truck 7".into(),
            secret_hash: "deadbeef".into(),
            created_at: AT,
            disabled_at: None,
        };
        assert!(!format!("{device:?}").contains("deadbeef"));
        assert!(!device.to_json().to_string().contains("deadbeef"));
        assert_eq!(device.to_json()["device_id"], "truck-7");
        assert_eq!(
            device.principal(),
            Principal::Device {
                device_id: "truck-7".into(),
                org_id: "org-a".into()
            }
        );
    }

    #[test]
    fn refresh_tokens_expire_with_their_family_whatever_the_rotations() {
        let token = RefreshToken::new("f00dfeed", "fam-1", "usr-1", AT);
        assert_eq!(token.expires_at, AT + time::Duration::hours(10));
        assert!(!token.is_expired(AT + time::Duration::hours(9)));
        assert!(token.is_expired(AT + time::Duration::hours(10)));
        assert!(!format!("{token:?}").contains("f00dfeed"));

        // rotated every hour: the family still ends 10 h after the login
        let mut last = token.clone();
        for hour in 1..=9 {
            last = last.successor(format!("h{hour}"), AT + time::Duration::hours(hour));
            assert_eq!(last.family_id, "fam-1");
            assert_eq!(last.expires_at, AT + time::Duration::hours(10));
            assert_eq!(last.family_started_at, AT);
        }
        assert_eq!(last.seconds_left(AT + time::Duration::hours(9)), 3600);
        assert_eq!(last.seconds_left(AT + time::Duration::hours(11)), 0);
    }

    #[test]
    fn a_disable_ends_every_token_and_an_enable_brings_none_back() {
        let user = user();
        let at = AT + time::Duration::hours(1);
        let disabled = user.disabled(at);
        assert!(disabled.is_disabled());
        assert_eq!(disabled.version, 2);
        assert_eq!(disabled.tokens_valid_after, Some(at));
        assert_eq!(disabled.to_json()["disabled_at"], "2026-11-21T09:00:00Z");
        let later = at + time::Duration::minutes(5);
        let enabled = disabled.enabled(later);
        assert!(!enabled.is_disabled());
        assert_eq!(enabled.version, 3);
        assert_eq!(enabled.tokens_valid_after, Some(at));
        assert!(enabled.to_json().get("disabled_at").is_none());
        assert_eq!(
            user.with_role(Role::Driver, at).tokens_valid_after,
            Some(at)
        );
    }

    #[test]
    fn organisations_have_prefixed_ids_and_json() {
        let org = Organisation::new("St. Mary", OrganisationKind::Hospital, AT);
        assert!(org.id.starts_with("org-"));
        assert_eq!(org.to_json()["kind"], "HOSPITAL");
        assert_ne!(
            org.id,
            Organisation::new("St. Mary", OrganisationKind::Hospital, AT).id
        );
    }
}
