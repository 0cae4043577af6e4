//! The telemetry stream on Kinesis Data Streams.

use std::future::Future;

use crate::errors::describe;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use pharmaguard_domain::ports::{ReadingSink, SinkError};
use pharmaguard_domain::retry::{AttemptResult, ItemFailure, RetryPolicy, retry_partial};
use pharmaguard_domain::telemetry::Reading;
use tracing::{debug, warn};

/// Most records in one `PutRecords` request (Kinesis limit).
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
/// Most bytes (data plus partition keys) in one `PutRecords` request (Kinesis limit, 5 MiB).
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes (data plus partition key) in one record (Kinesis limit, 1 MiB).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Writes readings to a Kinesis data stream: the [`ReadingSink`] of the
/// platform.
///
/// Each reading becomes one record whose data is the JSON of the [`Reading`]
/// and whose partition key is its `device_id` (so one device's readings stay
/// in order on one shard — the IoT rule uses the same key). Records are sent
/// with `PutRecords` in requests of at most [`MAX_RECORDS_PER_REQUEST`]
/// records and [`MAX_REQUEST_BYTES`]. Only the records that come back with an
/// error code are sent again, and a whole request again when it failed for a
/// transient reason (throttling, 5xx, timeout, connection), following
/// `policy`; what still fails after the last attempt is returned as
/// [`SinkError::Unavailable`], so nothing reported `Ok` is lost.
#[derive(Debug, Clone)]
pub struct KinesisReadingSink {
    /// The Kinesis client, built once per cold start.
    pub client: Client,
    /// The name of the telemetry stream.
    pub stream_name: String,
    /// How failed records are retried.
    pub policy: RetryPolicy,
}

impl KinesisReadingSink {
    /// A sink writing to `stream_name` through `client`.
    pub fn new(client: Client, stream_name: impl Into<String>, policy: RetryPolicy) -> Self {
        Self {
            client,
            stream_name: stream_name.into(),
            policy,
        }
    }
}

impl ReadingSink for KinesisReadingSink {
    async fn put_readings(&self, readings: &[Reading]) -> Vec<Result<(), SinkError>> {
        let stream = Stream {
            client: &self.client,
            name: &self.stream_name,
        };
        put_readings_to(&stream, &self.policy, readings).await
    }
}

/// A record the stream refused, from a `PutRecords` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RecordError {
    code: String,
    message: String,
}

/// A `PutRecords` request that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestError {
    retryable: bool,
    message: String,
}

/// The one Kinesis call the sink makes; a trait so tests can answer it.
trait PutRecords: Sync {
    /// Sends one request; on success, one entry per record: `None` when it
    /// was stored, the error otherwise.
    fn put_records(
        &self,
        entries: Vec<PutRecordsRequestEntry>,
    ) -> impl Future<Output = Result<Vec<Option<RecordError>>, RequestError>> + Send;
}

/// The real stream.
struct Stream<'a> {
    client: &'a Client,
    name: &'a str,
}

impl PutRecords for Stream<'_> {
    async fn put_records(
        &self,
        entries: Vec<PutRecordsRequestEntry>,
    ) -> Result<Vec<Option<RecordError>>, RequestError> {
        let output = self
            .client
            .put_records()
            .stream_name(self.name)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|error| RequestError {
                retryable: is_transient(&error),
                message: describe(&error),
            })?;
        Ok(output
            .records()
            .iter()
            .map(|record| {
                record.error_code().map(|code| RecordError {
                    code: code.to_owned(),
                    message: record.error_message().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }
}

/// Whether a failed `PutRecords` request is worth sending again.
fn is_transient(error: &SdkError<PutRecordsError>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            let error = context.err();
            error.is_provisioned_throughput_exceeded_exception()
                || error.is_kms_throttling_exception()
                || error.is_internal_failure_exception()
                || matches!(
                    error.code(),
                    Some("ThrottlingException" | "LimitExceededException")
                )
                || context.raw().status().is_server_error()
        }
        _ => false,
    }
}

/// Encodes, sends and retries; one result per reading, in order.
async fn put_readings_to<A: PutRecords>(
    api: &A,
    policy: &RetryPolicy,
    readings: &[Reading],
) -> Vec<Result<(), SinkError>> {
    let mut entries = Vec::with_capacity(readings.len());
    let mut results: Vec<Option<Result<(), SinkError>>> = Vec::with_capacity(readings.len());
    for reading in readings {
        match encode(reading) {
            Ok(entry) => {
                entries.push(entry);
                results.push(None);
            }
            Err(error) => {
                warn!(reading_id = %reading.reading_id, %error, "reading not sent to Kinesis");
                results.push(Some(Err(error)));
            }
        }
    }

    let report = retry_partial(
        policy,
        &entries,
        |pending| send_all(api, pending),
        tokio::time::sleep,
    )
    .await;
    let failed = report.failed().len();
    if failed > 0 {
        warn!(
            failed,
            attempts = report.attempts,
            "records still failing after the last attempt"
        );
    }

    let mut sent = report.results.into_iter();
    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                sent.next()
                    .unwrap_or_else(|| Err(SinkError::Unavailable("no result".to_owned())))
            })
        })
        .collect()
}

