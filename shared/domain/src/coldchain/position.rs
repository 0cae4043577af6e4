//! Position events: what the anomaly detector publishes on the tracking topic
//! after it stored a shipment's new state, for the live map of the dashboard.
//!
//! At most one [`TrackingUpdated`] per shipment per batch of telemetry,
//! published after the tracking item is saved; the updates of one batch
//! travel together in one `tracking.batch` message ([`position_messages`]).
//! Unlike an alarm event, a lost
//! position event is harmless: the next batch publishes the newer state, and
//! the dashboard reads the same state over REST ([`ColdChainStatus`] is also
//! what `GET /v1/tracking` shows of each shipment).
//!
//! An update is the JSON of [`TrackingUpdated`]:
//!
//! ```json
//! {"event_id": "shp-1:v7", "event_type": "tracking.updated", "occurred_at": "2026-11-21T08:05:00Z",
//!  "shipment_id": "shp-1", "shipper_org_id": "org-ship", "recipient_org_id": "org-recv",
//!  "state": "IN_TRANSIT", "device_id": "truck-7",
//!  "latest": {"reading_id": "truck-7-5", "ts": "2026-11-21T08:05:00Z", "lat": 52.1, "lon": 5.1,
//!             "temperature_c": 5.2, "vibration_g": 0.3},
//!  "mkt_c": 5.4, "excursion_minutes": 0.0, "budget_minutes": 60.0,
//!  "profile": {"kind": "REFRIGERATED", "min_c": 2.0, "max_c": 8.0},
//!  "active_alarms": [{"alarm_id": "…", "alarm_type": "SHOCK", "severity": "CRITICAL", "state": "ACTIVE_UNACK"}]}
//! ```
//!
//! `event_id` is `<shipment id>:v<tracking version>`: the same saved state
//! always has the same id, so consumers drop a repeat. Published alone
//! ([`TrackingUpdated::to_message`]), its message attributes are
//! `event_type`, `shipment_id`, `shipper_org_id` and `recipient_org_id`; in a
//! batch each update carries the same fields in its body.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::alarm::{Alarm, AlarmState, AlarmType, Severity};
use super::tracking::Tracking;
use crate::messaging::{AttributeValue, OutboundMessage};
use crate::shipment::{ShipmentState, TemperatureProfile};
use crate::telemetry::Reading;

/// The wire name of the position event type.
pub const TRACKING_UPDATED: &str = "tracking.updated";

/// The type of a position event (there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrackingEventType {
    /// The shipment's tracking was saved with new readings.
    #[serde(rename = "tracking.updated")]
    Updated,
}

impl TrackingEventType {
    /// The wire name, `tracking.updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingEventType::Updated => TRACKING_UPDATED,
        }
    }
}

/// A reading as the map and the chart show it: where, when, how cold, how
/// shaken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The reading.
    pub reading_id: String,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Cargo temperature, °C.
    pub temperature_c: f64,
    /// Vibration peak, g.
    pub vibration_g: f64,
}

impl From<&Reading> for Position {
    fn from(reading: &Reading) -> Self {
        Self {
            reading_id: reading.reading_id.clone(),
            ts: reading.ts,
            lat: reading.lat,
            lon: reading.lon,
            temperature_c: reading.temperature_c,
            vibration_g: reading.vibration_g,
        }
    }
}

/// The band a chart draws: the profile's kind and its range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileBand {
    /// `REFRIGERATED`, `FROZEN`, … or `CUSTOM`.
    pub kind: String,
    /// Lowest allowed temperature, °C.
    pub min_c: f64,
    /// Highest allowed temperature, °C.
    pub max_c: f64,
    /// The hot zone starts above this temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_zone_c: Option<f64>,
    /// The cold zone starts below this temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_zone_c: Option<f64>,
}

impl From<&TemperatureProfile> for ProfileBand {
    fn from(profile: &TemperatureProfile) -> Self {
        let limits = profile.limits();
        Self {
            kind: profile.kind().to_owned(),
            min_c: limits.min_c,
            max_c: limits.max_c,
            hot_zone_c: limits.hot_zone.map(|zone| zone.limit_c),
            cold_zone_c: limits.cold_zone.map(|zone| zone.limit_c),
        }
    }
}

/// An active alarm in short: enough to colour a marker and count alarms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmSummary {
    /// The alarm.
    pub alarm_id: String,
    /// What it is about.
    pub alarm_type: AlarmType,
    /// How bad it is.
    pub severity: Severity,
    /// `ACTIVE_UNACK` or `ACTIVE_ACK`.
    pub state: AlarmState,
}

