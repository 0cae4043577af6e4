//! The handler against in-memory fakes of every port.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use aws_lambda_events::event::kinesis::KinesisEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pharmaguard_aws::sns::PublishError;
use pharmaguard_domain::FieldError;
use pharmaguard_domain::coldchain::{
    Alarm, AlarmEventType, AlarmState, AlarmType, RiskEstimate, RiskInput, Severity, estimate_risk,
};
use pharmaguard_domain::fixtures::{T0, reading, shipment};
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::messaging::OutboundMessage;
use pharmaguard_domain::shipment::ShipmentState;
use serde_json::json;
use time::Duration;
use time::macros::datetime;

use super::*;

// ------------------------------------------------------------------ fakes

#[derive(Default)]
struct Directory {
    shipments: Mutex<HashMap<String, Shipment>>,
    down: Mutex<bool>,
    lookups: Mutex<usize>,
}

impl Directory {
    fn add(&self, shipment: Shipment) {
        self.shipments
            .lock()
            .unwrap()
            .insert(shipment.id.clone(), shipment);
    }

    fn check(&self) -> Result<(), PortError> {
        *self.lookups.lock().unwrap() += 1;
        if *self.down.lock().unwrap() {
            return Err(PortError::Unavailable(
                "ProvisionedThroughputExceeded".into(),
            ));
        }
        Ok(())
    }
}

impl ShipmentDirectory for Directory {
    async fn shipment(&self, shipment_id: &str) -> Result<Option<Shipment>, PortError> {
        self.check()?;
        Ok(self.shipments.lock().unwrap().get(shipment_id).cloned())
    }

    async fn shipments_of_device(&self, device_id: &str) -> Result<Vec<Shipment>, PortError> {
        self.check()?;
        Ok(self
            .shipments
            .lock()
            .unwrap()
            .values()
            .filter(|s| s.device_id.as_deref() == Some(device_id))
            .cloned()
            .collect())
    }
}

#[derive(Default)]
struct History {
    rows: Mutex<BTreeMap<(Owner, OffsetDateTime, String), Reading>>,
    down: Mutex<bool>,
}

