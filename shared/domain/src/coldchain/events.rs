//! Alarm events: what the anomaly detector publishes on the alarm topic when
//! an alarm is raised, escalated or cleared (and what the dashboard publishes
//! when a person acknowledges one).
//!
//! One event per published [`AlarmTransition`]. Its `event_id` is
//! deterministic ([`alarm_event_id`]): the same transition replayed from the
//! stream has the same id, so every consumer (emailer, dashboard broadcast)
//! drops the second copy.
//!
//! The body is the JSON of [`AlarmEvent`]; the message attributes
//! ([`AlarmEvent::to_message`]) let subscriptions filter without reading it:
//!
//! | attribute | example |
//! |---|---|
//! | `event_type` | `alarm.raised`, `alarm.escalated`, `alarm.cleared`, `alarm.acknowledged` |
//! | `severity` | `WARNING`, `MAJOR`, `CRITICAL` (after the transition) |
//! | `alarm_type` | `TEMPERATURE_EXCURSION`, `SHOCK`, … |
//! | `shipment_id`, `shipper_org_id`, `recipient_org_id` | ids |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::alarm::{Alarm, AlarmTransition, Severity};
use super::risk::{RiskEstimate, RiskInput};
use super::shock::DEFAULT_CRASH_THRESHOLD_G;
use crate::messaging::{AttributeValue, OutboundMessage};
use crate::shipment::{Location, Money, Shipment, ShipmentState, TemperatureProfile};

/// Version of the [`AlarmEvent`] format.
pub const ALARM_EVENT_VERSION: u8 = 1;

/// What happened to the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlarmEventType {
    /// A new alarm.
    #[serde(rename = "alarm.raised")]
    Raised,
    /// Its severity went up.
    #[serde(rename = "alarm.escalated")]
    Escalated,
    /// The condition is gone.
    #[serde(rename = "alarm.cleared")]
    Cleared,
    /// A person acknowledged it.
    #[serde(rename = "alarm.acknowledged")]
    Acknowledged,
}

impl AlarmEventType {
    /// The wire name, e.g. `alarm.raised`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmEventType::Raised => "alarm.raised",
            AlarmEventType::Escalated => "alarm.escalated",
            AlarmEventType::Cleared => "alarm.cleared",
            AlarmEventType::Acknowledged => "alarm.acknowledged",
        }
    }

    /// The event type of a transition; `None` for one that is stored only
    /// (a repeat at the same severity).
    pub fn of(transition: &AlarmTransition) -> Option<Self> {
        match transition {
            AlarmTransition::Raised { .. } => Some(AlarmEventType::Raised),
            AlarmTransition::Escalated { .. } => Some(AlarmEventType::Escalated),
            AlarmTransition::Cleared { .. } => Some(AlarmEventType::Cleared),
            AlarmTransition::Acknowledged { .. } => Some(AlarmEventType::Acknowledged),
            AlarmTransition::Updated { .. } => None,
        }
    }
}

impl fmt::Display for AlarmEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id of the event of `event_type` for `alarm` (as it is after the
/// transition): `{alarm_id}:RAISED`, `{alarm_id}:ESCALATED:{severity}`,
/// `{alarm_id}:CLEARED`, `{alarm_id}:ACKNOWLEDGED:{severity}`. An alarm is
/// raised and cleared once, and escalates and is reviewed at most once per
/// severity (an escalation resets the review).
pub fn alarm_event_id(alarm: &Alarm, event_type: AlarmEventType) -> String {
    match event_type {
        AlarmEventType::Raised => format!("{}:RAISED", alarm.alarm_id),
        AlarmEventType::Escalated => format!("{}:ESCALATED:{}", alarm.alarm_id, alarm.severity),
        AlarmEventType::Cleared => format!("{}:CLEARED", alarm.alarm_id),
        AlarmEventType::Acknowledged => {
            format!("{}:ACKNOWLEDGED:{}", alarm.alarm_id, alarm.severity)
        }
    }
}

/// The shipment as an alarm event shows it (what a reader of the event needs
/// without looking the shipment up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentSummary {
    /// The shipment.
    pub shipment_id: String,
    /// What is shipped.
    pub product: String,
    /// How many units.
    pub quantity: u32,
    /// The value of the cargo.
    pub cargo_value: Money,
    /// The temperature rules of the product.
    pub profile: TemperatureProfile,
    /// The sending organisation.
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
    /// Where the goods were loaded.
    pub origin: Location,
    /// Where they are delivered.
    pub destination: Location,
    /// The reporting device.
    #[serde(default)]
    pub device_id: Option<String>,
    /// The truck.
    #[serde(default)]
    pub truck_id: Option<String>,
    /// The user who started the shipment (its driver, in the usual case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// The shipment's state.
    pub state: ShipmentState,
}

