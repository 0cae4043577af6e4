//! The stack, the world and the helpers the detector's live tests share.
#![allow(dead_code, unused_imports)]

pub use std::cell::RefCell;
pub use std::collections::BTreeSet;
pub use std::future::Future;
pub use std::time::{Duration as StdDuration, Instant};

pub use aws_sdk_kinesis::primitives::Blob;
pub use aws_sdk_kinesis::types::{PutRecordsRequestEntry, Record, ShardIteratorType};
pub use aws_sdk_sqs::types::MessageSystemAttributeName;
pub use base64::Engine;
pub use base64::engine::general_purpose::STANDARD;
pub use pharmaguard_aws::readings_store::DynamoReadingHistory;
pub use pharmaguard_aws::tracking_store::DynamoTrackingStore;
pub use pharmaguard_domain::coldchain::detector::Owner;
pub use pharmaguard_domain::coldchain::tracking::{ReadingHistory, Tracking, TrackingStore};
pub use pharmaguard_domain::coldchain::{
    AlarmEvent, AlarmEventType, AlarmType, Severity, TrackingUpdated,
};
pub use pharmaguard_domain::identity::Principal;
pub use pharmaguard_domain::telemetry::{READING_SCHEMA_VERSION, Reading};
pub use pharmaguard_testkit::{Session, Stack, World, unique};
pub use serde_json::{Value, json};
pub use time::format_description::well_known::Rfc3339;
pub use time::{Duration, OffsetDateTime};

/// How long the detector may take to get to a record (LocalStack under load).
pub const PATIENCE: StdDuration = StdDuration::from_secs(180);

/// Polls `check` every half second until it gives a value, or panics after
/// `limit` saying what was awaited.
pub async fn eventually<T, F, Fut>(what: &str, limit: StdDuration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
}

/// Everything the test needs from the stack.
pub struct Harness {
    pub stack: Stack,
    pub world: World,
    pub kinesis: aws_sdk_kinesis::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub history: DynamoReadingHistory,
    pub tracking: DynamoTrackingStore,
}

impl Harness {
    pub async fn new() -> Self {
        let stack = Stack::load();
        let config = stack.sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let world = World::build(&stack).await;
        Self {
            history: DynamoReadingHistory::new(dynamodb.clone(), stack.output("ReadingsTableName")),
            tracking: DynamoTrackingStore::new(
                dynamodb,
                stack.output("TrackingTableName"),
                stack.output("AlarmsTableName"),
            ),
            kinesis: aws_sdk_kinesis::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            world,
            stack,
        }
    }

    /// A registered device and a shipment IN_TRANSIT with it; returns both.
    pub async fn shipment_on_the_road(&self) -> (Session, String) {
        let manager = self.world.shipper.as_role("MANAGER");
        let device = self
            .world
            .api
            .create_device(manager, &self.world.shipper.id)
            .await;
        let mut body = self.world.new_shipment();
        body["device_id"] = json!(device.id);
        let reply = self.world.api.post(manager, "/v1/shipments", body).await;
        assert_eq!(reply.status, 201, "create shipment: {reply}");
        let id = reply.body["id"].as_str().unwrap().to_owned();
        for (action, version) in [("dispatch", 1), ("start", 2)] {
            let reply = self.world.transition(manager, &id, action, version).await;
            assert_eq!(reply.status, 200, "{action}: {reply}");
        }
        (device, id)
    }

    /// A queue receiving the alarm events of one shipment (raw delivery,
    /// filtered on the `shipment_id` attribute).
    pub async fn alarm_queue(&self, shipment_id: &str) -> String {
        pharmaguard_testkit::queues::subscribed_queue(
            &self.sqs,
            &self.sns,
            self.stack.output("AlarmEventsTopicArn"),
            "it-alarm-events",
            Some(json!({ "shipment_id": [shipment_id] })),
        )
        .await
    }

    /// A queue receiving the position events of one shipment.
    /// A queue of every `tracking.batch` message (they carry several
    /// shipments: [`positions_of`] picks one's out).
    pub async fn position_queue(&self) -> String {
        pharmaguard_testkit::queues::subscribed_queue(
            &self.sqs,
            &self.sns,
            self.stack.output("TrackingEventsTopicArn"),
            "it-tracking-events",
            None,
        )
        .await
    }

