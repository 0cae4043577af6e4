//! Small DynamoDB helpers shared by the stores: attribute values, reading
//! attributes back, queries of every page, reading many items with
//! `BatchGetItem`, and sending a `TransactWriteItems` and reading what its
//! failure says.

pub use crate::errors::describe;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::debug;

/// Attempts of a transaction that DynamoDB cancels for a conflict with
/// another transaction in flight on the same items.
pub const TRANSACTION_ATTEMPTS: u32 = 4;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A time as an RFC 3339 string attribute.
pub fn time_s(at: OffsetDateTime) -> AttributeValue {
    s(at.format(&Rfc3339).unwrap_or_default())
}

/// A time as epoch seconds (a number attribute, as TTL wants it).
pub fn epoch_n(at: OffsetDateTime) -> AttributeValue {
    n(at.unix_timestamp())
}

/// The string attribute `name` of `item`.
pub fn text(item: &Item, name: &str) -> Result<String, String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        Some(_) => Err(format!("{name} is not a string")),
        None => Err(format!("{name} is missing")),
    }
}

/// The string attribute `name` of `item`, if present (absent or NULL: `None`).
pub fn optional_text(item: &Item, name: &str) -> Result<Option<String>, String> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

/// The non-negative integer attribute `name` of `item`.
pub fn number_u64(item: &Item, name: &str) -> Result<u64, String> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| format!("{name} is not a non-negative integer")),
        Some(_) => Err(format!("{name} is not a number")),
        None => Err(format!("{name} is missing")),
    }
}

/// The RFC 3339 time attribute `name` of `item`.
pub fn time(item: &Item, name: &str) -> Result<OffsetDateTime, String> {
    stored_time(&text(item, name)?, name)
}

/// A stored RFC 3339 time, range-checked like every instant read from
/// outside ([`pharmaguard_domain::instant`]), so that a damaged item is an
/// error rather than a panic in the arithmetic that follows.
fn stored_time(value: &str, name: &str) -> Result<OffsetDateTime, String> {
    pharmaguard_domain::instant::parse_rfc3339(value).ok_or_else(|| {
        let valid = OffsetDateTime::parse(value, &Rfc3339).is_ok();
        let why = if valid {
            "out of range"
        } else {
            "not an RFC 3339 date-time"
        };
        format!("{name}: {why}")
    })
}

/// The RFC 3339 time attribute `name` of `item`, if present.
pub fn optional_time(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, String> {
    optional_text(item, name)?
        .map(|value| stored_time(&value, name))
        .transpose()
}

/// The epoch-seconds attribute `name` of `item` as a time.
pub fn epoch(item: &Item, name: &str) -> Result<OffsetDateTime, String> {
    let seconds = number_u64(item, name)?;
    i64::try_from(seconds)
        .ok()
        .and_then(pharmaguard_domain::instant::from_epoch_seconds)
        .ok_or_else(|| format!("{name} is out of range"))
}

/// Why one item of a cancelled transaction failed.
#[derive(Debug, Clone, PartialEq)]
pub struct CancellationReason {
    /// `None` (this item was fine), `ConditionalCheckFailed`,
    /// `TransactionConflict`, `ThrottlingError`, …
    pub code: String,
    /// The item as it was, when the condition failed and the request asked
    /// for it (`ReturnValuesOnConditionCheckFailure`).
    pub item: Option<Item>,
}

impl CancellationReason {
    /// Whether this item's condition failed.
    pub fn condition_failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }
}

/// The per-item reasons of a cancelled `TransactWriteItems`, in item order;
/// `None` when the call failed otherwise. When the service sends no
/// structured reasons (some emulators), they are read from the message
/// (`… [None, ConditionalCheckFailed]`).
pub fn cancellation_reasons(
    error: &SdkError<TransactWriteItemsError>,
) -> Option<Vec<CancellationReason>> {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) =
        error.as_service_error()?
    else {
        return None;
    };
    let reasons: Vec<CancellationReason> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|reason| CancellationReason {
            code: reason.code().unwrap_or("None").to_owned(),
            item: reason.item().cloned(),
        })
        .collect();
    if !reasons.is_empty() {
        return Some(reasons);
    }
    Some(reasons_from_message(
        cancelled.message().unwrap_or_default(),
    ))
}

/// The reasons listed in brackets at the end of a cancellation message.
pub fn reasons_from_message(message: &str) -> Vec<CancellationReason> {
    let Some(start) = message.rfind('[') else {
        return Vec::new();
    };
    let Some(end) = message[start..].find(']') else {
        return Vec::new();
    };
    message[start + 1..start + end]
        .split(',')
        .map(|code| CancellationReason {
            code: code.trim().to_owned(),
            item: None,
        })
        .collect()
}

/// Every item `query` finds, page after page.
pub async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, SdkError<QueryError>> {
    query.into_paginator().items().send().try_collect().await
}

