//! Idempotency claims in the idempotency table, so that at-least-once
//! delivery (SNS, Kinesis, retries) has exactly-once effects.
//!
//! A consumer claims a key such as `emailer#{event_id}` before it acts:
//!
//! ```text
//! (none) ──claim──▶ IN_PROGRESS (lock until now + lock_for) ──complete──▶ COMPLETE
//!                        │  ▲
//!                release │  │ claim (lock released or expired)
//!                        ▼  │
//!                   IN_PROGRESS, lock expired
//! ```
//!
//! - [`IdempotencyStore::claim`] is a conditional write: exactly one of two
//!   concurrent attempts gets [`Claim::Acquired`]; the other gets
//!   [`Claim::Busy`] while the lock lasts, and a later one
//!   [`Claim::Completed`] once the work is done (a redelivery or a replay
//!   does nothing).
//! - A crashed attempt's lock expires by itself; a failed attempt
//!   [`release`](IdempotencyStore::release)s it so that the retry proceeds
//!   at once.
//! - Work made of several steps (one email per recipient) records each step
//!   done ([`IdempotencyStore::record_done`]); the next attempt's claim
//!   returns them, so a retry after a partial failure repeats none.
//!
//! Item: `pk` = the key, `status` (`IN_PROGRESS` or `COMPLETE`),
//! `lock_expires_at` (epoch seconds), `done` (string set), `attempts`,
//! `claimed_at`, `completed_at`, and `expires_at` (epoch seconds, the
//! table's TTL attribute) after which DynamoDB forgets the key.

use std::collections::BTreeSet;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::{Duration, OffsetDateTime};

use crate::dynamo::{Item, describe, epoch_n, n, s, text, time_s};

/// How long a key is remembered after its last claim or completion (the TTL):
/// longer than any redelivery or replay (SNS retries for hours, the telemetry
/// stream keeps 24 hours).
pub const DEFAULT_RETENTION: Duration = Duration::days(7);

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETE: &str = "COMPLETE";

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This attempt holds the key until its lock expires; `done` lists the
    /// steps earlier attempts finished (empty on the first).
    Acquired {
        /// Steps recorded by [`IdempotencyStore::record_done`].
        done: BTreeSet<String>,
    },
    /// The work was completed before: do nothing.
    Completed,
    /// Another attempt holds a live lock; try again after it.
    Busy {
        /// When its lock expires, when known.
        until: Option<OffsetDateTime>,
    },
}

/// The idempotency table could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("idempotency table: {message}")]
pub struct IdempotencyError {
    /// Whether trying again later may succeed (throttling, 5xx, network).
    pub retryable: bool,
    /// What went wrong.
    pub message: String,
}

/// Claims on keys, each done at most once.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` at `now` for `lock_for` (see the module documentation).
    fn claim(
        &self,
        key: &str,
        now: OffsetDateTime,
        lock_for: Duration,
    ) -> impl Future<Output = Result<Claim, IdempotencyError>> + Send;

    /// Records that `step` of the work on `key` is done.
    fn record_done(
        &self,
        key: &str,
        step: &str,
    ) -> impl Future<Output = Result<(), IdempotencyError>> + Send;

    /// Marks `key` completed at `now`: every later claim is
    /// [`Claim::Completed`] until the key expires.
    fn complete(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), IdempotencyError>> + Send;

    /// Gives up the lock on `key` (a failed attempt) so that the next attempt
    /// claims it at once; the steps recorded done stay. Does nothing to a
    /// completed key.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), IdempotencyError>> + Send;
}

/// The idempotency table on DynamoDB (partition key `pk`, TTL `expires_at`).
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    /// The client, built once per cold start.
    pub client: Client,
    /// The table's name.
    pub table: String,
    /// How long keys are remembered ([`DEFAULT_RETENTION`]).
    pub retention: Duration,
}

impl DynamoIdempotencyStore {
    /// The store on `table`, keeping keys for [`DEFAULT_RETENTION`].
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: DEFAULT_RETENTION,
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Item>, IdempotencyError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| store_error(&error))?;
        Ok(output.item)
    }
}

