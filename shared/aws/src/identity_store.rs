//! Organisations, users, devices and refresh tokens on DynamoDB: the
//! [`IdentityStore`] of the platform.
//!
//! # Table
//!
//! The identity table (env [`IDENTITY_TABLE_VAR`]) has string keys `pk`
//! (hash) and `sk` (range), a global secondary index [`GSI1`] on
//! `gsi1pk`/`gsi1sk` (projection ALL) and TTL on `expires_at` (epoch seconds).
//! Every item carries `entity`.
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` | other attributes |
//! |---|---|---|---|---|
//! | organisation | `ORG#<id>` | `ORG` | `ORGS` / `<lowercase name>#<id>` | `id`, `name`, `kind`, `created_at` |
//! | its notification policy | `ORG#<id>` | `NOTIFICATIONS` | — | `org_id`, `policy` (JSON), `updated_at` (see [`crate::org_notices`]) |
//! | user | `USER#<id>` | `USER` | `ORG#<org>#USERS` / `<email>` | `id`, `email`, `name`, `org_id`, `role`, `password_hash`, `version`, `created_at`, `updated_at`, `disabled_at` (while disabled), `tokens_valid_after` (after a role change or a disable) |
//! | unique email | `EMAIL#<email>` | `EMAIL` | — | `user_id` |
//! | device | `DEVICE#<id>` | `DEVICE` | `ORG#<org>#DEVICES` / `<id>` | `id`, `org_id`, `name`, `secret_hash`, `created_at`, `disabled_at` (while disabled) |
//! | refresh token | `REFRESH#<sha256>` | `REFRESH` | — | `family_id`, `user_id`, `issued_at`, `family_started_at`, `expires_at`, `used_at` (once used) |
//! | refresh family | `FAMILY#<id>` | `FAMILY` | — | `user_id`, `created_at`, `rotated_at`, `expires_at`, `revoked_at` (once revoked) |
//! | failed-login counter | `LOGIN#<email>` | `LOGIN` | — | `failures`, `last_failure_at` and `blocked_until` (epoch milliseconds), `expires_at` |
//!
//! Other functions read the device item's `org_id` and `disabled_at`, and
//! the authorizer, `$connect` and the connection sweep read the user item's
//! `org_id`, `role`, `disabled_at` and `tokens_valid_after`, each with a
//! projection ([`DynamoAccountStatuses`]): keep these names.
//!
//! Emails are stored normalized (lowercase). Times are RFC 3339 strings,
//! except `expires_at` (epoch seconds, for TTL) and the login counter's.
//!
//! # Writes
//!
//! Every change to an organisation, a user or a device is one
//! `TransactWriteItems` with its audit record ([`crate::audit::audit_put`]):
//!
//! - organisation: `Put` (`attribute_not_exists(pk)`) + audit;
//! - user: `ConditionCheck` of the organisation (`attribute_exists(pk)`),
//!   `Put` user and `Put` email, both `attribute_not_exists(pk)` (so two users
//!   never share an email), + audit;
//! - role change, disable, enable: `Update` user `SET role, version,
//!   updated_at, tokens_valid_after` and `SET` or `REMOVE disabled_at` on
//!   `version = :expected` + audit;
//! - device disable, enable: `Update` device `SET` or `REMOVE disabled_at`
//!   on `attribute_exists(pk)` + audit;
//! - device: `ConditionCheck` of the organisation, `Put` device
//!   (`attribute_not_exists(pk)`) + audit.
//!
//! Refresh tokens: a login `Put`s a family and its first token. A refresh is
//! one transaction: `Update` the presented token `SET used_at` on
//! `attribute_exists(pk) AND attribute_not_exists(used_at)`, `Update` the
//! family (`SET rotated_at`; its `expires_at`, 10 h after the login, stays)
//! on `attribute_exists(pk) AND attribute_not_exists(revoked_at)`, and `Put`
//! the next token. Two refreshes
//! with one token cannot both commit: the second finds `used_at` set and is
//! told [`Rotation::AlreadyUsed`], upon which the caller revokes the family
//! (`SET revoked_at`). A role change or a disable voids all of a user's
//! families at once through `tokens_valid_after`: `auth` refuses (and
//! revokes) a family started before it. Reads are strongly consistent.
//!
//! Failed logins: `UpdateItem ADD failures :one` on `last_failure_at >
//! :forget_before` (so concurrent failures are all counted), or a fresh
//! `Put` with `failures = 1` when the counter is absent or forgotten; a
//! window is `SET blocked_until` on `blocked_until < :until`; a success sets
//! `failures = 0` and removes the window (no `DeleteItem`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use pharmaguard_domain::accounts::lockout::{self, LoginAttempts};
use pharmaguard_domain::accounts::session::{DeviceStatus, UserStatus};
use pharmaguard_domain::accounts::{Device, Organisation, RefreshToken, User};
use pharmaguard_domain::audit::AuditRecord;
use pharmaguard_domain::identity::{OrganisationKind, Role};
use pharmaguard_domain::notification::NotificationPolicy;
use pharmaguard_domain::ports::{AccountStatuses, IdentityStore, IdentityStoreError, Rotation};
use time::OffsetDateTime;
use tracing::{debug, warn};

use crate::audit::audit_put;
use crate::dynamo::{
    CancellationReason, Item, cancellation_reasons, describe, epoch, epoch_n, n, number_u64,
    optional_time, query_all, s, text, time, time_s,
};
use crate::org_notices::{NOTIFICATIONS_SK, policy_from_item, policy_item};

/// Environment variable naming the identity table.
pub const IDENTITY_TABLE_VAR: &str = "IDENTITY_TABLE";
/// The global secondary index listing organisations and users.
pub const GSI1: &str = "gsi1";
/// `gsi1pk` of every organisation.
pub const ORGS_GSI1PK: &str = "ORGS";

const NEW: &str = "attribute_not_exists(pk)";
const EXISTS: &str = "attribute_exists(pk)";

