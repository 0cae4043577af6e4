//! Publishes the shipment domain events from the shipments table's stream.
//!
//! Triggered by the DynamoDB stream of the shipments table (new and old
//! images), with `ReportBatchItemFailures`. For each record, in order:
//!
//! 1. items that are not shipments (the organisations' listing entries) and
//!    removals are skipped;
//! 2. the old and the new image are read back into [`Shipment`]s and the
//!    event is derived with [`derive_event`] (a creation or a change of state;
//!    other writes are no events);
//! 3. the event is published to the topic (env `SHIPMENT_EVENTS_TOPIC_ARN`)
//!    as JSON with the message attributes `event_type`, `shipper_org_id`,
//!    `recipient_org_id`, `state` and `version`.
//!
//! At the first record that cannot be published (or read), processing stops
//! and that record's sequence number is reported as the batch item failure:
//! Lambda retries from it, so nothing is lost and a shipment's events stay in
//! order. A record may thus be published more than once (at least once); the
//! event id `<shipment id>:v<version>` lets consumers drop the repeats.
//!
//! [`Shipment`]: pharmaguard_domain::shipment::Shipment
//! [`derive_event`]: pharmaguard_domain::shipment::derive_event

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent};
use pharmaguard_aws::shipment_store::{is_shipment_key, shipment_from_stream_image};
use pharmaguard_aws::sns::MessagePublisher;
use pharmaguard_domain::shipment::derive_event;
use tracing::{error, info, warn};

/// The environment variable naming the topic the events go to.
pub const TOPIC_ARN_VAR: &str = "SHIPMENT_EVENTS_TOPIC_ARN";

/// The topic is missing from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the environment variable {TOPIC_ARN_VAR} must name the shipment events SNS topic")]
pub struct MissingTopic;

/// The topic ARN from the value of [`TOPIC_ARN_VAR`] (`None` when unset);
/// blank counts as missing.
pub fn topic_arn(value: Option<String>) -> Result<String, MissingTopic> {
    value
        .map(|arn| arn.trim().to_owned())
        .filter(|arn| !arn.is_empty())
        .ok_or(MissingTopic)
}

/// What became of one stream record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Nothing to publish (why).
    Skipped(&'static str),
    /// The event was published.
    Published {
        /// The event's id.
        event_id: String,
    },
    /// The record must be processed again (why).
    Failed(String),
}

/// The Lambda handler: [`process`] on the batch.
pub async fn handle<P: MessagePublisher>(
    publisher: &P,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    Ok(process(publisher, &event.payload).await)
}

/// Publishes the events of a batch of stream records, in order, and reports
/// the first record that failed (see the crate documentation).
pub async fn process<P: MessagePublisher>(publisher: &P, event: &Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let (mut published, mut skipped) = (0usize, 0usize);
    for (index, record) in event.records.iter().enumerate() {
        match process_record(publisher, record).await {
            RecordOutcome::Published { event_id } => {
                info!(%event_id, "shipment event published");
                published += 1;
            }
            RecordOutcome::Skipped(_) => skipped += 1,
            RecordOutcome::Failed(reason) => {
                let sequence_number = record.change.sequence_number.clone();
                error!(
                    %reason,
                    sequence_number = sequence_number.as_deref().unwrap_or("none"),
                    stream_event_id = %record.event_id,
                    left = event.records.len() - index - 1,
                    "stream record failed; it and the rest of the batch will be retried"
                );
                // Without a sequence number the whole batch is retried.
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence_number;
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    info!(
        records = event.records.len(),
        published,
        skipped,
        failed = response.batch_item_failures.len(),
        "stream batch processed"
    );
    response
}

/// Publishes the event of one stream record, if it has one.
pub async fn process_record<P: MessagePublisher>(
    publisher: &P,
    record: &EventRecord,
) -> RecordOutcome {
    let change = &record.change;
    if record.event_name == "REMOVE" {
        return RecordOutcome::Skipped("removal");
    }
    let keys = if change.keys.is_empty() {
        &change.new_image
    } else {
        &change.keys
    };
    if !is_shipment_key(keys) {
        return RecordOutcome::Skipped("not a shipment item");
    }
    let (old, new) = match (
        shipment_from_stream_image(&change.old_image),
        shipment_from_stream_image(&change.new_image),
    ) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(error), _) | (_, Err(error)) => {
            return RecordOutcome::Failed(format!("unreadable shipment image: {error}"));
        }
    };
    if new.is_none() {
        warn!(stream_event_id = %record.event_id, "shipment record without a new image (is the stream NEW_AND_OLD_IMAGES?)");
        return RecordOutcome::Failed("no new image".to_owned());
    }
    let Some(event) = derive_event(old.as_ref(), new.as_ref()) else {
        return RecordOutcome::Skipped("no state change");
    };
    let message = match event.to_message() {
        Ok(message) => message,
        Err(error) => return RecordOutcome::Failed(format!("event not encodable: {error}")),
    };
    match publisher.publish(&message).await {
        Ok(_) => RecordOutcome::Published {
            event_id: event.event_id,
        },
        Err(error) => RecordOutcome::Failed(error.to_string()),
    }
}

#[cfg(test)]
mod tests;