impl History {
    fn of(&self, owner: &Owner) -> Vec<Reading> {
        self.rows
            .lock()
            .unwrap()
            .iter()
            .filter(|((o, ..), _)| o == owner)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

impl ReadingHistory for History {
    async fn put(&self, readings: &[(&Owner, &Reading)]) -> Vec<Result<(), PortError>> {
        if *self.down.lock().unwrap() {
            return readings
                .iter()
                .map(|_| Err(PortError::Unavailable("InternalServerError".into())))
                .collect();
        }
        let mut rows = self.rows.lock().unwrap();
        readings
            .iter()
            .map(|(owner, r)| {
                rows.insert(((*owner).clone(), r.ts, r.reading_id.clone()), (*r).clone());
                Ok(())
            })
            .collect()
    }

    async fn between(
        &self,
        owner: &Owner,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<Reading>, PortError> {
        Ok(self
            .of(owner)
            .into_iter()
            .filter(|r| r.ts >= from && r.ts <= to)
            .collect())
    }
}

#[derive(Default)]
struct Store {
    trackings: Mutex<HashMap<String, Tracking>>,
    alarms: Mutex<HashMap<String, Alarm>>,
    saves: Mutex<usize>,
    /// Shipments whose saves fail (unavailable).
    failing: Mutex<HashSet<String>>,
    /// Saves before which someone else writes the tracking (a conflict).
    interfere: Mutex<u32>,
    /// Trackings read one by one, and the batch reads (one per call).
    loads: Mutex<usize>,
    batch_loads: Mutex<usize>,
}

impl Store {
    fn tracking(&self, id: &str) -> Option<Tracking> {
        self.trackings.lock().unwrap().get(id).cloned()
    }

    fn alarms_of(&self, id: &str) -> Vec<Alarm> {
        let mut alarms: Vec<Alarm> = self
            .alarms
            .lock()
            .unwrap()
            .values()
            .filter(|a| a.shipment_id == id)
            .cloned()
            .collect();
        alarms.sort_by_key(|a| (a.raised_at, a.alarm_id.clone()));
        alarms
    }
}

impl TrackingStore for Store {
    async fn load(&self, shipment_id: &str) -> Result<Option<Tracking>, PortError> {
        *self.loads.lock().unwrap() += 1;
        Ok(self.tracking(shipment_id))
    }

    async fn load_many(&self, shipment_ids: &[&str]) -> Vec<Result<Option<Tracking>, PortError>> {
        *self.batch_loads.lock().unwrap() += 1;
        shipment_ids
            .iter()
            .map(|id| Ok(self.tracking(id)))
            .collect()
    }

    async fn save(
        &self,
        tracking: &Tracking,
        expected_version: u64,
        alarms: &[Alarm],
    ) -> Result<(), SaveError> {
        if self.failing.lock().unwrap().contains(&tracking.shipment_id) {
            return Err(SaveError::Unavailable("InternalServerError".into()));
        }
        let mut trackings = self.trackings.lock().unwrap();
        {
            let mut interfere = self.interfere.lock().unwrap();
            if *interfere > 0 {
                *interfere -= 1;
                if let Some(stored) = trackings.get_mut(&tracking.shipment_id) {
                    stored.version += 1;
                }
            }
        }
        let stored = trackings
            .get(&tracking.shipment_id)
            .map_or(0, |t| t.version);
        if stored != expected_version {
            return Err(SaveError::VersionConflict);
        }
        trackings.insert(tracking.shipment_id.clone(), tracking.clone());
        let mut stored_alarms = self.alarms.lock().unwrap();
        for alarm in alarms {
            stored_alarms.insert(alarm.alarm_id.clone(), alarm.clone());
        }
        *self.saves.lock().unwrap() += 1;
        Ok(())
    }

    async fn silent_since(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, PortError> {
        Ok(self
            .trackings
            .lock()
            .unwrap()
            .values()
            .filter(|t| t.is_watched() && t.quiet_since().is_some_and(|at| at <= cutoff))
            .map(|t| t.shipment_id.clone())
            .collect())
    }
}

#[derive(Default)]
struct Topic {
    messages: Mutex<Vec<OutboundMessage>>,
    down: Mutex<bool>,
}

impl Topic {
    /// The position events of every `tracking.batch` message published.
    fn positions(&self) -> Vec<TrackingUpdated> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| {
                let mut body: Value = serde_json::from_str(&m.body).unwrap();
                assert_eq!(body["event_type"], "tracking.batch");
                serde_json::from_value::<Vec<TrackingUpdated>>(body["updates"].take()).unwrap()
            })
            .collect()
    }

    fn events(&self) -> Vec<AlarmEvent> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    fn ids(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.event_id).collect()
    }
}

impl MessagePublisher for Topic {
    async fn publish(&self, message: &OutboundMessage) -> Result<String, PublishError> {
        if *self.down.lock().unwrap() {
            return Err(PublishError {
                retryable: true,
                message: "Throttling".into(),
            });
        }
        let mut messages = self.messages.lock().unwrap();
        messages.push(message.clone());
        Ok(format!("msg-{}", messages.len()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum RiskMode {
    #[default]
    Compute,
    Down,
    Refuse,
}

#[derive(Default)]
struct Risk {
    calls: Mutex<Vec<RiskInput>>,
    mode: Mutex<RiskMode>,
}

impl RiskEstimator for Risk {
    async fn estimate(&self, input: &RiskInput) -> Result<RiskEstimate, RiskError> {
        self.calls.lock().unwrap().push(input.clone());
        match *self.mode.lock().unwrap() {
            RiskMode::Compute => estimate_risk(input).map_err(RiskError::Rejected),
            RiskMode::Down => Err(RiskError::Unavailable("ResourceNotFoundException".into())),
            RiskMode::Refuse => Err(RiskError::Rejected(vec![FieldError::new(
                "cargo_value.amount",
                "must be a decimal",
            )])),
        }
    }
}

#[derive(Default)]
struct Rejected {
    records: Mutex<Vec<RejectedRecord>>,
    down: Mutex<bool>,
}

impl RejectedSink for Rejected {
    async fn reject(&self, record: &RejectedRecord) -> Result<(), PortError> {
        if *self.down.lock().unwrap() {
            return Err(PortError::Unavailable(
                "AWS.SimpleQueueService.Throttled".into(),
            ));
        }
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

/// The device registry: every device is registered to the sample shipper
/// (`org-ship`, as the fixtures' readings say they are sent) unless listed
/// otherwise; `down` fails every read.
#[derive(Default)]
struct Registry {
    elsewhere: Mutex<HashMap<String, String>>,
    disabled: Mutex<HashSet<String>>,
    unknown: Mutex<HashSet<String>>,
    down: Mutex<bool>,
    reads: Mutex<usize>,
}

impl DeviceRegistry for Registry {
    async fn registered_device(&self, device_id: &str) -> Result<Option<RegisteredDevice>, String> {
        *self.reads.lock().unwrap() += 1;
        if *self.down.lock().unwrap() {
            return Err("ProvisionedThroughputExceeded".into());
        }
        if self.unknown.lock().unwrap().contains(device_id) {
            return Ok(None);
        }
        let org_id = self
            .elsewhere
            .lock()
            .unwrap()
            .get(device_id)
            .cloned()
            .unwrap_or_else(|| pharmaguard_domain::fixtures::SHIPPER_ORG.to_owned());
        Ok(Some(RegisteredDevice {
            id: device_id.to_owned(),
            org_id,
            disabled: self.disabled.lock().unwrap().contains(device_id),
        }))
    }
}

type Fake = Detector<Directory, History, Store, Topic, Risk, Rejected, Registry>;

fn detector() -> Fake {
    Detector {
        directory: Directory::default(),
        history: History::default(),
        tracking: Store::default(),
        publisher: Topic::default(),
        positions: Topic::default(),
        risk: Risk::default(),
        rejected: Rejected::default(),
        devices: Registry::default(),
        settings: MonitorSettings::default(),
    }
}

// ------------------------------------------------------------------ data

/// Record data: a reading's JSON, or anything.
enum Data {
    Good(Reading),
    Raw(Vec<u8>),
}

fn batch_from(first_sequence: u64, records: Vec<(&str, Data)>) -> KinesisEvent {
    let records: Vec<Value> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, data))| {
            let bytes = match data {
                Data::Good(r) => serde_json::to_vec(&r).unwrap(),
                Data::Raw(raw) => raw,
            };
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": sequence(first_sequence + i as u64),
                    "data": STANDARD.encode(bytes),
                    "approximateArrivalTimestamp": 1795248000.25
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{}", sequence(first_sequence + i as u64)),
                "eventName": "aws:kinesis:record",
                "awsRegion": "eu-central-1",
                "eventSourceARN": "arn:aws:kinesis:eu-central-1:000000000000:stream/pharmaguard-local-telemetry"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn sequence(n: u64) -> String {
    format!("4965{n:052}")
}

fn batch(first_sequence: u64, readings: &[Reading]) -> KinesisEvent {
    batch_from(
        first_sequence,
        readings
            .iter()
            .map(|r| (r.device_id.as_str(), Data::Good(r.clone())))
            .collect(),
    )
}

fn failures(report: &BatchReport) -> Vec<String> {
    report
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

/// Per minute from 0: 2 in range, 17 out of range (MAJOR after 15 min),
/// back in range (cleared), then a crash at 6 g (SHOCK CRITICAL).
fn excursion_then_crash(device: &str) -> Vec<Reading> {
    let mut temps = vec![(5.0, 0.2); 2];
    temps.extend(vec![(12.0, 0.2); 17]);
    // back in range for the 5 minutes an excursion takes to clear
    temps.extend(vec![(5.0, 0.2); 5]);
    temps.push((5.0, 6.0));
    temps
        .into_iter()
        .enumerate()
        .map(|(i, (t, g))| reading(device, i as i64, t, g))
        .collect()
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn readings_of_a_shipment_on_its_way_are_kept_applied_and_tracked() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let readings: Vec<Reading> = (0..3).map(|m| reading("truck-1", m, 5.0, 0.2)).collect();
    let report = d.process_batch(&batch(1, &readings), T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!(
        (report.shipments, report.applied, report.published),
        (1, 3, 0)
    );

    let owner = Owner::Shipment("shp-1".into());
    assert_eq!(d.history.of(&owner), readings);
    let between = d
        .history
        .between(&owner, T0 + Duration::minutes(1), T0 + Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(between, readings[1..]);
    let tracking = d.tracking.tracking("shp-1").unwrap();
    assert_eq!(tracking.version, 1, "one write per shipment per batch");
    assert_eq!(tracking.latest.as_ref(), readings.last());
    assert_eq!(tracking.state, ShipmentState::InTransit);
    assert_eq!(
        tracking.monitor.last_reading_id.as_deref(),
        Some("truck-1-2")
    );
    assert_eq!(*d.tracking.saves.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_batch_says_where_its_time_went() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let readings: Vec<Reading> = (0..30).map(|m| reading("truck-1", m, 5.0, 0.2)).collect();
    let phases = d.process_batch(&batch(1, &readings), T0).await.phases;
    let stages = [
        phases.decode_ms,
        phases.lookup_ms,
        phases.history_ms,
        phases.shipments_ms,
    ];
    assert!(stages.iter().all(|ms| *ms > 0.0), "{phases:?}");
    let parts = [
        phases.tracking_load_ms,
        phases.rules_ms,
        phases.tracking_save_ms,
        phases.position_ms,
    ];
    assert!(parts.iter().all(|ms| *ms > 0.0), "{phases:?}");
    assert!(
        parts.iter().sum::<f64>() <= phases.shipments_ms,
        "one shipment: {phases:?}"
    );
}

#[tokio::test]
async fn major_and_critical_alarms_are_published_with_their_risk_estimate() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let report = d
        .process_batch(&batch(1, &excursion_then_crash("truck-1")), T0)
        .await;
    assert!(failures(&report).is_empty());
    let events = d.publisher.events();
    let summary: Vec<(AlarmType, AlarmEventType, Severity, bool)> = events
        .iter()
        .map(|e| {
            (
                e.alarm.alarm_type,
                e.event_type,
                e.alarm.severity,
                e.risk.is_some(),
            )
        })
        .filter(|(t, ..)| *t != AlarmType::PreExcursion)
        .collect();
    assert_eq!(
        summary,
        [
            (
                AlarmType::TemperatureExcursion,
                AlarmEventType::Raised,
                Severity::Major,
                true
            ),
            (
                AlarmType::TemperatureExcursion,
                AlarmEventType::Cleared,
                Severity::Major,
                false
            ),
            (
                AlarmType::Shock,
                AlarmEventType::Raised,
                Severity::Critical,
                true
            ),
        ]
    );
    assert_eq!(report.published, events.len());

    // the risk comes from the calculator, for what the event says
    let calls = d.risk.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let excursion = events
        .iter()
        .find(|e| e.alarm.alarm_type == AlarmType::TemperatureExcursion)
        .unwrap();
    assert_eq!(calls[0], excursion.risk_input());
    assert_eq!(calls[0].excursion_minutes, 15.0);
    assert_eq!(excursion.risk, Some(estimate_risk(&calls[0]).unwrap()));
    let shock = events
        .iter()
        .find(|e| e.alarm.alarm_type == AlarmType::Shock)
        .unwrap();
    assert_eq!(shock.context.peak_vibration_g, Some(6.0));
    let crash_part = &shock.risk.as_ref().unwrap().parts[0];
    assert!(crash_part.fraction > 0.0, "{crash_part:?}");
    assert_eq!(shock.shipment.shipment_id, "shp-1");
    assert_eq!(shock.shipment.recipient_org_id, "org-recv");
    assert_eq!(excursion.context.reading_id.as_deref(), Some("truck-1-16"));

    // the message attributes subscriptions filter on
    let message = d.publisher.messages.lock().unwrap()[0].clone();
    let attribute = |name: &str| message.attributes[name].as_str().to_owned();
    assert_eq!(attribute("event_type"), "alarm.raised");
    assert_eq!(attribute("severity"), "MAJOR");
    assert_eq!(attribute("alarm_type"), "TEMPERATURE_EXCURSION");
    assert_eq!(attribute("shipment_id"), "shp-1");

    // every alarm stored once, in its last state
    let alarms = d.tracking.alarms_of("shp-1");
    let states: Vec<(AlarmType, AlarmState)> = alarms
        .iter()
        .filter(|a| a.alarm_type != AlarmType::PreExcursion)
        .map(|a| (a.alarm_type, a.state))
        .collect();
    assert_eq!(
        states,
        [
            (AlarmType::TemperatureExcursion, AlarmState::Cleared),
            (AlarmType::Shock, AlarmState::ActiveUnack),
        ]
    );
}

#[tokio::test]
async fn a_replayed_batch_or_a_resent_reading_changes_nothing() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let readings = excursion_then_crash("truck-1");
    d.process_batch(&batch(1, &readings), T0).await;
    let events = d.publisher.ids();
    let tracking = d.tracking.tracking("shp-1").unwrap();
    let alarms = d.tracking.alarms_of("shp-1");
    let history = d.history.of(&Owner::Shipment("shp-1".into()));
    let risk_calls = d.risk.calls.lock().unwrap().len();

    // the same records again, then one reading resent in a later batch
    let again = d.process_batch(&batch(1, &readings), T0).await;
    let resent = d
        .process_batch(&batch(100, &readings[5..6]), T0 + Duration::hours(1))
        .await;
    for report in [&again, &resent] {
        assert!(failures(report).is_empty());
        assert_eq!((report.applied, report.published), (0, 0));
    }
    assert_eq!(d.publisher.ids(), events, "no second event");
    assert_eq!(d.tracking.tracking("shp-1").unwrap(), tracking);
    assert_eq!(d.tracking.alarms_of("shp-1"), alarms);
    assert_eq!(d.history.of(&Owner::Shipment("shp-1".into())), history);
    assert_eq!(d.risk.calls.lock().unwrap().len(), risk_calls);
    assert_eq!(*d.tracking.saves.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_reading_twice_in_one_batch_counts_once() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let r = reading("truck-1", 0, 5.0, 0.2);
    let mut copy = r.clone();
    copy.received_at += Duration::seconds(20);
    let report = d.process_batch(&batch(1, &[r.clone(), copy]), T0).await;
    assert_eq!((report.duplicates, report.applied), (1, 1));
    assert_eq!(d.history.of(&Owner::Shipment("shp-1".into())), [r]);
}

#[tokio::test]
async fn poison_records_are_set_aside_and_do_not_block_the_others() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let mut invalid = serde_json::to_value(reading("truck-1", 1, 5.0, 0.2)).unwrap();
    invalid["temperature_c"] = json!(500);
    let invalid = serde_json::to_vec(&invalid).unwrap();
    let event = batch_from(
        1,
        vec![
            ("truck-1", Data::Good(reading("truck-1", 0, 5.0, 0.2))),
            ("truck-1", Data::Raw(b"\x00\x01garbage".to_vec())),
            ("truck-1", Data::Raw(invalid.clone())),
            ("truck-1", Data::Good(reading("truck-1", 2, 5.0, 0.2))),
        ],
    );
    let report = d.process_batch(&event, T0).await;
    assert!(
        failures(&report).is_empty(),
        "poison is handled, not retried"
    );
    assert_eq!((report.rejected, report.applied), (2, 2));
    assert_eq!(d.history.of(&Owner::Shipment("shp-1".into())).len(), 2);

    let rejected = d.rejected.records.lock().unwrap().clone();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].reason, "NOT_JSON");
    assert_eq!(rejected[0].sequence_number, sequence(2));
    assert_eq!(rejected[0].partition_key, "truck-1");
    assert_eq!(rejected[0].data, b"\x00\x01garbage");
    assert!(rejected[0].arrived_at.is_some());
    assert!(
        rejected[0]
            .event_source_arn
            .as_deref()
            .unwrap()
            .ends_with("stream/pharmaguard-local-telemetry")
    );
    assert_eq!(rejected[1].reason, "INVALID_READING");
    assert_eq!(rejected[1].sequence_number, sequence(3));
    assert_eq!(rejected[1].errors[0].field, "temperature_c");
    assert_eq!(rejected[1].data, invalid);
}

#[tokio::test]
async fn a_poison_record_that_cannot_be_set_aside_is_retried() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    *d.rejected.down.lock().unwrap() = true;
    let event = batch_from(
        1,
        vec![
            ("truck-1", Data::Good(reading("truck-1", 0, 5.0, 0.2))),
            ("truck-1", Data::Raw(b"{not json".to_vec())),
            ("truck-1", Data::Good(reading("truck-1", 2, 5.0, 0.2))),
        ],
    );
    let report = d.process_batch(&event, T0).await;
    assert_eq!(failures(&report), [sequence(2)]);
}

#[tokio::test]
async fn a_transient_store_failure_retries_from_that_shipments_first_record() {
    let d = detector();
    d.directory
        .add(shipment("shp-a", "truck-a", ShipmentState::InTransit));
    d.directory
        .add(shipment("shp-b", "truck-b", ShipmentState::InTransit));
    d.tracking.failing.lock().unwrap().insert("shp-b".into());
    let readings = vec![
        reading("truck-a", 0, 5.0, 0.2),
        reading("truck-b", 0, 5.0, 6.5), // a crash: SHOCK raised
        reading("truck-a", 1, 5.0, 0.2),
        reading("truck-b", 1, 5.0, 0.2),
    ];
    let report = d.process_batch(&batch(1, &readings), T0).await;
    assert_eq!(
        failures(&report),
        [sequence(2)],
        "Kinesis semantics: the first failed record; everything after it comes again"
    );
    assert_eq!(report.failed_at, Some(1));
    assert_eq!(d.tracking.tracking("shp-a").unwrap().version, 1);
    assert!(d.tracking.tracking("shp-b").is_none());
    let first_ids = d.publisher.ids();
    assert_eq!(
        first_ids.len(),
        1,
        "published before the state write failed"
    );

    // Lambda retries from the failed record once the store is back
    d.tracking.failing.lock().unwrap().clear();
    let mut retry = batch(1, &readings);
    retry.records.remove(0);
    let report = d.process_batch(&retry, T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!(report.applied, 2, "only shp-b's readings are new");
    assert_eq!(d.tracking.tracking("shp-a").unwrap().version, 1);
    assert_eq!(d.tracking.tracking("shp-b").unwrap().version, 1);
    let ids = d.publisher.ids();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        ids[0], ids[1],
        "the same event again: consumers drop it by id"
    );
    assert_eq!(d.tracking.alarms_of("shp-b").len(), 1);
}

#[tokio::test]
async fn a_failed_publish_leaves_the_state_untouched() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    *d.publisher.down.lock().unwrap() = true;
    let report = d
        .process_batch(&batch(7, &[reading("truck-1", 0, 5.0, 6.5)]), T0)
        .await;
    assert_eq!(failures(&report), [sequence(7)]);
    assert!(d.tracking.tracking("shp-1").is_none(), "retried, not lost");
}

#[tokio::test]
async fn lookup_and_history_failures_hold_the_readings_back() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    *d.directory.down.lock().unwrap() = true;
    let readings = [
        reading("truck-1", 0, 5.0, 0.2),
        reading("truck-1", 1, 5.0, 0.2),
    ];
    let report = d.process_batch(&batch(3, &readings), T0).await;
    assert_eq!(failures(&report), [sequence(3)]);
    assert!(d.history.of(&Owner::Shipment("shp-1".into())).is_empty());

    *d.directory.down.lock().unwrap() = false;
    *d.history.down.lock().unwrap() = true;
    let report = d.process_batch(&batch(3, &readings), T0).await;
    assert_eq!(failures(&report), [sequence(3)]);
    assert!(d.tracking.tracking("shp-1").is_none());
}

#[tokio::test]
async fn a_version_conflict_reloads_and_recomputes() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    d.process_batch(&batch(1, &[reading("truck-1", 0, 5.0, 0.2)]), T0)
        .await;
    *d.tracking.interfere.lock().unwrap() = 1;
    let report = d
        .process_batch(&batch(2, &[reading("truck-1", 1, 5.0, 0.2)]), T0)
        .await;
    assert!(failures(&report).is_empty());
    let tracking = d.tracking.tracking("shp-1").unwrap();
    assert_eq!(
        tracking.version, 3,
        "written on top of the other writer's version 2"
    );
    assert_eq!(tracking.latest.unwrap().reading_id, "truck-1-1");
    assert_eq!(
        *d.tracking.loads.lock().unwrap(),
        1,
        "only the conflict reads the tracking on its own"
    );
}

#[tokio::test]
async fn the_trackings_of_a_batch_are_read_in_one_go() {
    let d = detector();
    let trucks = ["truck-1", "truck-2", "truck-3"];
    for (k, truck) in trucks.iter().enumerate() {
        d.directory.add(shipment(
            &format!("shp-{k}"),
            truck,
            ShipmentState::InTransit,
        ));
    }
    let readings: Vec<Reading> = (0..2)
        .flat_map(|m| trucks.map(|truck| reading(truck, m, 5.0, 0.2)))
        .collect();
    let report = d.process_batch(&batch(1, &readings), T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!(report.shipments, 3);
    assert_eq!(*d.tracking.batch_loads.lock().unwrap(), 1);
    assert_eq!(*d.tracking.loads.lock().unwrap(), 0);
    for k in 0..3 {
        let tracking = d.tracking.tracking(&format!("shp-{k}")).unwrap();
        assert_eq!(tracking.version, 1);
    }
}

#[tokio::test]
async fn readings_without_a_monitored_shipment_stay_with_their_device() {
    let d = detector();
    d.directory
        .add(shipment("shp-pending", "truck-p", ShipmentState::Pending));
    d.directory
        .add(shipment("shp-other", "truck-o", ShipmentState::InTransit));
    let lone = reading("truck-lone", 0, 5.0, 0.2);
    let pending = reading("truck-p", 0, 5.0, 0.2);
    let mut misnamed = reading("truck-x", 0, 5.0, 0.2);
    misnamed.shipment_id = Some("shp-other".into());
    let report = d
        .process_batch(
            &batch(1, &[lone.clone(), pending.clone(), misnamed.clone()]),
            T0,
        )
        .await;
    assert!(failures(&report).is_empty());
    assert_eq!((report.unassigned, report.shipments), (3, 0));
    for r in [&lone, &pending, &misnamed] {
        assert_eq!(
            d.history.of(&Owner::Device(r.device_id.clone())),
            std::slice::from_ref(r)
        );
    }
    assert!(d.tracking.trackings.lock().unwrap().is_empty());
}

#[tokio::test]
async fn lookups_are_made_once_per_device_or_shipment_per_batch() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let mut readings: Vec<Reading> = (0..5).map(|m| reading("truck-1", m, 5.0, 0.2)).collect();
    readings[3].shipment_id = Some("shp-1".into());
    readings[4].shipment_id = Some("shp-1".into());
    d.process_batch(&batch(1, &readings), T0).await;
    assert_eq!(*d.directory.lookups.lock().unwrap(), 2);
    assert_eq!(
        d.history.of(&Owner::Shipment("shp-1".into())).len(),
        5,
        "both ways lead to the same shipment"
    );
}

#[tokio::test]
async fn a_missing_risk_estimate_does_not_hold_an_alarm_back() {
    for mode in [RiskMode::Down, RiskMode::Refuse] {
        let d = detector();
        d.directory
            .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
        *d.risk.mode.lock().unwrap() = mode;
        let report = d
            .process_batch(&batch(1, &[reading("truck-1", 0, 5.0, 6.5)]), T0)
            .await;
        assert!(failures(&report).is_empty());
        let events = d.publisher.events();
        assert_eq!(events.len(), 1, "{mode:?}");
        assert_eq!(events[0].alarm.alarm_type, AlarmType::Shock);
        assert_eq!(events[0].risk, None);
    }
}

#[tokio::test]
async fn the_offline_check_raises_escalates_and_clears_device_offline() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    d.directory
        .add(shipment("shp-quiet", "truck-q", ShipmentState::InTransit));
    d.process_batch(
        &batch(
            1,
            &[
                reading("truck-1", 0, 5.0, 0.2),
                reading("truck-q", 5, 5.0, 0.2),
            ],
        ),
        T0,
    )
    .await;

    // 12 min after truck-1's last reading, 7 after truck-q's
    let at = T0 + Duration::minutes(12);
    let report = d.check_offline(at, at).await.unwrap();
    assert_eq!(
        (report.checked, report.updated, report.published),
        (1, 1, 1)
    );
    let events = d.publisher.events();
    assert_eq!(events[0].alarm.alarm_type, AlarmType::DeviceOffline);
    assert_eq!(events[0].event_type, AlarmEventType::Raised);
    assert_eq!(events[0].alarm.severity, Severity::Major);
    assert!(events[0].risk.is_some(), "MAJOR: with its risk estimate");
    assert_eq!(events[0].context.reading_id.as_deref(), Some("truck-1-0"));
    assert_eq!(events[0].occurred_at, at);

    // the same tick again (a retry) decides the same: nothing new
    let again = d.check_offline(at, at).await.unwrap();
    assert_eq!((again.updated, again.published), (0, 0));

    // twice the delay: CRITICAL (and by now truck-q is silent too; both are
    // checked at once, so their events come in any order)
    let later = T0 + Duration::minutes(21);
    let report = d.check_offline(later, later).await.unwrap();
    assert_eq!((report.checked, report.published), (2, 2));
    let of = |id: &str| {
        d.publisher
            .events()
            .into_iter()
            .filter(|e| e.shipment.shipment_id == id)
            .collect::<Vec<_>>()
    };
    let last = of("shp-1").pop().unwrap();
    assert_eq!(last.event_type, AlarmEventType::Escalated);
    assert_eq!(last.alarm.severity, Severity::Critical);
    let quiet = of("shp-quiet").pop().unwrap();
    assert_eq!(
        (quiet.event_type, quiet.alarm.severity),
        (AlarmEventType::Raised, Severity::Major)
    );

    // the device is back: cleared by its reading
    d.process_batch(&batch(10, &[reading("truck-1", 22, 5.0, 0.2)]), later)
        .await;
    let last = of("shp-1").pop().unwrap();
    assert_eq!(
        (last.alarm.alarm_type, last.event_type),
        (AlarmType::DeviceOffline, AlarmEventType::Cleared)
    );
    let alarm = &d.tracking.alarms_of("shp-1")[0];
    assert_eq!(alarm.state, AlarmState::Cleared);
}

#[tokio::test]
async fn a_delivered_shipment_leaves_the_watch_and_its_offline_alarm_clears() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    d.process_batch(&batch(1, &[reading("truck-1", 0, 5.0, 0.2)]), T0)
        .await;
    let at = T0 + Duration::minutes(11);
    d.check_offline(at, at).await.unwrap();
    assert!(d.tracking.tracking("shp-1").unwrap().is_watched());

    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::Delivered));
    let later = at + Duration::minutes(1);
    let report = d.check_offline(later, later).await.unwrap();
    assert_eq!((report.updated, report.published), (1, 1));
    let tracking = d.tracking.tracking("shp-1").unwrap();
    assert_eq!(tracking.state, ShipmentState::Delivered);
    assert!(!tracking.is_watched());
    assert_eq!(
        d.publisher.events().pop().unwrap().event_type,
        AlarmEventType::Cleared
    );
    let after = T0 + Duration::hours(3);
    assert_eq!(d.check_offline(after, after).await.unwrap().checked, 0);
}

