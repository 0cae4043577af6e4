//! Domain events of shipments, derived from a stored change.
//!
//! The shipments table's stream carries the old and the new image of every
//! change; [`derive_event`] turns such a pair into the [`ShipmentEvent`] to
//! publish (or none: not every write is an event). The event id
//! `<shipment id>:v<version>` is deterministic, so an event delivered twice is
//! recognisable and consumers can be idempotent.
//!
//! Published as JSON with these SNS message attributes, for subscription
//! filter policies: `event_type`, `shipper_org_id`, `recipient_org_id`,
//! `state` (strings) and `version` (number).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Shipment, ShipmentState};
use crate::messaging::{AttributeValue, OutboundMessage};

/// What happened to a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShipmentEventType {
    /// `shipment.created`.
    #[serde(rename = "shipment.created")]
    Created,
    /// `shipment.dispatched`.
    #[serde(rename = "shipment.dispatched")]
    Dispatched,
    /// `shipment.in_transit`.
    #[serde(rename = "shipment.in_transit")]
    InTransit,
    /// `shipment.delivered`.
    #[serde(rename = "shipment.delivered")]
    Delivered,
    /// `shipment.cancelled`.
    #[serde(rename = "shipment.cancelled")]
    Cancelled,
}

impl ShipmentEventType {
    /// Every event type.
    pub const ALL: [ShipmentEventType; 5] = [
        ShipmentEventType::Created,
        ShipmentEventType::Dispatched,
        ShipmentEventType::InTransit,
        ShipmentEventType::Delivered,
        ShipmentEventType::Cancelled,
    ];

    /// The name, e.g. `shipment.in_transit`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentEventType::Created => "shipment.created",
            ShipmentEventType::Dispatched => "shipment.dispatched",
            ShipmentEventType::InTransit => "shipment.in_transit",
            ShipmentEventType::Delivered => "shipment.delivered",
            ShipmentEventType::Cancelled => "shipment.cancelled",
        }
    }

    /// The event of entering `state` (`PENDING` is entered by creation).
    pub fn for_state(state: ShipmentState) -> Self {
        match state {
            ShipmentState::Pending => ShipmentEventType::Created,
            ShipmentState::Dispatched => ShipmentEventType::Dispatched,
            ShipmentState::InTransit => ShipmentEventType::InTransit,
            ShipmentState::Delivered => ShipmentEventType::Delivered,
            ShipmentState::Cancelled => ShipmentEventType::Cancelled,
        }
    }
}

impl fmt::Display for ShipmentEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shipment was created or changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentEvent {
    /// `<shipment id>:v<version>`: the same change always has the same id.
    pub event_id: String,
    /// What happened.
    pub event_type: ShipmentEventType,
    /// The shipment's version after the change.
    pub version: u64,
    /// When it happened (the shipment's `updated_at`).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The shipment.
    pub shipment_id: String,
    /// The sending organisation.
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
    /// The shipment's state after the change.
    pub state: ShipmentState,
    /// The shipment after the change.
    pub shipment: Shipment,
}

/// The deterministic id of the event of `shipment_id` reaching `version`.
pub fn event_id(shipment_id: &str, version: u64) -> String {
    format!("{shipment_id}:v{version}")
}

/// The event a stored change represents, from the images before (`None`: the
/// item was inserted) and after (`None`: it was removed):
///
/// - inserted → `shipment.created`;
/// - a newer version in another state → the event of entering that state;
/// - anything else (a removal, a rewrite at the same or an older version, a
///   change that keeps the state) → no event.
pub fn derive_event(old: Option<&Shipment>, new: Option<&Shipment>) -> Option<ShipmentEvent> {
    let new = new?;
    let event_type = match old {
        None => ShipmentEventType::Created,
        Some(old) if new.version > old.version && new.state != old.state => {
            match ShipmentEventType::for_state(new.state) {
                ShipmentEventType::Created => return None,
                event_type => event_type,
            }
        }
        Some(_) => return None,
    };
    Some(ShipmentEvent {
        event_id: event_id(&new.id, new.version),
        event_type,
        version: new.version,
        occurred_at: new.updated_at,
        shipment_id: new.id.clone(),
        shipper_org_id: new.shipper_org_id.clone(),
        recipient_org_id: new.recipient_org_id.clone(),
        state: new.state,
        shipment: new.clone(),
    })
}

