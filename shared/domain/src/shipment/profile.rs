//! Temperature profiles: the range a product must stay in, how long it may be
//! out of range before an alarm, and how many minutes out of range the whole
//! trip may accumulate.
//!
//! | kind | range | alarm delay | excursion budget |
//! |---|---|---|---|
//! | `REFRIGERATED` | 2…8 °C | 15 min | 60 min |
//! | `CONTROLLED_ROOM` | 15…25 °C | 30 min | 240 min |
//! | `FROZEN` | −25…−15 °C | 10 min | 30 min |
//! | `ULTRA_COLD` | −90…−60 °C | 5 min | 15 min |
//! | `CUSTOM` | `min_c`…`max_c` | `alarm_delay_minutes` | `excursion_budget_minutes` |
//!
//! Serialized as `{"kind":"REFRIGERATED"}` or
//! `{"kind":"CUSTOM","min_c":-20,"max_c":-10,"alarm_delay_minutes":10,"excursion_budget_minutes":30}`.
//! Bounds are inclusive: a reading at exactly `max_c` is in range.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::FieldError;

/// Lowest temperature of the refrigerated range, °C.
pub const REFRIGERATED_MIN_C: f64 = 2.0;
/// Highest temperature of the refrigerated range, °C.
pub const REFRIGERATED_MAX_C: f64 = 8.0;
/// Minutes out of range before a refrigerated shipment raises an alarm.
pub const REFRIGERATED_ALARM_DELAY_MINUTES: u32 = 15;
/// Cumulative minutes out of range a refrigerated trip may accumulate.
pub const REFRIGERATED_EXCURSION_BUDGET_MINUTES: u32 = 60;

/// Lowest temperature of the controlled room temperature range, °C.
pub const CONTROLLED_ROOM_MIN_C: f64 = 15.0;
/// Highest temperature of the controlled room temperature range, °C.
pub const CONTROLLED_ROOM_MAX_C: f64 = 25.0;
/// Minutes out of range before a controlled-room shipment raises an alarm.
pub const CONTROLLED_ROOM_ALARM_DELAY_MINUTES: u32 = 30;
/// Cumulative minutes out of range a controlled-room trip may accumulate.
pub const CONTROLLED_ROOM_EXCURSION_BUDGET_MINUTES: u32 = 240;

/// Lowest temperature of the frozen range, °C.
pub const FROZEN_MIN_C: f64 = -25.0;
/// Highest temperature of the frozen range, °C.
pub const FROZEN_MAX_C: f64 = -15.0;
/// Minutes out of range before a frozen shipment raises an alarm.
pub const FROZEN_ALARM_DELAY_MINUTES: u32 = 10;
/// Cumulative minutes out of range a frozen trip may accumulate.
pub const FROZEN_EXCURSION_BUDGET_MINUTES: u32 = 30;

/// Lowest temperature of the ultra-cold range, °C.
pub const ULTRA_COLD_MIN_C: f64 = -90.0;
/// Highest temperature of the ultra-cold range, °C.
pub const ULTRA_COLD_MAX_C: f64 = -60.0;
/// Minutes out of range before an ultra-cold shipment raises an alarm.
pub const ULTRA_COLD_ALARM_DELAY_MINUTES: u32 = 5;
/// Cumulative minutes out of range an ultra-cold trip may accumulate.
pub const ULTRA_COLD_EXCURSION_BUDGET_MINUTES: u32 = 15;

/// Lowest bound a custom profile may use, °C.
pub const CUSTOM_MIN_C: f64 = -100.0;
/// Highest bound a custom profile may use, °C.
pub const CUSTOM_MAX_C: f64 = 100.0;
/// Longest alarm delay of a custom profile, minutes (one day).
pub const MAX_ALARM_DELAY_MINUTES: u32 = 1440;
/// Largest excursion budget of a custom profile, minutes (one week).
pub const MAX_EXCURSION_BUDGET_MINUTES: u32 = 10080;

