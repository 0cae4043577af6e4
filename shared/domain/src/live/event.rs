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

use crate::coldchain::position::{TRACKING_BATCH, TRACKING_UPDATED};
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
        Self::from_object(&parse_object(body)?, body, attributes)
    }

    /// The event of the parsed `object` whose text is `body`.
    fn from_object(
        object: &Map<String, Value>,
        body: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<Self, EventError> {
        let shipment = object.get("shipment").and_then(Value::as_object);

        let event_id = event_id_of(object)?;

        let event_type = routed(object, None, attributes, "event_type")?;
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
            let value = routed(object, shipment, attributes, name)?;
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

/// The JSON object of a message body.
fn parse_object(body: &str) -> Result<Map<String, Value>, EventError> {
    let value: Value = serde_json::from_str(body)
        .map_err(|error| EventError::body(format!("the message is not JSON: {error}")))?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(EventError::body("the message is not a JSON object")),
    }
}

/// The `event_id` of a message: 1 to [`MAX_EVENT_ID_CHARS`] characters, no
/// control characters.
fn event_id_of(object: &Map<String, Value>) -> Result<String, EventError> {
    let event_id = text_field(object, "event_id")?
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
    Ok(event_id)
}

/// What one notification holds: one event, or the position events of a
/// telemetry batch (`tracking.batch`, see
/// [`position_messages`](crate::coldchain::position_messages)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// One event.
    One(LiveEvent),
    /// Position events, each read on its own: one that is not a
    /// `tracking.updated` event with its routing fields is an error of its
    /// own and costs the others nothing.
    Batch {
        /// The batch's id (its first update's id and how many follow).
        event_id: String,
        /// The updates, in order.
        events: Vec<Result<LiveEvent, EventError>>,
    },
}

/// Most updates one batch message may carry (a telemetry batch has at most
/// 10 000 records).
pub const MAX_BATCH_EVENTS: usize = 10_000;

impl Notification {
    /// Reads the notification with message `body` and `attributes`. A
    /// batch is one whose `event_type` (body or attribute) is
    /// `tracking.batch`; its updates are routed by their bodies alone.
    pub fn read(body: &str, attributes: &BTreeMap<String, String>) -> Result<Self, EventError> {
        let body = body.trim();
        let object = parse_object(body)?;
        let is_batch = |value: Option<&str>| value == Some(TRACKING_BATCH);
        let in_body = object.get("event_type").and_then(Value::as_str);
        let in_attributes = attributes.get("event_type").map(String::as_str);
        if !is_batch(in_body) && !is_batch(in_attributes) {
            return LiveEvent::from_object(&object, body, attributes).map(Notification::One);
        }
        // both say so, or the one present does
        routed(&object, None, attributes, "event_type")?;
        let event_id = event_id_of(&object)?;
        let Some(Value::Array(updates)) = object.get("updates") else {
            return Err(EventError::field(
                "updates",
                "must be an array of position events",
            ));
        };
        if updates.len() > MAX_BATCH_EVENTS {
            return Err(EventError::field(
                "updates",
                format!("must hold at most {MAX_BATCH_EVENTS} events"),
            ));
        }
        let no_attributes = BTreeMap::new();
        let events = updates
            .iter()
            .enumerate()
            .map(|(index, update)| {
                let at = |error: EventError| EventError {
                    field: Some(match error.field {
                        Some(field) => format!("updates[{index}].{field}"),
                        None => format!("updates[{index}]"),
                    }),
                    message: error.message,
                };
                let Value::Object(update) = update else {
                    return Err(at(EventError::body("must be a JSON object")));
                };
                let text = Value::Object(update.clone()).to_string();
                let event = LiveEvent::from_object(update, &text, &no_attributes).map_err(at)?;
                if event.event_type != TRACKING_UPDATED {
                    return Err(at(EventError::field(
                        "event_type",
                        format!("must be {TRACKING_UPDATED} in a batch"),
                    )));
                }
                Ok(event)
            })
            .collect();
        Ok(Notification::Batch { event_id, events })
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

    #[test]
    fn a_batch_of_positions_is_read_update_by_update() {
        let update = |shipment: &str, shipper: &str, recipient: &str| {
            json!({"event_id": format!("{shipment}:v3"), "event_type": "tracking.updated",
                   "shipment_id": shipment, "shipper_org_id": shipper,
                   "recipient_org_id": recipient, "mkt_c": 5.1})
        };
        let mut forged = update("shp-3", "org-a", "org-b");
        forged["event_type"] = json!("alarm.cleared");
        let mut unrouted = update("shp-4", "org-a", "org-b");
        unrouted.as_object_mut().unwrap().remove("shipper_org_id");
        let body = json!({"event_id": "shp-1:v3+4", "event_type": "tracking.batch", "updates": [
            update("shp-1", "org-a", "org-b"), update("shp-2", "org-c", "org-c"), forged, unrouted, 7
        ]});
        let batch = [("event_type", "tracking.batch")];
        for pairs in [&batch[..], &[]] {
            let Notification::Batch { event_id, events } =
                Notification::read(&body.to_string(), &attributes(pairs)).unwrap()
            else {
                panic!("not a batch");
            };
            assert_eq!(event_id, "shp-1:v3+4");
            assert_eq!(events.len(), 5);
            let first = events[0].as_ref().unwrap();
            assert_eq!(first.organisations(), ["org-a", "org-b"]);
            assert_eq!(
                serde_json::from_str::<Value>(first.body()).unwrap(),
                update("shp-1", "org-a", "org-b"),
                "each update is forwarded as published"
            );
            assert_eq!(events[1].as_ref().unwrap().organisations(), ["org-c"]);
            let field = |n: usize| events[n].as_ref().unwrap_err().field.clone().unwrap();
            assert_eq!(field(2), "updates[2].event_type");
            assert_eq!(field(3), "updates[3].shipper_org_id");
            assert_eq!(field(4), "updates[4]");
        }
        // a single event is still one
        let one = Notification::read(&shipment_event().to_string(), &BTreeMap::new()).unwrap();
        assert!(matches!(one, Notification::One(e) if e.event_id == "shp-1:v2"));
        // a batch without its updates, or that contradicts its attribute
        let error = Notification::read(
            &json!({"event_id": "b", "event_type": "tracking.batch"}).to_string(),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("updates"));
        let error = Notification::read(
            &body.to_string(),
            &attributes(&[("event_type", "tracking.updated")]),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("event_type"));
    }
}
