//! Instants read from outside: every date-time that comes in (a request body,
//! a query parameter, a stream record, an event, a stored item) is parsed
//! here, never with a bare `OffsetDateTime::parse` followed by arithmetic.
//!
//! The `time` crate holds years −9999..=9999 and panics when a conversion or
//! an addition leaves that range: `9999-12-31T23:59:59-01:00` is a valid
//! RFC 3339 string, but its UTC instant lies in the year 10000, so
//! `to_offset(UTC)` panics on it, and so does `ts + 30 days` near the end of
//! the range. The rule here: an instant is accepted only between
//! [`EARLIEST`] and [`LATEST`] (UTC), which leaves centuries of headroom for
//! every addition the platform makes, and it is normalized to UTC with the
//! checked conversion.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The earliest instant accepted from outside: the Unix epoch.
pub const EARLIEST: OffsetDateTime = datetime!(1970-01-01 00:00:00 UTC);
/// The latest instant accepted from outside. Far beyond any real reading, and
/// far enough inside the `time` crate's range that adding the platform's
/// retention periods and limits (days to years) can never overflow.
pub const LATEST: OffsetDateTime = datetime!(9000-12-31 23:59:59 UTC);

/// What an accepted instant may be, in words for field errors.
pub const RANGE_MESSAGE: &str = "must lie between 1970 and 9000";

/// `at` in UTC, if it lies within [`EARLIEST`]..=[`LATEST`].
pub fn in_range(at: OffsetDateTime) -> Option<OffsetDateTime> {
    let utc = at.checked_to_offset(UtcOffset::UTC)?;
    (EARLIEST..=LATEST).contains(&utc).then_some(utc)
}

/// An RFC 3339 date-time within range, in UTC; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    parse_utc_form(text).or_else(|| {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .and_then(in_range)
    })
}

