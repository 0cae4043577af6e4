//! Expected silences: stretches of a trip where the logger cannot report (a
//! flight, a ferry crossing, a tunnel depot), declared with the shipment.
//!
//! During an expected silence no DEVICE_OFFLINE or NO_DATA alarm is raised;
//! after it, the silence counts from its end. Readings the logger uploads
//! afterwards still count in full ([`crate::coldchain::backfill`]).
//!
//! JSON: `"expected_silences": [{"from": "2026-12-03T10:00:00Z", "to":
//! "2026-12-03T13:30:00Z", "reason": "flight AMS-MAD"}]`; at most
//! [`MAX_SILENCES`], each at most [`MAX_SILENCE`] long.
//!
//! They are declared with the order, and changed during the trip (a ferry
//! booked at the last minute) with `PUT /v1/shipments/{id}/silences`
//! `{"version", "expected_silences"}` ([`parse_silences_request`],
//! [`crate::shipment::Shipment::with_silences`]): the whole list, replaced,
//! until the shipment is delivered or cancelled.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::FieldError;

/// The audit action of a change of the expected silences.
pub const SILENCES_CHANGED: &str = "shipment.silences_changed";

/// Most expected silences a shipment may declare.
pub const MAX_SILENCES: usize = 10;
/// Longest expected silence.
pub const MAX_SILENCE: Duration = Duration::hours(72);
/// Longest reason, characters.
pub const MAX_SILENCE_REASON_CHARS: usize = 200;

/// One expected silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// When it starts.
    #[serde(with = "crate::instant::rfc3339")]
    pub from: OffsetDateTime,
    /// When it ends.
    #[serde(with = "crate::instant::rfc3339")]
    pub to: OffsetDateTime,
    /// Why, e.g. `flight AMS-MAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Silence {
    /// Whether `at` falls within it (both ends included).
    pub fn covers(&self, at: OffsetDateTime) -> bool {
        (self.from..=self.to).contains(&at)
    }
}

/// Whether `at` falls within one of `silences`.
pub fn in_silence(silences: &[Silence], at: OffsetDateTime) -> bool {
    silences.iter().any(|s| s.covers(at))
}

/// The moment a silence is measured from at `now`: `since`, or the end of the
/// latest expected silence that ended after it and before `now`.
pub fn quiet_since(
    since: OffsetDateTime,
    now: OffsetDateTime,
    silences: &[Silence],
) -> OffsetDateTime {
    silences
        .iter()
        .filter(|s| s.to <= now)
        .map(|s| s.to)
        .fold(since, OffsetDateTime::max)
}

/// Reads `expected_silences` from untrusted JSON, naming every bad field
/// (`expected_silences[1].to`, …).
pub fn silences_from_json(value: &Value) -> Result<Vec<Silence>, Vec<FieldError>> {
    const FIELD: &str = "expected_silences";
    let Some(items) = value.as_array() else {
        return Err(vec![FieldError::new(
            FIELD,
            "must be an array of {\"from\", \"to\", \"reason\"}",
        )]);
    };
    if items.len() > MAX_SILENCES {
        return Err(vec![FieldError::new(
            FIELD,
            format!(
                "must hold at most {MAX_SILENCES} silences (got {})",
                items.len()
            ),
        )]);
    }
    let mut errors = Vec::new();
    let mut silences = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = |field: &str| format!("{FIELD}[{i}].{field}");
        let Some(object) = item.as_object() else {
            errors.push(FieldError::new(
                format!("{FIELD}[{i}]"),
                "must be an object with from and to",
            ));
            continue;
        };
        for key in object.keys() {
            if !["from", "to", "reason"].contains(&key.as_str()) {
                errors.push(FieldError::new(path(key), "unknown field"));
            }
        }
        let mut instant = |field: &str| match object.get(field) {
            None | Some(Value::Null) => {
                errors.push(FieldError::new(path(field), "is required"));
                None
            }
            Some(Value::String(text)) => {
                let parsed = crate::instant::parse_rfc3339(text);
                if parsed.is_none() {
                    errors.push(FieldError::new(
                        path(field),
                        format!(
                            "must be an RFC 3339 time that {}",
                            crate::instant::RANGE_MESSAGE
                        ),
                    ));
                }
                parsed
            }
            Some(_) => {
                errors.push(FieldError::new(path(field), "must be an RFC 3339 time"));
                None
            }
        };
        let from = instant("from");
        let to = instant("to");
        let reason = match object.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(text))
                if text.trim().chars().count() <= MAX_SILENCE_REASON_CHARS =>
            {
                Some(text.trim().to_owned()).filter(|r| !r.is_empty())
            }
            Some(_) => {
                errors.push(FieldError::new(
                    path("reason"),
                    format!("must be text of at most {MAX_SILENCE_REASON_CHARS} characters"),
                ));
                None
            }
        };
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                errors.push(FieldError::new(path("to"), "must be after from"));
            } else if to - from > MAX_SILENCE {
                errors.push(FieldError::new(
                    path("to"),
                    format!(
                        "must be at most {} hours after from",
                        MAX_SILENCE.whole_hours()
                    ),
                ));
            } else {
                silences.push(Silence { from, to, reason });
            }
        }
    }
    if errors.is_empty() {
        silences.sort_by_key(|s| s.from);
        Ok(silences)
    } else {
        Err(errors)
    }
}

