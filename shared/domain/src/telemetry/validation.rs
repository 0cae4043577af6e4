//! Validation of one raw reading.
//!
//! The accepted input object has exactly these fields (any other is an
//! error):
//!
//! | field | | rule |
//! |---|---|---|
//! | `device_id` | required | string, 1..=[`MAX_DEVICE_ID_CHARS`] characters of `[A-Za-z0-9_.:-]` |
//! | `shipment_id` | optional, `null` = absent | string, 1..=[`MAX_SHIPMENT_ID_CHARS`] characters of `[A-Za-z0-9_.:-]` |
//! | `reading_id` | optional, `null` = absent | string, 1..=[`MAX_READING_ID_CHARS`] characters of `[A-Za-z0-9_.:-]`; derived when absent, see [`derive_reading_id`] |
//! | `ts` | required | RFC 3339 string or integer epoch milliseconds; at most [`MAX_FUTURE_SKEW`] ahead of the receive time and at most [`MAX_AGE`] behind it |
//! | `lat` | required | number in [`MIN_LAT`]..=[`MAX_LAT`] |
//! | `lon` | required | number in [`MIN_LON`]..=[`MAX_LON`] |
//! | `temperature_c` | required | finite number in [`MIN_TEMPERATURE_C`]..=[`MAX_TEMPERATURE_C`] |
//! | `vibration_g` | required | finite number in [`MIN_VIBRATION_G`]..=[`MAX_VIBRATION_G`] |
//!
//! A required field that is missing or `null` is reported as "is required".

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::{FieldError, READING_SCHEMA_VERSION, Reading, Source};
use crate::fields::{identifier, number_in, optional, required};

/// Longest accepted `device_id`, in characters.
pub const MAX_DEVICE_ID_CHARS: usize = 64;
/// Longest accepted `shipment_id`, in characters.
pub const MAX_SHIPMENT_ID_CHARS: usize = 64;
/// Longest accepted `reading_id`, in characters.
pub const MAX_READING_ID_CHARS: usize = 128;
/// How far a reading's `ts` may lie ahead of the time it is received (clock skew).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);
/// How old a reading's `ts` may be when it is received (devices buffer while offline).
pub const MAX_AGE: Duration = Duration::days(7);
/// Lowest latitude, degrees.
pub const MIN_LAT: f64 = -90.0;
/// Highest latitude, degrees.
pub const MAX_LAT: f64 = 90.0;
/// Lowest longitude, degrees.
pub const MIN_LON: f64 = -180.0;
/// Highest longitude, degrees.
pub const MAX_LON: f64 = 180.0;
/// Lowest plausible cargo temperature, °C.
pub const MIN_TEMPERATURE_C: f64 = -100.0;
/// Highest plausible cargo temperature, °C.
pub const MAX_TEMPERATURE_C: f64 = 100.0;
/// Lowest vibration peak, g.
pub const MIN_VIBRATION_G: f64 = 0.0;
/// Highest plausible vibration peak, g.
pub const MAX_VIBRATION_G: f64 = 100.0;

/// The `field` of an error about the reading as a whole (e.g. not an object).
pub const READING_FIELD: &str = "reading";

const KNOWN_FIELDS: [&str; 8] = [
    "reading_id",
    "device_id",
    "shipment_id",
    "ts",
    "lat",
    "lon",
    "temperature_c",
    "vibration_g",
];

const TS_FORMAT_MESSAGE: &str = "must be an RFC 3339 date-time string or an integer of epoch milliseconds, between 1970 and 9000";

