//! Validation of untrusted shipment requests, reporting every problem at
//! once as [`FieldError`]s with paths such as `origin.lat` or
//! `profile.min_c`.
//!
//! The create request (`POST /v1/shipments`) has exactly these fields (any
//! other, at any depth, is an error):
//!
//! | field | | rule |
//! |---|---|---|
//! | `product` | required | text, 1..=[`MAX_PRODUCT_CHARS`] characters (trimmed), no control characters |
//! | `quantity` | required | integer 1..=[`MAX_QUANTITY`] |
//! | `cargo_value` | required | `{"amount": "12500.00", "currency": "EUR"}`: `amount` a decimal string (see [`super::Money`]), `currency` an active ISO 4217 code ([`super::currency`]) |
//! | `profile` | required | a [`TemperatureProfile`] object |
//! | `shipper_org_id`, `recipient_org_id` | required | ids (1..=[`MAX_ORG_ID_CHARS`] of `A-Z a-z 0-9 _ . : -`), different from each other |
//! | `origin`, `destination` | required | `{"name", "lat", "lon"}`: name text 1..=[`MAX_NAME_CHARS`], lat −90..=90, lon −180..=180 |
//! | `device_id` | optional, `null` = absent | id like a telemetry `device_id` (1..=64) |
//! | `truck_id` | optional, `null` = absent | id, 1..=[`MAX_TRUCK_ID_CHARS`] |
//!
//! A transition (`POST /v1/shipments/{id}/<transition>`) takes
//! `{"version": <the version the caller has>}`, and a cancellation an
//! optional `"reason"` (text, 1..=[`MAX_REASON_CHARS`]).

use serde_json::{Map, Value};

use super::profile::TemperatureProfile;
use super::silence::{Silence, silences_from_json};
use super::state::{ShipmentState, Transition};
use super::{Location, Money, Parties};
use crate::FieldError;
use crate::fields::{identifier, is_identifier_char, number_in, optional, required};
use crate::telemetry::{MAX_DEVICE_ID_CHARS, MAX_LAT, MAX_LON, MIN_LAT, MIN_LON};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest product description, in characters.
pub const MAX_PRODUCT_CHARS: usize = 200;
/// Longest place name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest cancellation reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest organisation id, in characters.
pub const MAX_ORG_ID_CHARS: usize = 64;
/// Longest truck id, in characters.
pub const MAX_TRUCK_ID_CHARS: usize = 64;
/// Longest shipment id accepted in a path, in characters.
pub const MAX_SHIPMENT_ID_CHARS: usize = 64;
/// Largest quantity of one order.
pub const MAX_QUANTITY: u32 = 10_000_000;
/// Most digits before the decimal point of an amount.
pub const MAX_AMOUNT_INTEGER_DIGITS: usize = 15;
/// Most digits after the decimal point of an amount.
pub const MAX_AMOUNT_FRACTION_DIGITS: usize = 4;
/// Default page size of a listing.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size of a listing.
pub const MAX_LIMIT: u32 = 100;
/// Longest pagination token accepted, in characters.
pub const MAX_NEXT_CHARS: usize = 2048;

const CREATE_FIELDS: [&str; 11] = [
    "expected_silences",
    "product",
    "quantity",
    "cargo_value",
    "profile",
    "shipper_org_id",
    "recipient_org_id",
    "origin",
    "destination",
    "device_id",
    "truck_id",
];

/// A validated create request: everything a new shipment needs from its creator.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentDraft {
    /// What is shipped (trimmed).
    pub product: String,
    /// How many units.
    pub quantity: u32,
    /// The value of the cargo.
    pub cargo_value: Money,
    /// The temperature rules.
    pub profile: TemperatureProfile,
    /// The sending organisation.
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
    /// Where the goods are loaded.
    pub origin: Location,
    /// Where they are delivered.
    pub destination: Location,
    /// The truck's sensor.
    pub device_id: Option<String>,
    /// The truck.
    pub truck_id: Option<String>,
    /// Stretches where the logger cannot report.
    pub expected_silences: Vec<Silence>,
}

impl Parties for ShipmentDraft {
    fn shipper_org_id(&self) -> &str {
        &self.shipper_org_id
    }
    fn recipient_org_id(&self) -> &str {
        &self.recipient_org_id
    }
}

