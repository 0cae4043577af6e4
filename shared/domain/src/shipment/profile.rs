//! Temperature profiles: the range a product must stay in, and for each side
//! of it how long a reading may stay out before an alarm and how many minutes
//! out the whole trip may accumulate; plus optional outer zones that alarm
//! at once (or after a short delay) as CRITICAL.
//!
//! | kind | range | above: delay / budget | below: delay / budget | hot zone | cold zone |
//! |---|---|---|---|---|---|
//! | `REFRIGERATED` | 2…8 °C | 15 / 60 min | 5 / 15 min | above 25 °C for 5 min | below 0 °C, at once |
//! | `CONTROLLED_ROOM` | 15…25 °C | 30 / 240 min | 30 / 240 min | above 30 °C for 5 min | below 0 °C for 5 min |
//! | `FROZEN` | −25…−15 °C | 10 / 30 min | 60 / 240 min | above −10 °C for 5 min | — |
//! | `ULTRA_COLD` | −90…−60 °C | 5 / 15 min | 60 / 240 min | above −50 °C, at once |  — |
//! | `CUSTOM` | `min_c`…`max_c` | `alarm_delay_minutes` / `excursion_budget_minutes` | `lower_alarm_delay_minutes` / `lower_excursion_budget_minutes` (default: the upper ones) | `hot_zone` | `cold_zone` |
//!
//! Where the figures come from (README, "Temperature profiles"): the ranges
//! are USP <659>'s storage conditions (refrigerator 2–8 °C, controlled room
//! 20–25 °C with excursions 15–30 °C, freezer −25…−10 °C) and the
//! manufacturers' ultra-cold range for mRNA vaccines; the cold zone of
//! refrigerated goods is WHO PQS E006's freeze alarm (a freeze-sensitive
//! vaccine must never freeze); the hot zones are the upper ends of USP
//! <659>'s permitted excursions. The delays and budgets are the platform's
//! defaults for road transport (WHO TRS 961 Annex 9 asks for alarm delays
//! set per lane from the product's stability data): a shipper with stability
//! data sets its own with a `CUSTOM` profile.
//!
//! Serialized as `{"kind":"REFRIGERATED"}` or
//! `{"kind":"CUSTOM","min_c":-20,"max_c":-10,"alarm_delay_minutes":10,"excursion_budget_minutes":30,
//! "cold_zone":{"below_c":-40,"delay_minutes":0}}`.
//! Bounds are inclusive: a reading at exactly `max_c` is in range, one at
//! exactly a zone's limit is not in the zone.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Duration;

use crate::FieldError;

/// Lowest temperature of the refrigerated range, °C.
pub const REFRIGERATED_MIN_C: f64 = 2.0;
/// Highest temperature of the refrigerated range, °C.
pub const REFRIGERATED_MAX_C: f64 = 8.0;
/// Lowest temperature of the controlled room temperature range, °C.
pub const CONTROLLED_ROOM_MIN_C: f64 = 15.0;
/// Highest temperature of the controlled room temperature range, °C.
pub const CONTROLLED_ROOM_MAX_C: f64 = 25.0;
/// Lowest temperature of the frozen range, °C.
pub const FROZEN_MIN_C: f64 = -25.0;
/// Highest temperature of the frozen range, °C.
pub const FROZEN_MAX_C: f64 = -15.0;
/// Lowest temperature of the ultra-cold range, °C.
pub const ULTRA_COLD_MIN_C: f64 = -90.0;
/// Highest temperature of the ultra-cold range, °C.
pub const ULTRA_COLD_MAX_C: f64 = -60.0;

/// Lowest bound a custom profile may use, °C.
pub const CUSTOM_MIN_C: f64 = -100.0;
/// Highest bound a custom profile may use, °C.
pub const CUSTOM_MAX_C: f64 = 100.0;
/// Longest alarm delay of a custom profile, minutes (one day).
pub const MAX_ALARM_DELAY_MINUTES: u32 = 1440;
/// Largest excursion budget of a custom profile, minutes (one week).
pub const MAX_EXCURSION_BUDGET_MINUTES: u32 = 10080;

