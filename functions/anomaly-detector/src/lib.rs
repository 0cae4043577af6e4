//! Applies the cold-chain rules to the telemetry stream.
//!
//! Two triggers reach the same function ([`handle`] tells them apart by the
//! shape of the event):
//!
//! - **the telemetry stream** (Kinesis event source mapping, with
//!   `ReportBatchItemFailures`): [`Detector::process_batch`];
//! - **a schedule** (EventBridge, every minute): [`Detector::check_offline`],
//!   because a silent device sends nothing that could raise DEVICE_OFFLINE.
//!
//! # A batch of records
//!
//! 1. Each record is decoded and validated
//!    ([`decode_record`]). A record that can never be processed (not JSON,
//!    not a reading, an invalid reading) is sent with its reason, sequence
//!    number, partition key and raw data to the rejected-telemetry queue and
//!    counts as handled: it never blocks the shard and is never dropped
//!    silently.
//! 2. Each reading is placed ([`assign`]): the shipment it names (if that
//!    shipment has the reading's device), else its device's DISPATCHED or
//!    IN_TRANSIT shipment. Lookups are made once per shipment or device per
//!    batch: the named shipments in one batch read, the devices' registry
//!    entries in another, a device's shipments in a query. A reading without
//!    a monitored shipment is kept in the history under its device and runs
//!    no rules.
//! 3. The readings are grouped per shipment ([`group_readings`]: by time,
//!    a repeated reading id once) and written to the history (idempotent
//!    puts); meanwhile the trackings of their shipments are read, in one
//!    batch read (strongly consistent).
//! 4. Per shipment (several at once): the readings
//!    are applied with [`apply_to_shipment`] — or, when some are older than
//!    the last one applied (a logger's upload after a dead zone), the trip is
//!    rebuilt from the history read back ([`history_window`], [`rebuild`]) —
//!    the alarm events of the
//!    transitions are published, up to 10 in one `PublishBatch` (MAJOR and
//!    CRITICAL raises and escalations first get a risk estimate from the
//!    risk calculator, all of a shipment's at once; SNS delivers a standard
//!    topic's messages in no set order either way), and then the
//!    tracking (monitor state, latest reading) is written on the condition
//!    of its version, together with the alarms that changed in one
//!    transaction (a save that changes no alarm is one conditional put). A
//!    version conflict (the offline check or an acknowledgement wrote
//!    meanwhile) reloads and recomputes.
//! 5. Once the shipments are done, the position event (`tracking.updated`,
//!    [`TrackingUpdated`]) of each tracking saved is published on the
//!    tracking topic for the live map, all of them in one `tracking.batch`
//!    message ([`position_messages`]; more only past 240 KB): at most one
//!    event per shipment per batch, none when nothing new was applied, and
//!    one notification for the broadcast to fan out however many trucks the
//!    batch holds.
//!
//! # Exactly-once effects
//!
//! Delivery is at least once, so everything is safe to repeat: history puts
//! are idempotent; the monitor ignores readings at or before the last one it
//! applied, so a replayed batch or a resent reading changes nothing and
//! publishes nothing; event ids are deterministic ([`alarm_event_id`]), so
//! a crash between publishing and the state write republishes the same ids,
//! which consumers drop. Nothing is lost either: the state is written last,
//! so a crash anywhere leaves the readings to be applied again.
//!
//! # Failures
//!
//! A transient failure (DynamoDB, SNS, a lookup) fails the shipment's (or
//! device's) readings of the batch; the response reports the earliest
//! failed record's sequence number in `batchItemFailures` and Lambda
//! retries from there (the records after it are applied again, harmlessly).
//! A risk estimate that cannot be had does not hold an alarm back: the event
//! is published without `risk`, and the failure is logged. A position event
//! that cannot be published is logged and dropped: the state is saved, and
//! the next batch publishes a newer position (alarm events, in contrast, are
//! published before the state is written and retried until they are out).
//!
//! [`alarm_event_id`]: pharmaguard_domain::coldchain::alarm_event_id

use std::collections::BTreeSet;
use std::time::Instant;