impl From<&Shipment> for ShipmentSummary {
    fn from(shipment: &Shipment) -> Self {
        Self {
            shipment_id: shipment.id.clone(),
            product: shipment.product.clone(),
            quantity: shipment.quantity,
            cargo_value: shipment.cargo_value.clone(),
            profile: shipment.profile,
            shipper_org_id: shipment.shipper_org_id.clone(),
            recipient_org_id: shipment.recipient_org_id.clone(),
            origin: shipment.origin.clone(),
            destination: shipment.destination.clone(),
            device_id: shipment.device_id.clone(),
            truck_id: shipment.truck_id.clone(),
            started_by: shipment.started_by.clone(),
            state: shipment.state,
        }
    }
}

/// The cold-chain situation of the shipment at the transition: the latest
/// reading and the trip so far.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlarmContext {
    /// Time of the latest reading applied.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub reading_ts: Option<OffsetDateTime>,
    /// Id of that reading.
    #[serde(default)]
    pub reading_id: Option<String>,
    /// When the platform received that reading (for latency figures).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
    /// Position of the latest reading, degrees.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Position of the latest reading, degrees.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Cargo temperature of the latest reading, °C.
    #[serde(default)]
    pub temperature_c: Option<f64>,
    /// Vibration peak of the latest reading, g.
    #[serde(default)]
    pub vibration_g: Option<f64>,
    /// Highest vibration peak of the trip so far, g.
    #[serde(default)]
    pub peak_vibration_g: Option<f64>,
    /// Mean kinetic temperature of the trip so far, °C.
    #[serde(default)]
    pub mkt_c: Option<f64>,
    /// Minutes out of range over the trip so far, both sides.
    #[serde(default)]
    pub excursion_minutes: f64,
    /// The budget of the side most used, minutes.
    #[serde(default)]
    pub budget_minutes: u32,
    /// Fraction of the budget used, the larger of the two sides (1.0 =
    /// exhausted; may exceed 1).
    #[serde(default)]
    pub budget_used: f64,
    /// Minutes above the range over the trip (`None` in events from before
    /// the sides were told apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes_above: Option<f64>,
    /// Minutes below the range over the trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes_below: Option<f64>,
    /// Minutes in the hot zone over the trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_zone_minutes: Option<f64>,
    /// Minutes in the cold zone over the trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_zone_minutes: Option<f64>,
    /// Coldest and warmest reading of the trip, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_temperature_c: Option<f64>,
    /// See `min_temperature_c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_temperature_c: Option<f64>,
    /// Time with data over elapsed time, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
}

/// One alarm event (the body of the SNS message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvent {
    /// Format version, [`ALARM_EVENT_VERSION`].
    pub v: u8,
    /// Deterministic id ([`alarm_event_id`]).
    pub event_id: String,
    /// What happened.
    pub event_type: AlarmEventType,
    /// When it happened (the time of the reading or check that caused it, or
    /// of the acknowledgement).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The alarm after the transition.
    pub alarm: Alarm,
    /// For an escalation: the severity before.
    #[serde(default)]
    pub from_severity: Option<Severity>,
    /// The shipment.
    pub shipment: ShipmentSummary,
    /// The situation at the transition.
    pub context: AlarmContext,
    /// The estimated loss, for MAJOR and CRITICAL raises and escalations
    /// (filled in by the risk calculator).
    #[serde(default)]
    pub risk: Option<RiskEstimate>,
}