/// `pk` of an organisation.
pub fn org_pk(id: &str) -> String {
    format!("ORG#{id}")
}
/// `pk` of a user.
pub fn user_pk(id: &str) -> String {
    format!("USER#{id}")
}
/// `pk` of an email reservation.
pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", email.to_lowercase())
}
/// `pk` of a device.
pub fn device_pk(id: &str) -> String {
    format!("DEVICE#{id}")
}
/// `pk` of a refresh token (by fingerprint).
pub fn refresh_pk(token_hash: &str) -> String {
    format!("REFRESH#{token_hash}")
}
/// `pk` of a refresh-token family.
pub fn family_pk(id: &str) -> String {
    format!("FAMILY#{id}")
}
/// `pk` of a sign-in email's failed-login counter.
pub fn login_pk(key: &str) -> String {
    format!("LOGIN#{key}")
}
/// `gsi1pk` of an organisation's users.
pub fn org_users_gsi1pk(org_id: &str) -> String {
    format!("ORG#{org_id}#USERS")
}
/// `gsi1pk` of an organisation's devices.
pub fn org_devices_gsi1pk(org_id: &str) -> String {
    format!("ORG#{org_id}#DEVICES")
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn corrupt(what: &str, message: impl std::fmt::Display) -> IdentityStoreError {
    IdentityStoreError::Corrupt(format!("{what}: {message}"))
}

// ------------------------------------------------------------------ items

/// The item of an organisation.
pub fn organisation_item(org: &Organisation) -> Item {
    Item::from([
        ("pk".to_owned(), s(org_pk(&org.id))),
        ("sk".to_owned(), s("ORG")),
        ("entity".to_owned(), s("ORGANISATION")),
        ("gsi1pk".to_owned(), s(ORGS_GSI1PK)),
        (
            "gsi1sk".to_owned(),
            s(format!("{}#{}", org.name.to_lowercase(), org.id)),
        ),
        ("id".to_owned(), s(&org.id)),
        ("name".to_owned(), s(&org.name)),
        ("kind".to_owned(), s(org.kind.as_str())),
        ("created_at".to_owned(), time_s(org.created_at)),
    ])
}

/// The organisation of an item.
pub fn organisation_from_item(item: &Item) -> Result<Organisation, IdentityStoreError> {
    let read = || -> Result<Organisation, String> {
        Ok(Organisation {
            id: text(item, "id")?,
            name: text(item, "name")?,
            kind: text(item, "kind")?
                .parse::<OrganisationKind>()
                .map_err(|e| e.to_string())?,
            created_at: time(item, "created_at")?,
        })
    };
    read().map_err(|e| corrupt("organisation item", e))
}

/// The item of a user.
pub fn user_item(user: &User) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(user_pk(&user.id))),
        ("sk".to_owned(), s("USER")),
        ("entity".to_owned(), s("USER")),
        ("gsi1pk".to_owned(), s(org_users_gsi1pk(&user.org_id))),
        ("gsi1sk".to_owned(), s(&user.email)),
        ("id".to_owned(), s(&user.id)),
        ("email".to_owned(), s(&user.email)),
        ("name".to_owned(), s(&user.name)),
        ("org_id".to_owned(), s(&user.org_id)),
        ("role".to_owned(), s(user.role.as_str())),
        ("password_hash".to_owned(), s(&user.password_hash)),
        ("version".to_owned(), n(user.version)),
        ("created_at".to_owned(), time_s(user.created_at)),
        ("updated_at".to_owned(), time_s(user.updated_at)),
    ]);
    if let Some(at) = user.disabled_at {
        item.insert("disabled_at".to_owned(), time_s(at));
    }
    if let Some(at) = user.tokens_valid_after {
        item.insert("tokens_valid_after".to_owned(), time_s(at));
    }
    item
}

/// The user of an item.
pub fn user_from_item(item: &Item) -> Result<User, IdentityStoreError> {
    let read = || -> Result<User, String> {
        Ok(User {
            id: text(item, "id")?,
            email: text(item, "email")?,
            name: text(item, "name")?,
            org_id: text(item, "org_id")?,
            role: text(item, "role")?
                .parse::<Role>()
                .map_err(|e| e.to_string())?,
            password_hash: text(item, "password_hash")?,
            version: number_u64(item, "version")?,
            created_at: time(item, "created_at")?,
            updated_at: time(item, "updated_at")?,
            disabled_at: optional_time(item, "disabled_at")?,
            tokens_valid_after: optional_time(item, "tokens_valid_after")?,
        })
    };
    read().map_err(|e| corrupt("user item", e))
}

/// The item reserving a user's email.
pub fn email_item(user: &User) -> Item {
    Item::from([
        ("pk".to_owned(), s(email_pk(&user.email))),
        ("sk".to_owned(), s("EMAIL")),
        ("entity".to_owned(), s("EMAIL")),
        ("user_id".to_owned(), s(&user.id)),
    ])
}

/// The item of a device.
pub fn device_item(device: &Device) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(device_pk(&device.id))),
        ("sk".to_owned(), s("DEVICE")),
        ("entity".to_owned(), s("DEVICE")),
        ("gsi1pk".to_owned(), s(org_devices_gsi1pk(&device.org_id))),
        ("gsi1sk".to_owned(), s(&device.id)),
        ("id".to_owned(), s(&device.id)),
        ("org_id".to_owned(), s(&device.org_id)),
        ("name".to_owned(), s(&device.name)),
        ("secret_hash".to_owned(), s(&device.secret_hash)),
        ("created_at".to_owned(), time_s(device.created_at)),
    ]);
    if let Some(at) = device.disabled_at {
        item.insert("disabled_at".to_owned(), time_s(at));
    }
    item
}

/// The device of an item.
pub fn device_from_item(item: &Item) -> Result<Device, IdentityStoreError> {
    let read = || -> Result<Device, String> {
        Ok(Device {
            id: text(item, "id")?,
            org_id: text(item, "org_id")?,
            name: text(item, "name")?,
            secret_hash: text(item, "secret_hash")?,
            created_at: time(item, "created_at")?,
            disabled_at: optional_time(item, "disabled_at")?,
        })
    };
    read().map_err(|e| corrupt("device item", e))
}

/// The item of a refresh token.
pub fn refresh_item(token: &RefreshToken) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(refresh_pk(&token.token_hash))),
        ("sk".to_owned(), s("REFRESH")),
        ("entity".to_owned(), s("REFRESH_TOKEN")),
        ("token_hash".to_owned(), s(&token.token_hash)),
        ("family_id".to_owned(), s(&token.family_id)),
        ("user_id".to_owned(), s(&token.user_id)),
        ("issued_at".to_owned(), time_s(token.issued_at)),
        (
            "family_started_at".to_owned(),
            time_s(token.family_started_at),
        ),
        ("expires_at".to_owned(), epoch_n(token.expires_at)),
    ]);
    if let Some(used_at) = token.used_at {
        item.insert("used_at".to_owned(), time_s(used_at));
    }
    item
}

