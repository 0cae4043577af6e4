//! The telemetry stream's records, decoded: the first step of every detector
//! batch ([`decode_record`]).
//!
//! Two paths give the same answer. The **typed path** reads a record straight
//! into borrowed fields ([`WireRecord`]: strings point into the record's
//! bytes, numbers are parsed once, no JSON tree is built) and checks every
//! field with the same rules as the ingest; it answers only when the record
//! is a valid reading. Anything else — a malformed, unknown, repeated or
//! out-of-range field, an escaped string it cannot borrow — goes to the
//! **detailed path**, which builds the JSON tree and names every problem
//! ([`validate_reading`]), as the rejected-telemetry queue must show it. A
//! valid reading decoded by either path is the same [`Reading`]; the tests
//! below check that on generated records.

use serde_json::Value;

use super::detector::Poison;
use crate::fields::{identifier_text, number_between};
use crate::identity::{Principal, Role};
use crate::instant::{from_epoch_millis, parse_rfc3339};
use crate::telemetry::{
    MAX_DEVICE_ID_CHARS, MAX_LAT, MAX_LON, MAX_READING_ID_CHARS, MAX_SHIPMENT_ID_CHARS,
    MAX_TEMPERATURE_C, MAX_VIBRATION_G, MIN_LAT, MIN_LON, MIN_TEMPERATURE_C, MIN_VIBRATION_G,
    READING_SCHEMA_VERSION, Reading, Refusal, Source, derive_reading_id, timestamp_within,
    validate_reading,
};

/// Decodes the data of one stream record into a [`Reading`], or says why it
/// is poison.
///
/// The record must be a JSON object with `v` = [`READING_SCHEMA_VERSION`],
/// `received_at` (RFC 3339, within [`crate::instant`]'s range), `source`
/// (`https` or `mqtt`), `sender` (the [`Principal`] that sent it; over MQTT
/// always a device) and the reading fields, which must pass
/// [`validate_reading`] at `received_at` (the time window is the one the
/// reading was accepted in, so an old record replayed from the stream stays
/// valid).
///
/// Never panics: should a defect make decoding panic anyway, the record is
/// [`Poison::Panicked`] (with unwinding panics, as the functions are built).
pub fn decode_record(data: &[u8]) -> Result<Reading, Poison> {
    std::panic::catch_unwind(|| match decode_typed(data) {
        Some(reading) => Ok(reading),
        None => decode_detailed(data),
    })
    .unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|m| (*m).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        Err(Poison::Panicked(message))
    })
}

/// A stream record as it is written, its strings borrowed from the data.
/// A field that is absent or `null` is `None`.
#[derive(Debug, Default)]
struct WireRecord<'a> {
    v: Option<&'a [u8]>,
    reading_id: Option<&'a str>,
    device_id: Option<&'a str>,
    shipment_id: Option<&'a str>,
    ts: Option<WireTs<'a>>,
    lat: Option<f64>,
    lon: Option<f64>,
    temperature_c: Option<f64>,
    vibration_g: Option<f64>,
    received_at: Option<&'a str>,
    source: Option<&'a str>,
    sender: Option<WireSender<'a>>,
}

/// A `ts` as written: an RFC 3339 string or integer epoch milliseconds.
#[derive(Debug, Clone, Copy)]
enum WireTs<'a> {
    Text(&'a str),
    Millis(i64),
}

/// The sender as [`Principal`] writes it: `kind` and the fields of its variant.
#[derive(Debug, Default)]
struct WireSender<'a> {
    kind: Option<&'a str>,
    device_id: Option<&'a str>,
    user_id: Option<&'a str>,
    org_id: Option<&'a str>,
    role: Option<&'a str>,
}

impl WireSender<'_> {
    /// The principal, when it is one (`None` sends the record the detailed way).
    fn principal(&self) -> Option<Principal> {
        match self.kind? {
            "device" if self.user_id.is_none() && self.role.is_none() => Some(Principal::Device {
                device_id: self.device_id?.to_owned(),
                org_id: self.org_id?.to_owned(),
            }),
            "user" if self.device_id.is_none() => {
                let role = self.role?;
                Some(Principal::User {
                    user_id: self.user_id?.to_owned(),
                    org_id: self.org_id?.to_owned(),
                    role: Role::ALL.into_iter().find(|r| r.as_str() == role)?,
                })
            }
            _ => None,
        }
    }
}