// ------------------------------------------------------------------ position events

#[tokio::test]
async fn one_position_event_per_shipment_per_batch_after_the_save() {
    let d = detector();
    d.directory
        .add(shipment("shp-a", "truck-a", ShipmentState::InTransit));
    d.directory
        .add(shipment("shp-b", "truck-b", ShipmentState::Dispatched));
    // interleaved readings of two trucks, the last of truck-b a crash
    let mut readings = Vec::new();
    for minute in 0..5 {
        readings.push(reading("truck-a", minute, 5.0, 0.2));
        readings.push(reading(
            "truck-b",
            minute,
            6.0,
            if minute == 4 { 6.5 } else { 0.2 },
        ));
    }
    let report = d.process_batch(&batch(1, &readings), T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!(report.positions, 2);
    let mut positions = d.positions.positions();
    positions.sort_by(|x, y| x.shipment_id.cmp(&y.shipment_id));
    assert_eq!(positions.len(), 2, "one per shipment, not one per reading");
    for event in &positions {
        let saved = d.tracking.tracking(&event.shipment_id).unwrap();
        assert_eq!(
            event.event_id,
            format!("{}:v{}", saved.shipment_id, saved.version)
        );
        assert_eq!(event.occurred_at, saved.updated_at);
        assert_eq!(
            event.status.latest.as_ref().map(|p| p.reading_id.clone()),
            saved.latest.as_ref().map(|r| r.reading_id.clone())
        );
    }
    let b = &positions[1];
    assert_eq!(b.event_type.as_str(), "tracking.updated");
    assert_eq!(b.state, ShipmentState::Dispatched);
    assert_eq!(b.device_id.as_deref(), Some("truck-b"));
    assert_eq!(
        (b.shipper_org_id.as_str(), b.recipient_org_id.as_str()),
        ("org-ship", "org-recv")
    );
    assert_eq!(b.status.latest.as_ref().unwrap().reading_id, "truck-b-4");
    assert_eq!(b.status.profile.kind, "REFRIGERATED");
    assert_eq!(b.status.budget_minutes, 75.0);
    assert_eq!(b.status.active_alarms.len(), 1);
    assert_eq!(b.status.active_alarms[0].alarm_type, AlarmType::Shock);
    // both in one message, its type the one attribute
    let messages = d.positions.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "one message for the batch");
    assert_eq!(
        messages[0].attributes["event_type"].as_str(),
        "tracking.batch"
    );
    assert_eq!(messages[0].attributes.len(), 1);
    // alarm events stay on the alarm topic, position events on theirs
    assert!(
        d.publisher
            .events()
            .iter()
            .all(|e| e.alarm.alarm_type == AlarmType::Shock)
    );

    // the same batch again, and the offline check: nothing new, no position
    d.process_batch(&batch(1, &readings), T0).await;
    let at = T0 + Duration::minutes(30);
    d.check_offline(at, at).await.unwrap();
    assert_eq!(d.positions.positions().len(), 2);
}