/// The refresh token of an item.
pub fn refresh_from_item(item: &Item) -> Result<RefreshToken, IdentityStoreError> {
    let read = || -> Result<RefreshToken, String> {
        let issued_at = time(item, "issued_at")?;
        Ok(RefreshToken {
            token_hash: text(item, "token_hash")?,
            family_id: text(item, "family_id")?,
            user_id: text(item, "user_id")?,
            issued_at,
            // tokens stored before families had a start: their own issue time
            family_started_at: optional_time(item, "family_started_at")?.unwrap_or(issued_at),
            expires_at: epoch(item, "expires_at")?,
            used_at: optional_time(item, "used_at")?,
        })
    };
    read().map_err(|e| corrupt("refresh token item", e))
}

/// The item of a new refresh-token family started by `first`.
pub fn family_item(first: &RefreshToken) -> Item {
    Item::from([
        ("pk".to_owned(), s(family_pk(&first.family_id))),
        ("sk".to_owned(), s("FAMILY")),
        ("entity".to_owned(), s("REFRESH_FAMILY")),
        ("user_id".to_owned(), s(&first.user_id)),
        ("created_at".to_owned(), time_s(first.issued_at)),
        ("rotated_at".to_owned(), time_s(first.issued_at)),
        ("expires_at".to_owned(), epoch_n(first.expires_at)),
    ])
}

/// A time as epoch milliseconds (a number attribute that compares in order).
fn millis_n(at: OffsetDateTime) -> AttributeValue {
    n(at.unix_timestamp_nanos() / 1_000_000)
}

fn millis(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, String> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(value)) => value
            .parse::<i64>()
            .ok()
            .and_then(|ms| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
            })
            .map(Some)
            .ok_or_else(|| format!("{name} is not epoch milliseconds in range")),
        Some(_) => Err(format!("{name} is not a number")),
    }
}

/// The item of a sign-in email's first counted failure at `at`.
pub fn first_failure_item(key_: &str, at: OffsetDateTime) -> Item {
    Item::from([
        ("pk".to_owned(), s(login_pk(key_))),
        ("sk".to_owned(), s("LOGIN")),
        ("entity".to_owned(), s("LOGIN_ATTEMPTS")),
        ("failures".to_owned(), n(1)),
        ("last_failure_at".to_owned(), millis_n(at)),
        ("expires_at".to_owned(), epoch_n(lockout::expires_at(at))),
    ])
}

/// The failed-login counter of an item.
pub fn login_attempts_from_item(item: &Item) -> Result<LoginAttempts, IdentityStoreError> {
    let read = || -> Result<LoginAttempts, String> {
        Ok(LoginAttempts {
            failures: u32::try_from(number_u64(item, "failures")?).unwrap_or(u32::MAX),
            last_failure_at: millis(item, "last_failure_at")?
                .ok_or_else(|| "last_failure_at is missing".to_owned())?,
            blocked_until: millis(item, "blocked_until")?,
        })
    };
    read().map_err(|e| corrupt("login counter item", e))
}

/// The status of a user from its projected item.
pub fn user_status_from_item(item: &Item) -> Result<UserStatus, IdentityStoreError> {
    let read = || -> Result<UserStatus, String> {
        Ok(UserStatus {
            org_id: text(item, "org_id")?,
            role: text(item, "role")?
                .parse::<Role>()
                .map_err(|e| e.to_string())?,
            disabled_at: optional_time(item, "disabled_at")?,
            tokens_valid_after: optional_time(item, "tokens_valid_after")?,
        })
    };
    read().map_err(|e| corrupt("user item", e))
}

/// The status of a device from its projected item.
pub fn device_status_from_item(item: &Item) -> Result<DeviceStatus, IdentityStoreError> {
    let read = || -> Result<DeviceStatus, String> {
        Ok(DeviceStatus {
            org_id: text(item, "org_id")?,
            disabled_at: optional_time(item, "disabled_at")?,
        })
    };
    read().map_err(|e| corrupt("device item", e))
}

// ------------------------------------------------------------------ transactions

fn put(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, IdentityStoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn organisation_exists(table: &str, org_id: &str) -> Result<TransactWriteItem, IdentityStoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key(org_pk(org_id), "ORG")))
        .condition_expression(EXISTS)
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// The items of a new organisation: the organisation (new) and its record.
pub fn create_organisation_transaction(
    table: &str,
    audit_table: &str,
    org: &Organisation,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    Ok(vec![
        put(table, organisation_item(org), NEW)?,
        audit_put(audit_table, audit),
    ])
}

/// The items of a new organisation with its first user: organisation, user
/// and email (all new) and the records.
pub fn create_organisation_with_user_transaction(
    table: &str,
    audit_table: &str,
    org: &Organisation,
    user: &User,
    audit: &[AuditRecord],
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    let mut items = vec![
        put(table, organisation_item(org), NEW)?,
        put(table, user_item(user), NEW)?,
        put(table, email_item(user), NEW)?,
    ];
    items.extend(audit.iter().map(|record| audit_put(audit_table, record)));
    Ok(items)
}

/// The items of a new user: its organisation (must exist), the user and its
/// email (both new) and the record.
pub fn create_user_transaction(
    table: &str,
    audit_table: &str,
    user: &User,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    Ok(vec![
        organisation_exists(table, &user.org_id)?,
        put(table, user_item(user), NEW)?,
        put(table, email_item(user), NEW)?,
        audit_put(audit_table, audit),
    ])
}

