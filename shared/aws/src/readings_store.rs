//! The reading history on DynamoDB: the [`ReadingHistory`] of the anomaly
//! detector.
//!
//! # Table
//!
//! The readings table (env `READINGS_TABLE`) has string keys `pk` (hash) and
//! `sk` (range) and a TTL on `expires_at`:
//!
//! | `pk` | `sk` | other attributes |
//! |---|---|---|
//! | `SHIP#<shipment id>` (a monitored shipment's readings) or `DEVICE#<device id>` (readings of a device without one) | `<ts, fixed-width UTC>#<reading id>` | `entity` = `READING`, every field of the [`Reading`] (absent `shipment_id` omitted), `expires_at` = `ts` + 30 days (epoch seconds) |
//!
//! Keys sort by time, so a time range is one `Query` ([`DynamoReadingHistory::between`]).
//! A reading stored twice (a replay, a resend with the same id and time) is
//! the same item: writes are idempotent.
//!
//! # Writes
//!
//! `BatchWriteItem` in requests of at most [`MAX_BATCH_WRITE`] items; the
//! items DynamoDB returns as `UnprocessedItems` (and whole requests that fail
//! for a transient reason) are sent again with backoff ([`batch_put`]), and
//! what still fails is reported per reading.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures_util::stream::{self, StreamExt};
use pharmaguard_domain::coldchain::detector::{Owner, history_expiry};
use pharmaguard_domain::coldchain::tracking::{PortError, ReadingHistory};
use pharmaguard_domain::retry::{
    AttemptResult, ItemFailure, MissingResult, RetryPolicy, retry_partial,
};
use pharmaguard_domain::telemetry::Reading;
use time::OffsetDateTime;
use tracing::warn;

use crate::dynamo::{Item, describe, epoch_n, query_all, s};
use crate::shipment_store::keys::sortable_time;

/// Environment variable naming the readings table.
pub const READINGS_TABLE_VAR: &str = "READINGS_TABLE";
/// Most items in one `BatchWriteItem` request (DynamoDB limit).
pub const MAX_BATCH_WRITE: usize = 25;
/// How many `BatchWriteItem` requests of one write run at once.
pub const CONCURRENT_BATCH_WRITES: usize = 8;
/// `entity` of a reading item.
pub const READING_ENTITY: &str = "READING";
/// How batch writes are retried: 6 attempts, 50 ms doubling up to 1 s.
pub const WRITE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base_delay: Duration::from_millis(50),
    max_delay: Duration::from_secs(1),
};

/// Sorts after every character a reading id may hold (`[A-Za-z0-9_.:-]`).
const AFTER_ANY_ID: &str = "~";

/// Key formats of the readings table.
pub mod keys {
    use super::*;

    /// `pk` of an owner's history: `SHIP#<id>` or `DEVICE#<id>`.
    pub fn owner_pk(owner: &Owner) -> String {
        match owner {
            Owner::Shipment(id) => format!("SHIP#{id}"),
            Owner::Device(id) => format!("DEVICE#{id}"),
        }
    }

    /// `sk` of a reading: `<ts>#<reading id>`.
    pub fn reading_sk(reading: &Reading) -> String {
        format!("{}#{}", sortable_time(reading.ts), reading.reading_id)
    }
}

/// The readings table on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoReadingHistory {
    /// The DynamoDB client, built once per cold start.
    pub client: Client,
    /// The readings table.
    pub table: String,
}