/// What a stored item says to a claim that failed its condition.
fn refused_claim(item: &Item) -> Claim {
    if text(item, "status").as_deref() == Ok(COMPLETE) {
        return Claim::Completed;
    }
    let until = match item.get("lock_expires_at") {
        Some(AttributeValue::N(seconds)) => seconds
            .parse::<i64>()
            .ok()
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok()),
        _ => None,
    };
    Claim::Busy { until }
}

/// The steps recorded done in `item`.
fn done_steps(item: &Item) -> BTreeSet<String> {
    match item.get("done") {
        Some(AttributeValue::Ss(steps)) => steps.iter().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

fn store_error<E, R>(error: &SdkError<E, R>) -> IdempotencyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => matches!(
            context.err().code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ThrottlingException"
                    | "InternalServerError"
                    | "TransactionConflictException"
            )
        ),
        _ => false,
    };
    IdempotencyError {
        retryable,
        message: describe(error),
    }
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        now: OffsetDateTime,
        lock_for: Duration,
    ) -> Result<Claim, IdempotencyError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(
                "SET #status = :in_progress, lock_expires_at = :lock, expires_at = :ttl, \
                 claimed_at = :now_text ADD attempts :one",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND lock_expires_at < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":lock", epoch_n(now + lock_for))
            .expression_attribute_values(":ttl", epoch_n(now + self.retention))
            .expression_attribute_values(":now", epoch_n(now))
            .expression_attribute_values(":now_text", time_s(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Claim::Acquired {
                done: output
                    .attributes
                    .as_ref()
                    .map(done_steps)
                    .unwrap_or_default(),
            }),
            Err(error) => {
                let Some(UpdateItemError::ConditionalCheckFailedException(refused)) =
                    error.as_service_error()
                else {
                    return Err(store_error(&error));
                };
                if let Some(item) = refused.item() {
                    return Ok(refused_claim(item));
                }
                // no old item in the answer (some emulators): read it
                match self.read(key).await? {
                    Some(item) => Ok(refused_claim(&item)),
                    // expired and removed in between: the next attempt claims it
                    None => Ok(Claim::Busy { until: None }),
                }
            }
        }
    }

    async fn record_done(&self, key: &str, step: &str) -> Result<(), IdempotencyError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("ADD done :step")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":step", AttributeValue::Ss(vec![step.to_owned()]))
            .send()
            .await
            .map_err(|error| store_error(&error))?;
        Ok(())
    }

    async fn complete(&self, key: &str, now: OffsetDateTime) -> Result<(), IdempotencyError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(
                "SET #status = :complete, completed_at = :now_text, expires_at = :ttl \
                 REMOVE lock_expires_at",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":complete", s(COMPLETE))
            .expression_attribute_values(":now_text", time_s(now))
            .expression_attribute_values(":ttl", epoch_n(now + self.retention))
            .send()
            .await
            .map_err(|error| store_error(&error))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET lock_expires_at = :released")
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":released", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // completed meanwhile, or gone: nothing to release
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(store_error(&error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    #[test]
    fn a_refused_claim_tells_completed_from_busy() {
        assert_eq!(
            refused_claim(&item(&[("status", s(COMPLETE))])),
            Claim::Completed
        );
        assert_eq!(
            refused_claim(&item(&[
                ("status", s(IN_PROGRESS)),
                ("lock_expires_at", n(1_795_255_200))
            ])),
            Claim::Busy {
                until: OffsetDateTime::from_unix_timestamp(1_795_255_200).ok()
            }
        );
        assert_eq!(
            refused_claim(&item(&[("status", s(IN_PROGRESS))])),
            Claim::Busy { until: None }
        );
    }

    #[test]
    fn done_steps_are_read_from_the_string_set() {
        let with = item(&[("done", AttributeValue::Ss(vec!["b".into(), "a".into()]))]);
        assert_eq!(
            done_steps(&with).into_iter().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(done_steps(&item(&[])).is_empty());
    }
}