/// The items of a change to a user (role, disable, enable): the user (only
/// at `expected_version`) and the record.
pub fn update_user_transaction(
    table: &str,
    audit_table: &str,
    user: &User,
    expected_version: u64,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    let mut set = vec![
        "#role = :role",
        "version = :version",
        "updated_at = :updated_at",
    ];
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key(user_pk(&user.id), "USER")))
        .condition_expression("version = :expected")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":role", s(user.role.as_str()))
        .expression_attribute_values(":version", n(user.version))
        .expression_attribute_values(":updated_at", time_s(user.updated_at))
        .expression_attribute_values(":expected", n(expected_version));
    if let Some(at) = user.tokens_valid_after {
        set.push("tokens_valid_after = :valid_after");
        update = update.expression_attribute_values(":valid_after", time_s(at));
    }
    let expression = match user.disabled_at {
        Some(at) => {
            set.push("disabled_at = :disabled_at");
            update = update.expression_attribute_values(":disabled_at", time_s(at));
            format!("SET {}", set.join(", "))
        }
        None => format!("SET {} REMOVE disabled_at", set.join(", ")),
    };
    let update = update
        .update_expression(expression)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    Ok(vec![
        TransactWriteItem::builder().update(update).build(),
        audit_put(audit_table, audit),
    ])
}

/// The items of a device's disable or enable: the device (must exist) and
/// the record.
pub fn update_device_status_transaction(
    table: &str,
    audit_table: &str,
    device: &Device,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(device_pk(&device.id), "DEVICE")))
        .condition_expression(EXISTS);
    let update = match device.disabled_at {
        Some(at) => update
            .update_expression("SET disabled_at = :disabled_at")
            .expression_attribute_values(":disabled_at", time_s(at)),
        None => update.update_expression("REMOVE disabled_at"),
    };
    let update = update
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    Ok(vec![
        TransactWriteItem::builder().update(update).build(),
        audit_put(audit_table, audit),
    ])
}

/// The items of a new device: its organisation (must exist), the device
/// (new) and the record.
pub fn create_device_transaction(
    table: &str,
    audit_table: &str,
    device: &Device,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    Ok(vec![
        organisation_exists(table, &device.org_id)?,
        put(table, device_item(device), NEW)?,
        audit_put(audit_table, audit),
    ])
}

/// The items of a rotation: the used token (must exist, unused), its family
/// (must exist, unrevoked; its expiry stays) and the next token.
pub fn rotate_transaction(
    table: &str,
    used_hash: &str,
    next: &RefreshToken,
    at: OffsetDateTime,
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    let use_up = Update::builder()
        .table_name(table)
        .set_key(Some(key(refresh_pk(used_hash), "REFRESH")))
        .update_expression("SET used_at = :at")
        .condition_expression("attribute_exists(pk) AND attribute_not_exists(used_at)")
        .expression_attribute_values(":at", time_s(at))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    // the family's end is not moved: rotation never extends a family
    let touch_family = Update::builder()
        .table_name(table)
        .set_key(Some(key(family_pk(&next.family_id), "FAMILY")))
        .update_expression("SET rotated_at = :at")
        .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
        .expression_attribute_values(":at", time_s(at))
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    Ok(vec![
        TransactWriteItem::builder().update(use_up).build(),
        TransactWriteItem::builder().update(touch_family).build(),
        put(table, refresh_item(next), NEW)?,
    ])
}

// ------------------------------------------------------------------ outcomes

/// A failed transaction: per-item reasons when it was cancelled.
enum TransactionFailure {
    Cancelled(Vec<CancellationReason>),
    Failed(IdentityStoreError),
}

fn failed_at(reasons: &[CancellationReason], index: usize) -> bool {
    reasons
        .get(index)
        .is_some_and(CancellationReason::condition_failed)
}

fn any_failed(reasons: &[CancellationReason]) -> bool {
    reasons.iter().any(CancellationReason::condition_failed)
}

/// What a cancelled creation of a user means (items as in
/// [`create_user_transaction`]).
fn user_creation_error(reasons: &[CancellationReason]) -> IdentityStoreError {
    if failed_at(reasons, 0) {
        IdentityStoreError::OrganisationNotFound
    } else if failed_at(reasons, 2) {
        IdentityStoreError::EmailTaken
    } else if failed_at(reasons, 1) {
        IdentityStoreError::AlreadyExists("user".to_owned())
    } else if failed_at(reasons, 3) {
        IdentityStoreError::AlreadyExists("audit record".to_owned())
    } else {
        unavailable(reasons)
    }
}

/// What a cancelled rotation means (items as in [`rotate_transaction`]),
/// before looking at the token itself.
fn rotation_outcome(reasons: &[CancellationReason]) -> Option<Rotation> {
    if failed_at(reasons, 1) {
        Some(Rotation::FamilyRevoked)
    } else if failed_at(reasons, 0) {
        // The token is missing or used: its old image (if returned) says which.
        reasons
            .first()
            .and_then(|reason| reason.item.as_ref())
            .map(|_| Rotation::AlreadyUsed)
    } else {
        None
    }
}

/// A cancellation without a failed condition: conflicts with concurrent
/// transactions, throttling. Trying again later may work.
fn unavailable(reasons: &[CancellationReason]) -> IdentityStoreError {
    let codes: Vec<&str> = reasons.iter().map(|reason| reason.code.as_str()).collect();
    IdentityStoreError::Unavailable(format!("transaction cancelled: {}", codes.join(", ")))
}

fn read_failed<E, R>(error: &SdkError<E, R>, what: &str) -> IdentityStoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = describe(error);
    warn!(error = %message, "{what}");
    IdentityStoreError::Unavailable(message)
}

// ------------------------------------------------------------------ account statuses

/// The attributes [`DynamoAccountStatuses`] reads of a user item.
pub const USER_STATUS_ATTRIBUTES: [&str; 4] =
    ["org_id", "role", "disabled_at", "tokens_valid_after"];
/// The attributes [`DynamoAccountStatuses`] reads of a device item.
pub const DEVICE_STATUS_ATTRIBUTES: [&str; 2] = ["org_id", "disabled_at"];

/// The statuses of accounts on the identity table: one strongly consistent
/// `GetItem` with a projection per check, and nothing else (the authorizer,
/// `ws-connect` and `ws-broadcast` may read only these attributes of
/// `USER#…` and `DEVICE#…` items).
#[derive(Debug, Clone)]
pub struct DynamoAccountStatuses {
    /// The client, built once per cold start.
    pub client: Client,
    /// The identity table.
    pub table: String,
}