// the per-batch maps: short string keys, hashed fast
use foldhash::{HashMap, HashSet};

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use futures_util::stream::{self, StreamExt};
use lambda_runtime::{Error, LambdaEvent};
use pharmaguard_aws::sns::MessagePublisher;
use pharmaguard_domain::coldchain::backfill::{history_window, rebuild};
use pharmaguard_domain::coldchain::detector::{
    Lookup, Owner, Poison, alarm_context, alarm_events, alarm_states, apply_to_shipment, assign,
    decode_record, group_readings, is_monitored, pick, vet, with_owners,
};
use pharmaguard_domain::coldchain::tracking::{
    PortError, ReadingHistory, RejectedRecord, RejectedSink, RiskError, RiskEstimator, SaveError,
    ShipmentDirectory, Tracking, TrackingStore,
};
use pharmaguard_domain::coldchain::{
    AlarmContext, AlarmEvent, AlarmTransition, MonitorSettings, ShipmentSummary, TrackingUpdated,
    position_messages,
};
use pharmaguard_domain::ports::DeviceRegistry;
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_domain::shipment::events::ShipmentEvent;
use pharmaguard_domain::telemetry::Reading;
use pharmaguard_domain::telemetry::{Refusal, RegisteredDevice};
use serde::Serialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time};
use tracing::{debug, error, info, warn};

/// The shipments each lookup of a batch found.
type ShipmentsFound = HashMap<Lookup, Result<Vec<Shipment>, PortError>>;
/// What the registry holds of each device of a batch.
type DevicesFound = HashMap<String, Result<Option<RegisteredDevice>, String>>;

/// How many shipments (or lookups) are worked on at once.
pub const CONCURRENCY: usize = 16;
/// Attempts of a shipment's update when its tracking keeps changing under it.
pub const SAVE_ATTEMPTS: u32 = 3;

/// The detector and what it works with: the shipments, the history, the
/// tracking store, the alarm and tracking topics, the risk calculator and the
/// rejected telemetry queue.
#[derive(Debug, Clone)]
pub struct Detector<D, H, T, P, R, Q, V> {
    /// The shipments.
    pub directory: D,
    /// The reading history.
    pub history: H,
    /// Trackings and alarms.
    pub tracking: T,
    /// The alarm events topic.
    pub publisher: P,
    /// The tracking events topic (position events).
    pub positions: P,
    /// The risk calculator.
    pub risk: R,
    /// The rejected telemetry queue.
    pub rejected: Q,
    /// The device registry: whose each device is.
    pub devices: V,
    /// The rules' parameters.
    pub settings: MonitorSettings,
}

/// What one trigger asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A batch of telemetry records.
    Records(KinesisEvent),
    /// The schedule ticked; `time` is the event's (scheduled) time.
    Schedule {
        /// The event's `time`, if it has a readable one.
        time: Option<OffsetDateTime>,
    },
    /// Shipments were dispatched or started (SNS, the shipment events topic).
    ShipmentEvents(Vec<ShipmentEvent>),
}

/// The event is neither a Kinesis batch nor a scheduled event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported event: {0}")]
pub struct UnsupportedEvent(pub String);