/// The form the platform writes, read directly: `YYYY-MM-DDTHH:MM:SS`,
/// an optional fraction of 1 to 9 digits, `Z`. `None` for any other form
/// (then the full RFC 3339 parser decides) or an impossible date or time.
fn parse_utc_form(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.as_bytes();
    let (&last, body) = bytes.split_last()?;
    if last != b'Z' || body.len() < 19 {
        return None;
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| body[at] != byte) {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let nanosecond = match &body[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let second = u8::try_from(number(&body[17..19])?).ok()?;
    if second > 59 {
        // a leap second: the full parser knows what to make of it
        return None;
    }
    let month = Month::try_from(u8::try_from(number(&body[5..7])?).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::try_from(number(&body[..4])?).ok()?,
        month,
        u8::try_from(number(&body[8..10])?).ok()?,
    )
    .ok()?;
    let time = Time::from_hms_nano(
        u8::try_from(number(&body[11..13])?).ok()?,
        u8::try_from(number(&body[14..16])?).ok()?,
        second,
        nanosecond,
    )
    .ok()?;
    in_range(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Epoch milliseconds within range, in UTC.
pub fn from_epoch_millis(millis: i64) -> Option<OffsetDateTime> {
    let nanos = i128::from(millis).checked_mul(1_000_000)?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(in_range)
}

/// Epoch seconds within range, in UTC.
pub fn from_epoch_seconds(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(in_range)
}

/// A JSON value that is an RFC 3339 string or integer epoch milliseconds,
/// within range.
pub fn from_json(value: &Value) -> Option<OffsetDateTime> {
    match value {
        Value::String(text) => parse_rfc3339(text),
        Value::Number(number) => from_epoch_millis(number.as_i64()?),
        _ => None,
    }
}

/// `serde` for instants as RFC 3339 strings that refuses, on reading, what
/// lies out of range (instead of accepting it and panicking later): use as
/// `#[serde(with = "crate::instant::rfc3339")]`. Written in UTC.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Writes `at` as RFC 3339.
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::serialize(at, serializer)
    }

    /// Reads an RFC 3339 string within range, in UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        super::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not an RFC 3339 date-time between 1970 and 9000"
            ))
        })
    }

    /// The same for an optional instant (`null` or absent = `None`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        /// Writes `at` as RFC 3339, or `null`.
        pub fn serialize<S: Serializer>(
            at: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            time::serde::rfc3339::option::serialize(at, serializer)
        }

        /// Reads an optional RFC 3339 string within range, in UTC.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            match Option::<std::borrow::Cow<str>>::deserialize(deserializer)? {
                None => Ok(None),
                Some(text) => super::super::parse_rfc3339(&text).map(Some).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{text:?} is not an RFC 3339 date-time between 1970 and 9000"
                    ))
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    /// What the full RFC 3339 parser makes of `text` (the reference).
    fn parsed_in_full(text: &str) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .and_then(in_range)
    }

    #[test]
    fn the_written_form_is_read_directly() {
        for text in [
            "2026-11-02T06:00:00Z",
            "2026-11-02T06:00:00.02Z",
            "2026-11-02T06:00:05.101673248Z",
            "2028-02-29T23:59:59.5Z",
        ] {
            assert!(parse_utc_form(text).is_some(), "{text}");
            assert_eq!(parse_rfc3339(text), parsed_in_full(text), "{text}");
        }
        for text in [
            "2026-11-02T06:00:00+01:00",
            "2026-11-02t06:00:00z",
            "2026-12-31T23:59:60Z",
        ] {
            assert_eq!(parse_utc_form(text), None, "{text}");
        }
        assert_eq!(parse_rfc3339("2027-02-29T00:00:00Z"), None);
    }

    proptest! {
        #[test]
        fn the_direct_reading_agrees_with_the_full_parser(
            text in prop_oneof![crate::arbitrary::rfc3339_edges(), ".{0,40}"],
        ) {
            if let Some(direct) = parse_utc_form(&text) {
                prop_assert_eq!(Some(direct), parsed_in_full(&text), "{}", text);
            }
            prop_assert_eq!(parse_rfc3339(&text), parsed_in_full(&text), "{}", text);
        }
    }

    #[test]
    fn the_edge_of_the_time_range_is_refused_not_a_panic() {
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00+01:00"), None);
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(from_epoch_millis(i64::MAX), None);
        assert_eq!(from_epoch_millis(i64::MIN), None);
        assert_eq!(from_epoch_millis(-1), None);
        assert_eq!(from_epoch_seconds(i64::MAX), None);
        assert_eq!(from_json(&json!(1.5)), None);
        assert_eq!(from_json(&json!(null)), None);
    }

    #[test]
    fn instants_in_range_are_normalized_to_utc() {
        assert_eq!(
            parse_rfc3339("2026-11-21T09:00:00+01:00"),
            Some(datetime!(2026-11-21 08:00:00 UTC))
        );
        assert_eq!(
            from_json(&json!(1_795_248_000_000_i64)),
            Some(datetime!(2026-11-21 08:00:00 UTC))
        );
        assert_eq!(parse_rfc3339("9000-12-31T23:59:59Z"), Some(LATEST));
        assert_eq!(from_epoch_seconds(0), Some(EARLIEST));
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Stamped {
        #[serde(with = "super::rfc3339")]
        at: OffsetDateTime,
        #[serde(default, with = "super::rfc3339::option")]
        maybe: Option<OffsetDateTime>,
    }

    #[test]
    fn serde_refuses_out_of_range_instants() {
        let bad = r#"{"at": "9999-12-31T23:59:59-01:00"}"#;
        assert!(serde_json::from_str::<Stamped>(bad).is_err());
        let bad_option = r#"{"at": "2026-01-01T00:00:00Z", "maybe": "9999-12-31T23:59:59-01:00"}"#;
        assert!(serde_json::from_str::<Stamped>(bad_option).is_err());
        let good = r#"{"at": "2026-01-01T01:00:00+01:00", "maybe": null}"#;
        let stamped: Stamped = serde_json::from_str(good).unwrap();
        assert_eq!(stamped.at, datetime!(2026-01-01 00:00:00 UTC));
        assert_eq!(stamped.maybe, None);
        let back: Stamped =
            serde_json::from_str(&serde_json::to_string(&stamped).unwrap()).unwrap();
        assert_eq!(back, stamped);
    }

    fn rfc3339_like() -> impl Strategy<Value = String> {
        (
            0u32..=9999,
            0u32..=13,
            0u32..=32,
            0u32..=24,
            0u32..=60,
            0u32..=60,
            prop_oneof![
                Just("Z".to_owned()),
                (-23i32..=23, 0u32..=59).prop_map(|(h, m)| format!("{h:+03}:{m:02}"))
            ],
            prop::option::of(0u32..=999_999_999),
        )
            .prop_map(|(y, mo, d, h, mi, s, offset, frac)| {
                let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{offset}")
            })
    }

    proptest! {
        #[test]
        fn any_text_parses_to_an_instant_in_range_or_to_none(text in prop_oneof![rfc3339_like(), ".*"]) {
            if let Some(at) = parse_rfc3339(&text) {
                prop_assert!((EARLIEST..=LATEST).contains(&at));
                prop_assert_eq!(at.offset(), UtcOffset::UTC);
                // the additions the platform makes never overflow
                let _ = at + time::Duration::days(3650);
            }
        }

        #[test]
        fn any_number_parses_to_an_instant_in_range_or_to_none(millis in any::<i64>()) {
            if let Some(at) = from_epoch_millis(millis) {
                prop_assert!((EARLIEST..=LATEST).contains(&at));
            }
            let _ = from_epoch_seconds(millis);
        }
    }
}
