//! The stream handler against a fake topic.

use std::collections::HashSet;
use std::sync::Mutex;

use pharmaguard_aws::shipment_store::{org_entry_item, shipment_item};
use pharmaguard_aws::sns::PublishError;
use pharmaguard_domain::fixtures::{T0, draft, manager};
use pharmaguard_domain::messaging::OutboundMessage;
use pharmaguard_domain::shipment::{Relation, Shipment, Transition};
use serde_json::{Value, json};

use super::*;

/// A topic that keeps what it is given, and refuses the events in `refusing`.
#[derive(Default)]
struct FakeTopic {
    published: Mutex<Vec<OutboundMessage>>,
    refusing: Mutex<HashSet<String>>,
}

impl FakeTopic {
    fn refuse(&self, event_id: &str) {
        self.refusing.lock().unwrap().insert(event_id.to_owned());
    }

    fn accept_all(&self) {
        self.refusing.lock().unwrap().clear();
    }

    fn event_ids(&self) -> Vec<String> {
        self.published
            .lock()
            .unwrap()
            .iter()
            .map(|m| body(m)["event_id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn body(message: &OutboundMessage) -> Value {
    serde_json::from_str(&message.body).unwrap()
}

impl MessagePublisher for FakeTopic {
    async fn publish(&self, message: &OutboundMessage) -> Result<String, PublishError> {
        let event_id = body(message)["event_id"].as_str().unwrap().to_owned();
        if self.refusing.lock().unwrap().contains(&event_id) {
            return Err(PublishError {
                retryable: true,
                message: "Throttling: slow down".into(),
            });
        }
        let mut published = self.published.lock().unwrap();
        published.push(message.clone());
        Ok(format!("msg-{}", published.len()))
    }
}

fn pending(id: &str) -> Shipment {
    Shipment::create(id, draft(), &manager("org-ship"), T0)
}

fn next(shipment: &Shipment, transition: Transition) -> Shipment {
    shipment
        .transition(
            transition,
            shipment.version,
            shipment.updated_at + time::Duration::minutes(10),
            None,
        )
        .unwrap()
}

/// A DynamoDB item as the stream shows it (`{"name": {"S": "…"}, …}`).
fn image<T>(item: std::collections::HashMap<String, T>) -> Value
where
    serde_dynamo::AttributeValue: From<T>,
{
    serde_json::to_value(serde_dynamo::Item::from(item)).unwrap()
}

fn stream_record(name: &str, sequence: &str, old: Option<Value>, new: Option<Value>) -> Value {
    let keys_of = |image: &Value| json!({"pk": image["pk"], "sk": image["sk"]});
    let keys = new
        .as_ref()
        .or(old.as_ref())
        .map(keys_of)
        .unwrap_or(json!({}));
    let mut change = json!({
        "ApproximateCreationDateTime": 1795244400.0,
        "Keys": keys,
        "SequenceNumber": sequence,
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(old) = old {
        change["OldImage"] = old;
    }
    if let Some(new) = new {
        change["NewImage"] = new;
    }
    json!({
        "eventID": format!("stream-{sequence}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-central-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-central-1:000000000000:table/pharmaguard-local-shipments/stream/2026-11-21T00:00:00.000",
        "dynamodb": change
    })
}

fn insert(sequence: &str, shipment: &Shipment) -> Value {
    stream_record(
        "INSERT",
        sequence,
        None,
        Some(image(shipment_item(shipment).unwrap())),
    )
}

fn modify(sequence: &str, old: &Shipment, new: &Shipment) -> Value {
    stream_record(
        "MODIFY",
        sequence,
        Some(image(shipment_item(old).unwrap())),
        Some(image(shipment_item(new).unwrap())),
    )
}

fn batch(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failures(response: &DynamoDbEventResponse) -> Vec<Option<&str>> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref())
        .collect()
}

#[tokio::test]
async fn a_new_shipment_is_published_as_created_with_its_attributes() {
    let topic = FakeTopic::default();
    let shipment = pending("shp-1");
    let response = process(&topic, &batch(vec![insert("100", &shipment)])).await;
    assert!(response.batch_item_failures.is_empty());

    let published = topic.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    let message = &published[0];
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
    let json = body(message);
    assert_eq!(json["event_id"], "shp-1:v1");
    assert_eq!(json["event_type"], "shipment.created");
    assert_eq!(json["shipment_id"], "shp-1");
    assert_eq!(json["occurred_at"], "2026-11-21T08:00:00Z");
    assert_eq!(json["shipment"], shipment.to_json());
}

#[tokio::test]
async fn each_change_of_state_is_its_event() {
    let topic = FakeTopic::default();
    let v1 = pending("shp-1");
    let v2 = next(&v1, Transition::Dispatch);
    let v3 = next(&v2, Transition::Start);
    let v4 = next(&v3, Transition::Deliver);
    let response = process(
        &topic,
        &batch(vec![
            insert("1", &v1),
            modify("2", &v1, &v2),
            modify("3", &v2, &v3),
            modify("4", &v3, &v4),
        ]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        topic.event_ids(),
        ["shp-1:v1", "shp-1:v2", "shp-1:v3", "shp-1:v4"]
    );
    let types: Vec<String> = topic
        .published
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.attributes["event_type"].to_string())
        .collect();
    assert_eq!(
        types,
        [
            "shipment.created",
            "shipment.dispatched",
            "shipment.in_transit",
            "shipment.delivered"
        ]
    );
}

#[tokio::test]
async fn listing_entries_removals_and_rewrites_are_skipped() {
    let topic = FakeTopic::default();
    let shipment = pending("shp-1");
    let entry = image(org_entry_item(&shipment, Relation::Shipper).unwrap());
    let records = vec![
        stream_record("INSERT", "1", None, Some(entry.clone())),
        stream_record("MODIFY", "2", Some(entry.clone()), Some(entry)),
        stream_record(
            "REMOVE",
            "3",
            Some(image(shipment_item(&shipment).unwrap())),
            None,
        ),
        modify("4", &shipment, &shipment),
    ];
    let response = process(&topic, &batch(records)).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(topic.published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_publish_is_reported_and_stops_the_batch_so_nothing_is_lost() {
    let topic = FakeTopic::default();
    let a = pending("shp-a");
    let b = pending("shp-b");
    let b2 = next(&b, Transition::Dispatch);
    let c = pending("shp-c");
    let event = batch(vec![
        insert("10", &a),
        insert("11", &b),
        modify("12", &b, &b2),
        insert("13", &c),
    ]);
    topic.refuse("shp-b:v2");
    let response = process(&topic, &event).await;
    assert_eq!(failures(&response), [Some("12")]);
    assert_eq!(
        topic.event_ids(),
        ["shp-a:v1", "shp-b:v1"],
        "nothing after the failure"
    );

    // Lambda retries from the failed record: the rest goes out, in order
    topic.accept_all();
    let retry = batch(
        event.records[2..]
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect(),
    );
    let response = process(&topic, &retry).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        topic.event_ids(),
        ["shp-a:v1", "shp-b:v1", "shp-b:v2", "shp-c:v1"]
    );
}

#[tokio::test]
async fn a_redelivered_batch_publishes_the_same_event_ids() {
    let topic = FakeTopic::default();
    let shipment = pending("shp-1");
    let event = batch(vec![insert("1", &shipment)]);
    process(&topic, &event).await;
    process(&topic, &event).await;
    assert_eq!(topic.event_ids(), ["shp-1:v1", "shp-1:v1"]);
}

#[tokio::test]
async fn an_unreadable_shipment_image_is_a_failure_not_a_silent_loss() {
    let topic = FakeTopic::default();
    let mut broken = image(shipment_item(&pending("shp-1")).unwrap());
    broken["version"] = json!({"S": "one"});
    let event = batch(vec![stream_record("INSERT", "7", None, Some(broken))]);
    let response = process(&topic, &event).await;
    assert_eq!(failures(&response), [Some("7")]);
    assert!(topic.published.lock().unwrap().is_empty());

    let keys_only = batch(vec![stream_record(
        "INSERT",
        "8",
        None,
        Some(json!({"pk": {"S": "SHIP#shp-1"}, "sk": {"S": "SHIP"}})),
    )]);
    assert_eq!(failures(&process(&topic, &keys_only).await), [Some("8")]);
}

#[tokio::test]
async fn the_response_is_the_batch_item_failures_document() {
    let topic = FakeTopic::default();
    let shipment = pending("shp-1");
    topic.refuse("shp-1:v1");
    let event = LambdaEvent::new(
        batch(vec![insert("42", &shipment)]),
        lambda_runtime::Context::default(),
    );
    let response = handle(&topic, event).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "42"}]})
    );
    topic.accept_all();
    let event = LambdaEvent::new(
        batch(vec![insert("42", &shipment)]),
        lambda_runtime::Context::default(),
    );
    let response = handle(&topic, event).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": []})
    );
}