/// Tells a Kinesis batch (`Records`), shipment events from SNS (`Records`
/// with `Sns`) and a scheduled event (`"detail-type": "Scheduled Event"` or
/// `"source": "aws.events"`) apart. An SNS message that is not a shipment
/// event fails the invocation (it then reaches the failure queue).
pub fn trigger_of(event: Value) -> Result<Trigger, UnsupportedEvent> {
    let from_sns = event
        .pointer("/Records/0/Sns")
        .is_some_and(Value::is_object);
    if from_sns {
        let sns: SnsEvent = serde_json::from_value(event)
            .map_err(|e| UnsupportedEvent(format!("not an SNS event: {e}")))?;
        return sns
            .records
            .iter()
            .map(|record| {
                serde_json::from_str::<ShipmentEvent>(&record.sns.message).map_err(|e| {
                    UnsupportedEvent(format!(
                        "SNS message {} is not a shipment event: {e}",
                        record.sns.message_id
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Trigger::ShipmentEvents);
    }
    if event.get("Records").is_some() {
        return serde_json::from_value(event)
            .map(Trigger::Records)
            .map_err(|e| UnsupportedEvent(format!("not a Kinesis event: {e}")));
    }
    if pharmaguard_aws::schedule::is_scheduled(&event) {
        let time = event
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        return Ok(Trigger::Schedule { time });
    }
    Err(UnsupportedEvent(
        "expected a Kinesis event (Records) or a scheduled event".into(),
    ))
}

/// The moment an offline check is made for: the scheduled time (else `now`),
/// to the minute, so that a retry of the same tick decides the same and
/// raises an alarm with the same id.
pub fn check_time(scheduled: Option<OffsetDateTime>, now: OffsetDateTime) -> OffsetDateTime {
    let at = scheduled.unwrap_or(now);
    at.replace_time(Time::from_hms(at.hour(), at.minute(), 0).unwrap_or(Time::MIDNIGHT))
}

/// The Lambda handler: a batch of records or an offline check.
pub async fn handle<D, H, T, P, R, Q, V>(
    detector: &Detector<D, H, T, P, R, Q, V>,
    event: LambdaEvent<Value>,
) -> Result<Value, Error>
where
    D: ShipmentDirectory,
    H: ReadingHistory,
    T: TrackingStore,
    P: MessagePublisher,
    R: RiskEstimator,
    Q: RejectedSink,
    V: DeviceRegistry,
{
    let now = OffsetDateTime::now_utc();
    match trigger_of(event.payload)? {
        Trigger::Records(batch) => {
            let report = detector.process_batch(&batch, now).await;
            Ok(serde_json::to_value(report.response)?)
        }
        Trigger::Schedule { time } => {
            let report = detector.check_offline(check_time(time, now), now).await?;
            Ok(serde_json::to_value(report)?)
        }
        Trigger::ShipmentEvents(events) => {
            let watched = detector.watch(&events, now).await?;
            Ok(json!({ "watched": watched }))
        }
    }
}

/// What became of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchReport {
    /// What Lambda gets: the first record to retry from, if any.
    #[serde(skip)]
    pub response: KinesisEventResponse,
    /// Records in the batch.
    pub records: usize,
    /// Poison records sent to the rejected queue.
    pub rejected: usize,
    /// Readings kept under their device (no monitored shipment).
    pub unassigned: usize,
    /// Readings dropped as repeats inside the batch.
    pub duplicates: usize,
    /// Shipments whose readings ran the rules.
    pub shipments: usize,
    /// Readings the monitors applied (new ones).
    pub applied: usize,
    /// Alarm events published.
    pub published: usize,
    /// Position events published (one per shipment whose tracking changed,
    /// all in one message or a few).
    pub positions: usize,
    /// Index of the first record to retry, if any.
    pub failed_at: Option<usize>,
    /// Where the batch's time went.
    pub phases: Phases,
    /// How long the batch's records took to get here.
    pub hops: Hops,
}

/// How long the records of a batch took to reach the detector,
/// milliseconds, for the slowest record of the batch (`None`: no record
/// said when it arrived).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Hops {
    /// Broker or API → stream: the longest from a reading's `received_at`
    /// to its record's arrival in the stream.
    pub ingest_ms: Option<f64>,
    /// Stream → detector: the longest a record of the batch waited in the
    /// stream (its arrival to the invocation).
    pub stream_ms: Option<f64>,
}

impl Hops {
    /// The hops of `readings` (with their records' indexes in `records`)
    /// for an invocation at `now`.
    fn of(
        records: &[aws_lambda_events::event::kinesis::KinesisEventRecord],
        readings: &[(usize, Reading)],
        now: OffsetDateTime,
    ) -> Self {
        let ms = |d: time::Duration| d.as_seconds_f64() * 1000.0;
        let arrivals = || records.iter().filter_map(arrival_of);
        let ingest = readings
            .iter()
            .filter_map(|(index, r)| arrival_of(&records[*index]).map(|at| ms(at - r.received_at)))
            .reduce(f64::max);
        Self {
            ingest_ms: ingest,
            stream_ms: arrivals().min().map(|oldest| ms(now - oldest)),
        }
    }
}

/// When a record arrived in the stream, if the event says.
fn arrival_of(
    record: &aws_lambda_events::event::kinesis::KinesisEventRecord,
) -> Option<OffsetDateTime> {
    Some(record.kinesis.approximate_arrival_timestamp.0)
        .filter(|at| at.timestamp() > 0)
        .and_then(|at| {
            OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(at.timestamp()) * 1_000_000_000
                    + i128::from(at.timestamp_subsec_nanos()),
            )
            .ok()
        })
}

/// Where a batch's time went, milliseconds. The stages run one after the
/// other; within the shipments stage the shipments are worked on
/// [`CONCURRENCY`] at a time, so its parts are sums over the shipments and
/// may add up to more than the stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Decoding and validating the records (and setting poison aside).
    pub decode_ms: f64,
    /// Looking up the shipments and devices, and placing the readings.
    pub lookup_ms: f64,
    /// Writing the history.
    pub history_ms: f64,
    /// The shipments stage, start to end.
    pub shipments_ms: f64,
    /// Reading the trackings: the batch's one read (beside the history
    /// write), plus the sums over the shipments of a reload after a conflict
    /// and of the history read back for late readings.
    pub tracking_load_ms: f64,
    /// The rules.
    pub rules_ms: f64,
    /// Publishing the alarm events, with their risk estimates.
    pub events_ms: f64,
    /// Saving the trackings and alarms.
    pub tracking_save_ms: f64,
    /// Publishing the position events (after the shipments stage).
    pub position_ms: f64,
}

impl Phases {
    /// Adds the parts of one shipment's update.
    fn add_shipment(&mut self, shipment: &Phases) {
        self.tracking_load_ms += shipment.tracking_load_ms;
        self.rules_ms += shipment.rules_ms;
        self.events_ms += shipment.events_ms;
        self.tracking_save_ms += shipment.tracking_save_ms;
    }
}

/// Milliseconds since `start`.
fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// What an offline check did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OfflineReport {
    /// Shipments looked at (watched, silent for the offline delay).
    pub checked: usize,
    /// Shipments whose tracking changed.
    pub updated: usize,
    /// Alarm events published.
    pub published: usize,
    /// Shipments that could not be checked (tried again next time).
    pub failed: usize,
}