/// Keys per `BatchGetItem` request (the service's limit).
pub const BATCH_GET_KEYS: usize = 100;
/// Rounds of a `BatchGetItem` request while some of its keys come back
/// unprocessed (the table was throttled for them).
pub const BATCH_GET_ATTEMPTS: u32 = 5;
/// `BatchGetItem` requests of one read in flight at once.
const BATCH_GET_CONCURRENCY: usize = 4;

/// One table's items read by key in as few `BatchGetItem` requests as the
/// service allows.
#[derive(Debug, Clone, Copy)]
pub struct BatchGet<'a> {
    /// The table.
    pub table: &'a str,
    /// The attributes to read (`None`: all of them).
    pub projection: Option<&'a str>,
    /// Whether each read is strongly consistent.
    pub consistent: bool,
}

impl BatchGet<'_> {
    /// The items found for `keys` (distinct keys; the service refuses a
    /// request naming one twice), in no particular order: a key with no
    /// item has none in the answer. [`BATCH_GET_KEYS`] keys per request,
    /// a few requests at once; the keys a request leaves unprocessed are
    /// asked again after a growing pause, and still unprocessed after
    /// [`BATCH_GET_ATTEMPTS`] rounds the read fails. No keys: no request.
    pub async fn items(self, client: &Client, keys: Vec<Item>) -> Result<Vec<Item>, String> {
        let mut chunks = Vec::with_capacity(keys.len().div_ceil(BATCH_GET_KEYS));
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            chunks.push(keys.by_ref().take(BATCH_GET_KEYS).collect::<Vec<Item>>());
        }
        let found: Vec<Vec<Item>> = stream::iter(chunks)
            .map(|chunk| self.chunk(client, chunk))
            .buffer_unordered(BATCH_GET_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// What each of `ids` reads as, in order (`Ok(None)`: no item), read as
    /// [`Self::items`] does: `key` is an id's key, `id_of` the id an item
    /// answers for (an item it names no id of is left out), `parse` makes
    /// the item of an id its value; when the read fails as a whole, every
    /// id gets the error `unavailable` makes of it. An id named twice is
    /// read once.
    pub async fn by_id<T, E: Clone>(
        self,
        client: &Client,
        ids: &[&str],
        key: impl Fn(&str) -> Item,
        id_of: impl Fn(&Item) -> Option<String>,
        parse: impl Fn(&str, Item) -> Result<T, E>,
        unavailable: impl FnOnce(String) -> E,
    ) -> Vec<Result<Option<T>, E>> {
        let mut uses: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
        for id in ids {
            *uses.entry(id).or_default() += 1;
        }
        let keys = uses.keys().map(|id| key(id)).collect();
        let mut found: HashMap<String, Item> = match self.items(client, keys).await {
            Ok(items) => items
                .into_iter()
                .filter_map(|item| id_of(&item).map(|id| (id, item)))
                .collect(),
            Err(problem) => {
                let error = unavailable(problem);
                return ids.iter().map(|_| Err(error.clone())).collect();
            }
        };
        ids.iter()
            .map(|id| {
                let left = uses.get_mut(id).expect("every id is counted");
                *left -= 1;
                let item = if *left == 0 {
                    found.remove(*id)
                } else {
                    found.get(*id).cloned()
                };
                item.map(|item| parse(id, item)).transpose()
            })
            .collect()
    }

    /// One request's keys, and their unprocessed ones again.
    async fn chunk(self, client: &Client, keys: Vec<Item>) -> Result<Vec<Item>, String> {
        let mut found = Vec::with_capacity(keys.len());
        let mut pending = keys;
        for attempt in 1..=BATCH_GET_ATTEMPTS {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .set_projection_expression(self.projection.map(str::to_owned))
                .consistent_read(self.consistent)
                .build()
                .map_err(|error| format!("batch read of {}: {error}", self.table))?;
            let output = client
                .batch_get_item()
                .request_items(self.table, request)
                .send()
                .await
                .map_err(|error| describe(&error))?;
            if let Some(mut responses) = output.responses {
                found.extend(responses.remove(self.table).unwrap_or_default());
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(self.table))
                .map(|left| left.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
            debug!(
                attempt,
                unprocessed = pending.len(),
                table = self.table,
                "batch read: keys left unprocessed; asking again"
            );
            tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
        }
        Err(format!(
            "batch read of {}: {} keys still unprocessed after {BATCH_GET_ATTEMPTS} attempts",
            self.table,
            pending.len()
        ))
    }
}

/// What a failed `TransactWriteItems` means to a store whose first item is
/// the one its condition is about (the others are puts that go with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactFailure {
    /// The first item's condition failed (it exists, or its version moved).
    FirstConditionFailed,
    /// Another transaction was in flight on the same items: try again.
    Conflict,
    /// Cancelled for throughput (throttled, provisioned capacity exceeded).
    Throttled,
    /// Anything else.
    Other,
}