/// A reader of the JSON a record is written as: objects of known keys,
/// strings without escapes, numbers and `null`. Whatever else it meets, it
/// gives up (`None`) and the record goes the detailed way.
struct Scanner<'a> {
    /// The record, checked to be UTF-8 once, so that a string is a slice of it.
    text: &'a str,
    data: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(data).ok()?;
        Some(Self { text, data, at: 0 })
    }

    fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.data.get(self.at) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string without escapes (JSON forbids control characters in one).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = &self.data[start..];
        // eight bytes at a time over the plain part, then byte by byte from
        // the first word that holds a quote, a backslash or a control byte
        let plain = rest
            .chunks_exact(8)
            .take_while(|chunk| {
                let word = u64::from_le_bytes([
                    chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
                ]);
                !has_byte(word, b'"') && !has_byte(word, b'\\') && !has_byte_below(word, 0x20)
            })
            .count()
            * 8;
        for (offset, &byte) in rest.iter().enumerate().skip(plain) {
            match byte {
                b'"' => {
                    self.at = start + offset + 1;
                    // the quotes are ASCII, so both ends are character boundaries
                    return self.text.get(start..start + offset);
                }
                b'\\' | 0..0x20 => return None,
                _ => {}
            }
        }
        None
    }

    /// A number token as JSON writes it: `-? int frac? exp?`.
    fn number_token(&mut self) -> Option<&'a [u8]> {
        self.peek()?;
        let start = self.at;
        let digits = |scanner: &mut Self| {
            let from = scanner.at;
            while scanner.data.get(scanner.at).is_some_and(u8::is_ascii_digit) {
                scanner.at += 1;
            }
            scanner.at > from
        };
        if self.data.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        if !digits(self) || (self.data[int_start] == b'0' && self.at - int_start > 1) {
            return None;
        }
        if self.data.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.data.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.data.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        Some(&self.data[start..self.at])
    }

    /// `null` (then `Some(None)`), or what `value` reads.
    fn nullable<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            let end = self.at.checked_add(4)?;
            (self.data.get(self.at..end)? == b"null").then(|| self.at = end)?;
            return Some(None);
        }
        value(self).map(Some)
    }

    fn number(&mut self) -> Option<f64> {
        let token = self.number_token()?;
        // JSON's number grammar is a subset of Rust's; both round correctly
        // (serde_json with `float_roundtrip`), so the detailed path agrees
        exact_decimal(token).or_else(|| std::str::from_utf8(token).ok()?.parse().ok())
    }

    fn ts(&mut self) -> Option<WireTs<'a>> {
        if self.peek()? == b'"' {
            return self.string().map(WireTs::Text);
        }
        let token = self.number_token()?;
        if token.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return None;
        }
        std::str::from_utf8(token)
            .ok()?
            .parse()
            .ok()
            .map(WireTs::Millis)
    }

    /// A key of `keys`, as its index; `guess` is tried first with a plain
    /// comparison (records are written with their keys in one order).
    fn key(&mut self, keys: &[&str], guess: usize) -> Option<usize> {
        self.peek()?;
        if let Some(key) = keys.get(guess) {
            let start = self.at + 1;
            let end = start + key.len();
            if self.data.get(self.at) == Some(&b'"')
                && self.data.get(start..end) == Some(key.as_bytes())
                && self.data.get(end) == Some(&b'"')
            {
                self.at = end + 1;
                return Some(guess);
            }
        }
        let key = self.string()?;
        keys.iter().position(|k| *k == key)
    }

    /// An object of `keys`: `field` is called with the index of each key and
    /// reads its value; an unknown key or one seen twice gives up.
    fn object(
        &mut self,
        keys: &[&str],
        mut field: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let (mut seen, mut guess) = (0u32, 0);
        loop {
            let index = self.key(keys, guess)?;
            if seen & (1 << index) != 0 {
                return None;
            }
            seen |= 1 << index;
            guess = index + 1;
            self.eat(b':')?;
            field(self, index)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The keys of a record, in the order the ingest writes them.
pub(crate) const RECORD_KEYS: [&str; 12] = [
    "v",
    "reading_id",
    "device_id",
    "shipment_id",
    "ts",
    "lat",
    "lon",
    "temperature_c",
    "vibration_g",
    "received_at",
    "source",
    "sender",
];

/// The keys of a sender, in the order [`Principal`] writes a device (the
/// sender of nearly every record).
const SENDER_KEYS: [&str; 5] = ["kind", "device_id", "org_id", "user_id", "role"];

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal without exponent whose digits fit in 53 bits, e.g. `-51.899713`:
/// its digits and the power of ten are exact, so one division rounds it
/// correctly. `None` for any other number (then the full parser reads it).
fn exact_decimal(token: &[u8]) -> Option<f64> {
    let (negative, digits) = match token.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, token),
    };
    let mut mantissa = 0u64;
    let mut decimals = None;
    for (at, &byte) in digits.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)? + u64::from(byte - b'0');
                if mantissa >= 1 << 53 {
                    return None;
                }
            }
            b'.' if decimals.is_none() => decimals = Some(digits.len() - at - 1),
            _ => return None,
        }
    }
    let value = mantissa as f64 / EXACT_POWERS_OF_TEN.get(decimals.unwrap_or(0))?;
    Some(if negative { -value } else { value })
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `word` is `byte` (never misses one).
fn has_byte(word: u64, byte: u8) -> bool {
    has_byte_below(word ^ (ONES * u64::from(byte)), 1)
}

