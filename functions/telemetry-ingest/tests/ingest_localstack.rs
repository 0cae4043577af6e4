//! End to end against the deployed local stack: readings posted to the REST API
//! must come out of the Kinesis stream, and rejected ones must be reported
//! without costing the good ones of their batch.
//!
//! Readings are sent as a registered device (with its own device token), as
//! real trucks do. Needs `localstack/up` (the test command in README.md runs
//! everything).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use pharmaguard_domain::telemetry::Reading;
use pharmaguard_testkit::{Api, Session, Stack};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A freshly registered device (an id no other test run uses, so the records
/// read back are ours), signed in with its device credentials.
async fn new_device(stack: &Stack) -> Session {
    let api = Api::new(stack);
    let admin = api.admin().await;
    let org = api
        .create_organisation(&admin, "Telemetry test carrier", "LOGISTICS_OPERATOR")
        .await;
    api.create_device(&admin, &org).await
}

fn reading(device: &str, n: u32, temperature_c: f64) -> Value {
    let ts = OffsetDateTime::now_utc() - Duration::from_secs(60 - u64::from(n));
    json!({
        "device_id": device,
        "shipment_id": "shp-it-1",
        "reading_id": format!("{device}-r{n}"),
        "ts": ts.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "lat": 52.52 + f64::from(n) / 1000.0,
        "lon": 13.405,
        "temperature_c": temperature_c,
        "vibration_g": 0.3,
    })
}

async fn post(stack: &Stack, device: &Session, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(stack.api_url("/v1/telemetry"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", device.access_token))
        .body(body)
        .send()
        .await
        .expect("the REST API answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("answer {status} is not JSON ({error}): {text}"));
    (status, json)
}

/// Reads the whole stream until `expected` records with partition key `device` have
/// arrived (or 20 s have passed) and returns them by reading id.
async fn records_of(stack: &Stack, device: &str, expected: usize) -> HashMap<String, Reading> {
    let kinesis = aws_sdk_kinesis::Client::new(&stack.sdk_config().await);
    let stream = stack.output("TelemetryStreamName");
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("list shards")
        .shards
        .unwrap_or_default();
    let mut iterators = Vec::new();
    for shard in &shards {
        let iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("shard iterator")
            .shard_iterator;
        iterators.push(iterator);
    }

    let mut found = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while found.len() < expected && tokio::time::Instant::now() < deadline {
        let mut idle = true;
        for slot in iterators.iter_mut() {
            let Some(iterator) = slot.clone() else {
                continue;
            };
            let page = kinesis
                .get_records()
                .shard_iterator(iterator)
                .limit(1000)
                .send()
                .await
                .expect("get records");
            for record in page.records() {
                idle = false;
                if record.partition_key() != Some(device) {
                    continue;
                }
                let reading: Reading = serde_json::from_slice(record.data().as_ref())
                    .expect("every record is a JSON reading");
                found.insert(reading.reading_id.clone(), reading);
            }
            *slot = page.next_shard_iterator;
        }
        if idle {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    found
}

#[tokio::test]
async fn posted_readings_arrive_in_kinesis() {
    let stack = Stack::load();
    let session = new_device(&stack).await;
    let device = session.id.clone();
    let batch = json!({ "readings": [
        reading(&device, 1, 4.5),
        reading(&device, 2, 5.0),
        reading(&device, 3, 5.5),
    ]});

    let (status, report) = post(&stack, &session, batch.to_string()).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 3, "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    for (index, result) in report["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(result["index"], index);
        assert_eq!(result["status"], "accepted");
        assert_eq!(result["reading_id"], format!("{device}-r{}", index + 1));
    }

    let records = records_of(&stack, &device, 3).await;
    assert_eq!(records.len(), 3, "records in the stream: {records:?}");
    let second = &records[&format!("{device}-r2")];
    assert_eq!(second.device_id, device);
    assert_eq!(second.shipment_id.as_deref(), Some("shp-it-1"));
    assert_eq!(second.temperature_c, 5.0);
    assert_eq!(second.vibration_g, 0.3);
    assert_eq!(second.source, "https");
}

#[tokio::test]
async fn a_rejected_reading_is_reported_and_the_good_ones_still_arrive() {
    let stack = Stack::load();
    let session = new_device(&stack).await;
    let device = session.id.clone();
    let mut bad = reading(&device, 2, 500.0);
    bad["lat"] = json!(99.0);
    let batch = json!({ "readings": [reading(&device, 1, 4.0), bad, reading(&device, 3, 6.0)] });

    let (status, report) = post(&stack, &session, batch.to_string()).await;

    assert_eq!(status, 207, "{report}");
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["rejected"], 1, "{report}");
    let rejected = &report["results"][1];
    assert_eq!(rejected["status"], "rejected", "{report}");
    let fields: Vec<&str> = rejected["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"temperature_c"), "{fields:?}");
    assert!(fields.contains(&"lat"), "{fields:?}");

    let records = records_of(&stack, &device, 2).await;
    let mut ids: Vec<&String> = records.keys().collect();
    ids.sort();
    assert_eq!(
        ids,
        [&format!("{device}-r1"), &format!("{device}-r3")],
        "only the good readings are in the stream"
    );
}

#[tokio::test]
async fn a_malformed_request_gets_400_naming_the_field() {
    let stack = Stack::load();
    let session = new_device(&stack).await;
    let device = session.id.clone();

    let (status, answer) = post(&stack, &session, "{not json".to_owned()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "body", "{answer}");

    let too_many: Vec<Value> = (0..501).map(|n| reading(&device, n % 50, 5.0)).collect();
    let (status, answer) = post(
        &stack,
        &session,
        json!({ "readings": too_many }).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "readings", "{answer}");
}

#[tokio::test]
async fn telemetry_needs_a_device_driver_or_admin_token() {
    let stack = Stack::load();
    let session = new_device(&stack).await;
    let batch = json!({ "readings": [reading(&session.id, 1, 5.0)] }).to_string();

    let anonymous = reqwest::Client::new()
        .post(stack.api_url("/v1/telemetry"))
        .body(batch.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status().as_u16(), 401);

    // a device sends only its own readings
    let other = json!({ "readings": [reading("someone-elses-truck", 1, 5.0)] }).to_string();
    let (status, report) = post(&stack, &session, other).await;
    assert_eq!(status, 400, "{report}");
    assert_eq!(
        report["results"][0]["errors"][0]["field"], "device_id",
        "{report}"
    );
}