impl DynamoAccountStatuses {
    /// The statuses in `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn projected(
        &self,
        pk: String,
        sk: &str,
        attributes: &[&str],
    ) -> Result<Option<Item>, IdentityStoreError> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true);
        let mut names = Vec::new();
        for (index, attribute) in attributes.iter().enumerate() {
            let name = format!("#a{index}");
            request = request.expression_attribute_names(&name, *attribute);
            names.push(name);
        }
        request
            .projection_expression(names.join(", "))
            .send()
            .await
            .map(|output| output.item)
            .map_err(|error| read_failed(&error, "account status not read"))
    }
}

impl AccountStatuses for DynamoAccountStatuses {
    async fn user_status(&self, user_id: &str) -> Result<Option<UserStatus>, IdentityStoreError> {
        self.projected(user_pk(user_id), "USER", &USER_STATUS_ATTRIBUTES)
            .await?
            .map(|item| user_status_from_item(&item))
            .transpose()
    }

    async fn device_status(
        &self,
        device_id: &str,
    ) -> Result<Option<DeviceStatus>, IdentityStoreError> {
        self.projected(device_pk(device_id), "DEVICE", &DEVICE_STATUS_ATTRIBUTES)
            .await?
            .map(|item| device_status_from_item(&item))
            .transpose()
    }
}

// ------------------------------------------------------------------ the store

/// The identity and audit tables on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoIdentityStore {
    /// The client, built once per cold start.
    pub client: Client,
    /// The identity table.
    pub table: String,
    /// The audit table.
    pub audit_table: String,
}

impl DynamoIdentityStore {
    /// A store on `table` and `audit_table` through `client`.
    pub fn new(client: Client, table: impl Into<String>, audit_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            audit_table: audit_table.into(),
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactionFailure> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match cancellation_reasons(&error) {
                Some(reasons) => {
                    debug!(
                        reasons = ?reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
                        "transaction cancelled"
                    );
                    Err(TransactionFailure::Cancelled(reasons))
                }
                None => {
                    let message = describe(&error);
                    warn!(error = %message, "identity transaction failed");
                    Err(TransactionFailure::Failed(IdentityStoreError::Unavailable(
                        message,
                    )))
                }
            },
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, IdentityStoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map(|output| output.item)
            .map_err(|error| {
                let message = describe(&error);
                warn!(error = %message, "identity read failed");
                IdentityStoreError::Unavailable(message)
            })
    }

    /// Every item of a `gsi1` partition, in `gsi1sk` order.
    async fn query_gsi1(&self, gsi1pk: String) -> Result<Vec<Item>, IdentityStoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(gsi1pk));
        query_all(query).await.map_err(|error| {
            let message = describe(&error);
            warn!(error = %message, "identity query failed");
            IdentityStoreError::Unavailable(message)
        })
    }

    /// Runs a creation whose only possible condition failure is a duplicate
    /// key at index 0 (or its audit record).
    async fn create(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
    ) -> Result<(), IdentityStoreError> {
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) if any_failed(&reasons) => {
                Err(IdentityStoreError::AlreadyExists(what.to_owned()))
            }
            Err(TransactionFailure::Cancelled(reasons)) => Err(unavailable(&reasons)),
        }
    }
}

impl IdentityStore for DynamoIdentityStore {
    async fn create_organisation(
        &self,
        organisation: &Organisation,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let items =
            create_organisation_transaction(&self.table, &self.audit_table, organisation, audit)?;
        self.create(items, "organisation").await
    }