/// The temperature rules of a shipment's product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemperatureProfile {
    /// 2…8 °C: most vaccines, insulin, biologics.
    Refrigerated,
    /// 15…25 °C: controlled room temperature.
    ControlledRoom,
    /// −25…−15 °C.
    Frozen,
    /// −90…−60 °C: e.g. mRNA vaccines.
    UltraCold,
    /// A range and limits of the shipper's choosing (see [`TemperatureProfile::custom`]).
    Custom {
        /// Lowest allowed temperature, °C (inclusive).
        min_c: f64,
        /// Highest allowed temperature, °C (inclusive).
        max_c: f64,
        /// Minutes continuously out of range before an alarm.
        alarm_delay_minutes: u32,
        /// Cumulative minutes out of range allowed over the trip.
        excursion_budget_minutes: u32,
    },
}

/// The effective rules of a profile, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileLimits {
    /// Lowest allowed temperature, °C (inclusive).
    pub min_c: f64,
    /// Highest allowed temperature, °C (inclusive).
    pub max_c: f64,
    /// Minutes continuously out of range before an alarm.
    pub alarm_delay_minutes: u32,
    /// Cumulative minutes out of range allowed over the trip.
    pub excursion_budget_minutes: u32,
}

impl ProfileLimits {
    /// Whether a temperature lies within the range (bounds included).
    pub fn contains(&self, temperature_c: f64) -> bool {
        (self.min_c..=self.max_c).contains(&temperature_c)
    }

    /// The alarm delay as a duration.
    pub fn alarm_delay(&self) -> time::Duration {
        time::Duration::minutes(i64::from(self.alarm_delay_minutes))
    }

    /// The excursion budget as a duration.
    pub fn excursion_budget(&self) -> time::Duration {
        time::Duration::minutes(i64::from(self.excursion_budget_minutes))
    }
}

impl TemperatureProfile {
    /// The predefined profiles (every kind but `CUSTOM`).
    pub const PREDEFINED: [TemperatureProfile; 4] = [
        TemperatureProfile::Refrigerated,
        TemperatureProfile::ControlledRoom,
        TemperatureProfile::Frozen,
        TemperatureProfile::UltraCold,
    ];