/// The rule of one side of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRule {
    /// Minutes continuously out on this side before an alarm.
    pub delay_minutes: u32,
    /// Cumulative minutes out on this side allowed over the trip.
    pub budget_minutes: u32,
}

impl LimitRule {
    /// The alarm delay as a duration.
    pub fn delay(&self) -> Duration {
        Duration::minutes(i64::from(self.delay_minutes))
    }

    /// The budget as a duration.
    pub fn budget(&self) -> Duration {
        Duration::minutes(i64::from(self.budget_minutes))
    }
}

/// An outer zone: a temperature beyond which the product is at once in
/// danger. Its alarm is CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zone {
    /// The zone starts strictly beyond this temperature, °C.
    pub limit_c: f64,
    /// Minutes continuously in the zone before its alarm (0: at once).
    pub delay_minutes: u32,
}

impl Zone {
    /// The delay as a duration.
    pub fn delay(&self) -> Duration {
        Duration::minutes(i64::from(self.delay_minutes))
    }
}

/// The effective rules of a profile, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileLimits {
    /// Lowest allowed temperature, °C (inclusive).
    pub min_c: f64,
    /// Highest allowed temperature, °C (inclusive).
    pub max_c: f64,
    /// Above `max_c`.
    pub upper: LimitRule,
    /// Below `min_c`.
    pub lower: LimitRule,
    /// Above `hot_zone.limit_c` (> `max_c`).
    pub hot_zone: Option<Zone>,
    /// Below `cold_zone.limit_c` (< `min_c`).
    pub cold_zone: Option<Zone>,
}

impl ProfileLimits {
    /// Whether a temperature lies within the range (bounds included).
    pub fn contains(&self, temperature_c: f64) -> bool {
        (self.min_c..=self.max_c).contains(&temperature_c)
    }

    /// The total budget of both sides, minutes (what a single figure shows).
    pub fn total_budget_minutes(&self) -> u32 {
        self.upper
            .budget_minutes
            .saturating_add(self.lower.budget_minutes)
    }
}

/// A `CUSTOM` profile's outer zone above the range, as the API takes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotZone {
    /// The zone starts above this temperature, °C (> `max_c`).
    pub above_c: f64,
    /// Minutes in the zone before its CRITICAL alarm (0: at once).
    pub delay_minutes: u32,
}

/// A `CUSTOM` profile's outer zone below the range, as the API takes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdZone {
    /// The zone starts below this temperature, °C (< `min_c`).
    pub below_c: f64,
    /// Minutes in the zone before its CRITICAL alarm (0: at once).
    pub delay_minutes: u32,
}

/// The rules of a `CUSTOM` profile (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomProfile {
    /// Lowest allowed temperature, °C (inclusive).
    pub min_c: f64,
    /// Highest allowed temperature, °C (inclusive).
    pub max_c: f64,
    /// Minutes continuously above the range before an alarm (and below it,
    /// unless `lower_alarm_delay_minutes` says otherwise).
    pub alarm_delay_minutes: u32,
    /// Cumulative minutes above the range allowed over the trip (and below
    /// it, unless `lower_excursion_budget_minutes` says otherwise).
    pub excursion_budget_minutes: u32,
    /// Minutes continuously below the range before an alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_alarm_delay_minutes: Option<u32>,
    /// Cumulative minutes below the range allowed over the trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_excursion_budget_minutes: Option<u32>,
    /// The outer zone above the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_zone: Option<HotZone>,
    /// The outer zone below the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_zone: Option<ColdZone>,
}

impl CustomProfile {
    /// A range with one delay and budget for both sides and no zone.
    pub fn new(
        min_c: f64,
        max_c: f64,
        alarm_delay_minutes: u32,
        excursion_budget_minutes: u32,
    ) -> Self {
        Self {
            min_c,
            max_c,
            alarm_delay_minutes,
            excursion_budget_minutes,
            lower_alarm_delay_minutes: None,
            lower_excursion_budget_minutes: None,
            hot_zone: None,
            cold_zone: None,
        }
    }