impl DynamoReadingHistory {
    /// The history in `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// The item of `reading` in `owner`'s history.
pub fn reading_item(owner: &Owner, reading: &Reading) -> Result<Item, PortError> {
    let mut item: Item = serde_dynamo::to_item(reading)
        .map_err(|e| PortError::Corrupt(format!("reading not encodable: {e}")))?;
    item.retain(|_, value| !matches!(value, AttributeValue::Null(_)));
    item.insert("pk".into(), s(keys::owner_pk(owner)));
    item.insert("sk".into(), s(keys::reading_sk(reading)));
    item.insert("entity".into(), s(READING_ENTITY));
    item.insert("expires_at".into(), epoch_n(history_expiry(reading)));
    Ok(item)
}

/// The reading an item holds.
pub fn reading_from_item(item: &Item) -> Result<Reading, PortError> {
    let mut fields = item.clone();
    for key in ["pk", "sk", "entity", "expires_at"] {
        fields.remove(key);
    }
    serde_dynamo::from_item(fields).map_err(|e| PortError::Corrupt(format!("reading item: {e}")))
}

impl ReadingHistory for DynamoReadingHistory {
    async fn put(&self, readings: &[(&Owner, &Reading)]) -> Vec<Result<(), PortError>> {
        let mut items = Vec::with_capacity(readings.len());
        let mut encoded: Vec<Result<usize, PortError>> = Vec::with_capacity(readings.len());
        for (owner, reading) in readings {
            encoded.push(reading_item(owner, reading).map(|item| {
                items.push(item);
                items.len() - 1
            }));
        }
        let written = batch_put(&self.client, &self.table, items, &WRITE_RETRY).await;
        encoded
            .into_iter()
            .map(|slot| slot.and_then(|i| written[i].clone()))
            .collect()
    }

    async fn between(
        &self,
        owner: &Owner,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<Reading>, PortError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(keys::owner_pk(owner)))
            .expression_attribute_values(":from", s(sortable_time(from)))
            .expression_attribute_values(":to", s(format!("{}#{AFTER_ANY_ID}", sortable_time(to))));
        let items = query_all(query)
            .await
            .map_err(|error| PortError::Unavailable(describe(&error)))?;
        items.iter().map(reading_from_item).collect()
    }
}

/// Why one item of a batch write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WriteFailure(String);

impl From<MissingResult> for WriteFailure {
    fn from(missing: MissingResult) -> Self {
        WriteFailure(missing.to_string())
    }
}

/// The key of an item (`pk`, `sk`) as text.
fn key_of(item: &Item) -> (String, String) {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        other => format!("{other:?}"),
    };
    (text("pk"), text("sk"))
}

/// Puts `items` into `table` with `BatchWriteItem` (at most
/// [`MAX_BATCH_WRITE`] per request), retrying unprocessed items and
/// transient failures with `policy`. One result per item, in order. Items
/// with the same key are written once (DynamoDB refuses a request holding a
/// key twice) and share its result.
pub async fn batch_put(
    client: &Client,
    table: &str,
    items: Vec<Item>,
    policy: &RetryPolicy,
) -> Vec<Result<(), PortError>> {
    let mut unique: Vec<Item> = Vec::new();
    let mut slot_of_key: HashMap<(String, String), usize> = HashMap::new();
    let slots: Vec<usize> = items
        .into_iter()
        .map(|item| {
            *slot_of_key.entry(key_of(&item)).or_insert_with(|| {
                unique.push(item);
                unique.len() - 1
            })
        })
        .collect();
    let report = retry_partial(
        policy,
        &unique,
        |batch: Vec<Item>| {
            let client = client.clone();
            let table = table.to_owned();
            async move { attempt(&client, &table, batch).await }
        },
        tokio::time::sleep,
    )
    .await;
    let results: Vec<Result<(), PortError>> = report
        .results
        .into_iter()
        .map(|result| result.map_err(|WriteFailure(message)| PortError::Unavailable(message)))
        .collect();
    if report.attempts > 1 {
        warn!(
            table,
            attempts = report.attempts,
            failed = results.iter().filter(|r| r.is_err()).count(),
            "batch write needed retries"
        );
    }
    slots
        .into_iter()
        .map(|slot| results[slot].clone())
        .collect()
}

/// One round of requests over `batch`: one result per item, in order. The
/// requests of a round (one per [`MAX_BATCH_WRITE`] items) run
/// [`CONCURRENT_BATCH_WRITES`] at a time.
async fn attempt(
    client: &Client,
    table: &str,
    batch: Vec<Item>,
) -> Vec<AttemptResult<WriteFailure>> {
    let chunks: Vec<Vec<Item>> = batch
        .chunks(MAX_BATCH_WRITE)
        .map(<[Item]>::to_vec)
        .collect();
    stream::iter(chunks)
        .map(|chunk| {
            let (client, table) = (client.clone(), table.to_owned());
            async move { write_chunk(&client, &table, &chunk).await }
        })
        .buffered(CONCURRENT_BATCH_WRITES)
        .flat_map(stream::iter)
        .collect()
        .await
}

