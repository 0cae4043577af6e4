//! Ports: what the domain needs from the outside world, as traits.
//!
//! Adapters (in `pharmaguard-aws`) implement them on AWS services; tests
//! implement them in memory.
//!
//! - [`ReadingSink`]: the telemetry stream;
//! - [`DeviceRegistry`]: whose a device is, for the telemetry path;
//! - [`IdentityStore`]: organisations, users, devices, refresh tokens and
//!   failed-login counters;
//! - [`AccountStatuses`]: the status of an account, as the authorizer,
//!   `$connect` and the connection sweep read it;
//! - [`AuditLog`]: the append-only audit trail.

use std::future::Future;

use time::OffsetDateTime;

use crate::accounts::lockout::LoginAttempts;
use crate::accounts::session::{DeviceStatus, UserStatus};
use crate::accounts::{Device, Organisation, RefreshToken, User};
use crate::audit::AuditRecord;
use crate::notification::NotificationPolicy;
use crate::telemetry::Reading;

/// Why a reading could not be written to the telemetry stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The stream stayed unavailable or throttled through every retry; writing
    /// the reading again later may succeed.
    #[error("stream unavailable: {0}")]
    Unavailable(String),
    /// The stream refused the write for a reason retrying cannot fix (missing
    /// stream, no permission, record too large).
    #[error("write refused by the stream: {0}")]
    Refused(String),
    /// The reading could not be encoded as a record.
    #[error("reading could not be encoded: {0}")]
    Encoding(String),
}

/// A durable destination for validated readings (the telemetry stream).
pub trait ReadingSink: Send + Sync {
    /// Writes the readings, retrying transient failures as the implementation
    /// sees fit, and returns one result per input reading, in input order.
    /// A reading whose result is `Ok` is durably stored.
    fn put_readings(
        &self,
        readings: &[Reading],
    ) -> impl Future<Output = Vec<Result<(), SinkError>>> + Send;
}

/// The device registry as the telemetry path reads it: a device's
/// organisation and whether it is disabled, never its secret
/// ([`crate::telemetry::provenance`]).
pub trait DeviceRegistry: Send + Sync {
    /// The device with this id, if one is registered; `Err` with a message
    /// when the registry cannot be read now (worth retrying).
    fn registered_device(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<crate::telemetry::RegisteredDevice>, String>> + Send;

    /// The devices with these ids, one result per id in order: what
    /// [`Self::registered_device`] would say of each. By default one read
    /// after another; a registry that can read many items in one request
    /// does.
    fn registered_devices(
        &self,
        device_ids: &[&str],
    ) -> impl Future<Output = Vec<Result<Option<crate::telemetry::RegisteredDevice>, String>>> + Send
    {
        async move {
            let mut found = Vec::with_capacity(device_ids.len());
            for id in device_ids {
                found.push(self.registered_device(id).await);
            }
            found
        }
    }
}

impl From<crate::retry::MissingResult> for SinkError {
    fn from(missing: crate::retry::MissingResult) -> Self {
        SinkError::Unavailable(missing.to_string())
    }
}

// ------------------------------------------------------------------ identity

/// Why the identity store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityStoreError {
    /// Another user has this email already (emails are unique).
    #[error("the email is registered already")]
    EmailTaken,
    /// An entity with this id exists already (device id, or an id collision).
    #[error("{0} exists already")]
    AlreadyExists(String),
    /// The organisation the new user or device belongs to does not exist.
    #[error("no such organisation")]
    OrganisationNotFound,
    /// The entity to change does not exist.
    #[error("not found")]
    NotFound,
    /// The stored version is not the expected one: someone changed the entity
    /// since the caller read it.
    #[error("changed concurrently (now at version {current_version:?})")]
    VersionConflict {
        /// The stored version, when known.
        current_version: Option<u64>,
    },
    /// The store is unavailable or throttled; trying again later may work.
    #[error("identity store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read (a bug, or data written by something else).
    #[error("stored identity data is corrupt: {0}")]
    Corrupt(String),
}

/// What became of a refresh token presented for rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was fresh: it is now used up and its successor stored.
    Rotated,
    /// The token was used up before (by an earlier or a concurrent refresh):
    /// it was copied, and the caller must revoke its family.
    AlreadyUsed,
    /// The token's family was revoked (logout, or a reuse detected before).
    FamilyRevoked,
    /// No such token (never issued, or expired and forgotten).
    Unknown,
}