    async fn create_organisation_with_user(
        &self,
        organisation: &Organisation,
        user: &User,
        audit: &[AuditRecord],
    ) -> Result<(), IdentityStoreError> {
        let items = create_organisation_with_user_transaction(
            &self.table,
            &self.audit_table,
            organisation,
            user,
            audit,
        )?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) if failed_at(&reasons, 2) => {
                Err(IdentityStoreError::EmailTaken)
            }
            Err(TransactionFailure::Cancelled(reasons)) if any_failed(&reasons) => Err(
                IdentityStoreError::AlreadyExists("organisation or user".to_owned()),
            ),
            Err(TransactionFailure::Cancelled(reasons)) => Err(unavailable(&reasons)),
        }
    }

    async fn get_organisation(&self, id: &str) -> Result<Option<Organisation>, IdentityStoreError> {
        self.get(org_pk(id), "ORG")
            .await?
            .map(|item| organisation_from_item(&item))
            .transpose()
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, IdentityStoreError> {
        self.query_gsi1(ORGS_GSI1PK.to_owned())
            .await?
            .iter()
            .map(organisation_from_item)
            .collect()
    }

    async fn get_notification_policy(
        &self,
        org_id: &str,
    ) -> Result<Option<NotificationPolicy>, IdentityStoreError> {
        self.get(org_pk(org_id), NOTIFICATIONS_SK)
            .await?
            .map(|item| policy_from_item(&item).map_err(|e| corrupt("notification policy", e)))
            .transpose()
    }

    async fn set_notification_policy(
        &self,
        org_id: &str,
        policy: &NotificationPolicy,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let items = vec![
            organisation_exists(&self.table, org_id)?,
            // the policy replaces the one before, whatever it was
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(policy_item(org_id, policy, audit.at)))
                        .build()
                        .map_err(|e| corrupt("transaction not buildable", e))?,
                )
                .build(),
            audit_put(&self.audit_table, audit),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) if failed_at(&reasons, 0) => {
                Err(IdentityStoreError::OrganisationNotFound)
            }
            Err(TransactionFailure::Cancelled(reasons)) => Err(unavailable(&reasons)),
        }
    }

    async fn create_user(
        &self,
        user: &User,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let items = create_user_transaction(&self.table, &self.audit_table, user, audit)?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) => Err(user_creation_error(&reasons)),
        }
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, IdentityStoreError> {
        self.get(user_pk(id), "USER")
            .await?
            .map(|item| user_from_item(&item))
            .transpose()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, IdentityStoreError> {
        let Some(reservation) = self.get(email_pk(email), "EMAIL").await? else {
            return Ok(None);
        };
        let user_id = text(&reservation, "user_id").map_err(|e| corrupt("email item", e))?;
        self.get_user(&user_id).await
    }

    async fn list_users(&self, org_id: &str) -> Result<Vec<User>, IdentityStoreError> {
        self.query_gsi1(org_users_gsi1pk(org_id))
            .await?
            .iter()
            .map(user_from_item)
            .collect()
    }

    async fn update_user(
        &self,
        user: &User,
        expected_version: u64,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let items = update_user_transaction(
            &self.table,
            &self.audit_table,
            user,
            expected_version,
            audit,
        )?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) if failed_at(&reasons, 0) => {
                let stored = match reasons[0].item.as_ref() {
                    Some(item) => Some(user_from_item(item)?),
                    None => self.get_user(&user.id).await?,
                };
                match stored {
                    None => Err(IdentityStoreError::NotFound),
                    Some(stored) => Err(IdentityStoreError::VersionConflict {
                        current_version: Some(stored.version),
                    }),
                }
            }
            Err(TransactionFailure::Cancelled(reasons)) if any_failed(&reasons) => {
                Err(IdentityStoreError::AlreadyExists("audit record".to_owned()))
            }
            Err(TransactionFailure::Cancelled(reasons)) => Err(unavailable(&reasons)),
        }
    }

    async fn create_device(
        &self,
        device: &Device,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let items = create_device_transaction(&self.table, &self.audit_table, device, audit)?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) if failed_at(&reasons, 0) => {
                Err(IdentityStoreError::OrganisationNotFound)
            }
            Err(TransactionFailure::Cancelled(reasons)) if failed_at(&reasons, 1) => {
                Err(IdentityStoreError::AlreadyExists("device".to_owned()))
            }
            Err(TransactionFailure::Cancelled(reasons)) if any_failed(&reasons) => {
                Err(IdentityStoreError::AlreadyExists("audit record".to_owned()))
            }
            Err(TransactionFailure::Cancelled(reasons)) => Err(unavailable(&reasons)),
        }
    }

    async fn get_device(&self, id: &str) -> Result<Option<Device>, IdentityStoreError> {
        self.get(device_pk(id), "DEVICE")
            .await?
            .map(|item| device_from_item(&item))
            .transpose()
    }

    async fn update_device_status(
        &self,
        device: &Device,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let items =
            update_device_status_transaction(&self.table, &self.audit_table, device, audit)?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) if failed_at(&reasons, 0) => {
                Err(IdentityStoreError::NotFound)
            }
            Err(TransactionFailure::Cancelled(reasons)) if any_failed(&reasons) => {
                Err(IdentityStoreError::AlreadyExists("audit record".to_owned()))
            }
            Err(TransactionFailure::Cancelled(reasons)) => Err(unavailable(&reasons)),
        }
    }

    async fn login_attempts(
        &self,
        key_: &str,
    ) -> Result<Option<LoginAttempts>, IdentityStoreError> {
        self.get(login_pk(key_), "LOGIN")
            .await?
            .map(|item| login_attempts_from_item(&item))
            .transpose()
    }

    async fn count_login_failure(
        &self,
        key_: &str,
        at: OffsetDateTime,
    ) -> Result<u32, IdentityStoreError> {
        let cutoff = millis_n(lockout::forget_before(at));
        // a counter and a concurrent first failure may race: a few rounds settle it
        for _ in 0..3 {
            let added = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(login_pk(key_), "LOGIN")))
                .update_expression(
                    "ADD failures :one SET last_failure_at = :at, expires_at = :expires_at",
                )
                .condition_expression("last_failure_at > :cutoff")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":at", millis_n(at))
                .expression_attribute_values(":expires_at", epoch_n(lockout::expires_at(at)))
                .expression_attribute_values(":cutoff", cutoff.clone())
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match added {
                Ok(output) => {
                    let item = output.attributes.unwrap_or_default();
                    return Ok(login_attempts_from_item(&item)?.failures);
                }
                Err(SdkError::ServiceError(context))
                    if context.err().is_conditional_check_failed_exception() => {}
                Err(error) => return Err(read_failed(&error, "login failure not counted")),
            }
            let started = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(first_failure_item(key_, at)))
                .condition_expression("attribute_not_exists(pk) OR last_failure_at <= :cutoff")
                .expression_attribute_values(":cutoff", cutoff.clone())
                .send()
                .await;
            match started {
                Ok(_) => return Ok(1),
                Err(SdkError::ServiceError(context))
                    if context.err().is_conditional_check_failed_exception() => {}
                Err(error) => return Err(read_failed(&error, "login failure not counted")),
            }
        }
        Err(IdentityStoreError::Unavailable(
            "login failure not counted: concurrent writes".to_owned(),
        ))
    }

    async fn block_login(
        &self,
        key_: &str,
        until: OffsetDateTime,
    ) -> Result<(), IdentityStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(login_pk(key_), "LOGIN")))
            .update_expression("SET blocked_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(blocked_until) OR blocked_until < :until)",
            )
            .expression_attribute_values(":until", millis_n(until))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // a longer window is in place already (or the counter is gone)
            Err(SdkError::ServiceError(context))
                if context.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(error) => Err(read_failed(&error, "login window not set")),
        }
    }

    async fn reset_login_failures(&self, key_: &str) -> Result<(), IdentityStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(login_pk(key_), "LOGIN")))
            .update_expression("SET failures = :zero REMOVE blocked_until")
            .condition_expression(EXISTS)
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(context))
                if context.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(error) => Err(read_failed(&error, "login counter not reset")),
        }
    }

    async fn start_refresh_family(&self, first: &RefreshToken) -> Result<(), IdentityStoreError> {
        let items = vec![
            put(&self.table, family_item(first), NEW)?,
            put(&self.table, refresh_item(first), NEW)?,
        ];
        self.create(items, "refresh token").await
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, IdentityStoreError> {
        self.get(refresh_pk(token_hash), "REFRESH")
            .await?
            .map(|item| refresh_from_item(&item))
            .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        used_hash: &str,
        next: &RefreshToken,
        at: OffsetDateTime,
    ) -> Result<Rotation, IdentityStoreError> {
        let items = rotate_transaction(&self.table, used_hash, next, at)?;
        match self.transact(items).await {
            Ok(()) => Ok(Rotation::Rotated),
            Err(TransactionFailure::Failed(error)) => Err(error),
            Err(TransactionFailure::Cancelled(reasons)) => {
                if let Some(outcome) = rotation_outcome(&reasons) {
                    return Ok(outcome);
                }
                if failed_at(&reasons, 0) {
                    // No old image returned: look at the token.
                    return Ok(match self.get_refresh_token(used_hash).await? {
                        Some(_) => Rotation::AlreadyUsed,
                        None => Rotation::Unknown,
                    });
                }
                Err(unavailable(&reasons))
            }
        }
    }

    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        at: OffsetDateTime,
    ) -> Result<(), IdentityStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(family_pk(family_id), "FAMILY")))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression(EXISTS)
            .expression_attribute_values(":at", time_s(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // No such family (expired and forgotten): nothing left to revoke.
            Err(SdkError::ServiceError(context))
                if context.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(error) => {
                let message = describe(&error);
                warn!(error = %message, "refresh family not revoked");
                Err(IdentityStoreError::Unavailable(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use pharmaguard_domain::accounts::CreateUserRequest;
    use pharmaguard_domain::audit::{Actor, EntityType};
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);

    fn user() -> User {
        User::new(
            &CreateUserRequest {
                email: "ana@example.org".into(),
                name: "Ana".into(),
                password: "unused here!".into(),
                role: Role::Pharmacist,
                org_id: "org-a".into(),
            },
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            AT,
        )
    }

    fn audit() -> AuditRecord {
        AuditRecord::new(
            EntityType::User,
            "usr-1",
            Actor::system(),
            "user.created",
            AT,
            None,
            None,
        )
    }

    fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
        codes
            .iter()
            .map(|code| CancellationReason {
                code: (*code).to_owned(),
                item: None,
            })
            .collect()
    }

    #[test]
    fn organisations_round_trip_and_list_by_name() {
        let org = Organisation::new("St. Mary", OrganisationKind::Hospital, AT);
        let item = organisation_item(&org);
        assert_eq!(item["pk"], s(format!("ORG#{}", org.id)));
        assert_eq!(item["sk"], s("ORG"));
        assert_eq!(item["gsi1pk"], s("ORGS"));
        assert_eq!(item["gsi1sk"], s(format!("st. mary#{}", org.id)));
        assert_eq!(organisation_from_item(&item), Ok(org));
    }

    #[test]
    fn users_round_trip_and_list_by_organisation() {
        let user = user();
        let item = user_item(&user);
        assert_eq!(item["pk"], s(format!("USER#{}", user.id)));
        assert_eq!(item["gsi1pk"], s("ORG#org-a#USERS"));
        assert_eq!(item["gsi1sk"], s("ana@example.org"));
        assert_eq!(item["version"], AttributeValue::N("1".into()));
        assert_eq!(user_from_item(&item), Ok(user.clone()));

        let email = email_item(&user);
        assert_eq!(email["pk"], s("EMAIL#ana@example.org"));
        assert_eq!(email["user_id"], s(&user.id));
    }

    #[test]
    fn devices_and_refresh_tokens_round_trip() {
        let device = Device {
            id: "truck-7".into(),
            org_id: "org-a".into(),
            name: "Truck 7".into(),
            secret_hash: "ab".repeat(32),
            created_at: AT,
            disabled_at: None,
        };
        assert_eq!(device_from_item(&device_item(&device)), Ok(device));

        let mut token = RefreshToken::new("cd".repeat(32), "fam-1", "usr-1", AT);
        let item = refresh_item(&token);
        assert_eq!(item["pk"], s(format!("REFRESH#{}", "cd".repeat(32))));
        assert_eq!(
            item["expires_at"],
            AttributeValue::N((AT.unix_timestamp() + 10 * 3600).to_string())
        );
        assert!(!item.contains_key("used_at"));
        assert_eq!(refresh_from_item(&item), Ok(token.clone()));
        token.used_at = Some(AT);
        assert_eq!(refresh_from_item(&refresh_item(&token)), Ok(token.clone()));

        let family = family_item(&token);
        assert_eq!(family["pk"], s("FAMILY#fam-1"));
        assert_eq!(family["expires_at"], item["expires_at"]);

        // a token stored before families had a start reads its own issue time
        let mut old = refresh_item(&token);
        old.remove("family_started_at");
        assert_eq!(
            refresh_from_item(&old).map(|t| t.family_started_at),
            Ok(token.issued_at)
        );
    }

    #[test]
    fn damaged_items_are_corrupt_not_panics() {
        let mut item = user_item(&user());
        item.insert("role".into(), s("ROOT"));
        assert!(matches!(
            user_from_item(&item),
            Err(IdentityStoreError::Corrupt(_))
        ));
        item.remove("version");
        assert!(matches!(
            user_from_item(&item),
            Err(IdentityStoreError::Corrupt(_))
        ));
        assert!(organisation_from_item(&Item::new()).is_err());
        assert!(device_from_item(&Item::new()).is_err());
        assert!(refresh_from_item(&Item::new()).is_err());
    }

    #[test]
    fn a_new_user_needs_its_organisation_and_a_free_email() {
        let items = create_user_transaction("identity", "audit", &user(), &audit()).expect("items");
        assert_eq!(items.len(), 4);
        let check = items[0].condition_check().expect("org check");
        assert_eq!(check.condition_expression(), "attribute_exists(pk)");
        assert_eq!(check.key()["pk"], s("ORG#org-a"));
        for index in [1, 2] {
            let put = items[index].put().expect("put");
            assert_eq!(put.condition_expression(), Some("attribute_not_exists(pk)"));
            assert_eq!(put.table_name(), "identity");
        }
        assert_eq!(items[3].put().expect("audit").table_name(), "audit");

        assert_eq!(
            user_creation_error(&reasons(&[
                "ConditionalCheckFailed",
                "None",
                "None",
                "None"
            ])),
            IdentityStoreError::OrganisationNotFound
        );
        assert_eq!(
            user_creation_error(&reasons(&[
                "None",
                "None",
                "ConditionalCheckFailed",
                "None"
            ])),
            IdentityStoreError::EmailTaken
        );
        assert!(matches!(
            user_creation_error(&reasons(&["None", "TransactionConflict", "None", "None"])),
            IdentityStoreError::Unavailable(_)
        ));
    }

    #[test]
    fn a_role_change_is_conditional_on_the_version() {
        let changed = user().with_role(Role::Driver, AT);
        let items =
            update_user_transaction("identity", "audit", &changed, 1, &audit()).expect("items");
        let update = items[0].update().expect("update");
        assert_eq!(update.condition_expression(), Some("version = :expected"));
        let values = update.expression_attribute_values().expect("values");
        assert_eq!(values[":expected"], AttributeValue::N("1".into()));
        assert_eq!(values[":version"], AttributeValue::N("2".into()));
        assert_eq!(values[":role"], s("DRIVER"));
        assert_eq!(
            items[1].put().expect("audit").condition_expression(),
            Some("attribute_not_exists(pk)")
        );
    }

    #[test]
    fn a_rotation_uses_the_token_up_once_in_an_unrevoked_family() {
        let next = RefreshToken::new("ef".repeat(32), "fam-1", "usr-1", AT);
        let items = rotate_transaction("identity", "old-hash", &next, AT).expect("items");
        let use_up = items[0].update().expect("use up");
        assert_eq!(use_up.key()["pk"], s("REFRESH#old-hash"));
        assert_eq!(
            use_up.condition_expression(),
            Some("attribute_exists(pk) AND attribute_not_exists(used_at)")
        );
        let family = items[1].update().expect("family");
        assert_eq!(family.key()["pk"], s("FAMILY#fam-1"));
        assert_eq!(
            family.condition_expression(),
            Some("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
        );
        assert_eq!(
            items[2].put().expect("next").condition_expression(),
            Some("attribute_not_exists(pk)")
        );

        assert_eq!(
            rotation_outcome(&reasons(&["None", "ConditionalCheckFailed", "None"])),
            Some(Rotation::FamilyRevoked)
        );
        let mut used = reasons(&["ConditionalCheckFailed", "None", "None"]);
        assert_eq!(
            rotation_outcome(&used),
            None,
            "unknown until the token is read"
        );
        used[0].item = Some(refresh_item(&next));
        assert_eq!(rotation_outcome(&used), Some(Rotation::AlreadyUsed));
        assert_eq!(
            rotation_outcome(&reasons(&["TransactionConflict", "None", "None"])),
            None
        );
    }

    #[test]
    fn a_disable_sets_both_times_and_an_enable_removes_only_the_disable() {
        let disabled = user().disabled(AT);
        let items =
            update_user_transaction("identity", "audit", &disabled, 1, &audit()).expect("items");
        let update = items[0].update().expect("update");
        assert_eq!(
            update.update_expression(),
            "SET #role = :role, version = :version, updated_at = :updated_at, \
             tokens_valid_after = :valid_after, disabled_at = :disabled_at"
        );
        assert_eq!(update.condition_expression(), Some("version = :expected"));
        let values = update.expression_attribute_values().expect("values");
        assert_eq!(values[":disabled_at"], s("2026-11-21T08:00:00Z"));
        assert_eq!(values[":valid_after"], s("2026-11-21T08:00:00Z"));

        let enabled = disabled.enabled(AT);
        let items =
            update_user_transaction("identity", "audit", &enabled, 2, &audit()).expect("items");
        let update = items[0].update().expect("update");
        assert!(update.update_expression().ends_with(" REMOVE disabled_at"));
        assert!(update.update_expression().contains("tokens_valid_after"));

        let item = user_item(&disabled);
        assert_eq!(item["disabled_at"], s("2026-11-21T08:00:00Z"));
        assert_eq!(user_from_item(&item), Ok(disabled.clone()));
        assert_eq!(
            user_status_from_item(&item),
            Ok(UserStatus {
                org_id: "org-a".into(),
                role: Role::Pharmacist,
                disabled_at: Some(AT),
                tokens_valid_after: Some(AT),
            })
        );
        assert!(!user_item(&user()).contains_key("disabled_at"));
    }

    #[test]
    fn a_device_status_change_needs_the_device() {
        let device = Device {
            id: "truck-7".into(),
            org_id: "org-a".into(),
            name: "Truck 7".into(),
            secret_hash: "ab".repeat(32),
            created_at: AT,
            disabled_at: Some(AT),
        };
        let items = update_device_status_transaction("identity", "audit", &device, &audit())
            .expect("items");
        let update = items[0].update().expect("update");
        assert_eq!(update.key()["pk"], s("DEVICE#truck-7"));
        assert_eq!(update.condition_expression(), Some("attribute_exists(pk)"));
        assert_eq!(update.update_expression(), "SET disabled_at = :disabled_at");
        assert_eq!(device_from_item(&device_item(&device)), Ok(device.clone()));
        assert_eq!(
            device_status_from_item(&device_item(&device)),
            Ok(DeviceStatus {
                org_id: "org-a".into(),
                disabled_at: Some(AT)
            })
        );
        let enabled = Device {
            disabled_at: None,
            ..device
        };
        let items = update_device_status_transaction("identity", "audit", &enabled, &audit())
            .expect("items");
        assert_eq!(
            items[0].update().expect("update").update_expression(),
            "REMOVE disabled_at"
        );
    }

    #[test]
    fn login_counters_round_trip_in_milliseconds() {
        let at = AT + time::Duration::milliseconds(250);
        let mut item = first_failure_item("ana@example.org", at);
        assert_eq!(item["pk"], s("LOGIN#ana@example.org"));
        assert_eq!(
            item["expires_at"],
            AttributeValue::N((AT.unix_timestamp() + 24 * 3600).to_string())
        );
        assert_eq!(
            login_attempts_from_item(&item),
            Ok(LoginAttempts {
                failures: 1,
                last_failure_at: at,
                blocked_until: None
            })
        );
        item.insert("blocked_until".into(), millis_n(at + lockout::LOCKOUT));
        assert_eq!(
            login_attempts_from_item(&item).expect("read").blocked_until,
            Some(at + lockout::LOCKOUT)
        );
        item.insert("blocked_until".into(), AttributeValue::N("9".repeat(30)));
        assert!(
            login_attempts_from_item(&item).is_err(),
            "corrupt, not a panic"
        );
    }

    #[test]
    fn a_device_needs_its_organisation_and_a_free_id() {
        let device = Device {
            id: "truck-7".into(),
            org_id: "org-a".into(),
            name: "Truck 7".into(),
            secret_hash: "ab".repeat(32),
            created_at: AT,
            disabled_at: None,
        };
        let items =
            create_device_transaction("identity", "audit", &device, &audit()).expect("items");
        assert_eq!(
            items[0].condition_check().expect("check").key()["pk"],
            s("ORG#org-a")
        );
        assert_eq!(
            items[1].put().expect("device").item()["pk"],
            s("DEVICE#truck-7")
        );
    }
}