/// A validated transition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRequest {
    /// The version of the shipment the caller has seen.
    pub expected_version: u64,
    /// Why (cancellations only).
    pub reason: Option<String>,
}

/// Validated listing parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// Only shipments in this state.
    pub state: Option<ShipmentState>,
    /// Page size, 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// The opaque token of the next page, from the previous answer.
    pub next: Option<String>,
}

/// Parses a request body as a JSON object (`body` is the field of errors
/// about the body as a whole).
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, FieldError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FieldError::new("body", "is required: a JSON object"));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(FieldError::new(
            "body",
            format!(
                "must not exceed {MAX_BODY_BYTES} bytes (got {})",
                body.len()
            ),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(FieldError::new("body", "must be a JSON object")),
        Err(error) => Err(FieldError::new(
            "body",
            format!("is not valid JSON: {error}"),
        )),
    }
}

/// Validates a create request body into a [`ShipmentDraft`], or lists every problem.
pub fn parse_create_request(body: &[u8]) -> Result<ShipmentDraft, Vec<FieldError>> {
    let object = parse_body(body).map_err(|error| vec![error])?;
    validate_create(&object)
}

/// Validates a create request object into a [`ShipmentDraft`], or lists every problem.
pub fn validate_create(object: &Map<String, Value>) -> Result<ShipmentDraft, Vec<FieldError>> {
    let mut errors = Errors::default();
    errors.unknown(object, &CREATE_FIELDS, "");

    let product = errors.keep(
        "product",
        required(object, "product").and_then(|v| text(v, MAX_PRODUCT_CHARS)),
    );
    let quantity = errors.keep(
        "quantity",
        required(object, "quantity").and_then(|v| {
            v.as_u64()
                .filter(|q| (1..=u64::from(MAX_QUANTITY)).contains(q))
                .and_then(|q| u32::try_from(q).ok())
                .ok_or_else(|| format!("must be a whole number between 1 and {MAX_QUANTITY}"))
        }),
    );
    let cargo_value = match required(object, "cargo_value") {
        Err(message) => {
            errors.push("cargo_value", message);
            None
        }
        Ok(value) => money(value, &mut errors),
    };
    let profile = match required(object, "profile") {
        Err(message) => {
            errors.push("profile", message);
            None
        }
        Ok(value) => match TemperatureProfile::from_json(value) {
            Ok(profile) => Some(profile),
            Err(problems) => {
                for problem in problems {
                    errors.push(&nested("profile", &problem.field), problem.message);
                }
                None
            }
        },
    };
    let shipper_org_id = errors.keep(
        "shipper_org_id",
        required(object, "shipper_org_id").and_then(|v| identifier(v, MAX_ORG_ID_CHARS)),
    );
    let recipient_org_id = errors.keep(
        "recipient_org_id",
        required(object, "recipient_org_id").and_then(|v| identifier(v, MAX_ORG_ID_CHARS)),
    );
    if let (Some(shipper), Some(recipient)) = (&shipper_org_id, &recipient_org_id) {
        if shipper == recipient {
            errors.push("recipient_org_id", "must differ from shipper_org_id");
        }
    }
    let origin = location(object, "origin", &mut errors);
    let destination = location(object, "destination", &mut errors);
    let device_id = errors.keep(
        "device_id",
        optional(object, "device_id")
            .map(|v| identifier(v, MAX_DEVICE_ID_CHARS))
            .transpose(),
    );
    let truck_id = errors.keep(
        "truck_id",
        optional(object, "truck_id")
            .map(|v| identifier(v, MAX_TRUCK_ID_CHARS))
            .transpose(),
    );
    let expected_silences = match optional(object, "expected_silences") {
        None => Vec::new(),
        Some(value) => silences_from_json(value).unwrap_or_else(|problems| {
            for problem in problems {
                errors.push(&problem.field, problem.message);
            }
            Vec::new()
        }),
    };

    match (
        product,
        quantity,
        cargo_value,
        profile,
        shipper_org_id,
        recipient_org_id,
        origin,
        destination,
        device_id,
        truck_id,
    ) {
        (
            Some(product),
            Some(quantity),
            Some(cargo_value),
            Some(profile),
            Some(shipper_org_id),
            Some(recipient_org_id),
            Some(origin),
            Some(destination),
            Some(device_id),
            Some(truck_id),
        ) if errors.0.is_empty() => Ok(ShipmentDraft {
            product,
            quantity,
            cargo_value,
            profile,
            shipper_org_id,
            recipient_org_id,
            origin,
            destination,
            device_id,
            truck_id,
            expected_silences,
        }),
        _ => Err(errors.0),
    }
}