#[tokio::test]
async fn no_position_event_without_a_saved_state() {
    let d = detector();
    d.directory
        .add(shipment("shp-a", "truck-a", ShipmentState::InTransit));
    d.tracking.failing.lock().unwrap().insert("shp-a".into());
    let report = d
        .process_batch(&batch(1, &[reading("truck-a", 0, 5.0, 0.2)]), T0)
        .await;
    assert_eq!(failures(&report), [sequence(1)]);
    assert!(
        d.positions.positions().is_empty(),
        "the state was not saved"
    );
    // a reading of a shipment not on its way: kept, no rules, no position
    let d = detector();
    d.directory
        .add(shipment("shp-p", "truck-p", ShipmentState::Pending));
    d.process_batch(&batch(1, &[reading("truck-p", 0, 5.0, 0.2)]), T0)
        .await;
    assert!(d.positions.positions().is_empty());
}

#[tokio::test]
async fn a_lost_position_event_fails_nothing_and_alarms_still_go_out() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    *d.positions.down.lock().unwrap() = true;
    let report = d
        .process_batch(&batch(1, &[reading("truck-1", 0, 5.0, 6.5)]), T0)
        .await;
    assert!(failures(&report).is_empty(), "nothing to retry");
    assert_eq!((report.published, report.positions), (1, 0));
    assert_eq!(d.tracking.tracking("shp-1").unwrap().version, 1);
    assert_eq!(d.publisher.events()[0].alarm.alarm_type, AlarmType::Shock);

    // back up: the next batch publishes the newer state
    *d.positions.down.lock().unwrap() = false;
    d.process_batch(&batch(2, &[reading("truck-1", 1, 5.0, 0.2)]), T0)
        .await;
    let positions = d.positions.positions();
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].event_id, "shp-1:v2");
}

