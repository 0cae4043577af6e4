//! The anomaly detector's batch logic: what it does with one batch of
//! telemetry records, without the I/O.
//!
//! 1. **Decode** ([`decode_record`]): each record's data is the JSON of a
//!    [`Reading`]; it is checked again with the ingest validation
//!    ([`crate::telemetry::validate_reading`], at the reading's own `received_at`). A record that
//!    can never be processed is [`Poison`]: it goes to the rejected-telemetry
//!    queue and counts as handled, so it never blocks the shard.
//! 2. **Assign** ([`assign`]): a reading belongs to its shipment when that
//!    shipment is monitored ([`is_monitored`]: DISPATCHED or IN_TRANSIT) and
//!    names the reading's device; otherwise it is kept in the history under
//!    its device and runs no rules ([`Owner`]).
//! 3. **Group** ([`group_readings`]): per owner, in order of first appearance;
//!    within a group the readings are sorted by time and a reading id seen
//!    twice is kept once (the first copy).
//! 4. **Apply** ([`apply_readings`]): a shipment's readings go through
//!    [`ShipmentMonitor::observe`]; each transition comes with the
//!    [`AlarmContext`] right after the reading that caused it, and the latest
//!    applied reading is what the tracking item shows. The monitor ignores what
//!    it has already seen, so a replayed batch applies nothing.
//! 5. **Store** ([`alarm_states`]): one alarm item per alarm, in its last state
//!    of the batch.

use std::borrow::Borrow;
// the per-batch maps: short string keys, hashed fast
use foldhash::HashMap;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::MonitorSettings;
use super::alarm::{Alarm, AlarmTransition};
use super::events::{AlarmContext, AlarmEvent, ShipmentSummary};
use super::excursion::Ignored;
use super::monitor::ShipmentMonitor;
pub use super::record::decode_record;
use crate::FieldError;
use crate::shipment::{Shipment, ShipmentState, TemperatureProfile};
use crate::telemetry::{Reading, Refusal, RegisteredDevice, may_place, may_speak_for};

/// How long a reading stays in the history (its TTL counts from its `ts`).
pub const HISTORY_RETENTION: Duration = Duration::days(30);

/// Why a stream record can never be processed. Sending it again cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Poison {
    /// The data is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a reading record (not an object, or the record fields
    /// `v`, `received_at`, `source` are missing or wrong).
    #[error("not a reading record: {0}")]
    NotAReading(String),
    /// A reading record of a format version this detector does not know.
    #[error("unsupported reading format version {0}")]
    UnsupportedVersion(String),
    /// A reading record whose fields break the reading rules.
    #[error("invalid reading: {}", list(.0))]
    Invalid(Vec<FieldError>),
    /// A reading its sender may not send, or that may not land on the
    /// shipment it names ([`crate::telemetry::provenance`]).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// Processing the record panicked: a defect, set aside with the record so
    /// that the rest of the batch (and the shard) goes on.
    #[error("processing the record failed unexpectedly: {0}")]
    Panicked(String),
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Poison {
    /// A stable name of the reason, e.g. `INVALID_READING`.
    pub fn kind(&self) -> &'static str {
        match self {
            Poison::NotJson(_) => "NOT_JSON",
            Poison::NotAReading(_) => "NOT_A_READING",
            Poison::UnsupportedVersion(_) => "UNSUPPORTED_VERSION",
            Poison::Invalid(_) => "INVALID_READING",
            Poison::Refused(refusal) => refusal.kind(),
            Poison::Panicked(_) => "PANICKED",
        }
    }

    /// The field errors of an invalid reading (empty for the other reasons).
    pub fn errors(&self) -> &[FieldError] {
        match self {
            Poison::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

/// Whether `reading` may be taken from its sender, given what the registry
/// holds of its device (`None`: not registered): it must say who sent it,
/// and that sender must be allowed to speak for the device
/// ([`may_speak_for`]).
pub fn vet(reading: &Reading, device: Option<&RegisteredDevice>) -> Result<(), Refusal> {
    let sender = reading.sender.as_ref().ok_or(Refusal::NoSender)?;
    may_speak_for(sender, &reading.device_id, device)
}

/// Whether the detector applies the rules to a shipment in `state`: it is on
/// its way (DISPATCHED or IN_TRANSIT).
pub fn is_monitored(state: ShipmentState) -> bool {
    matches!(state, ShipmentState::Dispatched | ShipmentState::InTransit)
}

/// Whose history a reading belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Owner {
    /// A monitored shipment: the rules run.
    Shipment(String),
    /// A device without a monitored shipment: kept, no rules.
    Device(String),
}

impl Owner {
    /// The shipment id, for a shipment.
    pub fn shipment_id(&self) -> Option<&str> {
        match self {
            Owner::Shipment(id) => Some(id),
            Owner::Device(_) => None,
        }
    }
}

/// What must be looked up to place a reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// The shipment the reading names.
    Shipment(String),
    /// The monitored shipment of the reading's device.
    DeviceShipment(String),
}

