//! The stream handler on real records and a real topic (LocalStack): a
//! shipment is created and dispatched through the DynamoDB store, the table's
//! stream records are read back with the DynamoDB Streams API and handed to
//! [`shipment_events::process`] exactly as Lambda would, and the events are
//! read from an SQS queue subscribed to the SNS topic.
//!
//! The test creates (and deletes) its own table, topic and queue, so it needs
//! LocalStack running (`localstack/up`) but not the functions deployed.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use pharmaguard_aws::shipment_store::DynamoShipmentStore;
use pharmaguard_aws::sns::SnsPublisher;
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::shipment::ports::ShipmentStore;
use pharmaguard_domain::shipment::{
    Location, Money, Shipment, ShipmentDraft, TemperatureProfile, Transition, audit_record,
    new_shipment_id,
};
use pharmaguard_testkit::Stack;
use pharmaguard_testkit::tables::{Layout, create_table};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// One call of the DynamoDB Streams JSON API (LocalStack does not check signatures).
async fn streams(stack: &Stack, operation: &str, body: Value) -> Result<Value, String> {
    let region = stack.output("Region");
    let response = reqwest::Client::new()
        .post(stack.output("AwsEndpointUrl"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDBStreams_20120810.{operation}"))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20261121/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("DynamoDB Streams answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    if !status.is_success() {
        return Err(format!("{operation}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{operation}: {e}"))
}

/// Every record of the stream so far, in the shape Lambda hands them over
/// (an error while the stream is still being set up).
async fn stream_records(stack: &Stack, stream_arn: &str) -> Result<Vec<Value>, String> {
    let description = streams(stack, "DescribeStream", json!({"StreamArn": stream_arn})).await?;
    let mut records = Vec::new();
    let shards = description["StreamDescription"]["Shards"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for shard in shards {
        let iterator = streams(
            stack,
            "GetShardIterator",
            json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await?;
        let mut iterator = iterator["ShardIterator"].as_str().map(str::to_owned);
        for _ in 0..5 {
            let Some(current) = iterator.take() else {
                break;
            };
            let page = streams(stack, "GetRecords", json!({"ShardIterator": current})).await?;
            let batch = page["Records"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for mut record in batch {
                record["eventSourceARN"] = json!(stream_arn);
                records.push(record);
            }
            iterator = page["NextShardIterator"].as_str().map(str::to_owned);
        }
    }
    Ok(records)
}

fn shipment() -> (Shipment, Principal) {
    let manager = Principal::User {
        user_id: "manager-1".into(),
        org_id: "org-ship".into(),
        role: Role::Manager,
    };
    let draft = ShipmentDraft {
        product: "Insulin glargine 100 U/ml".into(),
        quantity: 120,
        cargo_value: Money {
            amount: "4800.50".into(),
            currency: "EUR".into(),
        },
        profile: TemperatureProfile::custom(2.5, 7.5, 20, 45).unwrap(),
        shipper_org_id: "org-ship".into(),
        recipient_org_id: "org-recv".into(),
        origin: Location {
            name: "Rotterdam".into(),
            lat: 51.9244,
            lon: 4.4777,
        },
        destination: Location {
            name: "Berlin".into(),
            lat: 52.5263,
            lon: 13.3766,
        },
        device_id: Some("truck-7".into()),
        truck_id: Some("NL-42-XY".into()),
        expected_silences: Vec::new(),
    };
    let shipment = Shipment::create(
        new_shipment_id(),
        draft,
        &manager,
        OffsetDateTime::now_utc(),
    );
    (shipment, manager)
}

#[tokio::test]
async fn real_stream_records_become_events_on_a_real_topic() {
    let stack = Stack::load();
    let config = stack.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (table, audit_table) = (format!("it-shipments-{tag}"), format!("it-audit-{tag}"));
    create_table(&dynamodb, &table, Layout::Shipments).await;
    create_table(&dynamodb, &audit_table, Layout::Keys).await;

    // a topic with a raw-delivery queue behind it
    let topic_arn = sns
        .create_topic()
        .name(format!("it-shipment-events-{tag}"))
        .send()
        .await
        .expect("topic")
        .topic_arn
        .unwrap();
    let queue_url = pharmaguard_testkit::queues::subscribed_queue(
        &sqs,
        &sns,
        &topic_arn,
        &format!("it-shipment-events-{tag}"),
        None,
    )
    .await;

    // LocalStack backs the stream with a Kinesis stream that takes a while to
    // become active; what is written before that is not streamed
    let stream_arn = dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .expect("the table has a stream");
    let mut ready = false;
    for _ in 0..120 {
        if stream_records(&stack, &stream_arn).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "the table's stream never became active");

    // a shipment created and dispatched through the store
    let store = DynamoShipmentStore::new(dynamodb.clone(), &table, &audit_table);
    let (created, manager) = shipment();
    let record = audit_record(&manager, None, &created, created.created_at);
    store.create(&created, &record).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let dispatched = created
        .transition(Transition::Dispatch, 1, now, None)
        .unwrap();
    let record = audit_record(&manager, Some(&created), &dispatched, now);
    store.update(&dispatched, 1, &record).await.unwrap();

    // the stream, as Lambda would deliver it
    let mut records = Vec::new();
    for _ in 0..40 {
        match stream_records(&stack, &stream_arn).await {
            Ok(all) if all.len() >= 7 => {
                records = all;
                break;
            }
            Ok(some) => records = some,
            Err(error) => eprintln!("stream not ready yet: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        records.len(),
        7,
        "3 items written by the creation, 3 rewritten by the dispatch and the device's claim"
    );
    let event: Event =
        serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event");

    let publisher = SnsPublisher::new(sns.clone(), &topic_arn);
    let response = shipment_events::process(&publisher, &event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );

    // exactly the two events, with their attributes
    let mut received = Vec::new();
    for _ in 0..20 {
        let output = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received.extend(output.messages.unwrap_or_default());
        if received.len() >= 2 {
            break;
        }
    }
    let mut events: Vec<(Value, String, String)> = received
        .iter()
        .map(|message| {
            let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            let attributes = message.message_attributes().cloned().unwrap_or_default();
            let attribute = |name: &str| {
                attributes
                    .get(name)
                    .and_then(|a| a.string_value())
                    .unwrap_or_default()
                    .to_owned()
            };
            (body, attribute("event_type"), attribute("version"))
        })
        .collect();
    events.sort_by_key(|(body, ..)| body["version"].as_u64());
    let summary: Vec<(String, &str, &str)> = events
        .iter()
        .map(|(body, event_type, version)| {
            (
                body["event_id"].as_str().unwrap_or_default().to_owned(),
                event_type.as_str(),
                version.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (format!("{}:v1", created.id), "shipment.created", "1"),
            (format!("{}:v2", created.id), "shipment.dispatched", "2"),
        ]
    );
    let snapshot: Shipment = serde_json::from_value(events[1].0["shipment"].clone()).unwrap();
    assert_eq!(
        snapshot, dispatched,
        "the event carries the stored shipment"
    );

    let _ = sqs.delete_queue().queue_url(&queue_url).send().await;
    let _ = sns.delete_topic().topic_arn(&topic_arn).send().await;
    for name in [&table, &audit_table] {
        let _ = dynamodb.delete_table().table_name(name).send().await;
    }
}
