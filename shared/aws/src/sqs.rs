//! Rejected telemetry on SQS: the [`RejectedSink`] of the anomaly detector.
//!
//! Each rejected stream record becomes one message whose body is JSON:
//!
//! ```json
//! {"reason": "INVALID_READING", "message": "invalid reading: temperature_c: …",
//!  "errors": [{"field": "temperature_c", "message": "…"}],
//!  "sequence_number": "4962…", "partition_key": "truck-7",
//!  "event_source_arn": "arn:aws:kinesis:…", "arrived_at": "2026-11-21T08:00:01Z",
//!  "data_base64": "eyJ2Ijox…", "data_bytes": 212, "data_truncated": false}
//! ```
//!
//! with the message attributes `reason` and `partition_key`. The record's data
//! is kept whole up to [`MAX_KEPT_DATA_BYTES`] (SQS messages are limited to
//! 256 KiB); a larger record keeps its first bytes, says `data_truncated` and
//! can still be read from the stream by its sequence number.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pharmaguard_domain::FieldError;
use pharmaguard_domain::coldchain::tracking::{PortError, RejectedRecord, RejectedSink};
use serde::Serialize;
use time::OffsetDateTime;

use crate::errors::describe;

/// Environment variable naming the rejected telemetry queue (its URL).
pub const REJECTED_QUEUE_URL_VAR: &str = "REJECTED_TELEMETRY_QUEUE_URL";
/// Most bytes of a record's data kept in the message.
pub const MAX_KEPT_DATA_BYTES: usize = 180 * 1024;

/// The body of a rejected record's message.
#[derive(Debug, Serialize)]
struct Body<'a> {
    reason: &'a str,
    message: &'a str,
    errors: &'a [FieldError],
    sequence_number: &'a str,
    partition_key: &'a str,
    event_source_arn: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339::option")]
    arrived_at: Option<OffsetDateTime>,
    data_base64: String,
    data_bytes: usize,
    data_truncated: bool,
}

/// The message body of `record` (see the module docs).
pub fn rejected_message_body(record: &RejectedRecord) -> String {
    let kept = &record.data[..record.data.len().min(MAX_KEPT_DATA_BYTES)];
    let body = Body {
        reason: &record.reason,
        message: &record.message,
        errors: &record.errors,
        sequence_number: &record.sequence_number,
        partition_key: &record.partition_key,
        event_source_arn: record.event_source_arn.as_deref(),
        arrived_at: record.arrived_at,
        data_base64: STANDARD.encode(kept),
        data_bytes: record.data.len(),
        data_truncated: kept.len() < record.data.len(),
    };
    serde_json::to_string(&body).expect("a rejected record always serializes")
}

/// A queue of rejected records.
#[derive(Debug, Clone)]
pub struct SqsRejectedSink {
    /// The SQS client, built once per cold start.
    pub client: Client,
    /// The queue's URL.
    pub queue_url: String,
}

impl SqsRejectedSink {
    /// The sink sending to `queue_url` through `client`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, PortError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::Unavailable(format!("message attribute: {e}")))
}

impl RejectedSink for SqsRejectedSink {
    async fn reject(&self, record: &RejectedRecord) -> Result<(), PortError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(rejected_message_body(record))
            .message_attributes("reason", attribute(&record.reason)?);
        if !record.partition_key.is_empty() {
            request =
                request.message_attributes("partition_key", attribute(&record.partition_key)?);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|error| PortError::Unavailable(describe(&error)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use time::macros::datetime;

    fn record(data: Vec<u8>) -> RejectedRecord {
        RejectedRecord {
            reason: "NOT_JSON".into(),
            message: "not JSON: expected value".into(),
            errors: vec![],
            sequence_number: "49650000000000000000000000001".into(),
            partition_key: "truck-7".into(),
            event_source_arn: Some("arn:aws:kinesis:eu-central-1:000000000000:stream/t".into()),
            arrived_at: Some(datetime!(2026-11-21 08:00:01 UTC)),
            data,
        }
    }

    #[test]
    fn the_body_keeps_the_raw_data_and_where_it_came_from() {
        let body: Value =
            serde_json::from_str(&rejected_message_body(&record(b"\xff\x00garbage".to_vec())))
                .unwrap();
        assert_eq!(body["reason"], "NOT_JSON");
        assert_eq!(body["sequence_number"], "49650000000000000000000000001");
        assert_eq!(body["partition_key"], "truck-7");
        assert_eq!(body["arrived_at"], "2026-11-21T08:00:01Z");
        assert_eq!(
            STANDARD
                .decode(body["data_base64"].as_str().unwrap())
                .unwrap(),
            b"\xff\x00garbage"
        );
        assert_eq!(body["data_bytes"], 9);
        assert_eq!(body["data_truncated"], false);
    }

    #[test]
    fn huge_records_are_cut_to_fit_a_message() {
        let body: Value = serde_json::from_str(&rejected_message_body(&record(vec![
            b'x';
            MAX_KEPT_DATA_BYTES
                + 10
        ])))
        .unwrap();
        assert_eq!(body["data_truncated"], true);
        assert_eq!(body["data_bytes"], MAX_KEPT_DATA_BYTES + 10);
        let text = rejected_message_body(&record(vec![b'x'; 1024 * 1024]));
        assert!(text.len() < 256 * 1024, "{}", text.len());
    }
}