    /// Its effective rules.
    pub fn limits(&self) -> ProfileLimits {
        ProfileLimits {
            min_c: self.min_c,
            max_c: self.max_c,
            upper: LimitRule {
                delay_minutes: self.alarm_delay_minutes,
                budget_minutes: self.excursion_budget_minutes,
            },
            lower: LimitRule {
                delay_minutes: self
                    .lower_alarm_delay_minutes
                    .unwrap_or(self.alarm_delay_minutes),
                budget_minutes: self
                    .lower_excursion_budget_minutes
                    .unwrap_or(self.excursion_budget_minutes),
            },
            hot_zone: self.hot_zone.map(|zone| Zone {
                limit_c: zone.above_c,
                delay_minutes: zone.delay_minutes,
            }),
            cold_zone: self.cold_zone.map(|zone| Zone {
                limit_c: zone.below_c,
                delay_minutes: zone.delay_minutes,
            }),
        }
    }

    /// Every rule it breaks, with the field names of the profile object
    /// (`min_c`, `hot_zone.above_c`, …).
    pub fn problems(&self) -> Vec<FieldError> {
        custom_problems(&Partial {
            min_c: Some(self.min_c),
            max_c: Some(self.max_c),
            alarm_delay_minutes: Some(self.alarm_delay_minutes),
            excursion_budget_minutes: Some(self.excursion_budget_minutes),
            lower_alarm_delay_minutes: self.lower_alarm_delay_minutes,
            lower_excursion_budget_minutes: self.lower_excursion_budget_minutes,
            hot_zone: self
                .hot_zone
                .map(|z| (Some(z.above_c), Some(z.delay_minutes))),
            cold_zone: self
                .cold_zone
                .map(|z| (Some(z.below_c), Some(z.delay_minutes))),
        })
    }
}

/// The temperature rules of a shipment's product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemperatureProfile {
    /// 2…8 °C: most vaccines, insulin, biologics; must never freeze.
    Refrigerated,
    /// 15…25 °C: controlled room temperature.
    ControlledRoom,
    /// −25…−15 °C.
    Frozen,
    /// −90…−60 °C: e.g. mRNA vaccines.
    UltraCold,
    /// Limits of the shipper's choosing (see [`TemperatureProfile::custom`]).
    Custom(CustomProfile),
}

const fn rule(delay_minutes: u32, budget_minutes: u32) -> LimitRule {
    LimitRule {
        delay_minutes,
        budget_minutes,
    }
}

const fn zone(limit_c: f64, delay_minutes: u32) -> Option<Zone> {
    Some(Zone {
        limit_c,
        delay_minutes,
    })
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
            TemperatureProfile::Custom(_) => "CUSTOM",
        }
    }

    /// The effective range, delays, budgets and zones (see the module table).
    pub fn limits(&self) -> ProfileLimits {
        match self {
            TemperatureProfile::Refrigerated => ProfileLimits {
                min_c: REFRIGERATED_MIN_C,
                max_c: REFRIGERATED_MAX_C,
                upper: rule(15, 60),
                lower: rule(5, 15),
                hot_zone: zone(25.0, 5),
                cold_zone: zone(0.0, 0),
            },
            TemperatureProfile::ControlledRoom => ProfileLimits {
                min_c: CONTROLLED_ROOM_MIN_C,
                max_c: CONTROLLED_ROOM_MAX_C,
                upper: rule(30, 240),
                lower: rule(30, 240),
                hot_zone: zone(30.0, 5),
                cold_zone: zone(0.0, 5),
            },
            TemperatureProfile::Frozen => ProfileLimits {
                min_c: FROZEN_MIN_C,
                max_c: FROZEN_MAX_C,
                upper: rule(10, 30),
                lower: rule(60, 240),
                hot_zone: zone(-10.0, 5),
                cold_zone: None,
            },
            TemperatureProfile::UltraCold => ProfileLimits {
                min_c: ULTRA_COLD_MIN_C,
                max_c: ULTRA_COLD_MAX_C,
                upper: rule(5, 15),
                lower: rule(60, 240),
                hot_zone: zone(-50.0, 0),
                cold_zone: None,
            },
            TemperatureProfile::Custom(custom) => custom.limits(),
        }
    }

    /// A validated custom profile with one delay and budget for both sides
    /// and no zone (see [`CustomProfile::problems`] for the rules).
    pub fn custom(
        min_c: f64,
        max_c: f64,
        alarm_delay_minutes: u32,
        excursion_budget_minutes: u32,
    ) -> Result<Self, Vec<FieldError>> {
        Self::custom_with(CustomProfile::new(
            min_c,
            max_c,
            alarm_delay_minutes,
            excursion_budget_minutes,
        ))
    }

    /// A validated custom profile.
    pub fn custom_with(custom: CustomProfile) -> Result<Self, Vec<FieldError>> {
        let errors = custom.problems();
        if errors.is_empty() {
            Ok(TemperatureProfile::Custom(custom))
        } else {
            Err(errors)
        }
    }

    /// Every rule the profile breaks (none for the predefined kinds).
    pub fn problems(&self) -> Vec<FieldError> {
        match self {
            TemperatureProfile::Custom(custom) => custom.problems(),
            _ => Vec::new(),
        }
    }

    /// Reads a profile from untrusted JSON, reporting every problem with
    /// field names relative to the profile object (`kind`, `min_c`,
    /// `cold_zone.below_c`, …). Unknown fields are rejected, and a
    /// predefined kind takes no other field.
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