#[tokio::test]
async fn after_a_version_conflict_the_position_is_the_state_finally_saved() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    d.process_batch(&batch(1, &[reading("truck-1", 0, 5.0, 0.2)]), T0)
        .await;
    *d.tracking.interfere.lock().unwrap() = 1;
    d.process_batch(&batch(2, &[reading("truck-1", 1, 5.0, 0.2)]), T0)
        .await;
    let ids: Vec<String> = d
        .positions
        .positions()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        ids,
        ["shp-1:v1", "shp-1:v3"],
        "one per batch, of the version saved"
    );
}

#[test]
fn kinesis_batches_and_scheduled_events_are_told_apart() {
    let kinesis: Value = serde_json::from_str(include_str!(
        "../../../events/anomaly-detector/kinesis-batch.json"
    ))
    .unwrap();
    assert!(matches!(trigger_of(kinesis), Ok(Trigger::Records(b)) if b.records.len() == 3));
    let scheduled: Value = serde_json::from_str(include_str!(
        "../../../events/anomaly-detector/scheduled.json"
    ))
    .unwrap();
    assert_eq!(
        trigger_of(scheduled),
        Ok(Trigger::Schedule {
            time: Some(datetime!(2026-11-21 07:15 UTC))
        })
    );
    assert!(trigger_of(json!({"hello": "world"})).is_err());
    assert!(trigger_of(json!({"Records": "nope"})).is_err());
    assert_eq!(
        check_time(Some(datetime!(2026-11-21 07:15:42.5 UTC)), T0),
        datetime!(2026-11-21 07:15 UTC)
    );
    assert_eq!(
        check_time(None, datetime!(2026-11-21 08:00:59 UTC)),
        datetime!(2026-11-21 08:00 UTC)
    );
}