impl From<&Alarm> for AlarmSummary {
    fn from(alarm: &Alarm) -> Self {
        Self {
            alarm_id: alarm.alarm_id.clone(),
            alarm_type: alarm.alarm_type,
            severity: alarm.severity,
            state: alarm.state,
        }
    }
}

/// The cold-chain situation of a shipment: latest reading, MKT, excursion
/// minutes against the budget, the band and the active alarms. Shared by the
/// position event and the REST views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdChainStatus {
    /// The latest reading applied (`None` before the first).
    pub latest: Option<Position>,
    /// Mean kinetic temperature of the trip so far, °C (`None` before two readings).
    pub mkt_c: Option<f64>,
    /// Minutes out of range over the trip so far.
    pub excursion_minutes: f64,
    /// The profile's excursion budget, both sides, minutes.
    pub budget_minutes: f64,
    /// Minutes above the range over the trip so far.
    #[serde(default)]
    pub minutes_above: f64,
    /// Minutes below the range over the trip so far.
    #[serde(default)]
    pub minutes_below: f64,
    /// Fraction of the budget used, the larger of the two sides.
    #[serde(default)]
    pub budget_used: f64,
    /// Time with data over the time from the first to the last reading, 0..=1
    /// (`None` before the first reading).
    #[serde(default)]
    pub coverage: Option<f64>,
    /// The longest silence between two readings, minutes.
    #[serde(default)]
    pub longest_gap_minutes: f64,
    /// The coldest reading of the trip, °C.
    #[serde(default)]
    pub min_temperature_c: Option<f64>,
    /// The warmest reading of the trip, °C.
    #[serde(default)]
    pub max_temperature_c: Option<f64>,
    /// The profile's kind and range.
    pub profile: ProfileBand,
    /// The active alarms, most severe first (then oldest first).
    pub active_alarms: Vec<AlarmSummary>,
}

impl ColdChainStatus {
    /// The situation `tracking` describes (none yet: nothing seen) for a
    /// shipment with `profile`.
    pub fn of(tracking: Option<&Tracking>, profile: &TemperatureProfile) -> Self {
        let limits = profile.limits();
        let minutes = |d: time::Duration| d.as_seconds_f64() / 60.0;
        let monitor = tracking.map(|tracking| &tracking.monitor);
        let status = monitor.map(|monitor| monitor.excursion_status(profile));
        let latest = tracking.and_then(|t| t.latest.as_ref().map(Position::from));
        let mut alarms = monitor.map_or_else(Vec::new, |m| m.alarms.active.clone());
        alarms.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.raised_at.cmp(&b.raised_at))
                .then_with(|| a.alarm_id.cmp(&b.alarm_id))
        });
        Self {
            latest,
            mkt_c: monitor.and_then(|m| m.mkt_c().filter(|mkt| mkt.is_finite())),
            excursion_minutes: status.map_or(0.0, |s| minutes(s.cumulative)),
            budget_minutes: f64::from(limits.total_budget_minutes()),
            minutes_above: status.map_or(0.0, |s| minutes(s.above)),
            minutes_below: status.map_or(0.0, |s| minutes(s.below)),
            budget_used: status.map_or(0.0, |s| s.budget_used),
            coverage: monitor
                .filter(|m| m.last_reading_at().is_some())
                .map(|m| m.coverage()),
            longest_gap_minutes: monitor.map_or(0.0, |m| minutes(m.coverage.longest_gap())),
            min_temperature_c: monitor.and_then(|m| m.coverage.min_temperature_c),
            max_temperature_c: monitor.and_then(|m| m.coverage.max_temperature_c),
            profile: ProfileBand::from(profile),
            active_alarms: alarms.iter().map(AlarmSummary::from).collect(),
        }
    }
}

/// The id of the position event of a shipment's tracking at `version`:
/// `<shipment id>:v<version>`.
pub fn tracking_event_id(shipment_id: &str, version: u64) -> String {
    format!("{shipment_id}:v{version}")
}