/// What a shipment's update did, and where its time went.
#[derive(Debug, Clone, Default, PartialEq)]
struct Update {
    applied: usize,
    published: usize,
    written: bool,
    /// The position event of the state saved, if one was.
    position: Option<TrackingUpdated>,
    phases: Phases,
}

impl<D, H, T, P, R, Q, V> Detector<D, H, T, P, R, Q, V>
where
    D: ShipmentDirectory,
    H: ReadingHistory,
    T: TrackingStore,
    P: MessagePublisher,
    R: RiskEstimator,
    Q: RejectedSink,
    V: DeviceRegistry,
{
    /// Processes a batch of telemetry records (see the crate docs).
    pub async fn process_batch(&self, batch: &KinesisEvent, now: OffsetDateTime) -> BatchReport {
        let records = &batch.records;
        let mut report = BatchReport {
            records: records.len(),
            ..BatchReport::default()
        };
        let mut failed: BTreeSet<usize> = BTreeSet::new();

        // 1. decode; poison goes to the rejected queue
        let stage = Instant::now();
        let mut readings: Vec<(usize, Reading)> = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            match decode_record(&record.kinesis.data.0) {
                Ok(reading) => readings.push((index, reading)),
                Err(poison) => {
                    report.rejected += 1;
                    if let Err(problem) = self.reject(record, &poison).await {
                        error!(index, %problem, "a poison record could not be set aside; it will be retried");
                        failed.insert(index);
                    }
                }
            }
        }

        report.phases.decode_ms = elapsed_ms(stage);
        report.hops = Hops::of(records, &readings, now);

        // 2. look up, once per shipment and device; vet and place each reading
        let stage = Instant::now();
        let (found, registry) = self.look_up_all(&readings).await;
        // a device whose lookup failed is held back whole, so its readings stay in order
        let held_devices: HashSet<&str> = readings
            .iter()
            .filter(|(_, r)| {
                matches!(found.get(&Lookup::of(r)), Some(Err(_)) | None)
                    || matches!(registry.get(&r.device_id), Some(Err(_)) | None)
            })
            .map(|(_, r)| r.device_id.as_str())
            .collect();
        // the shipments the placed readings run on, as their lookups found them
        let mut shipments: HashMap<&str, &Shipment> = HashMap::default();
        let mut owners = Vec::with_capacity(readings.len());
        for (index, reading) in &readings {
            if held_devices.contains(reading.device_id.as_str()) {
                failed.insert(*index);
                continue;
            }
            let device = match registry.get(&reading.device_id) {
                Some(Ok(device)) => device.as_ref(),
                _ => None,
            };
            let candidates = match found.get(&Lookup::of(reading)) {
                Some(Ok(candidates)) => candidates.as_slice(),
                _ => &[],
            };
            let placed = vet(reading, device).and_then(|()| match device {
                Some(device) => {
                    let shipment = pick(&Lookup::of(reading), candidates, device);
                    assign(reading, shipment, device).map(|placed| (placed, shipment))
                }
                None => Err(Refusal::UnknownDevice(reading.device_id.clone())),
            });
            let ((owner, unassigned), shipment) = match placed {
                Ok(placed) => placed,
                Err(refusal) => {
                    report.rejected += 1;
                    let record = &records[*index];
                    if let Err(problem) = self.reject(record, &Poison::Refused(refusal)).await {
                        error!(index, %problem, "a refused reading could not be set aside; it will be retried");
                        failed.insert(*index);
                    }
                    continue;
                }
            };
            if let (Owner::Shipment(_), Some(shipment)) = (&owner, shipment) {
                shipments.entry(shipment.id.as_str()).or_insert(shipment);
            }
            if let Some(why) = unassigned {
                report.unassigned += 1;
                debug!(reading_id = %reading.reading_id, device_id = %reading.device_id, reason = ?why, "reading kept under its device");
            }
            owners.push((*index, owner));
        }
        for (_, problem) in found
            .iter()
            .filter_map(|(l, r)| r.as_ref().err().map(|e| (l, e)))
        {
            error!(%problem, "shipment lookup failed; the device's readings will be retried");
        }

        report.phases.lookup_ms = elapsed_ms(stage);

        // 3. group and keep the history (one batch write for every reading);
        //    meanwhile the trackings of the shipments are read, in one go;
        //    the placed readings move on to their groups
        let stage = Instant::now();
        let owned = with_owners(readings, owners);
        let groups = group_readings(owned);
        report.duplicates = groups.iter().map(|g| g.duplicates).sum();
        let entries: Vec<(&Owner, &Reading)> = groups
            .iter()
            .flat_map(|g| g.readings.iter().map(|r| (&g.owner, &r.reading)))
            .collect();
        let ids: Vec<&str> = shipments.keys().copied().collect();
        let loading = async {
            let started = Instant::now();
            let loaded = self.tracking.load_many(&ids).await;
            (loaded, elapsed_ms(started))
        };
        let (written, (loaded, load_ms)) =
            futures_util::future::join(self.history.put(&entries), loading).await;
        report.phases.tracking_load_ms = load_ms;
        let mut loaded: HashMap<&str, _> = ids.iter().copied().zip(loaded).collect();
        let mut position = 0;
        let mut ready = Vec::new();
        for group in &groups {
            let results = &written[position..position + group.readings.len()];
            position += group.readings.len();
            if let Some(Err(problem)) = results.iter().find(|r| r.is_err()) {
                error!(owner = ?group.owner, %problem, "history write failed; the readings will be retried");
                failed.insert(group.first_index);
            } else if let Owner::Shipment(id) = &group.owner {
                let tracking = loaded.remove(id.as_str()).unwrap_or_else(|| {
                    Err(PortError::Unavailable(format!("no tracking read for {id}")))
                });
                ready.push(((group, shipments[id.as_str()]), tracking));
            }
        }

        report.phases.history_ms = elapsed_ms(stage);

        // 4. the rules, per shipment
        let stage = Instant::now();
        report.shipments = ready.len();
        let updates: Vec<_> = stream::iter(ready)
            .map(|((group, shipment), loaded)| async move {
                let outcome = self
                    .update_shipment(shipment, loaded, &group.plain_readings(), now)
                    .await;
                (group, outcome)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut positions = Vec::with_capacity(updates.len());
        for (group, outcome) in updates {
            match outcome {
                Ok(update) => {
                    report.applied += update.applied;
                    report.published += update.published;
                    report.phases.add_shipment(&update.phases);
                    positions.extend(update.position);
                }
                Err(problem) => {
                    error!(owner = ?group.owner, %problem, "shipment update failed; its readings will be retried");
                    failed.insert(group.first_index);
                }
            }
        }

        report.phases.shipments_ms = elapsed_ms(stage);

        // 5. the saved states' positions, in one message for the batch
        let stage = Instant::now();
        report.positions = self.publish_positions(&positions).await;
        report.phases.position_ms = elapsed_ms(stage);

        report.failed_at = failed.first().copied();
        if let Some(index) = report.failed_at {
            report
                .response
                .add_failure(records[index].kinesis.sequence_number.clone());
        }
        info!(
            records = report.records,
            rejected = report.rejected,
            unassigned = report.unassigned,
            duplicates = report.duplicates,
            shipments = report.shipments,
            applied = report.applied,
            published = report.published,
            positions = report.positions,
            failed_at = ?report.failed_at,
            decode_ms = report.phases.decode_ms,
            lookup_ms = report.phases.lookup_ms,
            history_ms = report.phases.history_ms,
            shipments_ms = report.phases.shipments_ms,
            tracking_load_ms = report.phases.tracking_load_ms,
            rules_ms = report.phases.rules_ms,
            events_ms = report.phases.events_ms,
            tracking_save_ms = report.phases.tracking_save_ms,
            position_ms = report.phases.position_ms,
            ingest_ms = report.hops.ingest_ms,
            stream_ms = report.hops.stream_ms,
            "telemetry batch processed"
        );
        report
    }

    /// Sets a poison record aside.
    async fn reject(
        &self,
        record: &aws_lambda_events::event::kinesis::KinesisEventRecord,
        poison: &Poison,
    ) -> Result<(), PortError> {
        let kinesis = &record.kinesis;
        warn!(
            sequence_number = %kinesis.sequence_number,
            partition_key = %kinesis.partition_key,
            reason = poison.kind(),
            problem = %poison,
            "poison record rejected"
        );
        let rejected = RejectedRecord {
            reason: poison.kind().to_owned(),
            message: poison.to_string(),
            errors: poison.errors().to_vec(),
            sequence_number: kinesis.sequence_number.clone(),
            partition_key: kinesis.partition_key.clone(),
            event_source_arn: record.event_source_arn.clone(),
            arrived_at: arrival_of(record),
            data: kinesis.data.0.clone(),
        };
        self.rejected.reject(&rejected).await
    }

    /// The shipments each reading's [`Lookup`] finds and what the registry
    /// holds of each device, read once per lookup and device of the batch:
    /// the named shipments in one batch read, the devices in another, each
    /// device's shipments in a query of its own.
    async fn look_up_all(&self, readings: &[(usize, Reading)]) -> (ShipmentsFound, DevicesFound) {
        let mut named: Vec<&str> = Vec::new();
        let mut unnamed: Vec<&str> = Vec::new();
        let mut devices: Vec<&str> = Vec::new();
        let mut seen: HashSet<(bool, &str)> = HashSet::default();
        let mut seen_devices: HashSet<&str> = HashSet::default();
        for (_, reading) in readings {
            match &reading.shipment_id {
                Some(id) if seen.insert((true, id)) => named.push(id),
                None if seen.insert((false, &reading.device_id)) => {
                    unnamed.push(&reading.device_id)
                }
                _ => {}
            }
            if seen_devices.insert(&reading.device_id) {
                devices.push(&reading.device_id);
            }
        }
        let by_id = async {
            let found = self.directory.shipments(&named).await;
            named
                .iter()
                .zip(found)
                .map(|(id, result)| {
                    let result = result.map(|found| found.into_iter().collect());
                    (Lookup::Shipment((*id).to_owned()), result)
                })
                .collect::<Vec<_>>()
        };
        let by_device = stream::iter(unnamed)
            .map(|device| async move {
                let result = self.directory.shipments_of_device(device).await;
                (Lookup::DeviceShipment(device.to_owned()), result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>();
        let registered = async {
            let found = self.devices.registered_devices(&devices).await;
            devices
                .iter()
                .zip(found)
                .map(|(device, result)| {
                    if let Err(problem) = &result {
                        error!(device_id = device, %problem, "device registry read failed; the device's readings will be retried");
                    }
                    ((*device).to_owned(), result)
                })
                .collect::<DevicesFound>()
        };
        let (by_id, by_device, registered) =
            futures_util::future::join3(by_id, by_device, registered).await;
        let shipments = by_id.into_iter().chain(by_device).collect();
        (shipments, registered)
    }

    /// Applies a shipment's readings to its tracking as `loaded` (reloaded
    /// when it changed meanwhile) and stores the outcome (see the crate
    /// docs).
    async fn update_shipment(
        &self,
        shipment: &Shipment,
        loaded: Result<Option<Tracking>, PortError>,
        readings: &[&Reading],
        now: OffsetDateTime,
    ) -> Result<Update, String> {
        let summary = ShipmentSummary::from(shipment);
        let mut phases = Phases::default();
        let mut loaded = Some(loaded);
        for attempt in 1..=SAVE_ATTEMPTS {
            let loading = Instant::now();
            let stored = match loaded.take() {
                Some(first) => first,
                None => self.tracking.load(&shipment.id).await,
            };
            // the loaded tracking is changed in place: no copy of its state
            let mut current = stored
                .map_err(|e| e.to_string())?
                .unwrap_or_else(|| Tracking::new(shipment, now));
            phases.tracking_load_ms += elapsed_ms(loading);
            let expected_version = current.version;
            let monitor = &mut current.monitor;
            let ruling = Instant::now();
            let mut read_back_ms = 0.0;
            let applied = match history_window(monitor, readings) {
                Some((from, to)) => {
                    let owner = Owner::Shipment(shipment.id.clone());
                    let loading = Instant::now();
                    let history = self
                        .history
                        .between(&owner, from, to)
                        .await
                        .map_err(|e| e.to_string())?;
                    read_back_ms = elapsed_ms(loading);
                    info!(
                        shipment_id = %shipment.id,
                        history = history.len(),
                        "late readings: the trip is rebuilt from its history"
                    );
                    monitor.follow_start(shipment.started_at());
                    let (rebuilt, applied) = rebuild(
                        monitor,
                        &history,
                        readings,
                        &shipment.profile,
                        &self.settings,
                    );
                    *monitor = rebuilt;
                    applied
                }
                None => apply_to_shipment(monitor, readings, shipment, &self.settings),
            };
            // the history read back for late readings is loading, not rules
            phases.rules_ms += elapsed_ms(ruling) - read_back_ms;
            phases.tracking_load_ms += read_back_ms;
            if !applied.changed() {
                return Ok(Update {
                    phases,
                    ..Update::default()
                });
            }
            let publishing = Instant::now();
            let published = self.publish(&applied.transitions, &summary).await?;
            phases.events_ms += elapsed_ms(publishing);
            let alarms = alarm_states(applied.transitions.iter().map(|(t, _)| t));
            current.advance(shipment, applied.latest, now);
            let saving = Instant::now();
            let saved = self
                .tracking
                .save(&current, expected_version, &alarms)
                .await;
            phases.tracking_save_ms += elapsed_ms(saving);
            match saved {
                Ok(()) => {
                    return Ok(Update {
                        applied: applied.applied,
                        published,
                        written: true,
                        position: Some(TrackingUpdated::of(&current, &shipment.profile)),
                        phases,
                    });
                }
                Err(SaveError::VersionConflict) => {
                    warn!(shipment_id = %shipment.id, attempt, "tracking changed meanwhile; recomputing");
                }
                Err(SaveError::Unavailable(problem)) => return Err(problem),
            }
        }
        Err(format!(
            "the tracking of {} kept changing ({SAVE_ATTEMPTS} attempts)",
            shipment.id
        ))
    }

    /// Publishes the events of `transitions`, each MAJOR or CRITICAL raise
    /// and escalation with its risk estimate (asked for all at once), in one
    /// `PublishBatch` per 10. The count published.
    async fn publish(
        &self,
        transitions: &[(AlarmTransition, AlarmContext)],
        summary: &ShipmentSummary,
    ) -> Result<usize, String> {
        let mut events = alarm_events(transitions, summary);
        futures_util::future::join_all(
            events
                .iter_mut()
                .filter(|event| event.needs_risk())
                .map(|event| self.attach_risk(event)),
        )
        .await;
        let messages: Vec<_> = events.iter().map(AlarmEvent::to_message).collect();
        self.publisher.publish_all(&messages).await.map_err(|e| {
            let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
            format!("alarm events {}: {e}", ids.join(", "))
        })?;
        for event in &events {
            info!(
                event_id = %event.event_id,
                event_type = %event.event_type,
                severity = %event.alarm.severity,
                risk = event.risk.as_ref().map(|r| r.total.as_str()).unwrap_or("-"),
                "alarm event published"
            );
        }
        Ok(events.len())
    }

    /// Publishes the position events of the states a batch saved, as few
    /// messages as fit ([`position_messages`]); how many events went out (a
    /// message that fails is logged, never retried: see the crate docs).
    async fn publish_positions(&self, updates: &[TrackingUpdated]) -> usize {
        let mut published = 0;
        for (message, carried) in position_messages(updates) {
            match self.positions.publish(&message).await {
                Ok(_) => {
                    debug!(count = carried.len(), "position events published");
                    published += carried.len();
                }
                Err(problem) => {
                    let shipments: Vec<&str> = updates[carried]
                        .iter()
                        .map(|u| u.shipment_id.as_str())
                        .collect();
                    warn!(?shipments, %problem, "position events not published; the next batch brings newer ones");
                }
            }
        }
        published
    }

    async fn attach_risk(&self, event: &mut AlarmEvent) {
        match self.risk.estimate(&event.risk_input()).await {
            Ok(estimate) => event.risk = Some(estimate),
            Err(RiskError::Rejected(errors)) => {
                warn!(event_id = %event.event_id, ?errors, "risk input refused; publishing without an estimate");
            }
            Err(RiskError::Unavailable(problem)) => {
                error!(event_id = %event.event_id, %problem, "no risk estimate; publishing without one");
            }
        }
    }

    /// Starts watching the shipments of `events` that are on their way and
    /// have no tracking yet: a tracking item with no reading, silent since
    /// the shipment's start, which the offline check then finds (NO_DATA if
    /// the logger never reports). Returns how many were started; one that
    /// cannot be stored fails the invocation (SNS retries it).
    pub async fn watch(
        &self,
        events: &[ShipmentEvent],
        now: OffsetDateTime,
    ) -> Result<usize, PortError> {
        let mut watched = 0;
        for event in events {
            let shipment = &event.shipment;
            if !is_monitored(shipment.state) {
                continue;
            }
            if self.tracking.load(&shipment.id).await?.is_some() {
                continue;
            }
            let fresh = Tracking::new(shipment, now);
            let first = fresh.next(shipment, fresh.monitor.clone(), None, now);
            match self.tracking.save(&first, fresh.version, &[]).await {
                Ok(()) => {
                    info!(shipment_id = %shipment.id, "watching for its first reading");
                    watched += 1;
                }
                // its first readings were saved meanwhile: watched already
                Err(SaveError::VersionConflict) => {}
                Err(SaveError::Unavailable(problem)) => {
                    return Err(PortError::Unavailable(problem));
                }
            }
        }
        Ok(watched)
    }

    /// Raises, escalates or clears DEVICE_OFFLINE for every watched shipment
    /// silent for the offline delay at `at` (see [`check_time`]); `now` stamps
    /// the writes. A shipment that cannot be checked is counted and left for
    /// the next tick.
    pub async fn check_offline(
        &self,
        at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<OfflineReport, PortError> {
        let silent = self
            .tracking
            .silent_since(at - self.settings.offline_after)
            .await?;
        let mut report = OfflineReport {
            checked: silent.len(),
            ..OfflineReport::default()
        };
        let outcomes: Vec<(String, Result<Update, String>)> = stream::iter(silent)
            .map(|id| async move {
                let outcome = self.check_shipment(&id, at, now).await;
                (id, outcome)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (shipment_id, outcome) in outcomes {
            match outcome {
                Ok(update) => {
                    report.updated += usize::from(update.written);
                    report.published += update.published;
                }
                Err(problem) => {
                    error!(%shipment_id, %problem, "offline check failed; next tick tries again");
                    report.failed += 1;
                }
            }
        }
        info!(
            at = %at,
            checked = report.checked,
            updated = report.updated,
            published = report.published,
            failed = report.failed,
            "offline check done"
        );
        Ok(report)
    }

    async fn check_shipment(
        &self,
        shipment_id: &str,
        at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Update, String> {
        for attempt in 1..=SAVE_ATTEMPTS {
            let Some(current) = self
                .tracking
                .load(shipment_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(Update::default());
            };
            let Some(shipment) = self
                .directory
                .shipment(shipment_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                warn!(shipment_id, "tracked shipment not found");
                return Ok(Update::default());
            };
            let mut monitor = current.monitor.clone();
            // trackings stored before the start was kept get it now
            monitor.follow_start(shipment.started_at());
            let transitions = monitor.check_quiet(
                at,
                shipment.state,
                &shipment.expected_silences,
                &self.settings,
            );
            if transitions.is_empty() && current.state == shipment.state {
                return Ok(Update::default());
            }
            let context = alarm_context(&monitor, current.latest.as_ref(), &shipment.profile);
            let pairs: Vec<(AlarmTransition, AlarmContext)> = transitions
                .into_iter()
                .map(|t| (t, context.clone()))
                .collect();
            let published = self
                .publish(&pairs, &ShipmentSummary::from(&shipment))
                .await?;
            let next = current.next(&shipment, monitor, None, now);
            let alarms = alarm_states(pairs.iter().map(|(t, _)| t));
            match self.tracking.save(&next, current.version, &alarms).await {
                Ok(()) => {
                    return Ok(Update {
                        published,
                        written: true,
                        ..Update::default()
                    });
                }
                Err(SaveError::VersionConflict) => {
                    warn!(
                        shipment_id,
                        attempt, "tracking changed meanwhile; checking again"
                    );
                }
                Err(SaveError::Unavailable(problem)) => return Err(problem),
            }
        }
        Err(format!(
            "the tracking of {shipment_id} kept changing ({SAVE_ATTEMPTS} attempts)"
        ))
    }
}

#[cfg(test)]
mod tests;
