//! Device telemetry: the normalized [`Reading`] and the rules that turn raw,
//! untrusted JSON into it.
//!
//! The flow of an ingest is:
//!
//! 1. [`parse_batch`] checks the shape of the request body and yields the raw
//!    readings (batch-level errors reject the whole request);
//! 2. [`validate_reading`] checks each raw reading on its own and either
//!    normalizes it into a [`Reading`] or lists *every* problem found, so one
//!    bad reading never costs the good ones;
//! 3. the valid readings are written to the stream and the outcome of each is
//!    collected into an [`IngestReport`], whose [`IngestReport::http_status`]
//!    decides the answer.

mod batch;
pub mod provenance;
mod report;
mod validation;

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::Principal;

pub use crate::FieldError;
pub use batch::{MAX_BATCH, MAX_BODY_BYTES, READINGS_FIELD, parse_batch, reading_path};
pub use provenance::{Refusal, RegisteredDevice, may_place, may_speak_for};
pub use report::{FAILED_MESSAGE, IngestReport, OutcomeStatus, ReadingOutcome};
pub(crate) use validation::timestamp_within;
pub use validation::{
    MAX_AGE, MAX_DEVICE_ID_CHARS, MAX_FUTURE_SKEW, MAX_LAT, MAX_LON, MAX_READING_ID_CHARS,
    MAX_SHIPMENT_ID_CHARS, MAX_TEMPERATURE_C, MAX_VIBRATION_G, MIN_LAT, MIN_LON, MIN_TEMPERATURE_C,
    MIN_VIBRATION_G, READING_FIELD, derive_reading_id, validate_reading,
};

/// Version of the [`Reading`] record format, written in its `v` field.
pub const READING_SCHEMA_VERSION: u8 = 1;

/// One normalized telemetry reading, the record written to the telemetry
/// stream (Kinesis) whatever the way it came in.
///
/// Serialized as JSON with `ts` and `received_at` as RFC 3339 strings in UTC:
///
/// ```json
/// {"v":1,"reading_id":"truck-7-1767225600000","device_id":"truck-7",
///  "shipment_id":"SHP-1","ts":"2026-01-01T00:00:00Z","lat":52.37,"lon":4.89,
///  "temperature_c":5.2,"vibration_g":0.3,"received_at":"2026-01-01T00:00:01Z",
///  "source":"https"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Record format version, [`READING_SCHEMA_VERSION`].
    pub v: u8,
    /// Idempotency key: the same reading sent twice carries the same id.
    pub reading_id: String,
    /// The device (truck sensor) that measured the reading.
    pub device_id: String,
    /// The shipment the device reports for, when it knows it.
    pub shipment_id: Option<String>,
    /// When the reading was measured, in UTC.
    #[serde(with = "crate::instant::rfc3339")]
    pub ts: OffsetDateTime,
    /// Latitude in degrees, −90..=90.
    pub lat: f64,
    /// Longitude in degrees, −180..=180.
    pub lon: f64,
    /// Cargo temperature in degrees Celsius.
    pub temperature_c: f64,
    /// Vibration peak in g.
    pub vibration_g: f64,
    /// When the platform received the reading, in UTC.
    #[serde(with = "crate::instant::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The way the reading came in: `"https"` or `"mqtt"` (see [`Source`]).
    pub source: String,
    /// Who sent it: the device itself, or the user who relayed it
    /// ([`provenance`]). Every stream record carries it; history items
    /// written before it existed do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Principal>,
}

impl Reading {
    /// When the reading counts for the rules: its `ts`, but never later
    /// than its receipt. A clock running ahead (or a reading stamped ahead
    /// on purpose) cannot then put a reading "after" the genuine ones that
    /// follow it and have them ignored as out of order.
    pub fn effective_ts(&self) -> OffsetDateTime {
        self.ts.min(self.received_at)
    }
}

/// The way a reading reaches the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// `POST /v1/telemetry` on the REST API.
    Https,
    /// The IoT Core MQTT topic.
    Mqtt,
}

impl Source {
    /// The value written in [`Reading::source`].
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Https => "https",
            Source::Mqtt => "mqtt",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn reading_serializes_timestamps_as_rfc3339() {
        let reading = Reading {
            v: READING_SCHEMA_VERSION,
            reading_id: "truck-7-1767225600000".into(),
            device_id: "truck-7".into(),
            shipment_id: None,
            ts: datetime!(2026-01-01 00:00:00 UTC),
            lat: 52.37,
            lon: 4.89,
            temperature_c: 5.2,
            vibration_g: 0.3,
            received_at: datetime!(2026-01-01 00:00:01.5 UTC),
            source: Source::Https.to_string(),
            sender: None,
        };
        let json = serde_json::to_value(&reading).expect("serializable");
        assert_eq!(json["ts"], "2026-01-01T00:00:00Z");
        assert_eq!(json["received_at"], "2026-01-01T00:00:01.5Z");
        assert_eq!(json["shipment_id"], serde_json::Value::Null);
        assert_eq!(json["v"], 1);
        assert_eq!(json["source"], "https");
        let back: Reading = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, reading);
    }

    #[test]
    fn source_names() {
        assert_eq!(Source::Https.as_str(), "https");
        assert_eq!(Source::Mqtt.to_string(), "mqtt");
    }

    #[test]
    fn field_error_displays_field_and_message() {
        assert_eq!(
            FieldError::new("lat", "must be a number").to_string(),
            "lat: must be a number"
        );
    }
}