/// One `BatchWriteItem` request of at most [`MAX_BATCH_WRITE`] items: one
/// result per item.
async fn write_chunk(
    client: &Client,
    table: &str,
    chunk: &[Item],
) -> Vec<AttemptResult<WriteFailure>> {
    let requests: Vec<WriteRequest> = chunk
        .iter()
        .map(|item| {
            let put = PutRequest::builder()
                .set_item(Some(item.clone()))
                .build()
                .expect("an item is set");
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let output = client
        .batch_write_item()
        .request_items(table, requests)
        .send()
        .await;
    match output {
        Ok(output) => {
            let unprocessed: HashSet<_> = output
                .unprocessed_items()
                .and_then(|tables| tables.get(table))
                .map(|requests| {
                    requests
                        .iter()
                        .filter_map(|r| r.put_request())
                        .map(|put| key_of(put.item()))
                        .collect()
                })
                .unwrap_or_default();
            chunk
                .iter()
                .map(|item| {
                    if unprocessed.contains(&key_of(item)) {
                        Err(ItemFailure::Retryable(WriteFailure(
                            "unprocessed (throughput)".into(),
                        )))
                    } else {
                        Ok(())
                    }
                })
                .collect()
        }
        Err(error) => {
            let failure = WriteFailure(describe(&error));
            let transient = is_transient(&error);
            chunk
                .iter()
                .map(|_| {
                    if transient {
                        Err(ItemFailure::Retryable(failure.clone()))
                    } else {
                        Err(ItemFailure::Permanent(failure.clone()))
                    }
                })
                .collect()
        }
    }
}

fn is_transient(error: &SdkError<BatchWriteItemError>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            let service = context.err();
            matches!(
                service,
                BatchWriteItemError::ProvisionedThroughputExceededException(_)
                    | BatchWriteItemError::RequestLimitExceeded(_)
                    | BatchWriteItemError::InternalServerError(_)
            ) || matches!(service.code(), Some("ThrottlingException" | "Throttling"))
                || context.raw().status().is_server_error()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::telemetry::READING_SCHEMA_VERSION;
    use time::macros::datetime;

    fn reading(shipment: Option<&str>) -> Reading {
        Reading {
            v: READING_SCHEMA_VERSION,
            reading_id: "truck-7-1795248000000".into(),
            device_id: "truck-7".into(),
            shipment_id: shipment.map(str::to_owned),
            ts: datetime!(2026-11-21 08:00:00.25 UTC),
            lat: 52.37,
            lon: 4.89,
            temperature_c: 5.2,
            vibration_g: 0.3,
            received_at: datetime!(2026-11-21 08:00:01 UTC),
            source: "https".into(),
            sender: None,
        }
    }

    #[test]
    fn the_item_sorts_by_time_expires_in_thirty_days_and_round_trips() {
        let reading = reading(None);
        let owner = Owner::Shipment("shp-1".into());
        let item = reading_item(&owner, &reading).unwrap();
        assert_eq!(item["pk"], s("SHIP#shp-1"));
        assert_eq!(
            item["sk"],
            s("2026-11-21T08:00:00.250000000Z#truck-7-1795248000000")
        );
        assert_eq!(item["entity"], s("READING"));
        assert_eq!(
            item["expires_at"],
            AttributeValue::N(
                datetime!(2026-12-21 08:00:00 UTC)
                    .unix_timestamp()
                    .to_string()
            )
        );
        assert!(!item.contains_key("shipment_id"), "absent, not NULL");
        assert_eq!(reading_from_item(&item).unwrap(), reading);

        let named = self::reading(Some("shp-1"));
        let item = reading_item(&Owner::Device("truck-7".into()), &named).unwrap();
        assert_eq!(item["pk"], s("DEVICE#truck-7"));
        assert_eq!(reading_from_item(&item).unwrap(), named);
    }

    #[test]
    fn the_range_end_sorts_after_every_reading_at_that_time() {
        let reading = reading(None);
        let end = format!("{}#{AFTER_ANY_ID}", sortable_time(reading.ts));
        for id in ["a", "Z", "9", "_", ".", ":", "-", "zzzz"] {
            let sk = format!("{}#{id}", sortable_time(reading.ts));
            assert!(sk < end, "{sk}");
        }
        assert!(sortable_time(reading.ts) < keys::reading_sk(&reading));
    }
}