/// One position event (the body of the SNS message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingUpdated {
    /// `<shipment id>:v<tracking version>` ([`tracking_event_id`]).
    pub event_id: String,
    /// Always `tracking.updated`.
    pub event_type: TrackingEventType,
    /// When the tracking was saved.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The shipment.
    pub shipment_id: String,
    /// The sending organisation.
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
    /// The shipment's state as the detector saw it.
    pub state: ShipmentState,
    /// The reporting device.
    pub device_id: Option<String>,
    /// The cold-chain situation.
    #[serde(flatten)]
    pub status: ColdChainStatus,
}

impl TrackingUpdated {
    /// The event of a saved `tracking` of a shipment with `profile`.
    pub fn of(tracking: &Tracking, profile: &TemperatureProfile) -> Self {
        Self {
            event_id: tracking_event_id(&tracking.shipment_id, tracking.version),
            event_type: TrackingEventType::Updated,
            occurred_at: tracking.updated_at,
            shipment_id: tracking.shipment_id.clone(),
            shipper_org_id: tracking.shipper_org_id.clone(),
            recipient_org_id: tracking.recipient_org_id.clone(),
            state: tracking.state,
            device_id: tracking.device_id.clone(),
            status: ColdChainStatus::of(Some(tracking), profile),
        }
    }

    /// The SNS message: the JSON body and the attributes `event_type`,
    /// `shipment_id`, `shipper_org_id`, `recipient_org_id`.
    pub fn to_message(&self) -> OutboundMessage {
        let string = |value: &str| AttributeValue::String(value.to_owned());
        let attributes = BTreeMap::from([
            ("event_type".to_owned(), string(self.event_type.as_str())),
            ("shipment_id".to_owned(), string(&self.shipment_id)),
            ("shipper_org_id".to_owned(), string(&self.shipper_org_id)),
            (
                "recipient_org_id".to_owned(),
                string(&self.recipient_org_id),
            ),
        ]);
        OutboundMessage {
            body: serde_json::to_string(self).expect("a position event always serializes"),
            attributes,
        }
    }
}

/// The wire name of a message carrying several position events.
pub const TRACKING_BATCH: &str = "tracking.batch";

/// The largest body of one [`position_messages`] message, bytes: SNS takes
/// 256 KiB, attributes included.
pub const MAX_POSITION_MESSAGE_BYTES: usize = 240 * 1024;

/// The position events of one telemetry batch, in as few SNS messages as
/// fit: one `tracking.batch` message per [`MAX_POSITION_MESSAGE_BYTES`] of
/// events, its body
///
/// ```json
/// {"event_id": "shp-1:v7+2", "event_type": "tracking.batch",
///  "updates": [{"event_id": "shp-1:v7", "event_type": "tracking.updated", …}, …]}
/// ```
///
/// with the one attribute `event_type` = `tracking.batch`. Each update is
/// a whole [`TrackingUpdated`], routed on its own organisations by the
/// broadcast; the batch's `event_id` (its first update's id and how many
/// follow) only names it in logs. Each message comes with the range of
/// `updates` it carries. One message per batch instead of one per
/// shipment: the live map's fan-out costs one notification per telemetry
/// batch, whatever the number of trucks in it.
pub fn position_messages(updates: &[TrackingUpdated]) -> Vec<(OutboundMessage, Range<usize>)> {
    let mut messages = Vec::new();
    let mut chunk: Vec<String> = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, update) in updates.iter().enumerate() {
        let json = serde_json::to_string(update).expect("a position event always serializes");
        // the envelope is under 200 bytes
        if !chunk.is_empty() && bytes + json.len() + 1 + 200 > MAX_POSITION_MESSAGE_BYTES {
            let message = batch_message(&updates[start].event_id, &chunk);
            messages.push((message, start..index));
            chunk.clear();
            start = index;
            bytes = 0;
        }
        bytes += json.len() + 1;
        chunk.push(json);
    }
    if !chunk.is_empty() {
        let message = batch_message(&updates[start].event_id, &chunk);
        messages.push((message, start..updates.len()));
    }
    messages
}