/// Organisations, users, devices and refresh tokens.
///
/// Every change to an organisation, a user or a device is written in one
/// transaction with the [`AuditRecord`] describing it: both or neither.
pub trait IdentityStore: Send + Sync {
    /// Stores a new organisation.
    fn create_organisation(
        &self,
        organisation: &Organisation,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// Stores a new organisation and its first user in one transaction
    /// (bootstrap); [`IdentityStoreError::EmailTaken`] when the email is
    /// registered already, and then nothing is written.
    fn create_organisation_with_user(
        &self,
        organisation: &Organisation,
        user: &User,
        audit: &[AuditRecord],
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// The organisation with this id.
    fn get_organisation(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Organisation>, IdentityStoreError>> + Send;

    /// Every organisation, by name.
    fn list_organisations(
        &self,
    ) -> impl Future<Output = Result<Vec<Organisation>, IdentityStoreError>> + Send;

    /// The notification policy of an organisation (`None`: it set none, and
    /// [`NotificationPolicy::default`] applies).
    fn get_notification_policy(
        &self,
        org_id: &str,
    ) -> impl Future<Output = Result<Option<NotificationPolicy>, IdentityStoreError>> + Send;

    /// Stores the notification policy of an organisation, with its record, if
    /// the organisation exists ([`IdentityStoreError::OrganisationNotFound`]).
    fn set_notification_policy(
        &self,
        org_id: &str,
        policy: &NotificationPolicy,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// Stores a new user and reserves its email, if the organisation exists
    /// ([`IdentityStoreError::OrganisationNotFound`]) and the email is free
    /// ([`IdentityStoreError::EmailTaken`]): of two concurrent creations with
    /// one email exactly one succeeds.
    fn create_user(
        &self,
        user: &User,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// The user with this id.
    fn get_user(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<User>, IdentityStoreError>> + Send;

    /// The user with this (normalized) email.
    fn find_user_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<User>, IdentityStoreError>> + Send;

    /// The users of an organisation, by email.
    fn list_users(
        &self,
        org_id: &str,
    ) -> impl Future<Output = Result<Vec<User>, IdentityStoreError>> + Send;

    /// Writes `user`'s role, status (`disabled_at`, `tokens_valid_after`),
    /// version and update time if the stored version is `expected_version`
    /// ([`IdentityStoreError::VersionConflict`] otherwise,
    /// [`IdentityStoreError::NotFound`] if the user is gone).
    fn update_user(
        &self,
        user: &User,
        expected_version: u64,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// Registers a new device, if the organisation exists and the id is free
    /// ([`IdentityStoreError::AlreadyExists`]).
    fn create_device(
        &self,
        device: &Device,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// The device with this id.
    fn get_device(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Device>, IdentityStoreError>> + Send;

    /// Writes `device`'s `disabled_at` (set, or removed when `None`) if the
    /// device exists ([`IdentityStoreError::NotFound`] otherwise).
    fn update_device_status(
        &self,
        device: &Device,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// The failed-login counter of a sign-in email
    /// ([`crate::accounts::lockout::login_key`]), if any.
    fn login_attempts(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<LoginAttempts>, IdentityStoreError>> + Send;

    /// Atomically counts one more failed login for `key` at `at` and
    /// returns the failures in a row; a counter whose last failure is before
    /// [`crate::accounts::lockout::forget_before`] starts again from one.
    /// Concurrent failures are all counted.
    fn count_login_failure(
        &self,
        key: &str,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<u32, IdentityStoreError>> + Send;

    /// Refuses logins for `key` until `until` (never shortens a window).
    fn block_login(
        &self,
        key: &str,
        until: OffsetDateTime,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// Resets the counter of `key` (a successful login). Idempotent.
    fn reset_login_failures(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// Starts a refresh-token family (a login) with its first token.
    fn start_refresh_family(
        &self,
        first: &RefreshToken,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;

    /// The refresh token with this fingerprint.
    fn get_refresh_token(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<RefreshToken>, IdentityStoreError>> + Send;

    /// Atomically uses up the token `used_hash` at `at` and stores `next` in
    /// its family, if the token is still fresh and the family not revoked.
    /// Of two concurrent rotations of one token exactly one is
    /// [`Rotation::Rotated`]; the other is [`Rotation::AlreadyUsed`].
    fn rotate_refresh_token(
        &self,
        used_hash: &str,
        next: &RefreshToken,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<Rotation, IdentityStoreError>> + Send;

    /// Revokes a refresh-token family at `at`: none of its tokens refreshes
    /// any more. Idempotent.
    fn revoke_refresh_family(
        &self,
        family_id: &str,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), IdentityStoreError>> + Send;
}

/// The status of accounts, read on every check of a token or connection:
/// a small projection of the user or device item, strongly consistent, so
/// that a disable takes effect with the next check.
pub trait AccountStatuses: Send + Sync {
    /// The status of user `user_id`, if the user exists.
    fn user_status(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<UserStatus>, IdentityStoreError>> + Send;

    /// The status of device `device_id`, if it is registered.
    fn device_status(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<DeviceStatus>, IdentityStoreError>> + Send;
}

// ------------------------------------------------------------------ audit

/// Why an audit record could not be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// A record with this key exists already (records are never overwritten).
    #[error("an audit record with this key exists already")]
    AlreadyExists,
    /// The audit table is unavailable or throttled.
    #[error("audit trail unavailable: {0}")]
    Unavailable(String),
}

/// The append-only audit trail, for records that accompany no other write
/// (stores that change an entity write its record in the same transaction).
pub trait AuditLog: Send + Sync {
    /// Appends one record; never overwrites one.
    fn append(&self, record: &AuditRecord) -> impl Future<Output = Result<(), AuditError>> + Send;
}