#[tokio::test]
async fn the_sample_kinesis_event_processes_as_its_readme_says() {
    let d = detector();
    d.directory.add(shipment(
        "shp-0b5f4a6e-6c1e-4b8e-9a51-2f0c8d7e4a10",
        "truck-0042",
        ShipmentState::InTransit,
    ));
    let event: KinesisEvent = serde_json::from_str(include_str!(
        "../../../events/anomaly-detector/kinesis-batch.json"
    ))
    .unwrap();
    let report = d.process_batch(&event, T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!((report.rejected, report.applied), (1, 2));
    assert_eq!(d.rejected.records.lock().unwrap()[0].reason, "NOT_JSON");

    // without the shipment the readings stay with the device
    let d = detector();
    let report = d.process_batch(&event, T0).await;
    assert_eq!((report.unassigned, report.rejected), (2, 1));
}

// ------------------------------------------------------------------ provenance

fn sent_by(mut reading: Reading, sender: Principal) -> Reading {
    reading.sender = Some(sender);
    reading
}

fn rejected_reasons(d: &Fake) -> Vec<String> {
    d.rejected
        .records
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.reason.clone())
        .collect()
}

#[tokio::test]
async fn readings_relayed_across_organisations_go_to_the_rejected_queue_never_onto_a_shipment() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    let outsider = |role| Principal::User {
        user_id: "usr-b".into(),
        org_id: "org-b".into(),
        role,
    };
    let own_driver = Principal::User {
        user_id: "usr-a".into(),
        org_id: pharmaguard_domain::fixtures::SHIPPER_ORG.into(),
        role: Role::Driver,
    };
    let readings = vec![
        reading("truck-1", 0, 5.0, 0.2),
        // a forged crash, stamped ahead, from another organisation's driver and admin
        sent_by(reading("truck-1", 1, 5.0, 9.0), outsider(Role::Driver)),
        sent_by(reading("truck-1", 2, 5.0, 9.0), outsider(Role::Admin)),
        // another device of the same organisation may not speak for truck-1
        sent_by(
            reading("truck-1", 3, 5.0, 9.0),
            pharmaguard_domain::fixtures::device_principal("truck-2"),
        ),
        sent_by(reading("truck-1", 4, 5.0, 0.2), own_driver),
    ];
    let report = d.process_batch(&batch(1, &readings), T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!(report.rejected, 3);
    assert_eq!(
        rejected_reasons(&d),
        ["OTHER_ORGANISATION", "OTHER_ORGANISATION", "NOT_THE_DEVICE"]
    );
    let kept = d.history.of(&Owner::Shipment("shp-1".into()));
    assert_eq!(kept, vec![readings[0].clone(), readings[4].clone()]);
    assert!(
        d.publisher.events().is_empty(),
        "no SHOCK from the forged readings"
    );
    assert_eq!(
        *d.devices.reads.lock().unwrap(),
        1,
        "one registry read per device per batch"
    );
}