impl AlarmEvent {
    /// The event of a published transition (`None` for a stored-only repeat).
    /// `occurred_at` is the alarm's `last_seen` (raise, escalation), its
    /// `cleared_at` or its `acknowledged_at`.
    pub fn from_transition(
        transition: &AlarmTransition,
        shipment: ShipmentSummary,
        context: AlarmContext,
    ) -> Option<Self> {
        let event_type = AlarmEventType::of(transition)?;
        let alarm = transition.alarm().clone();
        let occurred_at = match event_type {
            AlarmEventType::Raised | AlarmEventType::Escalated => alarm.last_seen,
            AlarmEventType::Cleared => alarm.cleared_at.unwrap_or(alarm.last_seen),
            AlarmEventType::Acknowledged => alarm.acknowledged_at.unwrap_or(alarm.last_seen),
        };
        let from_severity = match transition {
            AlarmTransition::Escalated { from, .. } => Some(*from),
            _ => None,
        };
        Some(Self {
            v: ALARM_EVENT_VERSION,
            event_id: alarm_event_id(&alarm, event_type),
            event_type,
            occurred_at,
            alarm,
            from_severity,
            shipment,
            context,
            risk: None,
        })
    }

    /// Whether the risk calculator should estimate this event: a raise or an
    /// escalation at MAJOR or above.
    pub fn needs_risk(&self) -> bool {
        matches!(
            self.event_type,
            AlarmEventType::Raised | AlarmEventType::Escalated
        ) && self.alarm.severity >= Severity::Major
    }

    /// What the risk calculator estimates from (cargo value, profile, shock
    /// peak, minutes out of range and MKT of the trip so far).
    pub fn risk_input(&self) -> RiskInput {
        RiskInput {
            cargo_value: self.shipment.cargo_value.clone(),
            profile: self.shipment.profile,
            peak_vibration_g: self.context.peak_vibration_g,
            crash_threshold_g: DEFAULT_CRASH_THRESHOLD_G,
            excursion_minutes: self
                .context
                .minutes_above
                .unwrap_or(self.context.excursion_minutes),
            minutes_below_range: self.context.minutes_below,
            cold_zone_minutes: self.context.cold_zone_minutes,
            mkt_c: self.context.mkt_c,
        }
    }