/// Whether some byte of `word` is below `limit` (at most 0x80; never misses
/// one).
fn has_byte_below(word: u64, limit: u8) -> bool {
    word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGHS != 0
}

fn scan(data: &[u8]) -> Option<WireRecord<'_>> {
    let mut wire = WireRecord::default();
    let mut scanner = Scanner::new(data)?;
    scanner.object(&RECORD_KEYS, |s, index| {
        match index {
            0 => wire.v = s.nullable(Scanner::number_token)?,
            1 => wire.reading_id = s.nullable(Scanner::string)?,
            2 => wire.device_id = s.nullable(Scanner::string)?,
            3 => wire.shipment_id = s.nullable(Scanner::string)?,
            4 => wire.ts = s.nullable(Scanner::ts)?,
            5 => wire.lat = s.nullable(Scanner::number)?,
            6 => wire.lon = s.nullable(Scanner::number)?,
            7 => wire.temperature_c = s.nullable(Scanner::number)?,
            8 => wire.vibration_g = s.nullable(Scanner::number)?,
            9 => wire.received_at = s.nullable(Scanner::string)?,
            10 => wire.source = s.nullable(Scanner::string)?,
            _ => {
                let mut sender = WireSender::default();
                s.object(&SENDER_KEYS, |s, index| {
                    let value = s.nullable(Scanner::string)?;
                    match index {
                        0 => sender.kind = value,
                        1 => sender.device_id = value,
                        2 => sender.org_id = value,
                        3 => sender.user_id = value,
                        _ => sender.role = value,
                    }
                    Some(())
                })?;
                wire.sender = Some(sender);
            }
        }
        Some(())
    })?;
    scanner.at_end().then_some(wire)
}