#[tokio::test]
async fn a_shipment_another_organisation_bound_to_the_device_never_takes_its_readings() {
    let d = detector();
    // organisation B binds A's truck-1 to its own shipment; A's shipment is on its way too
    let mut foreign = shipment("shp-b", "truck-1", ShipmentState::InTransit);
    foreign.shipper_org_id = "org-b".into();
    foreign.updated_at = T0;
    d.directory.add(foreign);
    d.directory
        .add(shipment("shp-a", "truck-1", ShipmentState::Dispatched));
    let mut named = reading("truck-1", 1, 5.0, 0.2);
    named.shipment_id = Some("shp-b".into());
    let readings = vec![reading("truck-1", 0, 5.0, 0.2), named];
    let report = d.process_batch(&batch(1, &readings), T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!(rejected_reasons(&d), ["NOT_SHIPPERS_DEVICE"]);
    assert_eq!(
        d.history.of(&Owner::Shipment("shp-a".into())),
        readings[..1]
    );
    assert!(d.history.of(&Owner::Shipment("shp-b".into())).is_empty());
}

#[tokio::test]
async fn unknown_disabled_and_unsigned_readings_are_rejected_with_their_reason() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    d.devices.unknown.lock().unwrap().insert("truck-9".into());
    d.devices
        .disabled
        .lock()
        .unwrap()
        .insert("truck-off".into());
    let mut unsigned = reading("truck-1", 2, 5.0, 0.2);
    unsigned.sender = None;
    let records = vec![
        ("truck-9", Data::Good(reading("truck-9", 0, 5.0, 0.2))),
        ("truck-off", Data::Good(reading("truck-off", 1, 5.0, 0.2))),
        ("truck-1", Data::Good(unsigned)),
        ("truck-1", Data::Good(reading("truck-1", 3, 5.0, 0.2))),
    ];
    let report = d.process_batch(&batch_from(1, records), T0).await;
    assert!(failures(&report).is_empty());
    assert_eq!(
        rejected_reasons(&d),
        ["NO_SENDER", "UNKNOWN_DEVICE", "DEVICE_DISABLED"],
        "an unsigned record is refused as it is decoded, the others once looked up"
    );
    assert_eq!(report.applied, 1);
}

#[tokio::test]
async fn an_unreadable_registry_holds_the_devices_readings_back_for_a_retry() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    *d.devices.down.lock().unwrap() = true;
    let readings: Vec<Reading> = (0..3).map(|m| reading("truck-1", m, 5.0, 0.2)).collect();
    let report = d.process_batch(&batch(1, &readings), T0).await;
    assert_eq!(failures(&report), [sequence(1)]);
    assert!(
        rejected_reasons(&d).is_empty(),
        "nothing set aside for a passing failure"
    );
    assert!(d.history.of(&Owner::Shipment("shp-1".into())).is_empty());
}

#[tokio::test]
async fn a_reading_stamped_ahead_of_its_receipt_cannot_blind_the_monitor() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    // received at minute 0 but stamped 4 minutes ahead (inside the accepted skew)
    let mut ahead = reading("truck-1", 4, 5.0, 0.2);
    ahead.reading_id = "truck-1-ahead".into();
    ahead.received_at = T0;
    d.process_batch(&batch(1, &[ahead]), T0).await;
    // the genuine readings of the next minutes, one a crash, are applied
    let genuine: Vec<Reading> = (1..4)
        .map(|m| reading("truck-1", m, 5.0, if m == 2 { 7.0 } else { 0.2 }))
        .collect();
    let report = d
        .process_batch(&batch(2, &genuine), T0 + Duration::minutes(4))
        .await;
    assert_eq!(report.applied, 3, "{report:?}");
    let events = d.publisher.events();
    assert!(
        events
            .iter()
            .any(|e| e.alarm.alarm_type == AlarmType::Shock),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_late_upload_rebuilds_the_trip_from_the_history_and_raises_the_freeze_it_shows() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    // live: minutes 0-10, then the first reading after a dead zone (minute 51)
    let mut live: Vec<Reading> = (0..=10).map(|m| reading("truck-1", m, 5.0, 0.2)).collect();
    live.push(reading("truck-1", 51, 5.0, 0.2));
    let report = d.process_batch(&batch(1, &live), T0).await;
    assert!(failures(&report).is_empty());
    assert!(
        d.publisher.events().is_empty(),
        "nothing known of a freeze yet"
    );
    // the logger uploads the dead zone: a freeze from minute 20 to 29
    let upload: Vec<Reading> = (11..=50)
        .map(|m| {
            let temp = if (20..30).contains(&m) { -3.0 } else { 5.0 };
            let mut r = reading("truck-1", m, temp, 0.2);
            r.received_at = T0 + Duration::minutes(51) + Duration::seconds(30);
            r
        })
        .collect();
    let report = d.process_batch(&batch(100, &upload), T0).await;
    assert!(failures(&report).is_empty());
    let events = d.publisher.events();
    let freeze: Vec<&AlarmEvent> = events
        .iter()
        .filter(|e| e.alarm.alarm_type == AlarmType::TemperatureExcursion)
        .collect();
    let kinds: Vec<AlarmEventType> = freeze.iter().map(|e| e.event_type).collect();
    assert_eq!(kinds, [AlarmEventType::Raised, AlarmEventType::Cleared]);
    assert_eq!(freeze[0].alarm.raised_at, T0 + Duration::minutes(20));
    assert_eq!(freeze[0].alarm.severity, Severity::Critical);
    assert!(
        freeze[0].risk.is_some(),
        "a CRITICAL raise gets its risk estimate"
    );
    let tracking = d.tracking.tracking("shp-1").unwrap();
    let status = tracking
        .monitor
        .excursion_status(&pharmaguard_domain::shipment::TemperatureProfile::Refrigerated);
    assert_eq!(status.cold_zone, Duration::minutes(10));
    assert_eq!(tracking.monitor.coverage(), 1.0);
    assert_eq!(tracking.latest.as_ref().unwrap().reading_id, "truck-1-51");
    // the same upload again (a retried batch) changes and publishes nothing
    let before = events.len();
    d.process_batch(&batch(100, &upload), T0).await;
    assert_eq!(d.publisher.events().len(), before);
    let again = d.tracking.tracking("shp-1").unwrap();
    assert_eq!(again.version, tracking.version, "nothing written");
}