impl TransactFailure {
    /// The meaning of a failed `TransactWriteItems`.
    pub fn of(error: &SdkError<TransactWriteItemsError>) -> Self {
        if let Some(reasons) = cancellation_reasons(error) {
            let codes: Vec<&str> = reasons.iter().map(|reason| reason.code.as_str()).collect();
            return Self::of_cancellation(&codes);
        }
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionInProgressException(_)) => Self::Conflict,
            Some(service) if service.code() == Some("TransactionConflictException") => {
                Self::Conflict
            }
            _ => Self::Other,
        }
    }

    /// The meaning of a cancelled transaction from its reasons, one per item
    /// in order.
    pub fn of_cancellation(codes: &[&str]) -> Self {
        if codes.first() == Some(&"ConditionalCheckFailed") {
            Self::FirstConditionFailed
        } else if codes.contains(&"TransactionConflict") {
            Self::Conflict
        } else if codes
            .iter()
            .any(|code| matches!(*code, "ThrottlingError" | "ProvisionedThroughputExceeded"))
        {
            Self::Throttled
        } else {
            Self::Other
        }
    }
}

/// A `TransactWriteItems` that did not go through: what it means, and the
/// error of its last attempt.
#[derive(Debug)]
pub struct FailedTransaction {
    /// What the failure means.
    pub failure: TransactFailure,
    /// The error of the last attempt.
    pub error: SdkError<TransactWriteItemsError>,
}

impl FailedTransaction {
    /// Whether the condition of the item at `index` (in the order sent) is
    /// one that failed.
    pub fn condition_failed_at(&self, index: usize) -> bool {
        cancellation_reasons(&self.error)
            .and_then(|reasons| reasons.into_iter().nth(index))
            .is_some_and(|reason| reason.code == "ConditionalCheckFailed")
    }
}

/// Sends `items` as one `TransactWriteItems`, and again after a growing
/// pause (at most [`TRANSACTION_ATTEMPTS`] in all) while it fails in a way
/// `try_again` accepts. Each attempt has its own client request token, so
/// the SDK's own retries of one attempt apply it at most once.
pub async fn transact_write(
    client: &Client,
    items: Vec<TransactWriteItem>,
    try_again: impl Fn(TransactFailure) -> bool,
) -> Result<(), FailedTransaction> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        let Err(error) = result else {
            return Ok(());
        };
        let failure = TransactFailure::of(&error);
        if attempt >= TRANSACTION_ATTEMPTS || !try_again(failure) {
            return Err(FailedTransaction { failure, error });
        }
        debug!(attempt, ?failure, "transaction cancelled; trying again");
        tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn attributes_round_trip() {
        let at = datetime!(2026-11-21 08:00:00.25 UTC);
        let item: Item = HashMap::from([
            ("name".to_owned(), s("x")),
            ("count".to_owned(), n(7)),
            ("at".to_owned(), time_s(at)),
            ("expires_at".to_owned(), epoch_n(at)),
            ("nothing".to_owned(), AttributeValue::Null(true)),
        ]);
        assert_eq!(text(&item, "name"), Ok("x".to_owned()));
        assert_eq!(number_u64(&item, "count"), Ok(7));
        assert_eq!(time(&item, "at"), Ok(at));
        assert_eq!(
            epoch(&item, "expires_at"),
            Ok(datetime!(2026-11-21 08:00:00 UTC))
        );
        assert_eq!(optional_text(&item, "nothing"), Ok(None));
        assert_eq!(optional_text(&item, "absent"), Ok(None));
        assert_eq!(optional_time(&item, "at"), Ok(Some(at)));
        assert!(text(&item, "count").is_err());
        assert!(number_u64(&item, "name").is_err());
        assert!(text(&item, "absent").is_err());
    }

    #[test]
    fn reasons_are_read_from_a_cancellation_message() {
        let reasons = reasons_from_message(
            "Transaction cancelled, please refer cancellation reasons for specific reasons \
             [None, ConditionalCheckFailed, None]",
        );
        let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["None", "ConditionalCheckFailed", "None"]);
        assert!(reasons[1].condition_failed());
        assert!(reasons_from_message("no brackets").is_empty());
    }

    #[test]
    fn cancellations_are_classified_by_their_reasons() {
        use TransactFailure::*;
        let of = TransactFailure::of_cancellation;
        assert_eq!(
            of(&["ConditionalCheckFailed", "None"]),
            FirstConditionFailed
        );
        assert_eq!(of(&["None", "TransactionConflict"]), Conflict);
        assert_eq!(of(&["None", "ThrottlingError"]), Throttled);
        assert_eq!(of(&["ProvisionedThroughputExceeded", "None"]), Throttled);
        assert_eq!(
            of(&["None", "None", "ConditionalCheckFailed"]),
            Other,
            "only the first item's condition is the store's condition"
        );
        assert_eq!(of(&["None", "ValidationError"]), Other);
        assert_eq!(of(&[]), Other);
    }
}