/// Validates one raw reading received at `now` through `source` and
/// normalizes it into a [`Reading`].
///
/// Every rule is checked, so the error lists all the problems of the reading
/// at once (in a stable order: unknown fields first, then the known fields).
/// The timestamp is normalized to UTC and `received_at` is `now`. When the
/// reading has no `reading_id`, one is derived with [`derive_reading_id`].
pub fn validate_reading(
    raw: &Value,
    now: OffsetDateTime,
    source: Source,
) -> Result<Reading, Vec<FieldError>> {
    let Some(object) = raw.as_object() else {
        return Err(vec![FieldError::new(
            READING_FIELD,
            "must be a JSON object",
        )]);
    };
    let mut errors: Vec<FieldError> = unknown_fields(object).collect();

    let reading_id = keep(
        &mut errors,
        "reading_id",
        optional(object, "reading_id")
            .map(|v| identifier(v, MAX_READING_ID_CHARS))
            .transpose(),
    );
    let device_id = keep(
        &mut errors,
        "device_id",
        required(object, "device_id").and_then(|v| identifier(v, MAX_DEVICE_ID_CHARS)),
    );
    let shipment_id = keep(
        &mut errors,
        "shipment_id",
        optional(object, "shipment_id")
            .map(|v| identifier(v, MAX_SHIPMENT_ID_CHARS))
            .transpose(),
    );
    let ts = keep(
        &mut errors,
        "ts",
        required(object, "ts").and_then(|v| timestamp(v, now)),
    );
    let lat = keep(
        &mut errors,
        "lat",
        required(object, "lat").and_then(|v| number_in(v, MIN_LAT, MAX_LAT)),
    );
    let lon = keep(
        &mut errors,
        "lon",
        required(object, "lon").and_then(|v| number_in(v, MIN_LON, MAX_LON)),
    );
    let temperature_c = keep(
        &mut errors,
        "temperature_c",
        required(object, "temperature_c")
            .and_then(|v| number_in(v, MIN_TEMPERATURE_C, MAX_TEMPERATURE_C)),
    );
    let vibration_g = keep(
        &mut errors,
        "vibration_g",
        required(object, "vibration_g")
            .and_then(|v| number_in(v, MIN_VIBRATION_G, MAX_VIBRATION_G)),
    );

    match (
        reading_id,
        device_id,
        shipment_id,
        ts,
        lat,
        lon,
        temperature_c,
        vibration_g,
    ) {
        (
            Some(reading_id),
            Some(device_id),
            Some(shipment_id),
            Some(ts),
            Some(lat),
            Some(lon),
            Some(temperature_c),
            Some(vibration_g),
        ) if errors.is_empty() => Ok(Reading {
            v: READING_SCHEMA_VERSION,
            reading_id: reading_id.unwrap_or_else(|| derive_reading_id(&device_id, ts)),
            device_id,
            shipment_id,
            ts,
            lat,
            lon,
            temperature_c,
            vibration_g,
            received_at: now,
            source: source.as_str().to_owned(),
            sender: None,
        }),
        _ => Err(errors),
    }
}

/// The reading id given to a reading that carries none:
/// `"{device_id}-{ts in epoch milliseconds}"`, e.g. `truck-7-1767225600000`.
///
/// It is deterministic, so a device that resends the same reading (same
/// device, same timestamp) gets the same id and consumers can drop the
/// duplicate. Two readings of one device within the same millisecond share an
/// id. Since epoch milliseconds are digits only, the part after the last `-`
/// is always the timestamp, so ids of different devices cannot collide. The
/// result obeys the `reading_id` rules (at most 64 + 1 + 13 characters of the
/// allowed set) for any valid device id and a timestamp after 1970.
pub fn derive_reading_id(device_id: &str, ts: OffsetDateTime) -> String {
    let millis = ts.unix_timestamp_nanos() / 1_000_000;
    format!("{device_id}-{millis}")
}

/// The value of a field check, or `None` after recording its error.
fn keep<T>(errors: &mut Vec<FieldError>, field: &str, outcome: Result<T, String>) -> Option<T> {
    outcome
        .map_err(|message| errors.push(FieldError::new(field, message)))
        .ok()
}

fn unknown_fields(object: &Map<String, Value>) -> impl Iterator<Item = FieldError> + '_ {
    object
        .keys()
        .filter(|key| !KNOWN_FIELDS.contains(&key.as_str()))
        .map(|key| FieldError::new(key.as_str(), "unknown field"))
}

/// A timestamp (RFC 3339 or epoch milliseconds) within the accepted window around `now`.
fn timestamp(value: &Value, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let ts = parse_timestamp(value).ok_or_else(|| TS_FORMAT_MESSAGE.to_owned())?;
    timestamp_within(ts, now)
}