/// The `PutRecords` entry of a reading.
fn encode(reading: &Reading) -> Result<PutRecordsRequestEntry, SinkError> {
    let data =
        serde_json::to_vec(reading).map_err(|error| SinkError::Encoding(error.to_string()))?;
    let size = data.len() + reading.device_id.len();
    if size > MAX_RECORD_BYTES {
        return Err(SinkError::Refused(format!(
            "record of {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit"
        )));
    }
    PutRecordsRequestEntry::builder()
        .partition_key(reading.device_id.as_str())
        .data(Blob::new(data))
        .build()
        .map_err(|error| SinkError::Encoding(error.to_string()))
}

/// The bytes an entry counts for in a request.
fn entry_size(entry: &PutRecordsRequestEntry) -> usize {
    entry.data().as_ref().len() + entry.partition_key().map_or(0, str::len)
}

/// Splits entries of the given sizes into consecutive chunks of at most
/// `max_records` entries and `max_bytes` bytes; returns the chunk lengths.
/// An entry larger than `max_bytes` gets a chunk of its own.
fn chunk_lengths(
    sizes: impl IntoIterator<Item = usize>,
    max_records: usize,
    max_bytes: usize,
) -> Vec<usize> {
    let mut lengths = Vec::new();
    let (mut count, mut bytes) = (0, 0);
    for size in sizes {
        if count > 0 && (count == max_records || bytes + size > max_bytes) {
            lengths.push(count);
            (count, bytes) = (0, 0);
        }
        count += 1;
        bytes += size;
    }
    if count > 0 {
        lengths.push(count);
    }
    lengths
}

/// One attempt: sends the pending entries in as many requests as the limits
/// require; one result per entry, in order.
async fn send_all<A: PutRecords>(
    api: &A,
    pending: Vec<PutRecordsRequestEntry>,
) -> Vec<AttemptResult<SinkError>> {
    let lengths = chunk_lengths(
        pending.iter().map(entry_size),
        MAX_RECORDS_PER_REQUEST,
        MAX_REQUEST_BYTES,
    );
    let mut results = Vec::with_capacity(pending.len());
    let mut entries = pending.into_iter();
    for length in lengths {
        let chunk: Vec<_> = entries.by_ref().take(length).collect();
        results.extend(send_chunk(api, chunk).await);
    }
    results
}

/// One `PutRecords` request; one result per entry, in order.
async fn send_chunk<A: PutRecords>(
    api: &A,
    chunk: Vec<PutRecordsRequestEntry>,
) -> Vec<AttemptResult<SinkError>> {
    let count = chunk.len();
    match api.put_records(chunk).await {
        Ok(records) => {
            let mut results: Vec<_> = records.into_iter().take(count).map(record_result).collect();
            let failed = results.iter().filter(|result| result.is_err()).count();
            if failed > 0 {
                debug!(failed, count, "PutRecords: some records failed");
            }
            results.resize_with(count, || {
                Err(ItemFailure::Retryable(SinkError::Unavailable(
                    "Kinesis returned no result for the record".to_owned(),
                )))
            });
            results
        }
        Err(error) => {
            warn!(retryable = error.retryable, error = %error.message, count, "PutRecords request failed");
            let failure = if error.retryable {
                ItemFailure::Retryable(SinkError::Unavailable(error.message))
            } else {
                ItemFailure::Permanent(SinkError::Refused(error.message))
            };
            vec![Err(failure); count]
        }
    }
}