const CUSTOM_FIELDS: [&str; 9] = [
    "kind",
    "min_c",
    "max_c",
    "alarm_delay_minutes",
    "excursion_budget_minutes",
    "lower_alarm_delay_minutes",
    "lower_excursion_budget_minutes",
    "hot_zone",
    "cold_zone",
];

/// A custom profile as far as it could be read (`None`: missing or unreadable,
/// already reported).
#[derive(Default)]
struct Partial {
    min_c: Option<f64>,
    max_c: Option<f64>,
    alarm_delay_minutes: Option<u32>,
    excursion_budget_minutes: Option<u32>,
    lower_alarm_delay_minutes: Option<u32>,
    lower_excursion_budget_minutes: Option<u32>,
    /// (limit, delay) of a zone that was given.
    hot_zone: Option<(Option<f64>, Option<u32>)>,
    cold_zone: Option<(Option<f64>, Option<u32>)>,
}

fn in_bounds(value: f64) -> bool {
    value.is_finite() && (CUSTOM_MIN_C..=CUSTOM_MAX_C).contains(&value)
}

/// The rules of a custom profile, checked on the values that are known.
fn custom_problems(p: &Partial) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let bounds = format!("must be between {CUSTOM_MIN_C} and {CUSTOM_MAX_C}");
    for (field, value) in [("min_c", p.min_c), ("max_c", p.max_c)] {
        if let Some(value) = value.filter(|value| !in_bounds(*value)) {
            errors.push(FieldError::new(field, format!("{bounds} (got {value})")));
        }
    }
    let min_c = p.min_c.filter(|v| in_bounds(*v));
    let max_c = p.max_c.filter(|v| in_bounds(*v));
    if let (Some(min_c), Some(max_c)) = (min_c, max_c) {
        if min_c >= max_c {
            errors.push(FieldError::new(
                "max_c",
                format!("must be greater than min_c ({min_c}; got {max_c})"),
            ));
        }
    }
    let too_long = |field: &str, value: Option<u32>, max: u32, errors: &mut Vec<FieldError>| {
        if let Some(value) = value.filter(|value| *value > max) {
            errors.push(FieldError::new(
                field,
                format!("must be between 0 and {max} (got {value})"),
            ));
        }
    };
    too_long(
        "alarm_delay_minutes",
        p.alarm_delay_minutes,
        MAX_ALARM_DELAY_MINUTES,
        &mut errors,
    );
    too_long(
        "excursion_budget_minutes",
        p.excursion_budget_minutes,
        MAX_EXCURSION_BUDGET_MINUTES,
        &mut errors,
    );
    too_long(
        "lower_alarm_delay_minutes",
        p.lower_alarm_delay_minutes,
        MAX_ALARM_DELAY_MINUTES,
        &mut errors,
    );
    too_long(
        "lower_excursion_budget_minutes",
        p.lower_excursion_budget_minutes,
        MAX_EXCURSION_BUDGET_MINUTES,
        &mut errors,
    );
    let upper_delay = p.alarm_delay_minutes;
    let lower_delay = p.lower_alarm_delay_minutes.or(p.alarm_delay_minutes);
    for (name, limit_field, zone, side_delay, beyond) in [
        ("hot_zone", "above_c", p.hot_zone, upper_delay, max_c),
        ("cold_zone", "below_c", p.cold_zone, lower_delay, min_c),
    ] {
        let Some((limit, delay)) = zone else { continue };
        let hot = name == "hot_zone";
        if let Some(limit) = limit {
            if !in_bounds(limit) {
                errors.push(FieldError::new(
                    format!("{name}.{limit_field}"),
                    format!("{bounds} (got {limit})"),
                ));
            } else if let Some(bound) = beyond {
                let outside = if hot { limit > bound } else { limit < bound };
                if !outside {
                    let (word, bound_name) = if hot {
                        ("above", "max_c")
                    } else {
                        ("below", "min_c")
                    };
                    errors.push(FieldError::new(
                        format!("{name}.{limit_field}"),
                        format!(
                            "must be {word} {bound_name} ({bound}; got {limit}): a zone lies outside the range"
                        ),
                    ));
                }
            }
        }
        too_long(
            &format!("{name}.delay_minutes"),
            delay,
            MAX_ALARM_DELAY_MINUTES,
            &mut errors,
        );
        if let (Some(delay), Some(side)) = (delay, side_delay) {
            if delay <= MAX_ALARM_DELAY_MINUTES && delay > side {
                errors.push(FieldError::new(
                    format!("{name}.delay_minutes"),
                    format!(
                        "must not be longer than the alarm delay of its side of the range ({side} min; got {delay})"
                    ),
                ));
            }
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
    let mut partial = Partial {
        min_c: number(object, "min_c", "min_c", true, &mut errors),
        max_c: number(object, "max_c", "max_c", true, &mut errors),
        ..Partial::default()
    };
    partial.alarm_delay_minutes = minutes(
        object,
        "alarm_delay_minutes",
        "alarm_delay_minutes",
        MAX_ALARM_DELAY_MINUTES,
        true,
        &mut errors,
    );
    partial.excursion_budget_minutes = minutes(
        object,
        "excursion_budget_minutes",
        "excursion_budget_minutes",
        MAX_EXCURSION_BUDGET_MINUTES,
        true,
        &mut errors,
    );
    partial.lower_alarm_delay_minutes = minutes(
        object,
        "lower_alarm_delay_minutes",
        "lower_alarm_delay_minutes",
        MAX_ALARM_DELAY_MINUTES,
        false,
        &mut errors,
    );
    partial.lower_excursion_budget_minutes = minutes(
        object,
        "lower_excursion_budget_minutes",
        "lower_excursion_budget_minutes",
        MAX_EXCURSION_BUDGET_MINUTES,
        false,
        &mut errors,
    );
    partial.hot_zone = zone_from_json(object, "hot_zone", "above_c", &mut errors);
    partial.cold_zone = zone_from_json(object, "cold_zone", "below_c", &mut errors);
    errors.extend(custom_problems(&partial));
    if !errors.is_empty() {
        return Err(errors);
    }
    let complete = |zone: Option<(Option<f64>, Option<u32>)>| match zone {
        Some((Some(limit), Some(delay))) => Ok(Some((limit, delay))),
        Some(_) => Err(()),
        None => Ok(None),
    };
    match (
        partial.min_c,
        partial.max_c,
        partial.alarm_delay_minutes,
        partial.excursion_budget_minutes,
        complete(partial.hot_zone),
        complete(partial.cold_zone),
    ) {
        (Some(min_c), Some(max_c), Some(delay), Some(budget), Ok(hot), Ok(cold)) => {
            Ok(TemperatureProfile::Custom(CustomProfile {
                min_c,
                max_c,
                alarm_delay_minutes: delay,
                excursion_budget_minutes: budget,
                lower_alarm_delay_minutes: partial.lower_alarm_delay_minutes,
                lower_excursion_budget_minutes: partial.lower_excursion_budget_minutes,
                hot_zone: hot.map(|(above_c, delay_minutes)| HotZone {
                    above_c,
                    delay_minutes,
                }),
                cold_zone: cold.map(|(below_c, delay_minutes)| ColdZone {
                    below_c,
                    delay_minutes,
                }),
            }))
        }
        // every missing part was reported above
        _ => Err(errors),
    }
}

fn number(
    object: &Map<String, Value>,
    key: &str,
    field: &str,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<f64> {
    match object.get(key) {
        None | Some(Value::Null) => {
            if required {
                errors.push(FieldError::new(field, "is required"));
            }
            None
        }
        Some(value) => match value.as_f64().filter(|n| n.is_finite()) {
            Some(n) => Some(n),
            None => {
                errors.push(FieldError::new(field, "must be a number"));
                None
            }
        },
    }
}

fn minutes(
    object: &Map<String, Value>,
    key: &str,
    field: &str,
    max: u32,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<u32> {
    match object.get(key) {
        None | Some(Value::Null) => {
            if required {
                errors.push(FieldError::new(field, "is required"));
            }
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
    }
}

/// A zone object `{"<limit_key>": °C, "delay_minutes": n}`; `None` when absent.
fn zone_from_json(
    object: &Map<String, Value>,
    name: &str,
    limit_key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(Option<f64>, Option<u32>)> {
    let raw = match object.get(name) {
        None | Some(Value::Null) => return None,
        Some(Value::Object(raw)) => raw,
        Some(_) => {
            errors.push(FieldError::new(
                name,
                format!("must be an object such as {{\"{limit_key}\": 0, \"delay_minutes\": 0}}"),
            ));
            return Some((None, None));
        }
    };
    for key in raw.keys() {
        if key != limit_key && key != "delay_minutes" {
            errors.push(FieldError::new(format!("{name}.{key}"), "unknown field"));
        }
    }
    let limit = number(raw, limit_key, &format!("{name}.{limit_key}"), true, errors);
    let delay = minutes(
        raw,
        "delay_minutes",
        &format!("{name}.delay_minutes"),
        MAX_ALARM_DELAY_MINUTES,
        true,
        errors,
    );
    Some((limit, delay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn custom(min_c: f64, max_c: f64, delay: u32, budget: u32) -> TemperatureProfile {
        TemperatureProfile::custom(min_c, max_c, delay, budget).unwrap()
    }

    #[test]
    fn predefined_profiles_have_the_documented_limits() {
        // (profile, range, above delay/budget, below delay/budget, hot zone, cold zone)
        type Row = (
            TemperatureProfile,
            (f64, f64),
            (u32, u32),
            (u32, u32),
            Option<(f64, u32)>,
            Option<(f64, u32)>,
        );
        let expected: [Row; 4] = [
            (
                TemperatureProfile::Refrigerated,
                (2.0, 8.0),
                (15, 60),
                (5, 15),
                Some((25.0, 5)),
                Some((0.0, 0)),
            ),
            (
                TemperatureProfile::ControlledRoom,
                (15.0, 25.0),
                (30, 240),
                (30, 240),
                Some((30.0, 5)),
                Some((0.0, 5)),
            ),
            (
                TemperatureProfile::Frozen,
                (-25.0, -15.0),
                (10, 30),
                (60, 240),
                Some((-10.0, 5)),
                None,
            ),
            (
                TemperatureProfile::UltraCold,
                (-90.0, -60.0),
                (5, 15),
                (60, 240),
                Some((-50.0, 0)),
                None,
            ),
        ];
        let zone = |z: Option<(f64, u32)>| {
            z.map(|(limit_c, delay_minutes)| Zone {
                limit_c,
                delay_minutes,
            })
        };
        for (profile, (min_c, max_c), upper, lower, hot, cold) in expected {
            assert_eq!(
                profile.limits(),
                ProfileLimits {
                    min_c,
                    max_c,
                    upper: rule(upper.0, upper.1),
                    lower: rule(lower.0, lower.1),
                    hot_zone: zone(hot),
                    cold_zone: zone(cold),
                },
                "{}",
                profile.kind()
            );
            assert!(profile.problems().is_empty());
            // the predefined limits obey the custom rules too
            let limits = profile.limits();
            let as_custom = CustomProfile {
                min_c,
                max_c,
                alarm_delay_minutes: limits.upper.delay_minutes,
                excursion_budget_minutes: limits.upper.budget_minutes,
                lower_alarm_delay_minutes: Some(limits.lower.delay_minutes),
                lower_excursion_budget_minutes: Some(limits.lower.budget_minutes),
                hot_zone: hot.map(|(above_c, delay_minutes)| HotZone {
                    above_c,
                    delay_minutes,
                }),
                cold_zone: cold.map(|(below_c, delay_minutes)| ColdZone {
                    below_c,
                    delay_minutes,
                }),
            };
            assert_eq!(as_custom.problems(), [], "{}", profile.kind());
            assert_eq!(as_custom.limits(), limits);
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
        assert_eq!(limits.upper.delay(), Duration::minutes(15));
        assert_eq!(limits.upper.budget(), Duration::hours(1));
        assert_eq!(limits.lower.delay(), Duration::minutes(5));
        assert_eq!(limits.total_budget_minutes(), 75);
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
        let plain = custom(-20.0, -10.5, 10, 30);
        let json = serde_json::to_value(plain).unwrap();
        assert_eq!(
            json,
            json!({"kind": "CUSTOM", "min_c": -20.0, "max_c": -10.5,
                   "alarm_delay_minutes": 10, "excursion_budget_minutes": 30}),
            "a profile stored before zones existed reads and writes the same"
        );
        assert_eq!(
            serde_json::from_value::<TemperatureProfile>(json).unwrap(),
            plain
        );
        let zoned = TemperatureProfile::custom_with(CustomProfile {
            lower_alarm_delay_minutes: Some(2),
            cold_zone: Some(ColdZone {
                below_c: -30.0,
                delay_minutes: 0,
            }),
            ..CustomProfile::new(-20.0, -10.0, 10, 30)
        })
        .unwrap();
        let json = serde_json::to_value(zoned).unwrap();
        assert_eq!(
            json,
            json!({"kind": "CUSTOM", "min_c": -20.0, "max_c": -10.0,
                   "alarm_delay_minutes": 10, "excursion_budget_minutes": 30,
                   "lower_alarm_delay_minutes": 2,
                   "cold_zone": {"below_c": -30.0, "delay_minutes": 0}})
        );
        assert_eq!(TemperatureProfile::from_json(&json), Ok(zoned));
        for profile in TemperatureProfile::PREDEFINED {
            let json = serde_json::to_value(profile).unwrap();
            assert_eq!(json["kind"], profile.kind());
            assert_eq!(TemperatureProfile::from_json(&json), Ok(profile));
        }
    }

    #[test]
    fn custom_limits_are_its_own_on_both_sides_unless_the_lower_side_is_given() {
        let plain = custom(0.0, 4.0, 0, 10080);
        assert_eq!(
            plain.limits(),
            ProfileLimits {
                min_c: 0.0,
                max_c: 4.0,
                upper: rule(0, 10080),
                lower: rule(0, 10080),
                hot_zone: None,
                cold_zone: None,
            }
        );
        assert_eq!(plain.kind(), "CUSTOM");
        let sided = CustomProfile {
            lower_alarm_delay_minutes: Some(3),
            lower_excursion_budget_minutes: Some(9),
            hot_zone: Some(HotZone {
                above_c: 12.0,
                delay_minutes: 1,
            }),
            ..CustomProfile::new(0.0, 4.0, 10, 60)
        };
        let limits = sided.limits();
        assert_eq!(limits.lower, rule(3, 9));
        assert_eq!(limits.upper, rule(10, 60));
        assert_eq!(
            limits.hot_zone,
            Some(Zone {
                limit_c: 12.0,
                delay_minutes: 1
            })
        );
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
    fn zones_must_lie_outside_the_range_and_alarm_no_later_than_their_side() {
        let fields = |custom: CustomProfile| -> Vec<String> {
            custom.problems().into_iter().map(|e| e.field).collect()
        };
        let base = CustomProfile {
            lower_alarm_delay_minutes: Some(5),
            ..CustomProfile::new(2.0, 8.0, 15, 60)
        };
        let hot = |above_c, delay_minutes| {
            Some(HotZone {
                above_c,
                delay_minutes,
            })
        };
        let cold = |below_c, delay_minutes| {
            Some(ColdZone {
                below_c,
                delay_minutes,
            })
        };
        assert!(
            fields(CustomProfile {
                hot_zone: hot(25.0, 15),
                cold_zone: cold(0.0, 5),
                ..base
            })
            .is_empty()
        );
        assert_eq!(
            fields(CustomProfile {
                hot_zone: hot(8.0, 0),
                cold_zone: cold(2.5, 0),
                ..base
            }),
            ["hot_zone.above_c", "cold_zone.below_c"],
            "a zone at or inside the range"
        );
        assert_eq!(
            fields(CustomProfile {
                hot_zone: hot(25.0, 16),
                cold_zone: cold(0.0, 6),
                ..base
            }),
            ["hot_zone.delay_minutes", "cold_zone.delay_minutes"],
            "a zone alarming after its side's alarm"
        );
        assert_eq!(
            fields(CustomProfile {
                hot_zone: hot(101.0, 0),
                cold_zone: cold(f64::NAN, 2000),
                ..base
            }),
            [
                "hot_zone.above_c",
                "cold_zone.below_c",
                "cold_zone.delay_minutes"
            ]
        );
        let message = CustomProfile {
            cold_zone: cold(3.0, 0),
            ..base
        }
        .problems();
        assert_eq!(
            message[0].message,
            "must be below min_c (2; got 3): a zone lies outside the range"
        );
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
            Ok(custom(2.0, 6.0, 20, 45))
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
        assert_eq!(
            fields(json!({"kind": "CUSTOM", "min_c": 2, "max_c": 8,
                "alarm_delay_minutes": 15, "excursion_budget_minutes": 60,
                "lower_alarm_delay_minutes": -5,
                "hot_zone": 25,
                "cold_zone": {"below_c": "0", "delay": 1}})),
            [
                "lower_alarm_delay_minutes",
                "hot_zone",
                "cold_zone.delay",
                "cold_zone.below_c",
                "cold_zone.delay_minutes"
            ]
        );
        assert_eq!(
            TemperatureProfile::from_json(&json!({"kind": "CUSTOM", "min_c": 2, "max_c": 8,
                "alarm_delay_minutes": 15, "excursion_budget_minutes": 60,
                "lower_excursion_budget_minutes": 10,
                "hot_zone": {"above_c": 30, "delay_minutes": 5},
                "cold_zone": {"below_c": -0.5, "delay_minutes": 0}}))
            .map(|p| p.limits()),
            Ok(ProfileLimits {
                min_c: 2.0,
                max_c: 8.0,
                upper: rule(15, 60),
                lower: rule(15, 10),
                hot_zone: zone(30.0, 5),
                cold_zone: zone(-0.5, 0),
            })
        );
    }

    proptest! {
        #[test]
        fn custom_is_valid_exactly_when_the_rules_hold(
            min_c in -150.0f64..150.0,
            max_c in -150.0f64..150.0,
            delay in 0u32..3000,
            budget in 0u32..20000,
            cold in prop::option::of((-150.0f64..150.0, 0u32..3000)),
        ) {
            let mut valid = (-100.0..=100.0).contains(&min_c)
                && (-100.0..=100.0).contains(&max_c)
                && min_c < max_c
                && delay <= 1440
                && budget <= 10080;
            if let Some((below_c, zone_delay)) = cold {
                valid &= (-100.0..=100.0).contains(&below_c)
                    && below_c < min_c
                    && zone_delay <= delay;
            }
            let profile = CustomProfile {
                cold_zone: cold.map(|(below_c, delay_minutes)| ColdZone { below_c, delay_minutes }),
                ..CustomProfile::new(min_c, max_c, delay, budget)
            };
            let result = TemperatureProfile::custom_with(profile);
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