/// The typed path: the reading, when the record is a valid one; `None` for
/// anything the detailed path must look at.
fn decode_typed(data: &[u8]) -> Option<Reading> {
    let wire = scan(data)?;
    if wire.v? != b"1" {
        return None;
    }
    let received_at = parse_rfc3339(wire.received_at?)?;
    let source = match wire.source? {
        "https" => Source::Https,
        "mqtt" => Source::Mqtt,
        _ => return None,
    };
    let sender = wire.sender.as_ref()?.principal()?;
    if source == Source::Mqtt && !matches!(sender, Principal::Device { .. }) {
        return None;
    }
    let device_id = identifier_text(wire.device_id?, MAX_DEVICE_ID_CHARS).ok()?;
    let shipment_id = match wire.shipment_id {
        Some(id) => Some(identifier_text(id, MAX_SHIPMENT_ID_CHARS).ok()?.to_owned()),
        None => None,
    };
    let ts = match wire.ts? {
        WireTs::Text(text) => parse_rfc3339(text)?,
        WireTs::Millis(millis) => from_epoch_millis(millis)?,
    };
    let ts = timestamp_within(ts, received_at).ok()?;
    let reading_id = match wire.reading_id {
        Some(id) => identifier_text(id, MAX_READING_ID_CHARS).ok()?.to_owned(),
        None => derive_reading_id(device_id, ts),
    };
    Some(Reading {
        v: READING_SCHEMA_VERSION,
        reading_id,
        device_id: device_id.to_owned(),
        shipment_id,
        ts,
        lat: number_between(wire.lat?, MIN_LAT, MAX_LAT).ok()?,
        lon: number_between(wire.lon?, MIN_LON, MAX_LON).ok()?,
        temperature_c: number_between(wire.temperature_c?, MIN_TEMPERATURE_C, MAX_TEMPERATURE_C)
            .ok()?,
        vibration_g: number_between(wire.vibration_g?, MIN_VIBRATION_G, MAX_VIBRATION_G).ok()?,
        received_at,
        source: source.as_str().to_owned(),
        sender: Some(sender),
    })
}