/// The result of one record of a `PutRecords` answer: every record with an
/// error code (throughput exceeded, internal failure, …) is retried.
fn record_result(error: Option<RecordError>) -> AttemptResult<SinkError> {
    match error {
        None => Ok(()),
        Some(RecordError { code, message }) => Err(ItemFailure::Retryable(SinkError::Unavailable(
            format!("{code}: {message}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    use aws_sdk_kinesis::config::http::HttpResponse;
    use aws_sdk_kinesis::types::error::{
        ProvisionedThroughputExceededException, ResourceNotFoundException,
    };
    use aws_smithy_types::body::SdkBody;
    use time::macros::datetime;

    type Answer = Result<Vec<Option<RecordError>>, RequestError>;
    type Script = dyn Fn(usize, &[PutRecordsRequestEntry]) -> Answer + Send + Sync;

    /// A fake stream: `script(call number, entries)` decides each answer;
    /// every request is recorded.
    struct FakeStream {
        script: Box<Script>,
        calls: Mutex<Vec<Vec<PutRecordsRequestEntry>>>,
    }

    impl FakeStream {
        fn new(
            script: impl Fn(usize, &[PutRecordsRequestEntry]) -> Answer + Send + Sync + 'static,
        ) -> Self {
            Self {
                script: Box::new(script),
                calls: Mutex::default(),
            }
        }

        /// Device ids (partition keys) of each request, in order.
        fn calls(&self) -> Vec<Vec<String>> {
            let calls = self.calls.lock().expect("lock");
            calls
                .iter()
                .map(|call| {
                    call.iter()
                        .map(|entry| entry.partition_key().unwrap_or_default().to_owned())
                        .collect()
                })
                .collect()
        }
    }

    impl PutRecords for FakeStream {
        async fn put_records(&self, entries: Vec<PutRecordsRequestEntry>) -> Answer {
            let call = {
                let mut calls = self.calls.lock().expect("lock");
                calls.push(entries.clone());
                calls.len()
            };
            (self.script)(call, &entries)
        }
    }

    fn all_ok(entries: &[PutRecordsRequestEntry]) -> Answer {
        Ok(vec![None; entries.len()])
    }

    fn throughput_exceeded() -> Option<RecordError> {
        Some(RecordError {
            code: "ProvisionedThroughputExceededException".into(),
            message: "Rate exceeded for shard".into(),
        })
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    fn reading(device_id: &str) -> Reading {
        Reading {
            v: 1,
            reading_id: format!("{device_id}-1767225600000"),
            device_id: device_id.to_owned(),
            shipment_id: Some("SHP-1".into()),
            ts: datetime!(2026-01-01 00:00:00 UTC),
            lat: 52.37,
            lon: 4.89,
            temperature_c: 5.0,
            vibration_g: 0.2,
            received_at: datetime!(2026-01-01 00:00:01 UTC),
            source: "https".into(),
            sender: None,
        }
    }

    fn readings(count: usize) -> Vec<Reading> {
        (0..count).map(|i| reading(&format!("d{i}"))).collect()
    }

    #[tokio::test]
    async fn records_carry_the_reading_json_keyed_by_device() {
        let stream = FakeStream::new(|_, entries| all_ok(entries));
        let input = vec![reading("truck-1"), reading("truck-2")];
        let results = put_readings_to(&stream, &policy(), &input).await;

        assert_eq!(results, vec![Ok(()), Ok(())]);
        let calls = stream.calls.lock().expect("lock");
        assert_eq!(calls.len(), 1);
        for (entry, reading) in calls[0].iter().zip(&input) {
            assert_eq!(entry.partition_key(), Some(reading.device_id.as_str()));
            let decoded: Reading =
                serde_json::from_slice(entry.data().as_ref()).expect("record is a Reading");
            assert_eq!(&decoded, reading);
        }
    }

    #[tokio::test]
    async fn only_failed_records_are_retried() {
        let stream = FakeStream::new(|call, entries| match call {
            1 => Ok(vec![
                None,
                throughput_exceeded(),
                None,
                throughput_exceeded(),
            ]),
            _ => all_ok(entries),
        });
        let results = put_readings_to(&stream, &policy(), &readings(4)).await;

        assert_eq!(results, vec![Ok(()); 4]);
        assert_eq!(
            stream.calls(),
            vec![vec!["d0", "d1", "d2", "d3"], vec!["d1", "d3"]]
        );
    }

    #[tokio::test]
    async fn records_failing_every_attempt_come_back_as_errors() {
        let stream = FakeStream::new(|_, entries| {
            Ok(entries
                .iter()
                .map(|entry| match entry.partition_key() {
                    Some("d1") => throughput_exceeded(),
                    _ => None,
                })
                .collect())
        });
        let results = put_readings_to(&stream, &policy(), &readings(3)).await;

        assert_eq!(results[0], Ok(()));
        assert_eq!(
            results[1],
            Err(SinkError::Unavailable(
                "ProvisionedThroughputExceededException: Rate exceeded for shard".into()
            ))
        );
        assert_eq!(results[2], Ok(()));
        assert_eq!(stream.calls().len(), 3, "one call per allowed attempt");
    }

    #[tokio::test]
    async fn a_transient_request_error_retries_the_whole_chunk() {
        let stream = FakeStream::new(|call, entries| match call {
            1 => Err(RequestError {
                retryable: true,
                message: "throttled".into(),
            }),
            _ => all_ok(entries),
        });
        let results = put_readings_to(&stream, &policy(), &readings(2)).await;

        assert_eq!(results, vec![Ok(()), Ok(())]);
        assert_eq!(stream.calls(), vec![vec!["d0", "d1"], vec!["d0", "d1"]]);
    }

    #[tokio::test]
    async fn a_permanent_request_error_is_not_retried() {
        let stream = FakeStream::new(|_, _| {
            Err(RequestError {
                retryable: false,
                message: "stream telemetry not found".into(),
            })
        });
        let results = put_readings_to(&stream, &policy(), &readings(2)).await;

        let refused = Err(SinkError::Refused("stream telemetry not found".into()));
        assert_eq!(results, vec![refused.clone(), refused]);
        assert_eq!(stream.calls().len(), 1);
    }

    #[tokio::test]
    async fn large_batches_are_split_into_requests_of_500() {
        let stream = FakeStream::new(|_, entries| all_ok(entries));
        let results = put_readings_to(&stream, &policy(), &readings(1_201)).await;

        assert_eq!(results.len(), 1_201);
        assert!(results.iter().all(Result::is_ok));
        let sizes: Vec<usize> = stream.calls().iter().map(Vec::len).collect();
        assert_eq!(sizes, [500, 500, 201]);
    }

    #[tokio::test]
    async fn an_oversized_record_is_refused_without_costing_the_others() {
        let stream = FakeStream::new(|_, entries| all_ok(entries));
        let mut huge = reading("big");
        huge.reading_id = "r".repeat(MAX_RECORD_BYTES);
        let input = vec![reading("a"), huge, reading("b")];
        let results = put_readings_to(&stream, &policy(), &input).await;

        assert_eq!(results[0], Ok(()));
        assert!(matches!(&results[1], Err(SinkError::Refused(m)) if m.contains("exceeds")));
        assert_eq!(results[2], Ok(()));
        assert_eq!(stream.calls(), vec![vec!["a", "b"]]);
    }

    #[tokio::test]
    async fn missing_record_results_are_retried() {
        let stream = FakeStream::new(|call, entries| match call {
            1 => Ok(vec![None]),
            _ => all_ok(entries),
        });
        let results = put_readings_to(&stream, &policy(), &readings(3)).await;

        assert_eq!(results, vec![Ok(()); 3]);
        assert_eq!(
            stream.calls(),
            vec![vec!["d0", "d1", "d2"], vec!["d1", "d2"]]
        );
    }

    #[tokio::test]
    async fn nothing_to_send_makes_no_request() {
        let stream = FakeStream::new(|_, entries| all_ok(entries));
        assert!(put_readings_to(&stream, &policy(), &[]).await.is_empty());
        assert!(stream.calls().is_empty());
    }

    #[test]
    fn chunks_respect_count_and_byte_limits() {
        assert_eq!(chunk_lengths([1; 7], 3, 100), [3, 3, 1]);
        assert_eq!(chunk_lengths([40, 40, 40, 10], 10, 100), [2, 2]);
        assert_eq!(chunk_lengths([50, 50, 1], 10, 100), [2, 1]);
        assert_eq!(chunk_lengths([150, 10], 10, 100), [1, 1]);
        assert!(chunk_lengths([], 10, 100).is_empty());
        assert_eq!(
            chunk_lengths(
                [MAX_RECORD_BYTES; 11],
                MAX_RECORDS_PER_REQUEST,
                MAX_REQUEST_BYTES
            ),
            [5, 5, 1]
        );
    }

    fn service_error(error: PutRecordsError, status: u16) -> SdkError<PutRecordsError> {
        let status = status.try_into().expect("valid status");
        SdkError::service_error(error, HttpResponse::new(status, SdkBody::empty()))
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        let throttled = PutRecordsError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("slow down")
                .build(),
        );
        assert!(is_transient(&service_error(throttled, 400)));
        assert!(is_transient(&service_error(
            PutRecordsError::unhandled("boom"),
            503
        )));
        assert!(is_transient(&SdkError::timeout_error("timed out")));
    }

    #[test]
    fn service_errors_are_described_by_code_and_message() {
        let missing = PutRecordsError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Stream telemetry not found")
                .meta(
                    aws_sdk_kinesis::error::ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .message("Stream telemetry not found")
                        .build(),
                )
                .build(),
        );
        assert_eq!(
            describe(&service_error(missing, 400)),
            "ResourceNotFoundException: Stream telemetry not found"
        );
        let timeout: SdkError<PutRecordsError> = SdkError::timeout_error("timed out");
        assert!(describe(&timeout).contains("timed out"));
    }

    #[test]
    fn client_errors_are_permanent() {
        let missing = PutRecordsError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("no such stream")
                .build(),
        );
        assert!(!is_transient(&service_error(missing, 400)));
        assert!(!is_transient(&SdkError::construction_failure("bad input")));
    }
}