    /// The wire name of the kind, e.g. `REFRIGERATED`.
    pub fn kind(&self) -> &'static str {
        match self {
            TemperatureProfile::Refrigerated => "REFRIGERATED",
            TemperatureProfile::ControlledRoom => "CONTROLLED_ROOM",
            TemperatureProfile::Frozen => "FROZEN",
            TemperatureProfile::UltraCold => "ULTRA_COLD",
            TemperatureProfile::Custom { .. } => "CUSTOM",
        }
    }

    /// The effective range, alarm delay and excursion budget.
    pub fn limits(&self) -> ProfileLimits {
        let (min_c, max_c, alarm_delay_minutes, excursion_budget_minutes) = match *self {
            TemperatureProfile::Refrigerated => (
                REFRIGERATED_MIN_C,
                REFRIGERATED_MAX_C,
                REFRIGERATED_ALARM_DELAY_MINUTES,
                REFRIGERATED_EXCURSION_BUDGET_MINUTES,
            ),
            TemperatureProfile::ControlledRoom => (
                CONTROLLED_ROOM_MIN_C,
                CONTROLLED_ROOM_MAX_C,
                CONTROLLED_ROOM_ALARM_DELAY_MINUTES,
                CONTROLLED_ROOM_EXCURSION_BUDGET_MINUTES,
            ),
            TemperatureProfile::Frozen => (
                FROZEN_MIN_C,
                FROZEN_MAX_C,
                FROZEN_ALARM_DELAY_MINUTES,
                FROZEN_EXCURSION_BUDGET_MINUTES,
            ),
            TemperatureProfile::UltraCold => (
                ULTRA_COLD_MIN_C,
                ULTRA_COLD_MAX_C,
                ULTRA_COLD_ALARM_DELAY_MINUTES,
                ULTRA_COLD_EXCURSION_BUDGET_MINUTES,
            ),
            TemperatureProfile::Custom {
                min_c,
                max_c,
                alarm_delay_minutes,
                excursion_budget_minutes,
            } => (min_c, max_c, alarm_delay_minutes, excursion_budget_minutes),
        };
        ProfileLimits {
            min_c,
            max_c,
            alarm_delay_minutes,
            excursion_budget_minutes,
        }
    }

    /// A validated custom profile: `min_c < max_c`, both finite and within
    /// [`CUSTOM_MIN_C`]..=[`CUSTOM_MAX_C`], the delay at most
    /// [`MAX_ALARM_DELAY_MINUTES`] and the budget at most
    /// [`MAX_EXCURSION_BUDGET_MINUTES`]. Every problem is reported, with the
    /// field names of the custom profile (`min_c`, …).
    pub fn custom(
        min_c: f64,
        max_c: f64,
        alarm_delay_minutes: u32,
        excursion_budget_minutes: u32,
    ) -> Result<Self, Vec<FieldError>> {
        let profile = TemperatureProfile::Custom {
            min_c,
            max_c,
            alarm_delay_minutes,
            excursion_budget_minutes,
        };
        let errors = profile.problems();
        if errors.is_empty() {
            Ok(profile)
        } else {
            Err(errors)
        }
    }

    /// Every rule the profile breaks (none for the predefined kinds).
    pub fn problems(&self) -> Vec<FieldError> {
        match *self {
            TemperatureProfile::Custom {
                min_c,
                max_c,
                alarm_delay_minutes,
                excursion_budget_minutes,
            } => custom_problems(
                Some(min_c),
                Some(max_c),
                Some(alarm_delay_minutes),
                Some(excursion_budget_minutes),
            ),
            _ => Vec::new(),
        }
    }

    /// Reads a profile from untrusted JSON, reporting every problem with
    /// field names relative to the profile object (`kind`, `min_c`, …).
    /// Unknown fields are rejected, and a predefined kind takes no other field.
    pub fn from_json(raw: &Value) -> Result<Self, Vec<FieldError>> {
        let Some(object) = raw.as_object() else {
            return Err(vec![FieldError::new(
                "",
                "must be an object such as {\"kind\": \"REFRIGERATED\"}",
            )]);
        };
        let kind = match object.get("kind") {
            None | Some(Value::Null) => {
                return Err(vec![FieldError::new("kind", "is required")]);
            }
            Some(Value::String(kind)) => kind.as_str(),
            Some(_) => return Err(vec![FieldError::new("kind", KIND_MESSAGE)]),
        };
        let predefined = match kind {
            "REFRIGERATED" => Some(TemperatureProfile::Refrigerated),
            "CONTROLLED_ROOM" => Some(TemperatureProfile::ControlledRoom),
            "FROZEN" => Some(TemperatureProfile::Frozen),
            "ULTRA_COLD" => Some(TemperatureProfile::UltraCold),
            "CUSTOM" => None,
            _ => return Err(vec![FieldError::new("kind", KIND_MESSAGE)]),
        };
        if let Some(profile) = predefined {
            let errors: Vec<FieldError> = object
                .keys()
                .filter(|key| key.as_str() != "kind")
                .map(|key| FieldError::new(key.as_str(), format!("unknown field for kind {kind}")))
                .collect();
            return if errors.is_empty() {
                Ok(profile)
            } else {
                Err(errors)
            };
        }
        custom_from_json(object)
    }
}

const KIND_MESSAGE: &str =
    "must be one of REFRIGERATED, CONTROLLED_ROOM, FROZEN, ULTRA_COLD or CUSTOM";

const CUSTOM_FIELDS: [&str; 5] = [
    "kind",
    "min_c",
    "max_c",
    "alarm_delay_minutes",
    "excursion_budget_minutes",
];

/// The rules of a custom profile, checked on the values that are known.
fn custom_problems(
    min_c: Option<f64>,
    max_c: Option<f64>,
    alarm_delay_minutes: Option<u32>,
    excursion_budget_minutes: Option<u32>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let in_bounds =
        |value: f64| value.is_finite() && (CUSTOM_MIN_C..=CUSTOM_MAX_C).contains(&value);
    for (field, value) in [("min_c", min_c), ("max_c", max_c)] {
        if let Some(value) = value.filter(|value| !in_bounds(*value)) {
            errors.push(FieldError::new(
                field,
                format!("must be between {CUSTOM_MIN_C} and {CUSTOM_MAX_C} (got {value})"),
            ));
        }
    }
    if let (Some(min_c), Some(max_c)) = (min_c, max_c) {
        if in_bounds(min_c) && in_bounds(max_c) && min_c >= max_c {
            errors.push(FieldError::new(
                "max_c",
                format!("must be greater than min_c ({min_c}; got {max_c})"),
            ));
        }
    }
    for (field, value, max) in [
        (
            "alarm_delay_minutes",
            alarm_delay_minutes,
            MAX_ALARM_DELAY_MINUTES,
        ),
        (
            "excursion_budget_minutes",
            excursion_budget_minutes,
            MAX_EXCURSION_BUDGET_MINUTES,
        ),
    ] {
        if let Some(value) = value.filter(|value| *value > max) {
            errors.push(FieldError::new(
                field,
                format!("must be between 0 and {max} (got {value})"),
            ));
        }
    }
    errors
}