/// Validates the body of a transition: `{"version": n}`, plus an optional
/// `"reason"` for a cancellation.
pub fn parse_transition_request(
    transition: Transition,
    body: &[u8],
) -> Result<TransitionRequest, Vec<FieldError>> {
    let object = parse_body(body).map_err(|error| vec![error])?;
    let mut errors = Errors::default();
    let known: &[&str] = match transition {
        Transition::Cancel => &["version", "reason"],
        _ => &["version"],
    };
    errors.unknown(&object, known, "");
    let version = errors.keep(
        "version",
        required(&object, "version").and_then(|v| {
            v.as_u64().filter(|version| *version >= 1).ok_or_else(|| {
                "must be the shipment's current version (a whole number ≥ 1)".to_owned()
            })
        }),
    );
    let reason = match transition {
        Transition::Cancel => errors.keep(
            "reason",
            optional(&object, "reason")
                .map(|v| text(v, MAX_REASON_CHARS))
                .transpose(),
        ),
        _ => Some(None),
    };
    match (version, reason) {
        (Some(expected_version), Some(reason)) if errors.0.is_empty() => Ok(TransitionRequest {
            expected_version,
            reason,
        }),
        _ => Err(errors.0),
    }
}

/// Validates the query of a listing: `state` (a state name), `limit`
/// (1..=[`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `next` (the token of the
/// previous page). Other parameters, or one given twice, are errors.
pub fn parse_list_params<'a>(
    query: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ListParams, Vec<FieldError>> {
    let mut errors = Errors::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut params = ListParams {
        state: None,
        limit: DEFAULT_LIMIT,
        next: None,
    };
    for (name, value) in query {
        if seen.contains(&name) {
            errors.push(name, "must be given at most once");
            continue;
        }
        seen.push(name);
        match name {
            "state" => match value.parse::<ShipmentState>() {
                Ok(state) => params.state = Some(state),
                Err(_) => errors.push(
                    "state",
                    "must be one of PENDING, DISPATCHED, IN_TRANSIT, DELIVERED or CANCELLED",
                ),
            },
            "limit" => match value.parse::<u32>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => params.limit = limit,
                _ => errors.push(
                    "limit",
                    format!("must be a whole number between 1 and {MAX_LIMIT}"),
                ),
            },
            "next" => {
                if value.is_empty() || value.chars().count() > MAX_NEXT_CHARS {
                    errors.push("next", "must be the `next` token of the previous page");
                } else {
                    params.next = Some(value.to_owned());
                }
            }
            other => errors.push(other, "unknown query parameter"),
        }
    }
    if errors.0.is_empty() {
        Ok(params)
    } else {
        Err(errors.0)
    }
}

/// Whether `text` is an id: 1..=`max_chars` characters of `[A-Za-z0-9_.:-]`.
pub fn is_identifier(text: &str, max_chars: usize) -> bool {
    let length = text.chars().count();
    (1..=max_chars).contains(&length) && text.chars().all(is_identifier_char)
}