    /// The messages waiting in a queue (taken off it): until a receive
    /// comes back empty or brings a message sent after the drain began, so
    /// that a queue others keep filling (the tracking topic carries every
    /// truck's positions) still ends.
    pub async fn drain(&self, queue_url: &str, wait_seconds: i32) -> Vec<Value> {
        let began_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let mut bodies = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .expect("receive");
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            let mut caught_up = false;
            for message in messages {
                let sent_ms = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|at| at.parse::<i128>().ok());
                caught_up |= sent_ms.is_some_and(|sent| sent > began_ms);
                bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            if caught_up {
                return bodies;
            }
        }
    }

    /// Posts readings as `device`; a 5xx (nothing written, or the function
    /// timed out) is resent, as the API asks (reading ids make it idempotent).
    pub async fn post_readings(&self, device: &Session, readings: &[Value]) {
        let body = json!({ "readings": readings });
        for attempt in 1..=5 {
            let reply = self
                .world
                .api
                .post(device, "/v1/telemetry", body.clone())
                .await;
            if reply.status < 500 || attempt == 5 {
                assert_eq!(reply.status, 200, "telemetry: {reply}");
                return;
            }
            eprintln!("telemetry answered {reply}; resending");
            tokio::time::sleep(StdDuration::from_secs(2)).await;
        }
    }

    pub async fn tracking_at(&self, shipment_id: &str, reading_id: &str) -> Tracking {
        eventually(
            &format!("the tracking of {shipment_id} to show {reading_id}"),
            PATIENCE,
            || async move {
                self.tracking.load(shipment_id).await.unwrap().filter(|t| {
                    t.latest.as_ref().map(|r| r.reading_id.as_str()) == Some(reading_id)
                })
            },
        )
        .await
    }

    /// Puts records straight into the stream; returns their sequence numbers.
    pub async fn put_records(&self, records: Vec<(String, Vec<u8>)>) -> Vec<String> {
        let entries = records
            .into_iter()
            .map(|(key, data)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(key)
                    .data(Blob::new(data))
                    .build()
                    .unwrap()
            })
            .collect();
        let output = self
            .kinesis
            .put_records()
            .stream_name(self.stack.output("TelemetryStreamName"))
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
        assert_eq!(output.failed_record_count(), Some(0));
        output
            .records()
            .iter()
            .map(|r| r.sequence_number().unwrap().to_owned())
            .collect()
    }

    /// Every record of the stream with partition key `key` since `since`.
    pub async fn records_of(&self, key: &str, since: OffsetDateTime) -> Vec<Record> {
        let stream = self.stack.output("TelemetryStreamName");
        let shards = self
            .kinesis
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .unwrap()
            .shards
            .unwrap_or_default();
        let mut found = Vec::new();
        for shard in shards {
            let mut iterator = self
                .kinesis
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from_secs(
                    since.unix_timestamp(),
                ))
                .send()
                .await
                .unwrap()
                .shard_iterator;
            while let Some(current) = iterator.take() {
                let page = self
                    .kinesis
                    .get_records()
                    .shard_iterator(current)
                    .limit(1000)
                    .send()
                    .await
                    .unwrap();
                found.extend(
                    page.records()
                        .iter()
                        .filter(|r| r.partition_key() == Some(key))
                        .cloned(),
                );
                if page.records().is_empty() || page.millis_behind_latest() == Some(0) {
                    break;
                }
                iterator = page.next_shard_iterator().map(str::to_owned);
            }
        }
        found
    }

    /// Waits until a device without a shipment has `reading_id` in its history.
    pub async fn device_history_has(&self, device: &str, reading: &Reading) {
        eventually(
            &format!("{} in the history of {device}", reading.reading_id),
            PATIENCE,
            || async move {
                let rows = self
                    .history
                    .between(&Owner::Device(device.into()), reading.ts, reading.ts)
                    .await
                    .unwrap();
                rows.iter()
                    .any(|r| r.reading_id == reading.reading_id)
                    .then_some(())
            },
        )
        .await
    }
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

/// A reading as a device posts it.
pub fn posted(
    device: &str,
    id: &str,
    at: OffsetDateTime,
    temperature_c: f64,
    vibration_g: f64,
) -> Value {
    json!({
        "device_id": device, "reading_id": id, "ts": rfc3339(at),
        "lat": 52.0, "lon": 5.0, "temperature_c": temperature_c, "vibration_g": vibration_g,
    })
}

/// A stream record as the ingest writes it for `device` of `org`, sent by
/// the device itself.
pub fn record(
    device: &str,
    org: &str,
    id: &str,
    at: OffsetDateTime,
    temperature_c: f64,
) -> Reading {
    Reading {
        v: READING_SCHEMA_VERSION,
        reading_id: id.into(),
        device_id: device.into(),
        shipment_id: None,
        ts: at,
        lat: 52.1,
        lon: 5.1,
        temperature_c,
        vibration_g: 0.2,
        received_at: OffsetDateTime::now_utc(),
        source: "https".into(),
        sender: Some(Principal::Device {
            device_id: device.into(),
            org_id: org.into(),
        }),
    }
}

/// The position events of `shipment_id` in the `tracking.batch` messages `bodies`.
pub fn positions_of(bodies: &[Value], shipment_id: &str) -> Vec<TrackingUpdated> {
    bodies
        .iter()
        .flat_map(|body| {
            assert_eq!(body["event_type"], "tracking.batch", "{body}");
            let updates: Vec<TrackingUpdated> =
                serde_json::from_value(body["updates"].clone()).expect("position events");
            updates
        })
        .filter(|update| update.shipment_id == shipment_id)
        .collect()
}

pub fn events_of(bodies: &[Value]) -> Vec<AlarmEvent> {
    bodies
        .iter()
        .map(|b| serde_json::from_value(b.clone()).expect("an alarm event"))
        .collect()
}
