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
//! | user | `USER#<id>` | `USER` | `ORG#<org>#USERS` / `<email>` | `id`, `email`, `name`, `org_id`, `role`, `password_hash`, `version`, `created_at`, `updated_at` |
//! | unique email | `EMAIL#<email>` | `EMAIL` | — | `user_id` |
//! | device | `DEVICE#<id>` | `DEVICE` | `ORG#<org>#DEVICES` / `<id>` | `id`, `org_id`, `name`, `secret_hash`, `created_at` |
//! | refresh token | `REFRESH#<sha256>` | `REFRESH` | — | `family_id`, `user_id`, `issued_at`, `expires_at`, `used_at` (once used) |
//! | refresh family | `FAMILY#<id>` | `FAMILY` | — | `user_id`, `created_at`, `rotated_at`, `expires_at`, `revoked_at` (once revoked) |
//!
//! Emails are stored normalized (lowercase). Times are RFC 3339 strings,
//! except `expires_at` (epoch seconds, for TTL).
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
//! - role change: `Update` user `SET role, version, updated_at` on
//!   `version = :expected` + audit;
//! - device: `ConditionCheck` of the organisation, `Put` device
//!   (`attribute_not_exists(pk)`) + audit.
//!
//! Refresh tokens: a login `Put`s a family and its first token. A refresh is
//! one transaction: `Update` the presented token `SET used_at` on
//! `attribute_exists(pk) AND attribute_not_exists(used_at)`, `Update` the
//! family (extend `expires_at`) on `attribute_exists(pk) AND
//! attribute_not_exists(revoked_at)`, and `Put` the next token. Two refreshes
//! with one token cannot both commit: the second finds `used_at` set and is
//! told [`Rotation::AlreadyUsed`], upon which the caller revokes the family
//! (`SET revoked_at`). Reads are strongly consistent.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use pharmaguard_domain::accounts::{Device, Organisation, RefreshToken, User};
use pharmaguard_domain::audit::AuditRecord;
use pharmaguard_domain::identity::{OrganisationKind, Role};
use pharmaguard_domain::ports::{IdentityStore, IdentityStoreError, Rotation};
use time::OffsetDateTime;
use tracing::{debug, warn};

use crate::audit::audit_put;
use crate::dynamo::{
    CancellationReason, Item, cancellation_reasons, describe, epoch, epoch_n, n, number_u64,
    optional_time, query_all, s, text, time, time_s,
};

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
    Item::from([
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
    ])
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
    Item::from([
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
    ])
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
        Ok(RefreshToken {
            token_hash: text(item, "token_hash")?,
            family_id: text(item, "family_id")?,
            user_id: text(item, "user_id")?,
            issued_at: time(item, "issued_at")?,
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

/// The items of a role change: the user (only at `expected_version`) and the record.
pub fn update_role_transaction(
    table: &str,
    audit_table: &str,
    user: &User,
    expected_version: u64,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, IdentityStoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(user_pk(&user.id), "USER")))
        .update_expression("SET #role = :role, version = :version, updated_at = :updated_at")
        .condition_expression("version = :expected")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":role", s(user.role.as_str()))
        .expression_attribute_values(":version", n(user.version))
        .expression_attribute_values(":updated_at", time_s(user.updated_at))
        .expression_attribute_values(":expected", n(expected_version))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
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
/// (must exist, unrevoked; its expiry follows the new token) and the next token.
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
    let extend_family = Update::builder()
        .table_name(table)
        .set_key(Some(key(family_pk(&next.family_id), "FAMILY")))
        .update_expression("SET rotated_at = :at, expires_at = :expires_at")
        .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
        .expression_attribute_values(":at", time_s(at))
        .expression_attribute_values(":expires_at", epoch_n(next.expires_at))
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    Ok(vec![
        TransactWriteItem::builder().update(use_up).build(),
        TransactWriteItem::builder().update(extend_family).build(),
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

    async fn update_user_role(
        &self,
        user: &User,
        expected_version: u64,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let items = update_role_transaction(
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
        };
        assert_eq!(device_from_item(&device_item(&device)), Ok(device));

        let mut token = RefreshToken::new("cd".repeat(32), "fam-1", "usr-1", AT);
        let item = refresh_item(&token);
        assert_eq!(item["pk"], s(format!("REFRESH#{}", "cd".repeat(32))));
        assert_eq!(
            item["expires_at"],
            AttributeValue::N((AT.unix_timestamp() + 12 * 3600).to_string())
        );
        assert!(!item.contains_key("used_at"));
        assert_eq!(refresh_from_item(&item), Ok(token.clone()));
        token.used_at = Some(AT);
        assert_eq!(refresh_from_item(&refresh_item(&token)), Ok(token.clone()));

        let family = family_item(&token);
        assert_eq!(family["pk"], s("FAMILY#fam-1"));
        assert_eq!(family["expires_at"], item["expires_at"]);
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
            update_role_transaction("identity", "audit", &changed, 1, &audit()).expect("items");
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
    fn a_device_needs_its_organisation_and_a_free_id() {
        let device = Device {
            id: "truck-7".into(),
            org_id: "org-a".into(),
            name: "Truck 7".into(),
            secret_hash: "ab".repeat(32),
            created_at: AT,
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