/// Parses a decimal amount (see [`super::Money`]) into an exact integer and
/// its decimal scale, or says what is wrong with it.
pub fn parse_decimal(amount: &str) -> Result<(u64, u32), String> {
    const RULE: &str = "must be a decimal string such as \"12500.00\": digits, optionally a point and up to 4 decimals, no sign, exponent or leading zeros";
    let (integer, fraction) = match amount.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (amount, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || (integer.len() > 1 && integer.starts_with('0')) {
        return Err(RULE.to_owned());
    }
    if integer.len() > MAX_AMOUNT_INTEGER_DIGITS {
        return Err(format!(
            "must have at most {MAX_AMOUNT_INTEGER_DIGITS} digits before the decimal point"
        ));
    }
    let fraction = fraction.unwrap_or("");
    if amount.contains('.') && !digits(fraction) {
        return Err(RULE.to_owned());
    }
    if fraction.len() > MAX_AMOUNT_FRACTION_DIGITS {
        return Err(format!(
            "must have at most {MAX_AMOUNT_FRACTION_DIGITS} digits after the decimal point"
        ));
    }
    let mantissa = format!("{integer}{fraction}")
        .parse::<u64>()
        .map_err(|_| RULE.to_owned())?;
    // at most 4 fraction digits, so the scale always fits
    let scale = u32::try_from(fraction.len()).map_err(|_| RULE.to_owned())?;
    Ok((mantissa, scale))
}

/// Collected field errors, in the order found.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// The value of a field check, or `None` after recording its error.
    fn keep<T>(&mut self, field: &str, outcome: Result<T, String>) -> Option<T> {
        outcome.map_err(|message| self.push(field, message)).ok()
    }

    fn unknown(&mut self, object: &Map<String, Value>, known: &[&str], prefix: &str) {
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                self.push(&nested(prefix, key), "unknown field");
            }
        }
    }
}

/// `parent.field`, or `parent` alone for an error about the parent itself.
fn nested(parent: &str, field: &str) -> String {
    match (parent.is_empty(), field.is_empty()) {
        (true, _) => field.to_owned(),
        (false, true) => parent.to_owned(),
        (false, false) => format!("{parent}.{field}"),
    }
}