/// One `tracking.batch` message of already serialized updates.
fn batch_message(first_id: &str, updates: &[String]) -> OutboundMessage {
    let event_id = serde_json::to_string(&format!("{first_id}+{}", updates.len() - 1))
        .expect("a string always serializes");
    let body = format!(
        r#"{{"event_id":{event_id},"event_type":"{TRACKING_BATCH}","updates":[{}]}}"#,
        updates.join(",")
    );
    OutboundMessage {
        body,
        attributes: BTreeMap::from([(
            "event_type".to_owned(),
            AttributeValue::String(TRACKING_BATCH.to_owned()),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::Duration;

    use super::*;
    use crate::coldchain::MonitorSettings;
    use crate::fixtures::{T0, reading, shipment};

    /// A tracking of `shp-1` after three readings, the last a crash (SHOCK).
    fn tracked() -> Tracking {
        let shipment = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        let fresh = Tracking::new(&shipment, T0);
        let mut monitor = fresh.monitor.clone();
        let settings = MonitorSettings::default();
        let readings = [
            reading("truck-7", 0, 5.0, 0.2),
            reading("truck-7", 1, 9.5, 0.2),
            reading("truck-7", 2, 5.5, 6.5),
        ];
        for r in &readings {
            monitor.observe(r, &shipment.profile, &settings);
        }
        fresh.next(
            &shipment,
            monitor,
            Some(readings[2].clone()),
            T0 + Duration::minutes(3),
        )
    }

    #[test]
    fn the_event_has_the_contract_shape() {
        let tracking = tracked();
        let event = TrackingUpdated::of(&tracking, &TemperatureProfile::Refrigerated);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event_id"], "shp-1:v1");
        assert_eq!(json["event_type"], "tracking.updated");
        assert_eq!(json["occurred_at"], "2026-11-21T08:03:00Z");
        assert_eq!(json["shipment_id"], "shp-1");
        assert_eq!(json["shipper_org_id"], "org-ship");
        assert_eq!(json["recipient_org_id"], "org-recv");
        assert_eq!(json["state"], "IN_TRANSIT");
        assert_eq!(json["device_id"], "truck-7");
        assert_eq!(
            json["latest"],
            json!({"reading_id": "truck-7-2", "ts": "2026-11-21T08:02:00Z", "lat": 52.002,
                   "lon": 5.0, "temperature_c": 5.5, "vibration_g": 6.5})
        );
        assert_eq!(
            json["profile"],
            json!({"kind": "REFRIGERATED", "min_c": 2.0, "max_c": 8.0,
                   "hot_zone_c": 25.0, "cold_zone_c": 0.0})
        );
        assert_eq!(json["budget_minutes"], 75.0);
        // one minute at 9.5 °C, attributed to the reading that saw it
        assert_eq!(json["excursion_minutes"], 1.0);
        let mkt = json["mkt_c"].as_f64().unwrap();
        assert!(mkt > 5.5 && mkt < 9.5, "{mkt}");
        let alarms = json["active_alarms"].as_array().unwrap();
        assert_eq!(alarms.len(), 1);
        assert_eq!(alarms[0]["alarm_type"], "SHOCK");
        assert_eq!(alarms[0]["severity"], "CRITICAL");
        assert_eq!(alarms[0]["state"], "ACTIVE_UNACK");
        assert_eq!(
            alarms[0].as_object().unwrap().len(),
            4,
            "the short form: {alarms:?}"
        );
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 21, "exactly the contract's fields: {keys:?}");
    }

    #[test]
    fn the_message_round_trips_with_its_attributes() {
        let event = TrackingUpdated::of(&tracked(), &TemperatureProfile::Refrigerated);
        let message = event.to_message();
        let attribute = |name: &str| message.attributes[name].as_str().to_owned();
        assert_eq!(attribute("event_type"), "tracking.updated");
        assert_eq!(attribute("shipment_id"), "shp-1");
        assert_eq!(attribute("shipper_org_id"), "org-ship");
        assert_eq!(attribute("recipient_org_id"), "org-recv");
        assert_eq!(message.attributes.len(), 4);
        let back: TrackingUpdated = serde_json::from_str(&message.body).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn the_same_saved_state_has_the_same_id_and_the_next_another() {
        let tracking = tracked();
        let profile = TemperatureProfile::Refrigerated;
        let shipment = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        let next = tracking.next(
            &shipment,
            tracking.monitor.clone(),
            None,
            T0 + Duration::minutes(4),
        );
        assert_eq!(
            TrackingUpdated::of(&tracking, &profile).event_id,
            TrackingUpdated::of(&tracking, &profile).event_id
        );
        assert_eq!(TrackingUpdated::of(&next, &profile).event_id, "shp-1:v2");
    }

    #[test]
    fn nothing_seen_yet_is_an_empty_status_with_the_band() {
        let status = ColdChainStatus::of(None, &TemperatureProfile::Frozen);
        assert_eq!(status.latest, None);
        assert_eq!(status.mkt_c, None);
        assert_eq!(status.excursion_minutes, 0.0);
        assert_eq!(status.budget_minutes, 270.0, "30 above and 240 below");
        assert_eq!(
            status.profile,
            ProfileBand {
                kind: "FROZEN".into(),
                min_c: -25.0,
                max_c: -15.0,
                hot_zone_c: Some(-10.0),
                cold_zone_c: None,
            }
        );
        assert!(status.active_alarms.is_empty());
        let custom = TemperatureProfile::custom(-20.0, -10.0, 10, 45).unwrap();
        let status = ColdChainStatus::of(None, &custom);
        assert_eq!(status.profile.kind, "CUSTOM");
        assert_eq!((status.profile.min_c, status.profile.max_c), (-20.0, -10.0));
        assert_eq!(status.budget_minutes, 90.0, "45 on each side");
    }

    #[test]
    fn active_alarms_come_most_severe_first() {
        let mut tracking = tracked();
        // the crash stays active while a warming trend raises a warning
        let settings = MonitorSettings {
            shock_quiet_period: Duration::hours(1),
            ..MonitorSettings::default()
        };
        let profile = TemperatureProfile::Refrigerated;
        // a warming trend: a PRE_EXCURSION warning joins the shock
        for (minute, temperature) in (3..26).map(|m| (m, 5.5 + 0.1 * (m - 3) as f64)) {
            tracking.monitor.observe(
                &reading("truck-7", minute, temperature, 0.2),
                &profile,
                &settings,
            );
        }
        let status = ColdChainStatus::of(Some(&tracking), &profile);
        let kinds: Vec<(AlarmType, Severity)> = status
            .active_alarms
            .iter()
            .map(|a| (a.alarm_type, a.severity))
            .collect();
        assert_eq!(
            kinds,
            [
                (AlarmType::Shock, Severity::Critical),
                (AlarmType::PreExcursion, Severity::Warning)
            ]
        );
    }

    #[test]
    fn the_positions_of_a_batch_go_in_one_message_until_it_is_full() {
        let tracking = tracked();
        let profile = TemperatureProfile::Refrigerated;
        let updates: Vec<TrackingUpdated> = (0..3)
            .map(|n| {
                let mut event = TrackingUpdated::of(&tracking, &profile);
                event.shipment_id = format!("shp-{n}");
                event.event_id = tracking_event_id(&event.shipment_id, 7);
                event
            })
            .collect();
        let messages = position_messages(&updates);
        assert_eq!(messages.len(), 1);
        let (message, carried) = &messages[0];
        assert_eq!(*carried, 0..3);
        assert_eq!(message.attributes.len(), 1);
        assert_eq!(message.attributes["event_type"].as_str(), "tracking.batch");
        let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!(body["event_id"], "shp-0:v7+2");
        assert_eq!(body["event_type"], "tracking.batch");
        let back: Vec<TrackingUpdated> = serde_json::from_value(body["updates"].clone()).unwrap();
        assert_eq!(back, updates, "every update whole, in order");
        assert!(position_messages(&[]).is_empty(), "nothing new, no message");

        // 600 shipments with big alarm lists: several messages, each within the limit
        let mut big = TrackingUpdated::of(&tracking, &profile);
        big.status.active_alarms = vec![big.status.active_alarms[0].clone(); 8];
        let many: Vec<TrackingUpdated> = (0..600)
            .map(|n| {
                let mut event = big.clone();
                event.event_id = tracking_event_id(&format!("shp-{n}"), 1);
                event
            })
            .collect();
        let messages = position_messages(&many);
        assert!(messages.len() > 1, "{} messages", messages.len());
        let mut ids = Vec::new();
        let mut next = 0;
        for (message, carried) in &messages {
            assert_eq!(carried.start, next, "the ranges follow each other");
            next = carried.end;
            assert!(
                message.body.len() <= MAX_POSITION_MESSAGE_BYTES,
                "{}",
                message.body.len()
            );
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
            let updates = body["updates"].as_array().unwrap();
            assert_eq!(updates.len(), carried.len());
            assert_eq!(
                body["event_id"],
                format!(
                    "{}+{}",
                    updates[0]["event_id"].as_str().unwrap(),
                    updates.len() - 1
                )
            );
            ids.extend(
                updates
                    .iter()
                    .map(|u| u["event_id"].as_str().unwrap().to_owned()),
            );
        }
        assert_eq!(next, many.len());
        let expected: Vec<String> = many.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids, expected, "none lost, none repeated, in order");
    }
}