#[test]
fn the_topic_must_be_set_and_not_blank() {
    assert_eq!(
        topic_arn(Some(" arn:aws:sns:eu-central-1:000000000000:t ".into())),
        Ok("arn:aws:sns:eu-central-1:000000000000:t".to_owned())
    );
    assert_eq!(topic_arn(Some(" ".into())), Err(MissingTopic));
    assert_eq!(topic_arn(None), Err(MissingTopic));
    assert!(MissingTopic.to_string().contains(TOPIC_ARN_VAR));
}

// ------------------------------------------------------------------ sample events

fn sample(name: &str) -> Event {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/shipment-events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn the_insert_sample_publishes_one_creation_and_skips_the_listing_entries() {
    let topic = FakeTopic::default();
    let event = sample("insert.json");
    assert_eq!(event.records.len(), 3);
    let response = process(&topic, &event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        topic.event_ids(),
        ["shp-0b5f4a6e-1c2d-4e3f-8a9b-0c1d2e3f4a5b:v1"]
    );
    let message = topic.published.lock().unwrap()[0].clone();
    assert_eq!(
        message.attributes["event_type"].as_str(),
        "shipment.created"
    );
    assert_eq!(
        message.attributes["shipper_org_id"].as_str(),
        "org-supplier"
    );
    assert_eq!(
        message.attributes["recipient_org_id"].as_str(),
        "org-hospital"
    );
    assert_eq!(
        body(&message)["shipment"]["profile"],
        json!({"kind": "ULTRA_COLD"})
    );
}

#[tokio::test]
async fn the_modify_sample_publishes_the_dispatch() {
    let topic = FakeTopic::default();
    let response = process(&topic, &sample("modify.json")).await;
    assert!(response.batch_item_failures.is_empty());
    let message = topic.published.lock().unwrap()[0].clone();
    assert_eq!(
        message.attributes["event_type"].as_str(),
        "shipment.dispatched"
    );
    assert_eq!(message.attributes["state"].as_str(), "DISPATCHED");
    assert_eq!(message.attributes["version"].as_str(), "2");
    let json = body(&message);
    assert_eq!(
        json["event_id"],
        "shp-0b5f4a6e-1c2d-4e3f-8a9b-0c1d2e3f4a5b:v2"
    );
    assert_eq!(json["occurred_at"], "2026-11-21T07:30:00Z");
}