    /// The SNS message: the JSON body and the filterable attributes (see
    /// the module docs).
    pub fn to_message(&self) -> OutboundMessage {
        let string = |value: &str| AttributeValue::String(value.to_owned());
        let attributes = BTreeMap::from([
            ("event_type".to_owned(), string(self.event_type.as_str())),
            ("severity".to_owned(), string(self.alarm.severity.as_str())),
            (
                "alarm_type".to_owned(),
                string(self.alarm.alarm_type.as_str()),
            ),
            ("shipment_id".to_owned(), string(&self.shipment.shipment_id)),
            (
                "shipper_org_id".to_owned(),
                string(&self.shipment.shipper_org_id),
            ),
            (
                "recipient_org_id".to_owned(),
                string(&self.shipment.recipient_org_id),
            ),
        ]);
        OutboundMessage {
            body: serde_json::to_string(self).expect("an alarm event always serializes"),
            attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::coldchain::alarm::{AlarmBook, AlarmType, Signal};
    use crate::fixtures;

    fn shipment() -> ShipmentSummary {
        ShipmentSummary::from(&fixtures::shipment(
            "shp-1",
            "truck-7",
            ShipmentState::InTransit,
        ))
    }

    fn present(severity: Severity, at: OffsetDateTime) -> Signal {
        Signal::Present {
            alarm_type: AlarmType::TemperatureExcursion,
            severity,
            value: 9.5,
            magnitude: 1.5,
            detail: "9.5 °C above 8 °C".into(),
            crossing: None,
            at,
        }
    }

    #[test]
    fn each_published_transition_has_its_own_stable_event_id() {
        let mut book = AlarmBook::new();
        let t0 = datetime!(2026-11-21 10:00 UTC);
        let raised = book.apply("shp-1", present(Severity::Major, t0));
        let repeat = book.apply(
            "shp-1",
            present(Severity::Major, t0 + time::Duration::minutes(1)),
        );
        let escalated = book.apply(
            "shp-1",
            present(Severity::Critical, t0 + time::Duration::minutes(2)),
        );
        let cleared = book.apply(
            "shp-1",
            Signal::Absent {
                alarm_type: AlarmType::TemperatureExcursion,
                at: t0 + time::Duration::minutes(3),
            },
        );
        let event = |t: &AlarmTransition| {
            AlarmEvent::from_transition(t, shipment(), AlarmContext::default())
        };
        assert!(
            event(&repeat[0]).is_none(),
            "a repeat is stored, not published"
        );
        let ids: Vec<String> = [&raised[0], &escalated[0], &cleared[0]]
            .into_iter()
            .map(|t| event(t).unwrap().event_id)
            .collect();
        let alarm_id = raised[0].alarm().alarm_id.clone();
        assert_eq!(
            ids,
            [
                format!("{alarm_id}:RAISED"),
                format!("{alarm_id}:ESCALATED:CRITICAL"),
                format!("{alarm_id}:CLEARED"),
            ]
        );
        let escalation = event(&escalated[0]).unwrap();
        assert_eq!(escalation.from_severity, Some(Severity::Major));
        assert_eq!(
            event(&raised[0]).unwrap().event_id,
            ids[0],
            "same transition, same id"
        );
    }

    #[test]
    fn only_major_and_critical_raises_and_escalations_need_a_risk_estimate() {
        let mut book = AlarmBook::new();
        let t0 = datetime!(2026-11-21 10:00 UTC);
        let warning = book.apply(
            "shp-1",
            Signal::Present {
                alarm_type: AlarmType::PreExcursion,
                severity: Severity::Warning,
                value: 7.0,
                magnitude: 0.0,
                detail: "trend".into(),
                crossing: None,
                at: t0,
            },
        );
        let major = book.apply("shp-1", present(Severity::Major, t0));
        let cleared = book.apply(
            "shp-1",
            Signal::Absent {
                alarm_type: AlarmType::TemperatureExcursion,
                at: t0 + time::Duration::minutes(1),
            },
        );
        let event = |t: &AlarmTransition| {
            AlarmEvent::from_transition(t, shipment(), AlarmContext::default()).unwrap()
        };
        assert!(!event(&warning[0]).needs_risk());
        assert!(event(&major[0]).needs_risk());
        assert!(!event(&cleared[0]).needs_risk());
    }

    #[test]
    fn the_message_carries_filterable_attributes_and_round_trips() {
        let mut book = AlarmBook::new();
        let raised = book.apply(
            "shp-1",
            present(Severity::Major, datetime!(2026-11-21 10:00 UTC)),
        );
        let context = AlarmContext {
            mkt_c: Some(6.2),
            excursion_minutes: 35.0,
            budget_minutes: 60,
            peak_vibration_g: Some(1.2),
            ..AlarmContext::default()
        };
        let event = AlarmEvent::from_transition(&raised[0], shipment(), context).unwrap();
        let message = event.to_message();
        let attribute = |name: &str| message.attributes[name].as_str().to_owned();
        assert_eq!(attribute("event_type"), "alarm.raised");
        assert_eq!(attribute("severity"), "MAJOR");
        assert_eq!(attribute("alarm_type"), "TEMPERATURE_EXCURSION");
        assert_eq!(attribute("shipper_org_id"), "org-ship");
        assert_eq!(attribute("recipient_org_id"), "org-recv");
        let back: AlarmEvent = serde_json::from_str(&message.body).unwrap();
        assert_eq!(back, event);
        let input = event.risk_input();
        assert_eq!(input.excursion_minutes, 35.0);
        assert_eq!(input.mkt_c, Some(6.2));
        assert_eq!(input.peak_vibration_g, Some(1.2));
    }
}