/// `PUT …/silences`: the caller's version and the new list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilencesRequest {
    /// The shipment's version the caller read.
    pub expected_version: u64,
    /// The silences that replace the declared ones.
    pub silences: Vec<Silence>,
}

/// Reads a `PUT …/silences` body, naming every bad field.
pub fn parse_silences_request(body: &[u8]) -> Result<SilencesRequest, Vec<FieldError>> {
    let object = crate::shipment::validation::parse_body(body).map_err(|error| vec![error])?;
    let mut errors = Vec::new();
    for key in object.keys() {
        if !["version", "expected_silences"].contains(&key.as_str()) {
            errors.push(FieldError::new(key.as_str(), "unknown field"));
        }
    }
    let version = object
        .get("version")
        .and_then(Value::as_u64)
        .filter(|version| *version >= 1);
    if version.is_none() {
        errors.push(FieldError::new(
            "version",
            "must be the shipment's current version (a whole number ≥ 1)",
        ));
    }
    let silences = match object.get("expected_silences") {
        None => {
            errors.push(FieldError::new("expected_silences", "is required"));
            None
        }
        Some(value) => match silences_from_json(value) {
            Ok(silences) => Some(silences),
            Err(found) => {
                errors.extend(found);
                None
            }
        },
    };
    match (version, silences) {
        (Some(expected_version), Some(silences)) if errors.is_empty() => Ok(SilencesRequest {
            expected_version,
            silences,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-03 10:00 UTC);

    fn flight() -> Silence {
        Silence {
            from: T0,
            to: T0 + Duration::hours(3),
            reason: Some("flight AMS-MAD".into()),
        }
    }

    #[test]
    fn a_silence_covers_its_span_and_counts_from_its_end() {
        let s = [flight()];
        assert!(in_silence(&s, T0));
        assert!(in_silence(&s, T0 + Duration::hours(3)));
        assert!(!in_silence(&s, T0 - Duration::seconds(1)));
        let before = T0 - Duration::minutes(30);
        assert_eq!(quiet_since(before, T0 + Duration::hours(1), &s), before);
        assert_eq!(
            quiet_since(before, T0 + Duration::hours(4), &s),
            T0 + Duration::hours(3)
        );
        let later = T0 + Duration::hours(5);
        assert_eq!(quiet_since(later, T0 + Duration::hours(6), &s), later);
    }

    #[test]
    fn silences_from_untrusted_json() {
        let parsed = silences_from_json(&json!([
            {"from": "2026-12-03T10:00:00Z", "to": "2026-12-03T13:00:00Z", "reason": " flight AMS-MAD "}
        ]))
        .unwrap();
        assert_eq!(parsed, [flight()]);
        let fields = |value: Value| -> Vec<String> {
            silences_from_json(&value)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(json!("tomorrow")), ["expected_silences"]);
        assert_eq!(
            fields(json!([
                {"from": "2026-12-03T10:00:00Z", "to": "2026-12-03T09:00:00Z"},
                {"from": "9999-12-31T23:59:59-01:00", "to": 3, "why": "x"},
                {"from": "2026-12-03T10:00:00Z", "to": "2026-12-07T10:00:00Z", "reason": 7},
                "x"
            ])),
            [
                "expected_silences[0].to",
                "expected_silences[1].why",
                "expected_silences[1].from",
                "expected_silences[1].to",
                "expected_silences[2].reason",
                "expected_silences[2].to",
                "expected_silences[3]"
            ]
        );
        assert_eq!(
            fields(json!(vec![
                json!({"from": "2026-12-03T10:00:00Z", "to": "2026-12-03T11:00:00Z"});
                11
            ])),
            ["expected_silences"]
        );
    }

    #[test]
    fn a_silences_request_names_its_bad_fields() {
        let body = json!({"version": 3, "expected_silences": [
            {"from": "2026-12-03T10:00:00Z", "to": "2026-12-03T13:00:00Z", "reason": "flight AMS-MAD"}
        ]});
        let request = parse_silences_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(request.expected_version, 3);
        assert_eq!(request.silences, [flight()]);
        let cleared = json!({"version": 3, "expected_silences": []});
        assert!(
            parse_silences_request(cleared.to_string().as_bytes())
                .unwrap()
                .silences
                .is_empty()
        );
        let fields = |body: Value| -> Vec<String> {
            parse_silences_request(body.to_string().as_bytes())
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(json!({"version": 0, "silences": []})),
            ["silences", "version", "expected_silences"]
        );
        assert_eq!(
            fields(json!({"version": 2, "expected_silences": [{"from": "x", "to": "y"}]})),
            ["expected_silences[0].from", "expected_silences[0].to"]
        );
        assert!(parse_silences_request(b"[1]").is_err());
    }
}
