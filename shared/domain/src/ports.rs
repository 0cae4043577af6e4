//! Ports: what the domain needs from the outside world, as traits.
//!
//! Adapters (in `pharmaguard-aws`) implement them on AWS services; tests
//! implement them in memory.

use std::future::Future;

use crate::telemetry::Reading;

/// Why a reading could not be written to the telemetry stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The stream stayed unavailable or throttled through every retry; writing
    /// the reading again later may succeed.
    #[error("stream unavailable: {0}")]
    Unavailable(String),
    /// The stream refused the write for a reason retrying cannot fix (missing
    /// stream, no permission, record too large).
    #[error("write refused by the stream: {0}")]
    Refused(String),
    /// The reading could not be encoded as a record.
    #[error("reading could not be encoded: {0}")]
    Encoding(String),
}

/// A durable destination for validated readings (the telemetry stream).
pub trait ReadingSink: Send + Sync {
    /// Writes the readings, retrying transient failures as the implementation
    /// sees fit, and returns one result per input reading, in input order.
    /// A reading whose result is `Ok` is durably stored.
    fn put_readings(
        &self,
        readings: &[Reading],
    ) -> impl Future<Output = Vec<Result<(), SinkError>>> + Send;
}

impl From<crate::retry::MissingResult> for SinkError {
    fn from(missing: crate::retry::MissingResult) -> Self {
        SinkError::Unavailable(missing.to_string())
    }
}