impl Lookup {
    /// The lookup of `reading`: the shipment it names, else its device's.
    pub fn of(reading: &Reading) -> Self {
        match &reading.shipment_id {
            Some(id) => Lookup::Shipment(id.clone()),
            None => Lookup::DeviceShipment(reading.device_id.clone()),
        }
    }
}

/// Why a reading runs no rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unassigned {
    /// No shipment found (the named one does not exist, or the device has no
    /// monitored shipment).
    NoShipment,
    /// The named shipment has another device (or none).
    OtherDevice,
    /// The shipment is not on its way (PENDING, DELIVERED or CANCELLED).
    NotMonitored(ShipmentState),
}

/// The owner of `reading`, given the shipment its [`Lookup`] found
/// ([`pick`]) and its registered `device`: that shipment when it is
/// monitored and its device is the reading's, else the device (with the
/// reason). A shipment of another organisation than the device's is refused
/// ([`may_place`]): the reading goes to the rejected queue, never onto it.
///
/// Placement follows the shipment's state when the record is processed: a
/// reading processed before its shipment is dispatched stays under the
/// device, and a resend of it processed after dispatch is placed under the
/// shipment, so the history then holds it under both (the rules see it once).
pub fn assign(
    reading: &Reading,
    found: Option<&Shipment>,
    device: &RegisteredDevice,
) -> Result<(Owner, Option<Unassigned>), Refusal> {
    let kept = || Owner::Device(reading.device_id.clone());
    Ok(match found {
        None => (kept(), Some(Unassigned::NoShipment)),
        Some(shipment) if shipment.device_id.as_deref() != Some(reading.device_id.as_str()) => {
            (kept(), Some(Unassigned::OtherDevice))
        }
        Some(shipment) => {
            may_place(device, shipment)?;
            if is_monitored(shipment.state) {
                (Owner::Shipment(shipment.id.clone()), None)
            } else {
                (kept(), Some(Unassigned::NotMonitored(shipment.state)))
            }
        }
    })
}

/// The shipment a reading's [`Lookup`] finds among the `candidates` it
/// returned (the named shipment, or every shipment naming the device): the
/// named one, or the device's [`active_shipment`] among those of its own
/// organisation.
pub fn pick<'a>(
    lookup: &Lookup,
    candidates: &'a [Shipment],
    device: &RegisteredDevice,
) -> Option<&'a Shipment> {
    match lookup {
        Lookup::Shipment(id) => candidates.iter().find(|s| &s.id == id),
        Lookup::DeviceShipment(_) => active_shipment(candidates, &device.org_id),
    }
}

/// The one shipment of a device's shipments that its readings belong to: a
/// monitored one of the device's organisation (`shipper_org_id`; a shipment
/// another organisation bound to the device never takes its readings),
/// IN_TRANSIT before DISPATCHED, then the one that entered its state last.
pub fn active_shipment<'a>(
    shipments: &'a [Shipment],
    shipper_org_id: &str,
) -> Option<&'a Shipment> {
    shipments
        .iter()
        .filter(|s| is_monitored(s.state) && s.shipper_org_id == shipper_org_id)
        .max_by_key(|s| {
            (
                s.state == ShipmentState::InTransit,
                s.entered_at(s.state),
                s.created_at,
            )
        })
}

/// A reading with the position of its record in the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    /// Position of the record in the batch.
    pub index: usize,
    /// The reading.
    pub reading: Reading,
}

/// The readings of one owner in a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Whose readings.
    pub owner: Owner,
    /// The distinct readings, by time (then reading id).
    pub readings: Vec<Indexed>,
    /// The first record of the batch that belongs here (duplicates included):
    /// where a retry must start when this group fails.
    pub first_index: usize,
    /// Readings dropped as duplicates of one in this group (same reading id).
    pub duplicates: usize,
}

impl Group {
    /// The readings alone.
    pub fn plain_readings(&self) -> Vec<&Reading> {
        self.readings.iter().map(|r| &r.reading).collect()
    }
}

/// The decoded `readings` paired with the `owners` found for them (both
/// by record index, in batch order), moved rather than copied; a reading
/// without an owner (refused, held back) is left out.
pub fn with_owners(
    readings: Vec<(usize, Reading)>,
    owners: Vec<(usize, Owner)>,
) -> Vec<(usize, Owner, Reading)> {
    let mut readings = readings.into_iter();
    owners
        .into_iter()
        .filter_map(|(index, owner)| {
            let (_, reading) = readings.find(|(i, _)| *i == index)?;
            Some((index, owner, reading))
        })
        .collect()
}

