//! The audit trail on DynamoDB: the [`AuditLog`] of the platform, and the
//! item layout every store uses to append a record inside its own
//! transaction ([`audit_put`]).
//!
//! The audit table (env [`AUDIT_TABLE_VAR`]) has string keys `pk` and `sk`:
//!
//! | attribute | value |
//! |---|---|
//! | `pk` | [`AuditRecord::entity_key`], e.g. `USER#usr-1`, `ORG#org-1`, `SHIPMENT#shp-1` |
//! | `sk` | [`AuditRecord::sort_key`]: `<UTC time, 6 fraction digits>#<record id>` |
//! | `entity_type`, `entity_id`, `record_id`, `action` | strings |
//! | `at` | RFC 3339 time |
//! | `actor_id`, `actor_org`, `actor_role` | who (see [`pharmaguard_domain::audit::Actor`]) |
//! | `before`, `after` | the entity as a JSON string, or NULL |
//!
//! The only write is a `Put` with `attribute_not_exists(pk)`: a record is
//! never overwritten, and nothing here updates or deletes one.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use pharmaguard_domain::audit::{Actor, AuditRecord, EntityType};
use pharmaguard_domain::ports::{AuditError, AuditLog};
use time::format_description::well_known::Rfc3339;
use tracing::warn;

use crate::dynamo::{Item, describe, optional_text, s, text, time};

/// Environment variable naming the audit table.
pub const AUDIT_TABLE_VAR: &str = "AUDIT_TABLE";

/// The condition of every audit write: the key is new.
pub const NEW_RECORD: &str = "attribute_not_exists(pk)";

/// The item of a record (see the module documentation).
pub fn audit_item(record: &AuditRecord) -> Item {
    let json = |value: &Option<serde_json::Value>| match value {
        Some(value) => s(value.to_string()),
        None => AttributeValue::Null(true),
    };
    Item::from([
        ("pk".to_owned(), s(record.entity_key())),
        ("sk".to_owned(), s(record.sort_key())),
        ("entity_type".to_owned(), s(record.entity_type.as_str())),
        ("entity_id".to_owned(), s(&record.entity_id)),
        ("record_id".to_owned(), s(&record.record_id)),
        (
            "at".to_owned(),
            s(record.at.format(&Rfc3339).unwrap_or_default()),
        ),
        ("actor_id".to_owned(), s(&record.actor.id)),
        ("actor_org".to_owned(), s(&record.actor.org_id)),
        ("actor_role".to_owned(), s(&record.actor.role)),
        ("action".to_owned(), s(&record.action)),
        ("before".to_owned(), json(&record.before)),
        ("after".to_owned(), json(&record.after)),
    ])
}

/// The record of an audit item; the message says what is wrong otherwise.
pub fn audit_from_item(item: &Item) -> Result<AuditRecord, String> {
    let json = |name: &str| -> Result<Option<serde_json::Value>, String> {
        optional_text(item, name)?
            .map(|value| serde_json::from_str(&value).map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    let entity_type = match text(item, "entity_type")?.as_str() {
        "ORG" => EntityType::Organisation,
        "USER" => EntityType::User,
        "DEVICE" => EntityType::Device,
        "SHIPMENT" => EntityType::Shipment,
        "ALARM" => EntityType::Alarm,
        other => return Err(format!("unknown entity_type {other}")),
    };
    Ok(AuditRecord {
        entity_type,
        entity_id: text(item, "entity_id")?,
        record_id: text(item, "record_id")?,
        at: time(item, "at")?,
        actor: Actor {
            id: text(item, "actor_id")?,
            org_id: text(item, "actor_org")?,
            role: text(item, "actor_role")?,
        },
        action: text(item, "action")?,
        before: json("before")?,
        after: json("after")?,
    })
}

/// The `Put` of a record for a `TransactWriteItems` on `table`, so that a
/// change and its record are written together or not at all.
pub fn audit_put(table: &str, record: &AuditRecord) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(audit_item(record)))
        .condition_expression(NEW_RECORD)
        .build();
    match put {
        Ok(put) => TransactWriteItem::builder().put(put).build(),
        // Unreachable: table, item and condition are all set above.
        Err(_) => TransactWriteItem::builder().build(),
    }
}

/// Appends records alone (for events that change nothing else).
#[derive(Debug, Clone)]
pub struct DynamoAuditLog {
    /// The client, built once per cold start.
    pub client: Client,
    /// The audit table.
    pub table: String,
}

impl DynamoAuditLog {
    /// An audit log on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl AuditLog for DynamoAuditLog {
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(audit_item(record)))
            .condition_expression(NEW_RECORD)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(context))
                if context.err().is_conditional_check_failed_exception() =>
            {
                Err(AuditError::AlreadyExists)
            }
            Err(error) => {
                let message = describe(&error);
                warn!(error = %message, action = %record.action, "audit record not written");
                Err(AuditError::Unavailable(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::identity::{Principal, Role};
    use serde_json::json;
    use time::macros::datetime;

    fn record(before: Option<serde_json::Value>) -> AuditRecord {
        let actor = Actor::from(&Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-a".into(),
            role: Role::Admin,
        });
        AuditRecord::new(
            EntityType::User,
            "usr-2",
            actor,
            "user.role_changed",
            datetime!(2026-11-21 08:00:00 UTC),
            before,
            Some(json!({"role": "DRIVER"})),
        )
    }

    #[test]
    fn an_item_has_the_documented_layout_and_reads_back() {
        let record = record(Some(json!({"role": "PHARMACIST"})));
        let item = audit_item(&record);
        assert_eq!(item["pk"], s("USER#usr-2"));
        assert_eq!(
            item["sk"],
            s(format!("2026-11-21T08:00:00.000000Z#{}", record.record_id))
        );
        assert_eq!(item["actor_id"], s("usr-1"));
        assert_eq!(item["actor_org"], s("org-a"));
        assert_eq!(item["actor_role"], s("ADMIN"));
        assert_eq!(item["before"], s(r#"{"role":"PHARMACIST"}"#));
        assert_eq!(audit_from_item(&item), Ok(record));
    }

    #[test]
    fn a_missing_side_is_null() {
        let record = record(None);
        let item = audit_item(&record);
        assert_eq!(item["before"], AttributeValue::Null(true));
        assert_eq!(audit_from_item(&item), Ok(record));
    }

    #[test]
    fn the_transaction_put_only_ever_creates() {
        let write = audit_put("audit", &record(None));
        let put = write.put().expect("a put");
        assert_eq!(put.table_name(), "audit");
        assert_eq!(put.condition_expression(), Some(NEW_RECORD));
        assert_eq!(put.item()["pk"], s("USER#usr-2"));
    }

    #[test]
    fn a_damaged_item_is_an_error() {
        let mut item = audit_item(&record(None));
        item.remove("actor_id");
        assert!(audit_from_item(&item).unwrap_err().contains("actor_id"));
    }
}
