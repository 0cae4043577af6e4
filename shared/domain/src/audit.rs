//! The audit trail: an append-only record of every change to organisations,
//! users, devices, shipments and alarms: who, when, what, before and after.
//!
//! Records are only ever appended (the store writes them with a condition that
//! the key is new, in the same transaction as the change they describe); no
//! API updates or deletes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::identity::Principal;

/// What kind of thing an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntityType {
    /// An organisation (tenant).
    Organisation,
    /// A user account.
    User,
    /// A device (truck sensor) identity.
    Device,
    /// A shipment order.
    Shipment,
    /// An alarm of a shipment.
    Alarm,
}

impl EntityType {
    /// The key prefix of the entity's records, e.g. `SHIPMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Organisation => "ORG",
            EntityType::User => "USER",
            EntityType::Device => "DEVICE",
            EntityType::Shipment => "SHIPMENT",
            EntityType::Alarm => "ALARM",
        }
    }
}

/// Who made a change, as recorded (a snapshot: later role changes do not alter it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// User or device id, or `system` for changes made by the platform itself.
    pub id: String,
    /// The actor's organisation.
    pub org_id: String,
    /// The actor's role (`DEVICE` for devices, `SYSTEM` for the platform).
    pub role: String,
}

impl Actor {
    /// The platform itself (e.g. the first admin created at setup, or an alarm raised by a rule).
    pub fn system() -> Self {
        Self {
            id: "system".to_owned(),
            org_id: "system".to_owned(),
            role: "SYSTEM".to_owned(),
        }
    }
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Self {
        Self {
            id: principal.id().to_owned(),
            org_id: principal.org_id().to_owned(),
            role: principal
                .role()
                .map_or("DEVICE", |role| role.as_str())
                .to_owned(),
        }
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// What kind of thing changed.
    pub entity_type: EntityType,
    /// Its id.
    pub entity_id: String,
    /// Unique id of this record.
    pub record_id: String,
    /// When the change happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who made it.
    pub actor: Actor,
    /// What was done, e.g. `shipment.dispatched`, `user.role_changed`.
    pub action: String,
    /// The entity before the change (`None` on creation). Never holds secrets.
    pub before: Option<Value>,
    /// The entity after the change (`None` on deletion). Never holds secrets.
    pub after: Option<Value>,
}

impl AuditRecord {
    /// A record of `action` on an entity by `actor` at `at`, with a fresh record id.
    pub fn new(
        entity_type: EntityType,
        entity_id: impl Into<String>,
        actor: Actor,
        action: impl Into<String>,
        at: OffsetDateTime,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        Self {
            entity_type,
            entity_id: entity_id.into(),
            record_id: uuid::Uuid::new_v4().to_string(),
            at,
            actor,
            action: action.into(),
            before,
            after,
        }
    }

    /// The partition key of the entity's trail, e.g. `SHIPMENT#shp-1`.
    pub fn entity_key(&self) -> String {
        entity_key(self.entity_type, &self.entity_id)
    }

    /// The sort key: RFC 3339 time in UTC with a fixed six-digit fraction
    /// (so that text order is time order), then the record id, so the trail
    /// reads in order.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", sortable_time(self.at), self.record_id)
    }
}

/// `at` as RFC 3339 in UTC with exactly six fractional digits, e.g.
/// `2026-11-21T08:00:00.000000Z`: texts of this form sort like the times.
pub fn sortable_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// The partition key of an entity's audit trail.
pub fn entity_key(entity_type: EntityType, entity_id: &str) -> String {
    format!("{}#{entity_id}", entity_type.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;
    use time::macros::datetime;

    #[test]
    fn keys_group_an_entity_and_sort_by_time() {
        let actor = Actor::from(&Principal::User {
            user_id: "u1".into(),
            org_id: "org-a".into(),
            role: Role::Manager,
        });
        let first = AuditRecord::new(
            EntityType::Shipment,
            "shp-1",
            actor.clone(),
            "shipment.created",
            datetime!(2026-11-21 08:00:00 UTC),
            None,
            Some(serde_json::json!({"state": "PENDING"})),
        );
        let second = AuditRecord::new(
            EntityType::Shipment,
            "shp-1",
            actor,
            "shipment.dispatched",
            datetime!(2026-11-21 09:00:00 UTC),
            first.after.clone(),
            Some(serde_json::json!({"state": "DISPATCHED"})),
        );
        assert_eq!(first.entity_key(), "SHIPMENT#shp-1");
        assert_eq!(first.entity_key(), second.entity_key());
        assert!(first.sort_key() < second.sort_key());
        assert_ne!(first.record_id, second.record_id);
        assert_eq!(first.actor.role, "MANAGER");
    }

    #[test]
    fn sort_keys_sort_like_times_whatever_the_fraction_or_offset() {
        let record = |at| {
            AuditRecord::new(
                EntityType::User,
                "u1",
                Actor::system(),
                "user.created",
                at,
                None,
                None,
            )
        };
        let whole = record(datetime!(2026-11-21 08:00:00 UTC));
        let half = record(datetime!(2026-11-21 08:00:00.5 UTC));
        let later_elsewhere = record(datetime!(2026-11-21 09:00:01 +01:00));
        assert!(whole.sort_key().starts_with("2026-11-21T08:00:00.000000Z#"));
        assert!(half.sort_key().starts_with("2026-11-21T08:00:00.500000Z#"));
        assert!(
            later_elsewhere
                .sort_key()
                .starts_with("2026-11-21T08:00:01.000000Z#")
        );
        assert!(whole.sort_key() < half.sort_key());
        assert!(half.sort_key() < later_elsewhere.sort_key());
    }

    #[test]
    fn devices_and_the_platform_are_actors_too() {
        let device = Actor::from(&Principal::Device {
            device_id: "truck-7".into(),
            org_id: "org-a".into(),
        });
        assert_eq!(device.role, "DEVICE");
        assert_eq!(Actor::system().role, "SYSTEM");
    }
}