/// The detailed path: the JSON tree, every rule, and the poison naming what
/// is wrong.
fn decode_detailed(data: &[u8]) -> Result<Reading, Poison> {
    let value: Value =
        serde_json::from_slice(data).map_err(|error| Poison::NotJson(error.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(Poison::NotAReading("must be a JSON object".into()));
    };
    match object.remove("v") {
        Some(Value::Number(v)) if v.as_u64() == Some(u64::from(READING_SCHEMA_VERSION)) => {}
        Some(Value::Number(v)) => return Err(Poison::UnsupportedVersion(v.to_string())),
        Some(_) => return Err(Poison::NotAReading("v must be a number".into())),
        None => return Err(Poison::NotAReading("v is missing".into())),
    }
    let received_at = match object.remove("received_at") {
        Some(Value::String(text)) => parse_rfc3339(&text),
        _ => None,
    }
    .ok_or_else(|| {
        Poison::NotAReading(
            "received_at must be an RFC 3339 date-time between 1970 and 9000".into(),
        )
    })?;
    let source = match object.remove("source") {
        Some(Value::String(text)) if text == Source::Https.as_str() => Source::Https,
        Some(Value::String(text)) if text == Source::Mqtt.as_str() => Source::Mqtt,
        _ => {
            return Err(Poison::NotAReading(
                "source must be \"https\" or \"mqtt\"".into(),
            ));
        }
    };
    let sender = match object.remove("sender") {
        None | Some(Value::Null) => return Err(Poison::Refused(Refusal::NoSender)),
        Some(value) => serde_json::from_value::<Principal>(value)
            .map_err(|e| Poison::NotAReading(format!("sender is not a principal: {e}")))?,
    };
    if source == Source::Mqtt && !matches!(sender, Principal::Device { .. }) {
        return Err(Poison::NotAReading(
            "sender of an MQTT record must be a device".into(),
        ));
    }
    let mut reading =
        validate_reading(&Value::Object(object), received_at, source).map_err(Poison::Invalid)?;
    reading.sender = Some(sender);
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary::{edge_numbers, json_value, rfc3339_edges};
    use proptest::prelude::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "v": 1,
            "reading_id": "truck-7-1773143940000",
            "device_id": "truck-7",
            "shipment_id": "SHP-2026-0001",
            "ts": "2026-03-10T11:59:00Z",
            "lat": 52.37,
            "lon": 4.89,
            "temperature_c": 5.2,
            "vibration_g": 0.3,
            "received_at": "2026-03-10T12:00:00.25Z",
            "source": "https",
            "sender": {"kind": "device", "device_id": "truck-7", "org_id": "org-1"}
        })
    }

    fn bytes(value: &Value) -> Vec<u8> {
        serde_json::to_vec(value).unwrap()
    }

    /// Both paths agree on `data`: when the typed one answers, it answers
    /// what the detailed one does.
    fn agree(data: &[u8]) -> Result<(), TestCaseError> {
        if let Some(typed) = decode_typed(data) {
            prop_assert_eq!(Ok(typed), decode_detailed(data));
        }
        Ok(())
    }

    #[test]
    fn a_record_as_written_takes_the_typed_path() {
        let data = bytes(&record());
        let typed = decode_typed(&data).expect("typed");
        assert_eq!(Ok(typed.clone()), decode_detailed(&data));
        assert_eq!(decode_record(&data), Ok(typed));
    }

    #[test]
    fn what_the_typed_path_leaves_gets_the_detailed_answer() {
        let cases = [
            ("device_id", json!("truck 7"), "INVALID_READING"),
            ("lat", json!(91.0), "INVALID_READING"),
            ("ts", json!("2026-03-01T00:00:00Z"), "INVALID_READING"),
            ("ts", json!(1.5e12), "INVALID_READING"),
            ("v", json!(2), "UNSUPPORTED_VERSION"),
            ("source", json!("ftp"), "NOT_A_READING"),
            ("sender", json!({"kind": "robot"}), "NOT_A_READING"),
            ("sender", Value::Null, "NO_SENDER"),
            ("colour", json!("red"), "INVALID_READING"),
        ];
        for (field, value, kind) in cases {
            let mut raw = record();
            raw[field] = value.clone();
            let data = bytes(&raw);
            assert_eq!(decode_typed(&data), None, "{field} = {value}");
            let poison = decode_record(&data).expect_err(field);
            assert_eq!(poison.kind(), kind, "{field} = {value}: {poison}");
        }
    }

    #[test]
    fn a_repeated_field_is_decided_by_the_detailed_path() {
        let data = br#"{"v":1,"device_id":"a","device_id":"b","ts":1773143940000,"lat":1,"lon":2,"temperature_c":3,"vibration_g":0,"received_at":"2026-03-10T12:00:00Z","source":"https","sender":{"kind":"device","device_id":"b","org_id":"o"}}"#;
        assert_eq!(decode_typed(data), None);
        let reading = decode_record(data).expect("the last copy counts, as in a JSON tree");
        assert_eq!(reading.device_id, "b");
    }

    #[test]
    fn integer_numbers_take_the_typed_path() {
        let data = br#"{"v":1,"device_id":"truck-7","ts":1773143940000,"lat":52,"lon":4,"temperature_c":5,"vibration_g":0,"received_at":"2026-03-10T12:00:00Z","source":"mqtt","sender":{"kind":"device","device_id":"truck-7","org_id":"o"}}"#;
        let typed = decode_typed(data).expect("typed");
        assert_eq!(typed.reading_id, "truck-7-1773143940000");
        assert_eq!(typed.lat, 52.0);
        assert_eq!(Ok(typed), decode_detailed(data));
    }

    #[test]
    fn escapes_and_extra_sender_fields_are_left_to_the_detailed_path() {
        let escaped = br#"{"v":1,"device_id":"truck\u002d7","ts":1773143940000,"lat":52,"lon":4,"temperature_c":5,"vibration_g":0,"received_at":"2026-03-10T12:00:00Z","source":"mqtt","sender":{"kind":"device","device_id":"truck-7","org_id":"o"}}"#;
        let extra = br#"{"v":1,"device_id":"truck-7","ts":1773143940000,"lat":52,"lon":4,"temperature_c":5,"vibration_g":0,"received_at":"2026-03-10T12:00:00Z","source":"mqtt","sender":{"kind":"device","device_id":"truck-7","org_id":"o","extra":true}}"#;
        for data in [&escaped[..], &extra[..]] {
            assert_eq!(decode_typed(data), None);
            let reading = decode_record(data).expect("valid");
            assert_eq!(reading.device_id, "truck-7");
        }
    }

    proptest! {
        #[test]
        fn exact_decimals_are_what_the_full_parser_reads(
            whole in 0u64..100_000_000_000,
            fraction in "[0-9]{0,12}",
            negative: bool,
        ) {
            let text = format!(
                "{}{whole}{}{fraction}",
                if negative { "-" } else { "" },
                if fraction.is_empty() { "" } else { "." }
            );
            let full: f64 = text.parse().unwrap();
            if let Some(exact) = exact_decimal(text.as_bytes()) {
                prop_assert_eq!(exact.to_bits(), full.to_bits(), "{}", text);
            }
        }

        #[test]
        fn word_checks_match_a_byte_by_byte_look(bytes: [u8; 8]) {
            let word = u64::from_le_bytes(bytes);
            prop_assert_eq!(has_byte(word, b'"'), bytes.contains(&b'"'));
            prop_assert_eq!(has_byte(word, b'\\'), bytes.contains(&b'\\'));
            prop_assert_eq!(has_byte_below(word, 0x20), bytes.iter().any(|&b| b < 0x20));
        }
    }

    #[test]
    fn strings_of_every_length_with_a_special_byte_anywhere() {
        for length in 0..40 {
            let plain = "a".repeat(length);
            let data = format!("\"{plain}\"");
            let mut scanner = Scanner::new(data.as_bytes()).unwrap();
            assert_eq!(scanner.string(), Some(plain.as_str()));
            for at in 0..length {
                for special in [b'\\', b'\n', 0x01] {
                    let mut bytes = data.clone().into_bytes();
                    bytes[1 + at] = special;
                    let mut scanner = Scanner::new(&bytes).unwrap();
                    assert_eq!(scanner.string(), None, "{length} {at} {special}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn valid_readings_take_the_typed_path_and_decode_alike(
            device in "[A-Za-z0-9_.:-]{1,64}",
            reading_id in proptest::option::of("[A-Za-z0-9_.:-]{1,128}"),
            shipment in proptest::option::of("[A-Za-z0-9_.:-]{1,64}"),
            age_ms in 0i64..600_000_000,
            as_millis: bool,
            lat in -90.0f64..=90.0,
            lon in -180.0f64..=180.0,
            temperature in -100.0f64..=100.0,
            vibration in 0.0f64..=100.0,
            mqtt: bool,
        ) {
            let received = 1_773_144_000_000i64;
            let ts = received - age_ms;
            let mut raw = record();
            raw["device_id"] = json!(device);
            raw["reading_id"] = json!(reading_id);
            raw["shipment_id"] = json!(shipment);
            raw["ts"] = if as_millis {
                json!(ts)
            } else {
                let at = from_epoch_millis(ts).unwrap();
                json!(at.format(&time::format_description::well_known::Rfc3339).unwrap())
            };
            raw["lat"] = json!(lat);
            raw["lon"] = json!(lon);
            raw["temperature_c"] = json!(temperature);
            raw["vibration_g"] = json!(vibration);
            raw["source"] = json!(if mqtt { "mqtt" } else { "https" });
            raw["received_at"] = json!("2026-03-10T12:00:00Z");
            let data = bytes(&raw);
            let typed = decode_typed(&data);
            prop_assert!(typed.is_some(), "{}", String::from_utf8_lossy(&data));
            prop_assert_eq!(Ok(typed.unwrap()), decode_detailed(&data));
        }

        #[test]
        fn any_field_replaced_by_any_value_decodes_alike(
            field in prop::sample::select(vec![
                "v", "reading_id", "device_id", "shipment_id", "ts", "lat", "lon",
                "temperature_c", "vibration_g", "received_at", "source", "sender", "other",
            ]),
            value in prop_oneof![json_value(), edge_numbers(), rfc3339_edges().prop_map(Value::String)],
        ) {
            let mut raw = record();
            raw[field] = value;
            agree(&bytes(&raw))?;
        }

        #[test]
        fn any_sender_decodes_alike(
            kind in prop::sample::select(vec!["device", "user", "Device", ""]),
            fields in prop::collection::btree_map(
                prop::sample::select(vec!["device_id", "user_id", "org_id", "role", "kind2"]),
                prop_oneof![json_value(), Just(json!("MANAGER")), Just(json!("x-1"))],
                0..5,
            ),
        ) {
            let mut sender = serde_json::Map::new();
            sender.insert("kind".into(), json!(kind));
            sender.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
            let mut raw = record();
            raw["sender"] = Value::Object(sender);
            agree(&bytes(&raw))?;
        }

        #[test]
        fn any_prefix_or_byte_flip_decodes_alike(cut in 0usize..400, flip in 0usize..400, byte: u8) {
            let data = bytes(&record());
            agree(&data[..cut.min(data.len())])?;
            let mut flipped = data.clone();
            let at = flip % flipped.len();
            flipped[at] = byte;
            agree(&flipped)?;
        }
    }
}