/// Free text: a string, trimmed, 1..=`max_chars` characters, no control characters.
fn text(value: &Value, max_chars: usize) -> Result<String, String> {
    let text = value
        .as_str()
        .ok_or_else(|| "must be a string".to_owned())?
        .trim();
    let length = text.chars().count();
    if length == 0 || length > max_chars {
        return Err(format!("must be 1 to {max_chars} characters long"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(text.to_owned())
}

fn money(value: &Value, errors: &mut Errors) -> Option<Money> {
    let Some(object) = value.as_object() else {
        errors.push(
            "cargo_value",
            "must be an object such as {\"amount\": \"12500.00\", \"currency\": \"EUR\"}",
        );
        return None;
    };
    errors.unknown(object, &["amount", "currency"], "cargo_value");
    let amount = errors.keep(
        "cargo_value.amount",
        required(object, "amount").and_then(|v| {
            let amount = v.as_str().ok_or_else(|| {
                "must be a decimal string such as \"12500.00\" (not a JSON number, to stay exact)"
                    .to_owned()
            })?;
            parse_decimal(amount).map(|_| amount.to_owned())
        }),
    );
    let currency = errors.keep(
        "cargo_value.currency",
        required(object, "currency").and_then(|v| {
            v.as_str()
                .filter(|c| super::currency::minor_units(c).is_some())
                .map(str::to_owned)
                .ok_or_else(|| "must be an active ISO 4217 currency code such as EUR".to_owned())
        }),
    );
    let (amount, currency) = (amount?, currency?);
    let decimals = parse_decimal(&amount).map_or(0, |(_, scale)| scale);
    let allowed = super::currency::minor_units(&currency).unwrap_or(0);
    if decimals > allowed {
        errors.push(
            "cargo_value.amount",
            format!("{currency} has {allowed} decimal(s) (ISO 4217): got {decimals}"),
        );
        return None;
    }
    Some(Money { amount, currency })
}

fn location(object: &Map<String, Value>, field: &str, errors: &mut Errors) -> Option<Location> {
    let value = match required(object, field) {
        Ok(value) => value,
        Err(message) => {
            errors.push(field, message);
            return None;
        }
    };
    let Some(place) = value.as_object() else {
        errors.push(
            field,
            "must be an object such as {\"name\": \"Rotterdam hub\", \"lat\": 51.92, \"lon\": 4.48}",
        );
        return None;
    };
    errors.unknown(place, &["name", "lat", "lon"], field);
    let name = errors.keep(
        &nested(field, "name"),
        required(place, "name").and_then(|v| text(v, MAX_NAME_CHARS)),
    );
    let lat = errors.keep(
        &nested(field, "lat"),
        required(place, "lat").and_then(|v| number_in(v, MIN_LAT, MAX_LAT)),
    );
    let lon = errors.keep(
        &nested(field, "lon"),
        required(place, "lon").and_then(|v| number_in(v, MIN_LON, MAX_LON)),
    );
    Some(Location {
        name: name?,
        lat: lat?,
        lon: lon?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "product": "  Comirnaty COVID-19 vaccine, 6-dose vials ",
            "quantity": 1950,
            "cargo_value": {"amount": "125000.00", "currency": "EUR"},
            "profile": {"kind": "ULTRA_COLD"},
            "shipper_org_id": "org-pfizer-puurs",
            "recipient_org_id": "org-charite",
            "origin": {"name": "Puurs plant", "lat": 51.0754, "lon": 4.2886},
            "destination": {"name": "Charité pharmacy", "lat": 52.5263, "lon": 13.3766},
            "device_id": "truck-0042",
            "truck_id": null
        })
    }

    fn create(raw: &Value) -> Result<ShipmentDraft, Vec<FieldError>> {
        parse_create_request(raw.to_string().as_bytes())
    }

    fn fields(raw: &Value) -> Vec<String> {
        create(raw)
            .unwrap_err()
            .into_iter()
            .map(|error| error.field)
            .collect()
    }

    #[test]
    fn a_valid_request_becomes_a_draft() {
        let draft = create(&valid()).unwrap();
        assert_eq!(draft.product, "Comirnaty COVID-19 vaccine, 6-dose vials");
        assert_eq!(draft.quantity, 1950);
        assert_eq!(draft.cargo_value.amount, "125000.00");
        assert_eq!(draft.profile, TemperatureProfile::UltraCold);
        assert_eq!(draft.origin.name, "Puurs plant");
        assert_eq!(draft.device_id.as_deref(), Some("truck-0042"));
        assert_eq!(draft.truck_id, None);
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let raw = json!({
            "product": "",
            "quantity": 0,
            "cargo_value": {"amount": 12.5, "currency": "eur", "vat": 1},
            "profile": {"kind": "CUSTOM", "min_c": 8, "max_c": 2,
                        "alarm_delay_minutes": 2000, "excursion_budget_minutes": 10},
            "shipper_org_id": "org a",
            "recipient_org_id": "x".repeat(65),
            "origin": {"name": "A", "lat": 91, "lon": 0, "alt": 3},
            "destination": "Berlin",
            "device_id": 7,
            "state": "DELIVERED"
        });
        assert_eq!(
            fields(&raw),
            [
                "state",
                "product",
                "quantity",
                "cargo_value.vat",
                "cargo_value.amount",
                "cargo_value.currency",
                "profile.max_c",
                "profile.alarm_delay_minutes",
                "shipper_org_id",
                "recipient_org_id",
                "origin.alt",
                "origin.lat",
                "destination",
                "device_id"
            ]
        );
    }

    #[test]
    fn a_custom_profile_with_sided_limits_and_zones_is_checked_field_by_field() {
        let mut raw = valid();
        raw["profile"] = json!({"kind": "CUSTOM", "min_c": 2, "max_c": 8,
            "alarm_delay_minutes": 15, "excursion_budget_minutes": 60,
            "lower_alarm_delay_minutes": 5, "lower_excursion_budget_minutes": 15,
            "hot_zone": {"above_c": 25, "delay_minutes": 5},
            "cold_zone": {"below_c": -0.5, "delay_minutes": 0}});
        let draft = create(&raw).unwrap();
        let limits = draft.profile.limits();
        assert_eq!(limits.lower.delay_minutes, 5);
        assert_eq!(limits.cold_zone.map(|zone| zone.limit_c), Some(-0.5));
        raw["profile"]["hot_zone"] = json!({"above_c": 6, "delay_minutes": 30});
        raw["profile"]["cold_zone"] = json!({"below_c": -0.5, "delay_minutes": -1});
        assert_eq!(
            fields(&raw),
            [
                "profile.cold_zone.delay_minutes",
                "profile.hot_zone.above_c",
                "profile.hot_zone.delay_minutes"
            ]
        );
    }

    #[test]
    fn missing_fields_are_required() {
        assert_eq!(
            fields(&json!({})),
            [
                "product",
                "quantity",
                "cargo_value",
                "profile",
                "shipper_org_id",
                "recipient_org_id",
                "origin",
                "destination"
            ]
        );
        let mut raw = valid();
        raw["origin"] = json!({});
        assert_eq!(fields(&raw), ["origin.name", "origin.lat", "origin.lon"]);
    }

    #[test]
    fn shipper_and_recipient_must_differ() {
        let mut raw = valid();
        raw["recipient_org_id"] = raw["shipper_org_id"].clone();
        let errors = create(&raw).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new(
                "recipient_org_id",
                "must differ from shipper_org_id"
            )]
        );
    }

    #[test]
    fn sizes_are_bounded() {
        let mut raw = valid();
        raw["product"] = json!("p".repeat(MAX_PRODUCT_CHARS));
        raw["destination"]["name"] = json!("n".repeat(MAX_NAME_CHARS));
        raw["quantity"] = json!(MAX_QUANTITY);
        assert!(create(&raw).is_ok());
        raw["product"] = json!("p".repeat(MAX_PRODUCT_CHARS + 1));
        raw["destination"]["name"] = json!("n".repeat(MAX_NAME_CHARS + 1));
        raw["quantity"] = json!(MAX_QUANTITY + 1);
        raw["truck_id"] = json!("t".repeat(MAX_TRUCK_ID_CHARS + 1));
        assert_eq!(
            fields(&raw),
            ["product", "quantity", "destination.name", "truck_id"]
        );
        raw = valid();
        raw["product"] = json!("line\nbreak");
        assert_eq!(fields(&raw), ["product"]);
    }

    #[test]
    fn amounts_are_exact_decimal_strings() {
        for good in [
            "0",
            "1",
            "12500",
            "12500.5",
            "12500.50",
            "0.0001",
            "999999999999999.9999",
        ] {
            assert!(parse_decimal(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "+1",
            "01",
            "1e3",
            "1,5",
            " 1",
            "1.23456",
            "1000000000000000",
            "NaN",
            "1.2.3",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
        let mut raw = valid();
        raw["cargo_value"] = json!({"amount": 125000, "currency": "EUR"});
        assert_eq!(fields(&raw), ["cargo_value.amount"]);
        raw["cargo_value"] = json!({"amount": "1", "currency": "EURO"});
        assert_eq!(fields(&raw), ["cargo_value.currency"]);
        for (amount, currency, field) in [
            ("1", "ABC", Some("cargo_value.currency")),
            ("1", "HRK", Some("cargo_value.currency")),
            ("100.5", "JPY", Some("cargo_value.amount")),
            ("100", "JPY", None),
            ("1.250", "KWD", None),
            ("1.255", "EUR", Some("cargo_value.amount")),
        ] {
            raw["cargo_value"] = json!({"amount": amount, "currency": currency});
            match field {
                Some(field) => assert_eq!(fields(&raw), [field], "{amount} {currency}"),
                None => assert!(create(&raw).is_ok(), "{amount} {currency}"),
            }
        }
        raw["cargo_value"] = json!(125000);
        assert_eq!(fields(&raw), ["cargo_value"]);
    }

    #[test]
    fn the_body_must_be_a_json_object() {
        for body in [&b""[..], b"   ", b"[]", b"null", b"{", b"\xff", b"\"text\""] {
            let errors = parse_create_request(body).unwrap_err();
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "body", "{}", String::from_utf8_lossy(body));
        }
        let huge = format!("{{\"product\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let errors = parse_create_request(huge.as_bytes()).unwrap_err();
        assert!(errors[0].message.contains("must not exceed"));
    }

    #[test]
    fn transitions_take_the_version_and_cancellations_a_reason() {
        assert_eq!(
            parse_transition_request(Transition::Dispatch, br#"{"version": 3}"#),
            Ok(TransitionRequest {
                expected_version: 3,
                reason: None
            })
        );
        assert_eq!(
            parse_transition_request(
                Transition::Cancel,
                br#"{"version": 1, "reason": " customer withdrew "}"#
            ),
            Ok(TransitionRequest {
                expected_version: 1,
                reason: Some("customer withdrew".into())
            })
        );
        let fields = |transition, body: &str| -> Vec<String> {
            parse_transition_request(transition, body.as_bytes())
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(Transition::Dispatch, r#"{"version": 1, "reason": "x"}"#),
            ["reason"]
        );
        assert_eq!(fields(Transition::Start, r#"{}"#), ["version"]);
        assert_eq!(fields(Transition::Start, r#"{"version": 0}"#), ["version"]);
        assert_eq!(
            fields(Transition::Start, r#"{"version": "1"}"#),
            ["version"]
        );
        assert_eq!(
            fields(Transition::Start, r#"{"version": 1.5}"#),
            ["version"]
        );
        assert_eq!(fields(Transition::Deliver, ""), ["body"]);
        assert_eq!(
            fields(
                Transition::Cancel,
                &json!({"version": 1, "reason": "r".repeat(MAX_REASON_CHARS + 1)}).to_string()
            ),
            ["reason"]
        );
    }

    #[test]
    fn listing_parameters() {
        assert_eq!(
            parse_list_params([]),
            Ok(ListParams {
                state: None,
                limit: DEFAULT_LIMIT,
                next: None
            })
        );
        assert_eq!(
            parse_list_params([("state", "IN_TRANSIT"), ("limit", "100"), ("next", "abc")]),
            Ok(ListParams {
                state: Some(ShipmentState::InTransit),
                limit: 100,
                next: Some("abc".into())
            })
        );
        let fields = |query: &[(&str, &str)]| -> Vec<String> {
            parse_list_params(query.iter().copied())
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(&[("state", "in_transit")]), ["state"]);
        assert_eq!(fields(&[("limit", "0")]), ["limit"]);
        assert_eq!(fields(&[("limit", "101")]), ["limit"]);
        assert_eq!(fields(&[("limit", "ten")]), ["limit"]);
        assert_eq!(fields(&[("next", "")]), ["next"]);
        assert_eq!(fields(&[("org", "other")]), ["org"]);
        assert_eq!(fields(&[("limit", "5"), ("limit", "6")]), ["limit"]);
    }

    proptest! {
        /// Whatever the JSON, validation answers (a draft or errors) and never panics.
        #[test]
        fn arbitrary_json_never_panics(raw in arbitrary_json()) {
            let _ = parse_create_request(raw.to_string().as_bytes());
            for transition in Transition::ALL {
                let _ = parse_transition_request(transition, raw.to_string().as_bytes());
            }
        }

        /// Whatever the bytes, validation answers and never panics.
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let result = parse_create_request(&body);
            let has_object = body.contains(&b'{');
            prop_assert!(result.is_err() || has_object);
        }

        /// Changing one field of a valid request to a wrong type is reported on that field.
        #[test]
        fn a_wrong_type_is_reported_on_its_field(field in prop::sample::select(CREATE_FIELDS.to_vec())) {
            let mut raw = valid();
            raw[field] = json!([1, 2]);
            let errors = create(&raw).unwrap_err();
            if field == "expected_silences" {
                // an array of the wrong items: one error per item, under the field
                prop_assert!(errors.iter().all(|e| e.field.starts_with("expected_silences[")));
            } else {
                prop_assert_eq!(errors.len(), 1);
                prop_assert_eq!(&errors[0].field, field);
            }
        }

        /// Valid amounts scale back to themselves.
        #[test]
        fn decimals_round_trip(integer in 0u64..999_999_999_999_999, fraction in prop::option::of(0u32..10_000)) {
            let text = match fraction {
                Some(f) => format!("{integer}.{f:04}"),
                None => integer.to_string(),
            };
            let (mantissa, scale) = parse_decimal(&text).unwrap();
            let expected_scale = if fraction.is_some() { 4 } else { 0 };
            prop_assert_eq!(scale, expected_scale);
            prop_assert_eq!(mantissa, integer * 10u64.pow(scale) + u64::from(fraction.unwrap_or(0)));
        }
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(
                        [
                            CREATE_FIELDS.as_slice(),
                            &["version", "reason", "kind", "min_c", "name", "lat"]
                        ]
                        .concat()
                    )
                    .prop_map(str::to_owned),
                    inner,
                    0..10
                )
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }
}