/// `ts` if it lies in the accepted window around `now`: at most
/// [`MAX_FUTURE_SKEW`] ahead, at most [`MAX_AGE`] behind.
pub(crate) fn timestamp_within(
    ts: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, String> {
    if ts - now > MAX_FUTURE_SKEW {
        return Err(format!(
            "must not be more than {} in the future",
            describe(MAX_FUTURE_SKEW)
        ));
    }
    if now - ts > MAX_AGE {
        return Err(format!("must not be older than {}", describe(MAX_AGE)));
    }
    Ok(ts)
}

/// RFC 3339 or epoch milliseconds, within the range every instant from
/// outside must lie in ([`crate::instant`]): out of range is a format error,
/// never a panic.
fn parse_timestamp(value: &Value) -> Option<OffsetDateTime> {
    crate::instant::from_json(value)
}

/// "7 days", "5 minutes", "1 hour", "30 seconds": a limit in words.
fn describe(duration: Duration) -> String {
    let units = [
        (Duration::DAY, "day"),
        (Duration::HOUR, "hour"),
        (Duration::MINUTE, "minute"),
    ];
    let (count, unit) = units
        .iter()
        .find(|(unit, _)| duration.whole_seconds() % unit.whole_seconds() == 0)
        .map(|(unit, name)| (duration.whole_seconds() / unit.whole_seconds(), *name))
        .unwrap_or((duration.whole_seconds(), "second"));
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-10 12:00:00 UTC);

    fn good() -> Value {
        json!({
            "device_id": "truck-7",
            "shipment_id": "SHP-2026-0001",
            "ts": "2026-03-10T11:59:00Z",
            "lat": 52.37,
            "lon": 4.89,
            "temperature_c": 5.2,
            "vibration_g": 0.3
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut raw = good();
        raw[field] = value;
        raw
    }

    fn without(field: &str) -> Value {
        let mut raw = good();
        if let Some(object) = raw.as_object_mut() {
            object.remove(field);
        }
        raw
    }

    fn validate(raw: &Value) -> Result<Reading, Vec<FieldError>> {
        validate_reading(raw, NOW, Source::Https)
    }

    /// The errors of `raw`, which must be invalid.
    fn errors(raw: &Value) -> Vec<FieldError> {
        match validate(raw) {
            Ok(reading) => panic!("expected errors, got {reading:?}"),
            Err(errors) => errors,
        }
    }

    /// Asserts that `raw` fails with exactly one error, on `field`, whose
    /// message contains `fragment`.
    fn assert_single_error(raw: &Value, field: &str, fragment: &str) {
        let errors = errors(raw);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, field, "{errors:?}");
        assert!(
            errors[0].message.contains(fragment),
            "{:?} does not contain {fragment:?}",
            errors[0].message
        );
    }

    fn accepted(raw: &Value) -> Reading {
        match validate(raw) {
            Ok(reading) => reading,
            Err(errors) => panic!("expected a valid reading, got {errors:?}"),
        }
    }

    #[test]
    fn a_good_reading_is_normalized() {
        let reading = accepted(&good());
        assert_eq!(
            reading,
            Reading {
                v: 1,
                reading_id: "truck-7-1773143940000".into(),
                device_id: "truck-7".into(),
                shipment_id: Some("SHP-2026-0001".into()),
                ts: datetime!(2026-03-10 11:59:00 UTC),
                lat: 52.37,
                lon: 4.89,
                temperature_c: 5.2,
                vibration_g: 0.3,
                received_at: NOW,
                source: "https".into(),
                sender: None,
            }
        );
    }

    #[test]
    fn source_is_recorded() {
        let reading = validate_reading(&good(), NOW, Source::Mqtt).expect("valid");
        assert_eq!(reading.source, "mqtt");
    }

    #[test]
    fn not_an_object_is_rejected() {
        for raw in [json!([]), json!("x"), json!(1), json!(null), json!(true)] {
            assert_single_error(&raw, READING_FIELD, "JSON object");
        }
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        assert_single_error(&with("humidity", json!(40)), "humidity", "unknown field");
        // server-side fields cannot be supplied by the client either
        assert_single_error(
            &with("received_at", json!("2026-03-10T11:59:00Z")),
            "received_at",
            "unknown field",
        );
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let raw = json!({
            "device_id": "",
            "ts": "yesterday",
            "lat": 99,
            "lon": -181,
            "temperature_c": 500,
            "vibration_g": -1,
            "colour": "red"
        });
        let fields: Vec<String> = errors(&raw).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "colour",
                "device_id",
                "ts",
                "lat",
                "lon",
                "temperature_c",
                "vibration_g"
            ]
        );
    }

    #[test]
    fn an_empty_object_lists_every_required_field() {
        let fields: Vec<String> = errors(&json!({})).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "device_id",
                "ts",
                "lat",
                "lon",
                "temperature_c",
                "vibration_g"
            ]
        );
        assert!(
            errors(&json!({}))
                .iter()
                .all(|e| e.message == "is required")
        );
    }

    #[test]
    fn device_id_is_required() {
        assert_single_error(&without("device_id"), "device_id", "is required");
        assert_single_error(&with("device_id", Value::Null), "device_id", "is required");
    }

    #[test]
    fn device_id_must_be_a_string() {
        assert_single_error(
            &with("device_id", json!(7)),
            "device_id",
            "must be a string",
        );
    }

    #[test]
    fn device_id_length_bounds() {
        assert_single_error(
            &with("device_id", json!("")),
            "device_id",
            "1 to 64 characters",
        );
        let longest = "d".repeat(MAX_DEVICE_ID_CHARS);
        assert_eq!(
            accepted(&with("device_id", json!(longest))).device_id,
            longest
        );
        let too_long = "d".repeat(MAX_DEVICE_ID_CHARS + 1);
        assert_single_error(
            &with("device_id", json!(too_long)),
            "device_id",
            "1 to 64 characters",
        );
    }

    #[test]
    fn device_id_characters() {
        let allowed = "Az09_.:-";
        assert_eq!(
            accepted(&with("device_id", json!(allowed))).device_id,
            allowed
        );
        for bad in ["truck 7", "truck/7", "trück", "truck#7", "truck\n"] {
            assert_single_error(
                &with("device_id", json!(bad)),
                "device_id",
                "may contain only",
            );
        }
    }

    #[test]
    fn shipment_id_is_optional() {
        assert_eq!(accepted(&without("shipment_id")).shipment_id, None);
        assert_eq!(
            accepted(&with("shipment_id", Value::Null)).shipment_id,
            None
        );
    }

    #[test]
    fn shipment_id_follows_identifier_rules() {
        assert_single_error(
            &with("shipment_id", json!("")),
            "shipment_id",
            "1 to 64 characters",
        );
        assert_single_error(
            &with("shipment_id", json!("s".repeat(MAX_SHIPMENT_ID_CHARS + 1))),
            "shipment_id",
            "1 to 64 characters",
        );
        assert_single_error(
            &with("shipment_id", json!("SHP 1")),
            "shipment_id",
            "may contain only",
        );
        assert_single_error(
            &with("shipment_id", json!(12)),
            "shipment_id",
            "must be a string",
        );
    }

    #[test]
    fn reading_id_is_kept_when_given() {
        let reading = accepted(&with("reading_id", json!("r-1:a.b_c")));
        assert_eq!(reading.reading_id, "r-1:a.b_c");
    }

    #[test]
    fn reading_id_follows_identifier_rules() {
        let longest = "r".repeat(MAX_READING_ID_CHARS);
        assert_eq!(
            accepted(&with("reading_id", json!(longest))).reading_id,
            longest
        );
        assert_single_error(
            &with("reading_id", json!("r".repeat(MAX_READING_ID_CHARS + 1))),
            "reading_id",
            "1 to 128 characters",
        );
        assert_single_error(
            &with("reading_id", json!("")),
            "reading_id",
            "1 to 128 characters",
        );
        assert_single_error(
            &with("reading_id", json!("a/b")),
            "reading_id",
            "may contain only",
        );
        assert_single_error(
            &with("reading_id", json!(5)),
            "reading_id",
            "must be a string",
        );
    }

    #[test]
    fn reading_id_is_derived_deterministically_when_absent() {
        let first = accepted(&good());
        let resent = validate_reading(&good(), NOW + Duration::minutes(3), Source::Https)
            .expect("still valid");
        assert_eq!(first.reading_id, resent.reading_id);
        assert_eq!(first.reading_id, "truck-7-1773143940000");
        assert_eq!(
            accepted(&with("reading_id", Value::Null)).reading_id,
            first.reading_id
        );

        let other_time = accepted(&with("ts", json!("2026-03-10T11:59:00.001Z")));
        assert_ne!(other_time.reading_id, first.reading_id);
        let other_device = accepted(&with("device_id", json!("truck-8")));
        assert_ne!(other_device.reading_id, first.reading_id);
    }

    #[test]
    fn derived_reading_id_is_the_same_for_both_timestamp_forms() {
        let rfc = accepted(&with("ts", json!("2026-03-10T13:59:00+02:00")));
        let millis = accepted(&with("ts", json!(1_773_143_940_000_i64)));
        assert_eq!(rfc.reading_id, millis.reading_id);
        assert_eq!(rfc.ts, millis.ts);
    }

    #[test]
    fn derived_reading_id_is_itself_a_valid_reading_id() {
        let device = "d".repeat(MAX_DEVICE_ID_CHARS);
        let id = derive_reading_id(&device, NOW);
        assert!(identifier(&json!(id), MAX_READING_ID_CHARS).is_ok(), "{id}");
    }

    #[test]
    fn ts_is_required() {
        assert_single_error(&without("ts"), "ts", "is required");
    }

    #[test]
    fn ts_accepts_rfc3339_and_normalizes_to_utc() {
        let reading = accepted(&with("ts", json!("2026-03-10T13:30:00.250+02:00")));
        assert_eq!(reading.ts, datetime!(2026-03-10 11:30:00.25 UTC));
        assert_eq!(reading.ts.offset(), time::UtcOffset::UTC);
    }

    #[test]
    fn ts_accepts_epoch_millis() {
        let reading = accepted(&with("ts", json!(1_773_143_940_123_i64)));
        assert_eq!(reading.ts, datetime!(2026-03-10 11:59:00.123 UTC));
    }

    #[test]
    fn ts_rejects_other_forms() {
        for bad in [
            json!("2026-03-10 11:59:00"),
            json!("2026-03-10"),
            json!("not a date"),
            json!(1_773_143_940_000.5),
            json!(true),
            json!({"seconds": 1}),
            json!(u64::MAX),
        ] {
            assert_single_error(&with("ts", bad), "ts", "RFC 3339");
        }
    }

    #[test]
    fn ts_future_skew_bound() {
        let at_limit = NOW + MAX_FUTURE_SKEW;
        let millis = |t: OffsetDateTime| json!((t.unix_timestamp_nanos() / 1_000_000) as i64);
        assert_eq!(accepted(&with("ts", millis(at_limit))).ts, at_limit);
        assert_single_error(
            &with("ts", millis(at_limit + Duration::milliseconds(1))),
            "ts",
            "must not be more than 5 minutes in the future",
        );
    }

    #[test]
    fn ts_age_bound() {
        let at_limit = NOW - MAX_AGE;
        let millis = |t: OffsetDateTime| json!((t.unix_timestamp_nanos() / 1_000_000) as i64);
        assert_eq!(accepted(&with("ts", millis(at_limit))).ts, at_limit);
        assert_single_error(
            &with("ts", millis(at_limit - Duration::milliseconds(1))),
            "ts",
            "must not be older than 7 days",
        );
        assert_single_error(&with("ts", json!(0)), "ts", "older than 7 days");
        assert_single_error(&with("ts", json!(-1_000)), "ts", "between 1970 and 9000");
    }

    #[test]
    fn lat_bounds() {
        for ok in [-90.0, 0.0, 90.0] {
            assert_eq!(accepted(&with("lat", json!(ok))).lat, ok);
        }
        assert_eq!(accepted(&with("lat", json!(45))).lat, 45.0);
        for bad in [-90.0001, 90.0001, 99.0] {
            assert_single_error(&with("lat", json!(bad)), "lat", "between -90 and 90");
        }
        assert_single_error(&with("lat", json!("52.3")), "lat", "must be a number");
        assert_single_error(&without("lat"), "lat", "is required");
    }

    #[test]
    fn lon_bounds() {
        for ok in [-180.0, 0.0, 180.0] {
            assert_eq!(accepted(&with("lon", json!(ok))).lon, ok);
        }
        for bad in [-180.5, 180.5] {
            assert_single_error(&with("lon", json!(bad)), "lon", "between -180 and 180");
        }
        assert_single_error(&with("lon", json!([4.89])), "lon", "must be a number");
        assert_single_error(&without("lon"), "lon", "is required");
    }

    #[test]
    fn temperature_bounds() {
        for ok in [-100.0, -80.5, 0.0, 100.0] {
            assert_eq!(
                accepted(&with("temperature_c", json!(ok))).temperature_c,
                ok
            );
        }
        assert_single_error(
            &with("temperature_c", json!(500)),
            "temperature_c",
            "between -100 and 100 (got 500)",
        );
        assert_single_error(
            &with("temperature_c", json!(-100.01)),
            "temperature_c",
            "between",
        );
        assert_single_error(
            &with("temperature_c", json!(null)),
            "temperature_c",
            "is required",
        );
        assert_single_error(
            &with("temperature_c", json!("5")),
            "temperature_c",
            "must be a number",
        );
    }

    #[test]
    fn vibration_bounds() {
        for ok in [0.0, 2.5, 100.0] {
            assert_eq!(accepted(&with("vibration_g", json!(ok))).vibration_g, ok);
        }
        for bad in [-0.1, 100.1] {
            assert_single_error(
                &with("vibration_g", json!(bad)),
                "vibration_g",
                "between 0 and 100",
            );
        }
        assert_single_error(
            &with("vibration_g", json!(false)),
            "vibration_g",
            "must be a number",
        );
    }

    #[test]
    fn non_finite_numbers_are_rejected() {
        assert_eq!(
            number_in(&json!(f64::NAN), -1.0, 1.0),
            Err("must be a number".into())
        );
        let huge = serde_json::Number::from_f64(f64::MAX)
            .map(Value::Number)
            .expect("finite");
        assert!(number_in(&huge, -1.0, 1.0).is_err());
    }

    #[test]
    fn limits_are_described_in_words() {
        assert_eq!(describe(MAX_AGE), "7 days");
        assert_eq!(describe(MAX_FUTURE_SKEW), "5 minutes");
        assert_eq!(describe(Duration::HOUR), "1 hour");
        assert_eq!(describe(Duration::seconds(90)), "90 seconds");
    }

    #[test]
    fn a_timestamp_whose_utc_instant_lies_beyond_the_year_9999_is_an_error_not_a_panic() {
        for ts in [
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00+01:00",
        ] {
            let errors = errors(&with("ts", json!(ts)));
            assert_eq!(errors[0].field, "ts", "{ts}");
        }
        let errors = errors(&with("ts", json!(i64::MAX)));
        assert_eq!(errors[0].field, "ts");
    }

    mod never_panics {
        use super::*;
        use crate::arbitrary::{json_value, object_with, rfc3339_edges};
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_json_is_a_reading_or_field_errors(raw in json_value()) {
                let _ = validate(&raw);
            }

            #[test]
            fn any_field_values_are_a_reading_or_field_errors(raw in object_with(&KNOWN_FIELDS)) {
                if let Err(errors) = validate(&raw) {
                    prop_assert!(!errors.is_empty());
                }
            }

            #[test]
            fn any_timestamp_is_accepted_within_the_window_or_refused(ts in rfc3339_edges()) {
                match validate(&with("ts", json!(ts))) {
                    Ok(reading) => {
                        prop_assert!(reading.ts - NOW <= MAX_FUTURE_SKEW);
                        prop_assert!(NOW - reading.ts <= MAX_AGE);
                    }
                    Err(errors) => prop_assert_eq!(errors[0].field.as_str(), "ts"),
                }
            }
        }
    }
}
