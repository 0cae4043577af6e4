//! An SNS notification read as a live event: what the broadcast needs to
//! route it (id, type, shipment, the two organisations) and the body to
//! forward unchanged.
//!
//! Three kinds of event arrive, each a JSON object with `event_id` and
//! `event_type`:
//!
//! | topic | `event_type` | shipment and organisations in the body |
//! |---|---|---|
//! | shipment events | `shipment.created`, `shipment.dispatched`, … | top level: `shipment_id`, `shipper_org_id`, `recipient_org_id` |
//! | alarm events | `alarm.raised`, `alarm.escalated`, `alarm.cleared`, `alarm.acknowledged` | under `shipment`: `shipment.shipment_id`, `shipment.shipper_org_id`, `shipment.recipient_org_id` |
//! | tracking events | `tracking.updated` | top level, as shipment events |
//!
//! and each carries the message attributes `event_type`, `shipper_org_id`
//! and `recipient_org_id` (alarm and tracking events `shipment_id` too).
//!
//! The body is read first, then `shipment.*`, then the attributes. A value
//! present in both the body and the attributes must be the same: an event
//! whose attributes name other organisations than its body is refused
//! rather than sent to either.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::fields::identifier;
use crate::shipment::Parties;

/// Longest event id accepted (alarm event ids are about 100 characters).
pub const MAX_EVENT_ID_CHARS: usize = 256;
/// Longest event type accepted.
pub const MAX_EVENT_TYPE_CHARS: usize = 64;
/// Longest shipment or organisation id accepted.
const MAX_ID_CHARS: usize = 128;

/// Why a notification is not a live event (it is dropped and logged:
/// retrying cannot fix it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct EventError {
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl EventError {
    fn body(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }

    fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

/// A live event: routing facts and the body as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    /// The event's id (`<shipment id>:v<version>`, `<alarm id>:RAISED`, …),
    /// the same for every delivery of it.
    pub event_id: String,
    /// `shipment.created`, `alarm.raised`, `tracking.updated`, …
    pub event_type: String,
    /// The shipment the event is about.
    pub shipment_id: String,
    /// The sending organisation.
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
    body: String,
}

impl Parties for LiveEvent {
    fn shipper_org_id(&self) -> &str {
        &self.shipper_org_id
    }
    fn recipient_org_id(&self) -> &str {
        &self.recipient_org_id
    }
}

impl LiveEvent {
    /// Reads the notification with message `body` and message
    /// `attributes` (name → value).
    pub fn from_notification(
        body: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<Self, EventError> {
        let body = body.trim();
        let value: Value = serde_json::from_str(body)
            .map_err(|error| EventError::body(format!("the message is not JSON: {error}")))?;
        let Value::Object(object) = value else {
            return Err(EventError::body("the message is not a JSON object"));
        };
        let shipment = object.get("shipment").and_then(Value::as_object);

        let event_id = text_field(&object, "event_id")?
            .ok_or_else(|| EventError::field("event_id", "is required"))?;
        if event_id.is_empty() || event_id.chars().count() > MAX_EVENT_ID_CHARS {
            return Err(EventError::field(
                "event_id",
                format!("must be 1 to {MAX_EVENT_ID_CHARS} characters long"),
            ));
        }
        if event_id.chars().any(char::is_control) {
            return Err(EventError::field(
                "event_id",
                "must not contain control characters",
            ));
        }

        let event_type = routed(&object, None, attributes, "event_type")?;
        if event_type.chars().count() > MAX_EVENT_TYPE_CHARS
            || !event_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(EventError::field(
                "event_type",
                format!("must be 1 to {MAX_EVENT_TYPE_CHARS} letters, digits, '.', '_' or '-'"),
            ));
        }
        let id = |name: &str| {
            let value = routed(&object, shipment, attributes, name)?;
            identifier(&Value::String(value), MAX_ID_CHARS)
                .map_err(|message| EventError::field(name, message))
        };
        Ok(Self {
            shipment_id: id("shipment_id")?,
            shipper_org_id: id("shipper_org_id")?,
            recipient_org_id: id("recipient_org_id")?,
            event_id,
            event_type,
            body: body.to_owned(),
        })
    }

    /// The body as published (a JSON object).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The organisations that may see the event: the shipper and the
    /// recipient (one when they are the same).
    pub fn organisations(&self) -> Vec<&str> {
        let mut orgs = vec![self.shipper_org_id.as_str()];
        if self.recipient_org_id != self.shipper_org_id {
            orgs.push(self.recipient_org_id.as_str());
        }
        orgs
    }
}

/// The string field `name` of `object`, if present (`null` is absent).
fn text_field(object: &Map<String, Value>, name: &str) -> Result<Option<String>, EventError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(EventError::field(name, "must be a string")),
    }
}

