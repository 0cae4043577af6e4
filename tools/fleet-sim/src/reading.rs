//! The readings a truck sends, as the API and the MQTT topic take them, and
//! the malformed ones the load generator injects.

use pharmaguard_domain::FieldError;
use pharmaguard_domain::telemetry::{
    READING_SCHEMA_VERSION, Reading, Source, derive_reading_id, validate_reading,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::rng::Rng;

/// One measurement of a truck's sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReading {
    /// `{device_id}-{ts in epoch ms}` (the API's own derivation), so a resend
    /// carries the same id.
    pub reading_id: String,
    /// The device.
    pub device_id: String,
    /// The shipment, when the truck carries one.
    pub shipment_id: Option<String>,
    /// When it was measured (whole milliseconds, UTC).
    pub ts: OffsetDateTime,
    /// Latitude, degrees (6 decimals).
    pub lat: f64,
    /// Longitude, degrees (6 decimals).
    pub lon: f64,
    /// Cargo temperature, °C.
    pub temperature_c: f64,
    /// Vibration peak, g.
    pub vibration_g: f64,
}

impl SimReading {
    /// A reading measured at `ts` (truncated to milliseconds).
    pub fn new(
        device_id: &str,
        shipment_id: Option<&str>,
        ts: OffsetDateTime,
        (lat, lon): (f64, f64),
        temperature_c: f64,
        vibration_g: f64,
    ) -> Self {
        let ts = ts
            .replace_nanosecond(ts.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(ts);
        Self {
            reading_id: derive_reading_id(device_id, ts),
            device_id: device_id.to_owned(),
            shipment_id: shipment_id.map(str::to_owned),
            ts,
            lat: round(lat, 1e6),
            lon: round(lon, 1e6),
            temperature_c,
            vibration_g,
        }
    }

    /// `ts` as RFC 3339.
    pub fn ts_text(&self) -> String {
        self.ts.format(&Rfc3339).unwrap_or_default()
    }

    /// The reading as `POST /v1/telemetry` takes it (the API refuses fields it
    /// does not know, so no `v`).
    pub fn api_json(&self) -> Value {
        let mut value = json!({
            "reading_id": self.reading_id,
            "device_id": self.device_id,
            "ts": self.ts_text(),
            "lat": self.lat,
            "lon": self.lon,
            "temperature_c": self.temperature_c,
            "vibration_g": self.vibration_g,
        });
        if let Some(shipment_id) = &self.shipment_id {
            value["shipment_id"] = json!(shipment_id);
        }
        value
    }

    /// The MQTT message: the same with the record version `v`.
    pub fn mqtt_json(&self) -> Value {
        let mut value = self.api_json();
        value["v"] = json!(READING_SCHEMA_VERSION);
        value
    }

    /// The reading the platform makes of it, received at `now`, by the
    /// domain's own validation.
    pub fn to_domain(&self, now: OffsetDateTime) -> Result<Reading, Vec<FieldError>> {
        validate_reading(&self.api_json(), now, Source::Https)
    }
}

/// A malformed record for the API: the reading with one field the API
/// rejects (it answers 207 for a batch that has good readings too).
pub fn malformed_api_json(reading: &SimReading, rng: &mut Rng) -> Value {
    let mut value = reading.api_json();
    value["reading_id"] = json!(format!("{}-malformed", reading.reading_id));
    match rng.index(4) {
        0 => value["temperature_c"] = json!(1000.0),
        1 => value["lat"] = json!(123.4),
        2 => value["vibration_g"] = json!(-1.0),
        _ => value["humidity_pct"] = json!(55),
    }
    value
}

/// A malformed MQTT message: not JSON at all.
pub fn malformed_mqtt_payload(reading: &SimReading, rng: &mut Rng) -> Vec<u8> {
    let json = reading.mqtt_json().to_string();
    match rng.index(3) {
        0 => json.as_bytes()[..json.len() / 2].to_vec(),
        1 => format!(
            "temperature={};device={}",
            reading.temperature_c, reading.device_id
        )
        .into_bytes(),
        _ => vec![0xff, 0xfe, 0x00, 0x13, 0x37],
    }
}

fn round(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const TS: OffsetDateTime = datetime!(2026-11-21 10:00:00.123456 UTC);

    fn reading() -> SimReading {
        SimReading::new(
            "fleet-ab12-truck-01",
            Some("shp-1"),
            TS,
            (51.92441234, 4.4777001),
            5.12,
            0.231,
        )
    }

    #[test]
    fn readings_pass_the_domain_validation_unchanged() {
        let reading = reading();
        assert_eq!(reading.ts, datetime!(2026-11-21 10:00:00.123 UTC));
        assert_eq!(reading.reading_id, "fleet-ab12-truck-01-1795255200123");
        let domain = reading.to_domain(TS).expect("valid");
        assert_eq!(domain.reading_id, reading.reading_id);
        assert_eq!(domain.device_id, reading.device_id);
        assert_eq!(domain.shipment_id.as_deref(), Some("shp-1"));
        assert_eq!(domain.ts, reading.ts);
        assert_eq!((domain.lat, domain.lon), (51.924412, 4.4777));
        assert_eq!((domain.temperature_c, domain.vibration_g), (5.12, 0.231));
        let json = reading.api_json();
        assert_eq!(json["ts"], "2026-11-21T10:00:00.123Z");
        assert!(json.get("v").is_none());

        let unassigned = SimReading::new("truck-9", None, TS, (50.0, 6.0), -20.0, 0.02);
        assert_eq!(unassigned.to_domain(TS).expect("valid").shipment_id, None);
        assert!(unassigned.api_json().get("shipment_id").is_none());
    }

    #[test]
    fn the_mqtt_message_is_the_record_format_with_its_version() {
        let json = reading().mqtt_json();
        assert_eq!(json["v"], 1);
        let mut record = json.clone();
        record["received_at"] = json!("2026-11-21T10:00:01Z");
        record["source"] = json!("mqtt");
        let parsed: Reading = serde_json::from_value(record).expect("a Reading");
        assert_eq!(parsed.reading_id, reading().reading_id);
    }

    #[test]
    fn malformed_records_are_rejected_by_the_api_rules() {
        let mut rng = Rng::new(3);
        let mut fields = std::collections::HashSet::new();
        for _ in 0..40 {
            let bad = malformed_api_json(&reading(), &mut rng);
            let errors = validate_reading(&bad, TS, Source::Https).expect_err("rejected");
            assert_eq!(errors.len(), 1, "{errors:?}");
            fields.insert(errors[0].field.clone());
            let payload = malformed_mqtt_payload(&reading(), &mut rng);
            assert!(serde_json::from_slice::<Value>(&payload).is_err());
        }
        assert_eq!(fields.len(), 4, "{fields:?}");
    }
}