/// The SNS event of `shipment`'s last change, as the topic delivers it.
fn sns_event_of(before: &Shipment, after: &Shipment) -> Value {
    let event = pharmaguard_domain::shipment::events::derive_event(Some(before), Some(after))
        .expect("a shipment event");
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:eu-central-1:000000000000:shipment-events:sub",
        "Sns": {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:eu-central-1:000000000000:shipment-events",
            "Subject": null,
            "Message": serde_json::to_string(&event).unwrap(),
            "Timestamp": "2026-11-21T08:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertUrl": "",
            "UnsubscribeUrl": "",
            "MessageAttributes": {}
        }
    }]})
}

#[tokio::test]
async fn a_dispatched_shipment_whose_logger_never_reports_raises_no_data() {
    let d = detector();
    let pending = shipment("shp-1", "truck-1", ShipmentState::Pending);
    let dispatched = shipment("shp-1", "truck-1", ShipmentState::Dispatched);
    d.directory.add(dispatched.clone());
    let Trigger::ShipmentEvents(events) = trigger_of(sns_event_of(&pending, &dispatched)).unwrap()
    else {
        panic!("an SNS event of shipments");
    };
    let start = dispatched.started_at().unwrap();
    assert_eq!(d.watch(&events, start).await.unwrap(), 1);
    assert_eq!(d.watch(&events, start).await.unwrap(), 0, "watched once");
    let watched = d.tracking.tracking("shp-1").unwrap();
    assert_eq!(watched.version, 1);
    assert_eq!(watched.quiet_since(), Some(start));

    let at = start + Duration::minutes(14);
    d.check_offline(at, at).await.unwrap();
    assert!(d.publisher.events().is_empty(), "not yet");
    let at = start + Duration::minutes(16);
    d.check_offline(at, at).await.unwrap();
    let events = d.publisher.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].alarm.alarm_type, AlarmType::NoData);
    assert_eq!(events[0].event_type, AlarmEventType::Raised);
    assert_eq!(events[0].alarm.severity, Severity::Major);
    assert!(events[0].risk.is_some(), "a MAJOR raise carries its risk");

    // the first reading clears it
    let first = reading("truck-1", 200, 5.0, 0.2);
    d.process_batch(&batch(1, &[first]), at).await;
    let events = d.publisher.events();
    assert_eq!(events.last().unwrap().alarm.alarm_type, AlarmType::NoData);
    assert_eq!(events.last().unwrap().event_type, AlarmEventType::Cleared);
}

#[tokio::test]
async fn an_expected_silence_holds_no_data_back() {
    let d = detector();
    let pending = shipment("shp-1", "truck-1", ShipmentState::Pending);
    let mut dispatched = shipment("shp-1", "truck-1", ShipmentState::Dispatched);
    let start = dispatched.started_at().unwrap();
    dispatched.expected_silences = vec![pharmaguard_domain::shipment::silence::Silence {
        from: start,
        to: start + Duration::hours(2),
        reason: Some("flight".into()),
    }];
    d.directory.add(dispatched.clone());
    let Trigger::ShipmentEvents(events) = trigger_of(sns_event_of(&pending, &dispatched)).unwrap()
    else {
        panic!("an SNS event of shipments");
    };
    d.watch(&events, start).await.unwrap();
    for minutes in [16, 60, 120, 134] {
        let at = start + Duration::minutes(minutes);
        d.check_offline(at, at).await.unwrap();
    }
    assert!(
        d.publisher.events().is_empty(),
        "during the flight and until 15 min after it"
    );
    let at = start + Duration::minutes(136);
    d.check_offline(at, at).await.unwrap();
    assert_eq!(d.publisher.events()[0].alarm.alarm_type, AlarmType::NoData);
}

#[test]
fn an_sns_message_that_is_no_shipment_event_is_refused() {
    let mut event = sns_event_of(
        &shipment("shp-1", "truck-1", ShipmentState::Pending),
        &shipment("shp-1", "truck-1", ShipmentState::Dispatched),
    );
    event["Records"][0]["Sns"]["Message"] = json!("{\"not\": \"a shipment event\"}");
    assert!(trigger_of(event).is_err());
}

#[tokio::test]
async fn a_batch_says_how_long_its_slowest_record_took_to_arrive() {
    let d = detector();
    d.directory
        .add(shipment("shp-1", "truck-1", ShipmentState::InTransit));
    // every record of the sample batches arrived just after T0
    let mut r = reading("truck-1", 0, 5.0, 0.2);
    r.ts = T0 - Duration::seconds(2);
    r.received_at = T0 - Duration::milliseconds(750);
    let b = batch(1, &[r.clone()]);
    let arrived = arrival_of(&b.records[0]).expect("an arrival time");
    assert!((T0..T0 + Duration::seconds(1)).contains(&arrived));
    let now = T0 + Duration::seconds(2);
    let report = d.process_batch(&b, now).await;
    assert!(failures(&report).is_empty());
    let ms = |d: Duration| Some(d.as_seconds_f64() * 1000.0);
    assert_eq!(
        report.hops.ingest_ms,
        ms(arrived - r.received_at),
        "received → stream"
    );
    assert_eq!(
        report.hops.stream_ms,
        ms(now - arrived),
        "stream → detector"
    );
    assert_eq!(
        d.process_batch(&batch_from(2, Vec::new()), T0).await.hops,
        Hops::default()
    );
}
