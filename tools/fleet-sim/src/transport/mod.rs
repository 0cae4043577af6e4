//! How records leave a truck: batches over the REST API ([`https`]) or one
//! MQTT message each ([`mqtt`]). Each truck has one sender task fed by a
//! channel; when the channel closes the sender flushes what it holds and ends.

pub mod https;
pub mod mqtt;

use serde_json::Value;

/// Why a record is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A reading, the first time.
    Reading,
    /// A reading sent again with the same reading_id, on purpose.
    Duplicate,
    /// A malformed record, on purpose.
    Malformed,
}

/// One record for the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Why.
    pub kind: Kind,
    /// The record as JSON (an API reading, or the MQTT message).
    pub json: Value,
    /// MQTT only: raw bytes sent instead of the JSON (a malformed message).
    pub raw: Option<Vec<u8>>,
}

impl Outgoing {
    /// The bytes of an MQTT message.
    pub fn mqtt_payload(&self) -> Vec<u8> {
        self.raw
            .clone()
            .unwrap_or_else(|| self.json.to_string().into_bytes())
    }
}
