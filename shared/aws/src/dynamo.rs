//! Small DynamoDB helpers shared by the stores: attribute values, reading
//! attributes back, and what a failed `TransactWriteItems` says.

pub use crate::errors::describe;
use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
    OffsetDateTime::parse(&text(item, name)?, &Rfc3339).map_err(|e| format!("{name}: {e}"))
}

/// The RFC 3339 time attribute `name` of `item`, if present.
pub fn optional_time(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, String> {
    optional_text(item, name)?
        .map(|value| OffsetDateTime::parse(&value, &Rfc3339).map_err(|e| format!("{name}: {e}")))
        .transpose()
}

/// The epoch-seconds attribute `name` of `item` as a time.
pub fn epoch(item: &Item, name: &str) -> Result<OffsetDateTime, String> {
    let seconds = number_u64(item, name)?;
    i64::try_from(seconds)
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
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
}