/// A routing field: from the body's top level, else from `nested`
/// (`shipment`), else from the attributes; when the attributes have it
/// too, they must agree.
fn routed(
    object: &Map<String, Value>,
    nested: Option<&Map<String, Value>>,
    attributes: &BTreeMap<String, String>,
    name: &str,
) -> Result<String, EventError> {
    let mut from_body = text_field(object, name)?;
    if from_body.is_none() {
        if let Some(nested) = nested {
            from_body = text_field(nested, name)
                .map_err(|error| EventError::field(&format!("shipment.{name}"), error.message))?;
        }
    }
    let attribute = attributes.get(name).cloned();
    match (from_body, attribute) {
        (Some(body), Some(attribute)) if body != attribute => Err(EventError::field(
            name,
            format!("the body says {body:?} but the message attribute says {attribute:?}"),
        )),
        (Some(value), _) | (None, Some(value)) if !value.is_empty() => Ok(value),
        (Some(_), _) | (None, Some(_)) => Err(EventError::field(name, "must not be empty")),
        (None, None) => Err(EventError::field(name, "is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn shipment_event() -> Value {
        json!({
            "event_id": "shp-1:v2", "event_type": "shipment.dispatched", "version": 2,
            "shipment_id": "shp-1", "shipper_org_id": "org-a", "recipient_org_id": "org-b",
            "state": "DISPATCHED", "shipment": {"id": "shp-1"}
        })
    }

    fn alarm_event() -> Value {
        json!({
            "v": 1, "event_id": "shp-1#SHOCK#1:RAISED", "event_type": "alarm.raised",
            "alarm": {"alarm_id": "shp-1#SHOCK#1", "shipment_id": "shp-1"},
            "shipment": {"shipment_id": "shp-1", "shipper_org_id": "org-a", "recipient_org_id": "org-b"}
        })
    }

    fn read(body: &Value, attrs: &[(&str, &str)]) -> Result<LiveEvent, EventError> {
        LiveEvent::from_notification(&body.to_string(), &attributes(attrs))
    }

    #[test]
    fn a_shipment_event_is_read_from_its_top_level() {
        let event = read(
            &shipment_event(),
            &[
                ("event_type", "shipment.dispatched"),
                ("shipper_org_id", "org-a"),
                ("recipient_org_id", "org-b"),
            ],
        )
        .unwrap();
        assert_eq!(event.event_id, "shp-1:v2");
        assert_eq!(event.event_type, "shipment.dispatched");
        assert_eq!(event.shipment_id, "shp-1");
        assert_eq!(event.organisations(), ["org-a", "org-b"]);
        assert_eq!(event.body(), shipment_event().to_string());
    }

    #[test]
    fn an_alarm_event_is_read_from_its_shipment() {
        let event = read(&alarm_event(), &[]).unwrap();
        assert_eq!(event.event_type, "alarm.raised");
        assert_eq!(event.shipment_id, "shp-1");
        assert_eq!(
            (
                event.shipper_org_id.as_str(),
                event.recipient_org_id.as_str()
            ),
            ("org-a", "org-b")
        );
    }

    #[test]
    fn attributes_fill_in_what_the_body_lacks() {
        let body =
            json!({"event_id": "e-1", "event_type": "tracking.updated", "shipment_id": "shp-9"});
        let event = read(
            &body,
            &[("shipper_org_id", "org-a"), ("recipient_org_id", "org-a")],
        )
        .unwrap();
        assert_eq!(event.organisations(), ["org-a"], "one organisation once");
    }

    #[test]
    fn attributes_that_contradict_the_body_make_the_event_invalid() {
        for (name, value) in [
            ("shipper_org_id", "org-x"),
            ("recipient_org_id", "org-x"),
            ("shipment_id", "shp-2"),
            ("event_type", "shipment.created"),
        ] {
            let error = read(&shipment_event(), &[(name, value)]).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(name));
        }
        let error = read(&alarm_event(), &[("recipient_org_id", "org-x")]).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("recipient_org_id"));
    }

    #[test]
    fn missing_or_malformed_routing_fields_are_named() {
        for (field, body) in [
            ("event_id", {
                let mut b = shipment_event();
                b.as_object_mut().unwrap().remove("event_id");
                b
            }),
            ("event_id", {
                let mut b = shipment_event();
                b["event_id"] = json!(12);
                b
            }),
            ("event_id", {
                let mut b = shipment_event();
                b["event_id"] = json!("x".repeat(MAX_EVENT_ID_CHARS + 1));
                b
            }),
            ("event_type", {
                let mut b = shipment_event();
                b["event_type"] = json!("shipment created");
                b
            }),
            ("shipper_org_id", {
                let mut b = shipment_event();
                b.as_object_mut().unwrap().remove("shipper_org_id");
                b
            }),
            ("recipient_org_id", {
                let mut b = shipment_event();
                b["recipient_org_id"] = json!("");
                b
            }),
            ("shipment_id", {
                let mut b = shipment_event();
                b["shipment_id"] = json!("shp/../1");
                b
            }),
            ("shipment.shipper_org_id", {
                let mut b = alarm_event();
                b["shipment"]["shipper_org_id"] = json!(7);
                b
            }),
        ] {
            let error = read(&body, &[]).expect_err(field);
            assert_eq!(error.field.as_deref(), Some(field), "{error}");
        }
        for text in ["", "not json", "[1]", "\"x\""] {
            let error = LiveEvent::from_notification(text, &BTreeMap::new()).unwrap_err();
            assert_eq!(error.field, None, "{text}");
        }
    }

    #[test]
    fn relations_follow_the_two_organisations() {
        use crate::shipment::policy::Relation;
        let event = read(&shipment_event(), &[]).unwrap();
        assert_eq!(event.relation_of("org-a"), Some(Relation::Shipper));
        assert_eq!(event.relation_of("org-b"), Some(Relation::Recipient));
        assert_eq!(event.relation_of("org-c"), None);
    }
}