fn custom_from_json(object: &Map<String, Value>) -> Result<TemperatureProfile, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|key| !CUSTOM_FIELDS.contains(&key.as_str()))
        .map(|key| FieldError::new(key.as_str(), "unknown field"))
        .collect();
    let mut number = |field: &str| match object.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(value) => match value.as_f64().filter(|n| n.is_finite()) {
            Some(n) => Some(n),
            None => {
                errors.push(FieldError::new(field, "must be a number"));
                None
            }
        },
    };
    let min_c = number("min_c");
    let max_c = number("max_c");
    let mut minutes = |field: &str, max: u32| match object.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                errors.push(FieldError::new(
                    field,
                    format!("must be a whole number of minutes between 0 and {max}"),
                ));
                None
            }
        },
    };
    let delay = minutes("alarm_delay_minutes", MAX_ALARM_DELAY_MINUTES);
    let budget = minutes("excursion_budget_minutes", MAX_EXCURSION_BUDGET_MINUTES);
    errors.extend(custom_problems(min_c, max_c, delay, budget));
    match (min_c, max_c, delay, budget) {
        (Some(min_c), Some(max_c), Some(alarm_delay_minutes), Some(excursion_budget_minutes))
            if errors.is_empty() =>
        {
            Ok(TemperatureProfile::Custom {
                min_c,
                max_c,
                alarm_delay_minutes,
                excursion_budget_minutes,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn predefined_profiles_have_the_documented_limits() {
        let expected = [
            (TemperatureProfile::Refrigerated, 2.0, 8.0, 15, 60),
            (TemperatureProfile::ControlledRoom, 15.0, 25.0, 30, 240),
            (TemperatureProfile::Frozen, -25.0, -15.0, 10, 30),
            (TemperatureProfile::UltraCold, -90.0, -60.0, 5, 15),
        ];
        for (profile, min_c, max_c, delay, budget) in expected {
            assert_eq!(
                profile.limits(),
                ProfileLimits {
                    min_c,
                    max_c,
                    alarm_delay_minutes: delay,
                    excursion_budget_minutes: budget
                },
                "{}",
                profile.kind()
            );
            assert!(profile.problems().is_empty());
        }
    }

    #[test]
    fn ranges_include_their_bounds() {
        let limits = TemperatureProfile::Refrigerated.limits();
        assert!(limits.contains(2.0));
        assert!(limits.contains(8.0));
        assert!(limits.contains(5.0));
        assert!(!limits.contains(1.99));
        assert!(!limits.contains(8.01));
        assert!(!limits.contains(f64::NAN));
        assert_eq!(limits.alarm_delay(), time::Duration::minutes(15));
        assert_eq!(limits.excursion_budget(), time::Duration::hours(1));
    }

    #[test]
    fn profiles_serialize_with_a_kind_tag() {
        assert_eq!(
            serde_json::to_value(TemperatureProfile::Refrigerated).unwrap(),
            json!({"kind": "REFRIGERATED"})
        );
        assert_eq!(
            serde_json::to_value(TemperatureProfile::UltraCold).unwrap(),
            json!({"kind": "ULTRA_COLD"})
        );
        let custom = TemperatureProfile::custom(-20.0, -10.5, 10, 30).unwrap();
        let json = serde_json::to_value(custom).unwrap();
        assert_eq!(
            json,
            json!({"kind": "CUSTOM", "min_c": -20.0, "max_c": -10.5,
                   "alarm_delay_minutes": 10, "excursion_budget_minutes": 30})
        );
        assert_eq!(
            serde_json::from_value::<TemperatureProfile>(json).unwrap(),
            custom
        );
        for profile in TemperatureProfile::PREDEFINED {
            let json = serde_json::to_value(profile).unwrap();
            assert_eq!(json["kind"], profile.kind());
            assert_eq!(TemperatureProfile::from_json(&json), Ok(profile));
        }
    }

    #[test]
    fn custom_limits_are_its_own() {
        let custom = TemperatureProfile::custom(0.0, 4.0, 0, 10080).unwrap();
        assert_eq!(
            custom.limits(),
            ProfileLimits {
                min_c: 0.0,
                max_c: 4.0,
                alarm_delay_minutes: 0,
                excursion_budget_minutes: 10080
            }
        );
        assert_eq!(custom.kind(), "CUSTOM");
    }

    #[test]
    fn custom_profiles_are_validated_all_at_once() {
        let errors = TemperatureProfile::custom(-150.0, 120.0, 1441, 10081).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "min_c",
                "max_c",
                "alarm_delay_minutes",
                "excursion_budget_minutes"
            ]
        );
        let errors = TemperatureProfile::custom(5.0, 5.0, 0, 0).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new(
                "max_c",
                "must be greater than min_c (5; got 5)"
            )]
        );
        assert!(TemperatureProfile::custom(8.0, 2.0, 15, 60).is_err());
        assert!(TemperatureProfile::custom(f64::NAN, 2.0, 15, 60).is_err());
        assert!(TemperatureProfile::custom(-100.0, 100.0, 1440, 10080).is_ok());
    }

    #[test]
    fn profiles_from_untrusted_json() {
        assert_eq!(
            TemperatureProfile::from_json(&json!({"kind": "FROZEN"})),
            Ok(TemperatureProfile::Frozen)
        );
        assert_eq!(
            TemperatureProfile::from_json(&json!({"kind": "CUSTOM", "min_c": 2, "max_c": 6,
                "alarm_delay_minutes": 20, "excursion_budget_minutes": 45})),
            Ok(TemperatureProfile::Custom {
                min_c: 2.0,
                max_c: 6.0,
                alarm_delay_minutes: 20,
                excursion_budget_minutes: 45
            })
        );
        let fields = |raw: Value| -> Vec<String> {
            TemperatureProfile::from_json(&raw)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(json!({})), ["kind"]);
        assert_eq!(fields(json!({"kind": "refrigerated"})), ["kind"]);
        assert_eq!(fields(json!({"kind": 3})), ["kind"]);
        assert_eq!(fields(json!("REFRIGERATED")), [""]);
        assert_eq!(
            fields(json!({"kind": "FROZEN", "min_c": 1})),
            ["min_c"],
            "a predefined kind takes no limits"
        );
        assert_eq!(
            fields(json!({"kind": "CUSTOM", "colour": "blue"})),
            [
                "colour",
                "min_c",
                "max_c",
                "alarm_delay_minutes",
                "excursion_budget_minutes"
            ]
        );
        assert_eq!(
            fields(json!({"kind": "CUSTOM", "min_c": "2", "max_c": 6,
                "alarm_delay_minutes": -1, "excursion_budget_minutes": 1.5})),
            ["min_c", "alarm_delay_minutes", "excursion_budget_minutes"]
        );
        assert_eq!(
            fields(json!({"kind": "CUSTOM", "min_c": 9, "max_c": 6,
                "alarm_delay_minutes": 1, "excursion_budget_minutes": 1, "x": 1})),
            ["x", "max_c"]
        );
    }

    proptest! {
        #[test]
        fn custom_is_valid_exactly_when_the_rules_hold(
            min_c in -150.0f64..150.0,
            max_c in -150.0f64..150.0,
            delay in 0u32..3000,
            budget in 0u32..20000,
        ) {
            let valid = (-100.0..=100.0).contains(&min_c)
                && (-100.0..=100.0).contains(&max_c)
                && min_c < max_c
                && delay <= 1440
                && budget <= 10080;
            let result = TemperatureProfile::custom(min_c, max_c, delay, budget);
            prop_assert_eq!(result.is_ok(), valid);
            if let Ok(profile) = result {
                let limits = profile.limits();
                prop_assert!(limits.contains(min_c) && limits.contains(max_c));
                prop_assert!(limits.contains((min_c + max_c) / 2.0));
                let json = serde_json::to_value(profile).unwrap();
                prop_assert_eq!(TemperatureProfile::from_json(&json), Ok(profile));
            }
        }
    }
}