impl ShipmentEvent {
    /// The SNS message attributes: `event_type`, `shipper_org_id`,
    /// `recipient_org_id`, `state` (String) and `version` (Number).
    pub fn message_attributes(&self) -> BTreeMap<String, AttributeValue> {
        [
            (
                "event_type",
                AttributeValue::String(self.event_type.as_str().to_owned()),
            ),
            (
                "shipper_org_id",
                AttributeValue::String(self.shipper_org_id.clone()),
            ),
            (
                "recipient_org_id",
                AttributeValue::String(self.recipient_org_id.clone()),
            ),
            (
                "state",
                AttributeValue::String(self.state.as_str().to_owned()),
            ),
            ("version", AttributeValue::Number(self.version.to_string())),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// The message to publish: the event as JSON, with its attributes.
    pub fn to_message(&self) -> Result<OutboundMessage, serde_json::Error> {
        Ok(OutboundMessage {
            body: serde_json::to_string(self)?,
            attributes: self.message_attributes(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Transition;
    use super::*;
    use crate::fixtures::*;
    use proptest::prelude::*;
    use time::Duration;

    #[test]
    fn an_insert_is_a_creation() {
        let shipment = pending();
        let event = derive_event(None, Some(&shipment)).unwrap();
        assert_eq!(event.event_type, ShipmentEventType::Created);
        assert_eq!(event.event_id, "shp-1:v1");
        assert_eq!(event.version, 1);
        assert_eq!(event.occurred_at, T0);
        assert_eq!(event.state, ShipmentState::Pending);
        assert_eq!(event.shipper_org_id, "org-ship");
        assert_eq!(event.recipient_org_id, "org-recv");
        assert_eq!(event.shipment, shipment);
    }

    #[test]
    fn each_transition_has_its_event() {
        let expected = [
            (Transition::Dispatch, "shipment.dispatched"),
            (Transition::Start, "shipment.in_transit"),
            (Transition::Deliver, "shipment.delivered"),
        ];
        let mut shipment = pending();
        for (transition, name) in expected {
            let at = shipment.updated_at + Duration::minutes(5);
            let next = shipment
                .transition(transition, shipment.version, at, None)
                .unwrap();
            let event = derive_event(Some(&shipment), Some(&next)).unwrap();
            assert_eq!(event.event_type.as_str(), name);
            assert_eq!(event.event_id, format!("shp-1:v{}", next.version));
            assert_eq!(event.occurred_at, at);
            shipment = next;
        }
        let cancelled = pending()
            .transition(Transition::Cancel, 1, T0, None)
            .unwrap();
        assert_eq!(
            derive_event(Some(&pending()), Some(&cancelled))
                .unwrap()
                .event_type,
            ShipmentEventType::Cancelled
        );
    }

    #[test]
    fn removals_rewrites_and_replays_are_no_events() {
        let shipment = pending();
        assert_eq!(derive_event(Some(&shipment), None), None);
        assert_eq!(derive_event(None, None), None);
        assert_eq!(derive_event(Some(&shipment), Some(&shipment)), None);
        let dispatched = shipment
            .transition(Transition::Dispatch, 1, T0, None)
            .unwrap();
        assert_eq!(
            derive_event(Some(&dispatched), Some(&shipment)),
            None,
            "an older version"
        );
        let mut relabelled = shipment.clone();
        relabelled.version = 2;
        relabelled.truck_id = Some("other".into());
        assert_eq!(
            derive_event(Some(&shipment), Some(&relabelled)),
            None,
            "same state"
        );
    }

    #[test]
    fn the_message_carries_the_filter_attributes_and_the_event_as_json() {
        let event = derive_event(None, Some(&pending())).unwrap();
        let message = event.to_message().unwrap();
        let attributes: Vec<(&str, &str, &str)> = message
            .attributes
            .iter()
            .map(|(name, value)| (name.as_str(), value.data_type(), value.as_str()))
            .collect();
        assert_eq!(
            attributes,
            [
                ("event_type", "String", "shipment.created"),
                ("recipient_org_id", "String", "org-recv"),
                ("shipper_org_id", "String", "org-ship"),
                ("state", "String", "PENDING"),
                ("version", "Number", "1"),
            ]
        );
        let json: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!(json["event_id"], "shp-1:v1");
        assert_eq!(json["event_type"], "shipment.created");
        assert_eq!(json["occurred_at"], "2026-11-21T08:00:00Z");
        assert_eq!(json["shipment"]["id"], "shp-1");
        let back: ShipmentEvent = serde_json::from_str(&message.body).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn event_types_name_themselves_in_json() {
        for event_type in ShipmentEventType::ALL {
            assert_eq!(
                serde_json::to_value(event_type).unwrap(),
                serde_json::json!(event_type.as_str())
            );
        }
    }

    proptest! {
        /// Along any path of the state machine, every accepted step yields
        /// exactly one event, of the new state, with a distinct deterministic id.
        #[test]
        fn every_step_is_one_event_with_a_unique_id(
            steps in prop::collection::vec(prop::sample::select(Transition::ALL.to_vec()), 0..12)
        ) {
            let mut shipment = pending();
            let mut ids = vec![derive_event(None, Some(&shipment)).unwrap().event_id];
            for transition in steps {
                if let Ok(next) = shipment.transition(transition, shipment.version, T0, None) {
                    let event = derive_event(Some(&shipment), Some(&next)).unwrap();
                    prop_assert_eq!(event.event_type, ShipmentEventType::for_state(next.state));
                    prop_assert_eq!(event.version, next.version);
                    prop_assert!(!ids.contains(&event.event_id));
                    // derived twice, the same event
                    prop_assert_eq!(derive_event(Some(&shipment), Some(&next)), Some(event.clone()));
                    ids.push(event.event_id);
                    shipment = next;
                }
            }
        }
    }
}