/// Groups assigned readings per owner, in order of first appearance; within
/// a group, drops a reading whose id was already seen (the first copy stays)
/// and sorts by time, then reading id.
pub fn group_readings(items: Vec<(usize, Owner, Reading)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut position: HashMap<Owner, usize> = HashMap::default();
    for (index, owner, reading) in items {
        let at = match position.get(&owner) {
            Some(&at) => at,
            None => {
                position.insert(owner.clone(), groups.len());
                groups.push(Group {
                    owner,
                    readings: Vec::new(),
                    first_index: index,
                    duplicates: 0,
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[at];
        group.first_index = group.first_index.min(index);
        group.readings.push(Indexed { index, reading });
    }
    for group in &mut groups {
        // the first copy of a reading id stays: order by id, then arrival
        group.readings.sort_by(|a, b| {
            (&a.reading.reading_id, a.index).cmp(&(&b.reading.reading_id, b.index))
        });
        let before = group.readings.len();
        group
            .readings
            .dedup_by(|later, first| later.reading.reading_id == first.reading.reading_id);
        group.duplicates = before - group.readings.len();
        group.readings.sort_by(|a, b| {
            (a.reading.effective_ts(), &a.reading.reading_id)
                .cmp(&(b.reading.effective_ts(), &b.reading.reading_id))
        });
    }
    groups
}

/// What a shipment's readings of one batch did to its monitor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    /// Every transition, with the situation right after the reading that
    /// caused it.
    pub transitions: Vec<(AlarmTransition, AlarmContext)>,
    /// How many readings the monitor applied.
    pub applied: usize,
    /// The readings it ignored (already seen, older than the last one, …).
    pub ignored: Vec<(String, Ignored)>,
    /// The last reading applied (the latest in time): what the tracking item
    /// shows. `None` when nothing was applied.
    pub latest: Option<Reading>,
}

impl Applied {
    /// Whether the monitor changed (then its state must be stored).
    pub fn changed(&self) -> bool {
        self.applied > 0
    }
}

/// Feeds `readings` (in time order) to the monitor of `shipment`: its
/// profile, and its start (dispatch) for the start-up period.
pub fn apply_to_shipment<R: Borrow<Reading>>(
    monitor: &mut ShipmentMonitor,
    readings: &[R],
    shipment: &Shipment,
    settings: &MonitorSettings,
) -> Applied {
    monitor.follow_start(shipment.started_at());
    apply_readings(monitor, readings, &shipment.profile, settings)
}

/// Feeds `readings` (in time order) to `monitor` with the shipment's
/// `profile`.
pub fn apply_readings<R: Borrow<Reading>>(
    monitor: &mut ShipmentMonitor,
    readings: &[R],
    profile: &TemperatureProfile,
    settings: &MonitorSettings,
) -> Applied {
    let mut outcome = Applied::default();
    let mut latest = None;
    for reading in readings.iter().map(Borrow::borrow) {
        let observation = monitor.observe(reading, profile, settings);
        if let Some(ignored) = observation.ignored {
            outcome.ignored.push((reading.reading_id.clone(), ignored));
            continue;
        }
        outcome.applied += 1;
        if !observation.transitions.is_empty() {
            let context = alarm_context(monitor, Some(reading), profile);
            outcome.transitions.extend(
                observation
                    .transitions
                    .into_iter()
                    .map(|transition| (transition, context.clone())),
            );
        }
        latest = Some(reading);
    }
    outcome.latest = latest.cloned();
    outcome
}

/// The situation of a shipment for an alarm event: `latest` (the reading
/// that caused the transition, or the last one known), the MKT, the minutes
/// out of range against the budget and the vibration peak of the trip.
pub fn alarm_context(
    monitor: &ShipmentMonitor,
    latest: Option<&Reading>,
    profile: &TemperatureProfile,
) -> AlarmContext {
    let status = monitor.excursion_status(profile);
    let limits = profile.limits();
    let minutes = |d: Duration| d.as_seconds_f64() / 60.0;
    let upper_share = super::excursion::budget_share(status.above, limits.upper.budget());
    let lower_share = super::excursion::budget_share(status.below, limits.lower.budget());
    AlarmContext {
        reading_ts: latest.map(|r| r.ts),
        reading_id: latest.map(|r| r.reading_id.clone()),
        received_at: latest.map(|r| r.received_at),
        lat: latest.map(|r| r.lat),
        lon: latest.map(|r| r.lon),
        temperature_c: latest.map(|r| r.temperature_c),
        vibration_g: latest.map(|r| r.vibration_g),
        peak_vibration_g: monitor.peak_vibration_g,
        mkt_c: monitor.mkt_c(),
        excursion_minutes: minutes(status.cumulative),
        budget_minutes: if lower_share > upper_share {
            limits.lower.budget_minutes
        } else {
            limits.upper.budget_minutes
        },
        budget_used: status.budget_used,
        minutes_above: Some(minutes(status.above)),
        minutes_below: Some(minutes(status.below)),
        hot_zone_minutes: Some(minutes(status.hot_zone)),
        cold_zone_minutes: Some(minutes(status.cold_zone)),
        min_temperature_c: monitor.coverage.min_temperature_c,
        max_temperature_c: monitor.coverage.max_temperature_c,
        coverage: Some(monitor.coverage()),
    }
}

/// The events of the published transitions (raised, escalated, cleared), in
/// order, without their risk estimate yet.
pub fn alarm_events(
    transitions: &[(AlarmTransition, AlarmContext)],
    shipment: &ShipmentSummary,
) -> Vec<AlarmEvent> {
    transitions
        .iter()
        .filter_map(|(transition, context)| {
            AlarmEvent::from_transition(transition, shipment.clone(), context.clone())
        })
        .collect()
}

/// The alarms to store for `transitions`: each alarm once, in its last state
/// (in order of first appearance), so one write covers a whole batch.
pub fn alarm_states<'a>(transitions: impl IntoIterator<Item = &'a AlarmTransition>) -> Vec<Alarm> {
    let mut order: Vec<String> = Vec::new();
    let mut last: HashMap<String, Alarm> = HashMap::default();
    for transition in transitions {
        let alarm = transition.alarm();
        if last.insert(alarm.alarm_id.clone(), alarm.clone()).is_none() {
            order.push(alarm.alarm_id.clone());
        }
    }
    order
        .into_iter()
        .filter_map(|id| last.remove(&id))
        .collect()
}

/// When a reading leaves the history ([`HISTORY_RETENTION`] after its `ts`).
pub fn history_expiry(reading: &Reading) -> OffsetDateTime {
    reading.ts.saturating_add(HISTORY_RETENTION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coldchain::alarm::{AlarmState, AlarmType, Severity};
    use crate::coldchain::zone::Limit;
    use crate::fixtures::{T0, reading, shipment};
    use crate::identity::Principal;
    use serde_json::{Value, json};

    const FRIDGE: TemperatureProfile = TemperatureProfile::Refrigerated;

    fn record(reading: &Reading) -> Vec<u8> {
        serde_json::to_vec(reading).unwrap()
    }

    #[test]
    fn a_reading_record_decodes_and_is_validated_at_its_receive_time() {
        let r = reading("truck-1", 0, 5.0, 0.2);
        assert_eq!(decode_record(&record(&r)), Ok(r.clone()));
        // a record a week old on the stream is still valid: the window is the
        // one it was accepted in
        let mut old = r.clone();
        old.ts = T0 - Duration::days(8);
        old.received_at = old.ts + Duration::seconds(1);
        assert_eq!(decode_record(&record(&old)), Ok(old));
    }

    #[test]
    fn a_record_of_the_mqtt_rule_decodes_too() {
        // the topic rule keeps the payload and adds device_id, received_at, source
        let data = br#"{"v":1,"ts":1795248000000,"lat":52.1,"lon":5.2,"temperature_c":4.5,"vibration_g":0.4,"device_id":"truck-7","received_at":"2026-11-21T08:00:01.250Z","source":"mqtt","sender":{"kind":"device","device_id":"truck-7","org_id":"org-ship"}}"#;
        let reading = decode_record(data).unwrap();
        assert_eq!(
            reading.sender,
            Some(crate::fixtures::device_principal("truck-7"))
        );
        assert_eq!(reading.ts, T0);
        assert_eq!(reading.reading_id, "truck-7-1795248000000", "derived");
        assert_eq!(reading.source, "mqtt");
        assert_eq!(reading.received_at, T0 + Duration::milliseconds(1250));
        // a payload that was not an object: only what the rule adds
        let bare =
            br#"{"device_id":"truck-7","received_at":"2026-11-21T08:00:01.250Z","source":"mqtt"}"#;
        assert_eq!(decode_record(bare).unwrap_err().kind(), "NOT_A_READING");
        let unsigned = br#"{"v":1,"ts":1795248000000,"lat":52.1,"lon":5.2,"temperature_c":4.5,"vibration_g":0.4,"device_id":"truck-7","received_at":"2026-11-21T08:00:01.250Z","source":"mqtt"}"#;
        assert_eq!(
            decode_record(unsigned),
            Err(Poison::Refused(Refusal::NoSender))
        );
        let by_user = br#"{"v":1,"ts":1795248000000,"lat":52.1,"lon":5.2,"temperature_c":4.5,"vibration_g":0.4,"device_id":"truck-7","received_at":"2026-11-21T08:00:01.250Z","source":"mqtt","sender":{"kind":"user","user_id":"usr-1","org_id":"org-ship","role":"DRIVER"}}"#;
        assert_eq!(decode_record(by_user).unwrap_err().kind(), "NOT_A_READING");
    }

    #[test]
    fn poison_is_classified() {
        let kind = |data: &[u8]| decode_record(data).unwrap_err().kind();
        assert_eq!(kind(b"\xff\x00garbage"), "NOT_JSON");
        assert_eq!(kind(b""), "NOT_JSON");
        assert_eq!(kind(b"[1,2]"), "NOT_A_READING");
        let good = serde_json::to_value(reading("truck-1", 0, 5.0, 0.2)).unwrap();
        let with = |field: &str, value: Value| {
            let mut v = good.clone();
            v[field] = value;
            serde_json::to_vec(&v).unwrap()
        };
        let without = |field: &str| {
            let mut v = good.clone();
            v.as_object_mut().unwrap().remove(field);
            serde_json::to_vec(&v).unwrap()
        };
        assert_eq!(kind(&without("v")), "NOT_A_READING");
        assert_eq!(kind(&with("v", json!("1"))), "NOT_A_READING");
        assert_eq!(
            decode_record(&with("v", json!(2))),
            Err(Poison::UnsupportedVersion("2".into()))
        );
        assert_eq!(kind(&without("received_at")), "NOT_A_READING");
        assert_eq!(
            kind(&with("received_at", json!("yesterday"))),
            "NOT_A_READING"
        );
        assert_eq!(
            kind(&with("source", json!("carrier-pigeon"))),
            "NOT_A_READING"
        );

        let invalid = decode_record(&with("temperature_c", json!(500))).unwrap_err();
        assert_eq!(invalid.kind(), "INVALID_READING");
        assert_eq!(invalid.errors()[0].field, "temperature_c");
        assert!(invalid.to_string().contains("temperature_c"), "{invalid}");
        let extra = decode_record(&with("colour", json!("red"))).unwrap_err();
        assert_eq!(
            extra.errors()[0],
            FieldError::new("colour", "unknown field")
        );
        // a ts far from the receive time
        let future = decode_record(&with("ts", json!("2026-11-22T08:00:00Z"))).unwrap_err();
        assert_eq!(future.errors()[0].field, "ts");
        assert!(Poison::NotJson("x".into()).errors().is_empty());
    }

    #[test]
    fn readings_go_to_their_monitored_shipment_or_stay_with_the_device() {
        let r = reading("truck-1", 0, 5.0, 0.2);
        let registered = crate::fixtures::registered_device("truck-1");
        let named = {
            let mut named = r.clone();
            named.shipment_id = Some("shp-1".into());
            named
        };
        assert_eq!(Lookup::of(&named), Lookup::Shipment("shp-1".into()));
        assert_eq!(Lookup::of(&r), Lookup::DeviceShipment("truck-1".into()));

        let place = |found: Option<&Shipment>| assign(&r, found, &registered).unwrap();
        let device = Owner::Device("truck-1".into());
        let ok = shipment("shp-1", "truck-1", ShipmentState::InTransit);
        assert_eq!(place(Some(&ok)), (Owner::Shipment("shp-1".into()), None));
        let dispatched = shipment("shp-1", "truck-1", ShipmentState::Dispatched);
        assert_eq!(place(Some(&dispatched)).1, None);
        assert_eq!(place(None), (device.clone(), Some(Unassigned::NoShipment)));
        let other = shipment("shp-1", "truck-2", ShipmentState::InTransit);
        assert_eq!(
            place(Some(&other)),
            (device.clone(), Some(Unassigned::OtherDevice))
        );
        let mut none = shipment("shp-1", "truck-1", ShipmentState::InTransit);
        none.device_id = None;
        assert_eq!(place(Some(&none)).1, Some(Unassigned::OtherDevice));
        for state in [
            ShipmentState::Pending,
            ShipmentState::Delivered,
            ShipmentState::Cancelled,
        ] {
            let s = shipment("shp-1", "truck-1", state);
            assert_eq!(
                place(Some(&s)),
                (device.clone(), Some(Unassigned::NotMonitored(state)))
            );
        }
        assert_eq!(Owner::Shipment("x".into()).shipment_id(), Some("x"));
        assert_eq!(device.shipment_id(), None);
    }

    #[test]
    fn a_shipment_of_another_organisation_never_takes_the_devices_readings() {
        let r = reading("truck-1", 0, 5.0, 0.2);
        let registered = crate::fixtures::registered_device("truck-1");
        let mut foreign = shipment("shp-b", "truck-1", ShipmentState::InTransit);
        foreign.shipper_org_id = "org-b".into();
        let refused = assign(&r, Some(&foreign), &registered).unwrap_err();
        assert_eq!(refused.kind(), "NOT_SHIPPERS_DEVICE");

        // by device: the foreign shipment is passed over for the device's own
        let own = shipment("shp-a", "truck-1", ShipmentState::Dispatched);
        let candidates = [foreign.clone(), own.clone()];
        let lookup = Lookup::of(&r);
        assert_eq!(pick(&lookup, &candidates, &registered), Some(&own));
        assert_eq!(pick(&lookup, &candidates[..1], &registered), None);
        let named = Lookup::Shipment("shp-b".into());
        assert_eq!(pick(&named, &candidates, &registered), Some(&foreign));
    }

    #[test]
    fn a_reading_is_vetted_against_its_sender_and_device() {
        let r = reading("truck-1", 0, 5.0, 0.2);
        let registered = crate::fixtures::registered_device("truck-1");
        assert_eq!(vet(&r, Some(&registered)), Ok(()));
        assert_eq!(vet(&r, None).unwrap_err().kind(), "UNKNOWN_DEVICE");
        let mut unsigned = r.clone();
        unsigned.sender = None;
        assert_eq!(vet(&unsigned, Some(&registered)), Err(Refusal::NoSender));
        let mut forged = r.clone();
        forged.sender = Some(Principal::User {
            user_id: "usr-x".into(),
            org_id: "org-b".into(),
            role: crate::identity::Role::Driver,
        });
        assert_eq!(
            vet(&forged, Some(&registered)).unwrap_err().kind(),
            "OTHER_ORGANISATION"
        );
    }

    #[test]
    fn the_active_shipment_of_a_device_prefers_the_one_in_transit() {
        let delivered = shipment("shp-old", "truck-1", ShipmentState::Delivered);
        let dispatched = shipment("shp-next", "truck-1", ShipmentState::Dispatched);
        let moving = shipment("shp-now", "truck-1", ShipmentState::InTransit);
        let pick = |list: Vec<&Shipment>| {
            let list: Vec<Shipment> = list.into_iter().cloned().collect();
            active_shipment(&list, crate::fixtures::SHIPPER_ORG).map(|s| s.id.clone())
        };
        assert_eq!(
            pick(vec![&delivered, &dispatched, &moving]),
            Some("shp-now".into())
        );
        assert_eq!(pick(vec![&delivered, &dispatched]), Some("shp-next".into()));
        assert_eq!(pick(vec![&delivered]), None);
        assert_eq!(pick(vec![]), None);
    }

    #[test]
    fn grouping_keeps_first_appearance_order_sorts_by_time_and_drops_repeated_ids() {
        let ship = Owner::Shipment("shp-1".into());
        let dev = Owner::Device("truck-9".into());
        let a2 = reading("truck-1", 2, 5.0, 0.2);
        let a1 = reading("truck-1", 1, 5.0, 0.2);
        let b1 = reading("truck-9", 1, 5.0, 0.2);
        let mut a1_again = a1.clone();
        a1_again.received_at += Duration::seconds(30); // a resend: same id
        let groups = group_readings(vec![
            (0, dev.clone(), b1.clone()),
            (1, ship.clone(), a2.clone()),
            (2, ship.clone(), a1.clone()),
            (3, ship.clone(), a1_again),
            (4, dev.clone(), b1.clone()),
        ]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].owner, dev);
        assert_eq!(groups[0].first_index, 0);
        assert_eq!(groups[0].readings.len(), 1);
        assert_eq!(groups[0].duplicates, 1);
        assert_eq!(groups[1].owner, ship);
        assert_eq!(groups[1].first_index, 1);
        assert_eq!(groups[1].duplicates, 1);
        assert_eq!(groups[1].plain_readings(), vec![&a1, &a2]);
        assert_eq!(
            groups[1]
                .readings
                .iter()
                .map(|r| r.index)
                .collect::<Vec<_>>(),
            [2, 1],
            "by time; the first copy of a1 stays"
        );
        assert!(group_readings(Vec::new()).is_empty());
    }

    #[test]
    fn readings_without_an_owner_are_left_out_of_the_pairing() {
        let ship = Owner::Shipment("shp-1".into());
        let decoded: Vec<(usize, Reading)> = (0..4)
            .map(|i| (i * 2, reading("truck-1", i as i64, 5.0, 0.2)))
            .collect();
        let paired = with_owners(
            decoded.clone(),
            vec![(0, ship.clone()), (4, ship.clone()), (6, ship.clone())],
        );
        let indexes: Vec<usize> = paired.iter().map(|(i, _, _)| *i).collect();
        assert_eq!(indexes, [0, 4, 6], "index 2 was refused");
        assert_eq!(paired[1].2, decoded[2].1);
        assert!(with_owners(decoded, Vec::new()).is_empty());
    }

    fn fridge_run(temps: &[(f64, f64)]) -> Vec<Reading> {
        temps
            .iter()
            .enumerate()
            .map(|(i, (t, g))| reading("truck-1", i as i64, *t, *g))
            .collect()
    }

    #[test]
    fn applying_a_batch_yields_transitions_with_their_context_and_the_latest_reading() {
        let settings = MonitorSettings::default();
        // 2 in range, 17 out (alarm due after 15 min), back in range for the
        // 5 min the excursion takes to clear, a crash
        let mut temps = vec![(5.0, 0.2); 2];
        temps.extend(vec![(12.0, 0.2); 17]);
        temps.extend(vec![(5.0, 0.2); 5]);
        temps.push((5.0, 6.0));
        let readings = fridge_run(&temps);
        let mut monitor = ShipmentMonitor::new("shp-1");
        let applied = apply_readings(&mut monitor, &readings, &FRIDGE, &settings);
        assert!(applied.changed());
        assert_eq!(applied.applied, readings.len());
        assert_eq!(applied.latest.as_ref(), readings.last());

        let raised = applied
            .transitions
            .iter()
            .find(|(t, _)| {
                t.kind() == "RAISED" && t.alarm().alarm_type == AlarmType::TemperatureExcursion
            })
            .expect("an excursion alarm");
        assert_eq!(raised.0.alarm().severity, Severity::Major);
        let context = &raised.1;
        assert_eq!(context.reading_id.as_deref(), Some("truck-1-16"));
        assert_eq!(context.temperature_c, Some(12.0));
        assert_eq!(context.excursion_minutes, 15.0);
        assert_eq!(context.budget_minutes, 60);
        assert_eq!(context.budget_used, 0.25);
        assert_eq!(context.minutes_above, Some(15.0));
        assert_eq!(context.minutes_below, Some(0.0));
        assert_eq!(context.max_temperature_c, Some(12.0));
        assert_eq!(context.coverage, Some(1.0));
        let crossing = raised.0.alarm().crossing.expect("the limit crossed");
        assert_eq!(
            (crossing.limit, crossing.threshold_c, crossing.by_c),
            (Limit::Upper, 8.0, 4.0)
        );
        assert!(context.mkt_c.unwrap() > 5.0);

        let shock = applied
            .transitions
            .iter()
            .find(|(t, _)| t.alarm().alarm_type == AlarmType::Shock)
            .expect("a shock alarm");
        assert_eq!(shock.0.alarm().severity, Severity::Critical);
        assert_eq!(shock.1.peak_vibration_g, Some(6.0));

        let summary =
            ShipmentSummary::from(&shipment("shp-1", "truck-1", ShipmentState::InTransit));
        let events = alarm_events(&applied.transitions, &summary);
        let kinds: Vec<(AlarmType, &str)> = events
            .iter()
            .map(|e| (e.alarm.alarm_type, e.event_type.as_str()))
            .collect();
        assert!(kinds.contains(&(AlarmType::TemperatureExcursion, "alarm.raised")));
        assert!(kinds.contains(&(AlarmType::TemperatureExcursion, "alarm.cleared")));
        assert!(kinds.contains(&(AlarmType::Shock, "alarm.raised")));
        assert!(
            events.len() < applied.transitions.len(),
            "repeats are stored, not published"
        );
        let needing_risk: Vec<&str> = events
            .iter()
            .filter(|e| e.needs_risk())
            .map(|e| e.alarm.alarm_type.as_str())
            .collect();
        assert_eq!(needing_risk, ["TEMPERATURE_EXCURSION", "SHOCK"]);
    }

    #[test]
    fn a_replayed_batch_applies_nothing_and_raises_nothing() {
        let settings = MonitorSettings::default();
        let mut temps = vec![(5.0, 0.2); 2];
        temps.extend(vec![(12.0, 0.2); 17]);
        let readings = fridge_run(&temps);
        let mut monitor = ShipmentMonitor::new("shp-1");
        let first = apply_readings(&mut monitor, &readings, &FRIDGE, &settings);
        assert!(!first.transitions.is_empty());
        let stored = monitor.clone();

        // the same batch again, and again with one reading resent alone
        let again = apply_readings(&mut monitor, &readings, &FRIDGE, &settings);
        assert!(!again.changed());
        assert!(again.transitions.is_empty());
        assert_eq!(again.latest, None);
        assert_eq!(again.ignored.len(), readings.len());
        let resent = apply_readings(
            &mut monitor,
            &readings[readings.len() - 1..],
            &FRIDGE,
            &settings,
        );
        assert_eq!(resent.ignored[0].1, Ignored::Duplicate);
        assert_eq!(monitor, stored, "the monitor is unchanged");

        // a batch overlapping the last one applies only what is new
        let mut next = readings[15..].to_vec();
        next.push(reading("truck-1", 19, 12.0, 0.2));
        let overlap = apply_readings(&mut monitor, &next, &FRIDGE, &settings);
        assert_eq!(overlap.applied, 1);
        assert_eq!(overlap.latest.unwrap().reading_id, "truck-1-19");
        assert!(
            overlap.transitions.iter().all(|(t, _)| !t.is_published()),
            "only an update of the active alarm"
        );
    }

    #[test]
    fn each_alarm_is_stored_once_in_its_last_state() {
        let settings = MonitorSettings::default();
        let mut temps = vec![(5.0, 0.2); 2];
        temps.extend(vec![(12.0, 0.2); 18]);
        temps.extend(vec![(5.0, 0.2); 5]);
        let readings = fridge_run(&temps);
        let mut monitor = ShipmentMonitor::new("shp-1");
        let applied = apply_readings(&mut monitor, &readings, &FRIDGE, &settings);
        let alarms = alarm_states(applied.transitions.iter().map(|(t, _)| t));
        let excursion: Vec<&Alarm> = alarms
            .iter()
            .filter(|a| a.alarm_type == AlarmType::TemperatureExcursion)
            .collect();
        assert_eq!(excursion.len(), 1, "raised, updated and cleared: one item");
        assert_eq!(excursion[0].state, AlarmState::Cleared);
        assert_eq!(excursion[0].count, 4);
        let ids: std::collections::HashSet<&str> =
            alarms.iter().map(|a| a.alarm_id.as_str()).collect();
        assert_eq!(ids.len(), alarms.len());
        assert!(alarm_states(std::iter::empty()).is_empty());
    }

    #[test]
    fn history_expires_thirty_days_after_the_reading() {
        let r = reading("truck-1", 0, 5.0, 0.2);
        assert_eq!(history_expiry(&r), T0 + Duration::days(30));
    }

    #[test]
    fn owners_serialize_with_their_kind() {
        let owner = Owner::Shipment("shp-1".into());
        assert_eq!(
            serde_json::to_value(&owner).unwrap(),
            json!({"kind": "SHIPMENT", "id": "shp-1"})
        );
    }

    #[test]
    fn a_record_stamped_at_the_end_of_time_is_poison_not_a_panic() {
        let good = serde_json::to_value(reading("truck-1", 0, 5.0, 0.2)).unwrap();
        for field in ["ts", "received_at"] {
            let mut v = good.clone();
            v[field] = json!("9999-12-31T23:59:59-01:00");
            let poison = decode_record(&serde_json::to_vec(&v).unwrap()).unwrap_err();
            assert!(
                matches!(poison.kind(), "INVALID_READING" | "NOT_A_READING"),
                "{field}: {poison}"
            );
        }
    }

    mod never_panics {
        use super::*;
        use crate::arbitrary::{json_value, object_with};
        use proptest::prelude::*;

        use crate::coldchain::record::RECORD_KEYS as RECORD_FIELDS;

        proptest! {
            #[test]
            fn any_bytes_decode_or_are_poison(data in prop::collection::vec(any::<u8>(), 0..256)) {
                let _ = decode_record(&data);
            }

            #[test]
            fn any_json_decodes_or_is_poison(value in json_value()) {
                let _ = decode_record(&serde_json::to_vec(&value).unwrap());
            }

            #[test]
            fn any_record_fields_decode_or_are_poison(value in object_with(&RECORD_FIELDS)) {
                let _ = decode_record(&serde_json::to_vec(&value).unwrap());
            }

            #[test]
            fn a_decoded_record_runs_the_rules_without_panicking(
                minutes in prop::collection::vec((-100.0f64..100.0, 0.0f64..100.0, -10_000i64..10_000), 1..40)
            ) {
                let settings = MonitorSettings::default();
                let mut monitor = ShipmentMonitor::new("shp-1");
                let readings: Vec<Reading> = minutes
                    .iter()
                    .map(|(t, g, m)| reading("truck-1", *m, *t, *g))
                    .filter_map(|r| decode_record(&serde_json::to_vec(&r).unwrap()).ok())
                    .collect();
                let _ = apply_readings(&mut monitor, &readings, &FRIDGE, &settings);
            }
        }
    }
}
