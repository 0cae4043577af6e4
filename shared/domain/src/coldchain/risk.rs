//! Risk estimate: the financial loss a shipment's incidents may have caused,
//! as a share of its cargo value, with a breakdown and the assumptions used.
//!
//! Pure: [`estimate_risk`] takes a [`RiskInput`] (what a risk calculator
//! knows after an alarm, or what a manager asks in a what-if question) and
//! returns a [`RiskEstimate`]. Four parts, each a fraction of the cargo
//! value in 0..=1:
//!
//! | part | curve |
//! |---|---|
//! | [`RiskComponent::Crash`] | 0 at or below the crash threshold; [`CRASH_DAMAGE_PER_G`] per g above it, capped at [`CRASH_DAMAGE_CAP`] |
//! | [`RiskComponent::ExcursionSpoilage`] | with `u` = minutes above the range ÷ the upper budget: 0 while `u` ≤ [`EXCURSION_FREE_SHARE`], then `((u − free) / (1 − free))²`, 1 (total loss) once the budget is exhausted |
//! | [`RiskComponent::ColdSpoilage`] | the same curve for minutes below the range ÷ the lower budget; 1 (total loss) after any minute in the profile's cold zone (frozen goods that must not freeze) |
//! | [`RiskComponent::MktSpoilage`] | 0 while the MKT is at or below the profile's `max_c`; [`MKT_SPOILAGE_PER_C`] per °C above it, up to 1. An MKT below the range adds nothing here (cold exposure is the cold part) |
//!
//! The parts overlap (crushed goods cannot also spoil), so they are combined
//! as independent losses: total = 1 − Π(1 − fᵢ). The total never exceeds the
//! cargo value and is never below the largest part; it is less than the sum of
//! the parts, which are each reported on their own.
//!
//! # Money
//!
//! Fractions are `f64`; amounts never are. The cargo value is read exactly
//! with [`Money::scaled`] and expressed in units of 10^−scale, where the scale
//! is the larger of the amount's own decimals and the currency's minor units
//! ([`currency_minor_units`]; `"48000"` EUR is `"48000.00"`). A fraction is
//! quantised to parts per billion ([`FRACTION_QUANTUM`]) and applied in
//! integer arithmetic, rounding half up to that unit. Every amount is a
//! decimal string with exactly that scale.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::shipment::validation::parse_decimal;
use crate::shipment::{Money, ProfileLimits, TemperatureProfile};
use crate::telemetry::{MAX_TEMPERATURE_C, MAX_VIBRATION_G, MIN_TEMPERATURE_C, MIN_VIBRATION_G};

use super::shock::DEFAULT_CRASH_THRESHOLD_G;

/// Crash damage per g of peak vibration above the crash threshold, as a
/// fraction of the cargo value (0.10: a 6 g peak over a 4 g threshold
/// damages 20 %).
pub const CRASH_DAMAGE_PER_G: f64 = 0.10;
/// Most crash damage, as a fraction of the cargo value: packaging protects
/// part of the load whatever the shock.
pub const CRASH_DAMAGE_CAP: f64 = 0.50;
/// Share of the excursion budget that may be used without any spoilage
/// (0.25: the first 15 of a refrigerated trip's 60 minutes cost nothing).
pub const EXCURSION_FREE_SHARE: f64 = 0.25;
/// Spoilage per °C of mean kinetic temperature above the profile's upper
/// bound, as a fraction of the cargo value.
pub const MKT_SPOILAGE_PER_C: f64 = 0.10;
/// Fractions are applied to money in units of 1 / `FRACTION_QUANTUM` (parts
/// per billion).
pub const FRACTION_QUANTUM: u64 = 1_000_000_000;
/// Most minutes out of range accepted in an estimate (a year).
pub const MAX_RISK_EXCURSION_MINUTES: f64 = 525_600.0;
/// Smallest crash threshold accepted, g (a threshold must be positive).
pub const MIN_RISK_CRASH_THRESHOLD_G: f64 = 0.1;

/// What an estimate is based on: the `POST /v1/risk/estimate` body, or what
/// the risk calculator builds from a shipment and its alarm.
///
/// JSON: `{"cargo_value": {"amount": "48000.00", "currency": "EUR"},
/// "profile": {"kind": "REFRIGERATED"}, "peak_vibration_g": 6.0,
/// "excursion_minutes": 30, "minutes_below_range": 4, "cold_zone_minutes": 0,
/// "mkt_c": 9.1}`; all but `cargo_value` and
/// `profile` are optional. Check it with [`RiskInput::problems`] (done by
/// [`estimate_risk`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskInput {
    /// The value of the cargo.
    pub cargo_value: Money,
    /// The temperature rules of the product (range and excursion budget).
    pub profile: TemperatureProfile,
    /// Highest vibration peak seen, g (`None`: no shock data, no crash damage).
    #[serde(default)]
    pub peak_vibration_g: Option<f64>,
    /// Crash threshold, g (default [`DEFAULT_CRASH_THRESHOLD_G`]).
    #[serde(default = "default_crash_threshold_g")]
    pub crash_threshold_g: f64,
    /// Cumulative minutes above the range over the trip (default 0). When
    /// `minutes_below_range` is not given, the minutes out of range on either
    /// side, judged against the upper budget (the estimate before the sides
    /// were told apart).
    #[serde(default)]
    pub excursion_minutes: f64,
    /// Cumulative minutes below the range over the trip, judged against the
    /// lower budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes_below_range: Option<f64>,
    /// Minutes in the profile's cold zone (any is a total loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_zone_minutes: Option<f64>,
    /// Mean kinetic temperature of the trip so far, °C (`None`: unknown).
    #[serde(default)]
    pub mkt_c: Option<f64>,
}

fn default_crash_threshold_g() -> f64 {
    DEFAULT_CRASH_THRESHOLD_G
}

/// One source of loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskComponent {
    /// Damage from a shock above the crash threshold.
    Crash,
    /// Spoilage from minutes above the range against the upper budget.
    ExcursionSpoilage,
    /// Spoilage from minutes below the range, or any time in the cold zone.
    ColdSpoilage,
    /// Spoilage from a mean kinetic temperature above the range.
    MktSpoilage,
}

/// One part of the estimate, on its own (the parts overlap; see the module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskPart {
    /// Which source of loss.
    pub component: RiskComponent,
    /// Share of the cargo value lost to it, 0..=1.
    pub fraction: f64,
    /// That share of the cargo value, a decimal string in the estimate's currency.
    pub amount: String,
    /// What it was computed from, in words.
    pub basis: String,
}

/// The estimated loss of a shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskEstimate {
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The cargo value at the estimate's scale, e.g. `"48000.00"`.
    pub cargo_value: String,
    /// Crash, excursion (warm) spoilage, cold spoilage and MKT spoilage,
    /// always in that order.
    pub parts: Vec<RiskPart>,
    /// Combined share lost: 1 − Π(1 − fᵢ), 0..=1.
    pub total_fraction: f64,
    /// Combined amount lost, never more than `cargo_value`.
    pub total: String,
    /// The rules and constants used, in words, for the reader of the estimate.
    pub assumptions: Vec<String>,
}

impl RiskEstimate {
    /// The total as [`Money`].
    pub fn total_money(&self) -> Money {
        Money {
            amount: self.total.clone(),
            currency: self.currency.clone(),
        }
    }

    /// The part for `component`.
    pub fn part(&self, component: RiskComponent) -> Option<&RiskPart> {
        self.parts.iter().find(|part| part.component == component)
    }
}

impl RiskInput {
    /// Every problem with the input, with field paths such as
    /// `cargo_value.amount` or `profile.min_c` (empty when valid).
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(message) = parse_decimal(&self.cargo_value.amount) {
            errors.push(FieldError::new("cargo_value.amount", message));
        }
        let currency = &self.cargo_value.currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                "cargo_value.currency",
                "must be an ISO 4217 code: three uppercase letters such as \"EUR\"",
            ));
        }
        for problem in self.profile.problems() {
            let field = if problem.field.is_empty() {
                "profile".to_owned()
            } else {
                format!("profile.{}", problem.field)
            };
            errors.push(FieldError::new(field, problem.message));
        }
        let vibration_ok =
            |g: f64| g.is_finite() && (MIN_VIBRATION_G..=MAX_VIBRATION_G).contains(&g);
        if !self.peak_vibration_g.is_none_or(vibration_ok) {
            errors.push(FieldError::new(
                "peak_vibration_g",
                format!("must be a number between {MIN_VIBRATION_G} and {MAX_VIBRATION_G}"),
            ));
        }
        let threshold = self.crash_threshold_g;
        if !(threshold.is_finite()
            && (MIN_RISK_CRASH_THRESHOLD_G..=MAX_VIBRATION_G).contains(&threshold))
        {
            errors.push(FieldError::new(
                "crash_threshold_g",
                format!(
                    "must be a number between {MIN_RISK_CRASH_THRESHOLD_G} and {MAX_VIBRATION_G}"
                ),
            ));
        }
        for (field, minutes) in [
            ("excursion_minutes", Some(self.excursion_minutes)),
            ("minutes_below_range", self.minutes_below_range),
            ("cold_zone_minutes", self.cold_zone_minutes),
        ] {
            let Some(minutes) = minutes else { continue };
            if !(minutes.is_finite() && (0.0..=MAX_RISK_EXCURSION_MINUTES).contains(&minutes)) {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "must be a number of minutes between 0 and {MAX_RISK_EXCURSION_MINUTES}"
                    ),
                ));
            }
        }
        let mkt_ok =
            |mkt: f64| mkt.is_finite() && (MIN_TEMPERATURE_C..=MAX_TEMPERATURE_C).contains(&mkt);
        if !self.mkt_c.is_none_or(mkt_ok) {
            errors.push(FieldError::new(
                "mkt_c",
                format!(
                    "must be a temperature between {MIN_TEMPERATURE_C} and {MAX_TEMPERATURE_C} °C"
                ),
            ));
        }
        errors
    }
}

/// Crash damage as a fraction of the cargo value (see the module table).
/// No peak, or a peak at or below `threshold_g`, is no damage.
pub fn crash_fraction(peak_g: Option<f64>, threshold_g: f64) -> f64 {
    match peak_g {
        Some(g) if g.is_finite() && g > threshold_g => {
            (CRASH_DAMAGE_PER_G * (g - threshold_g)).min(CRASH_DAMAGE_CAP)
        }
        _ => 0.0,
    }
}

/// Share of the excursion budget used: minutes out ÷ budget (may exceed 1).
/// With a zero budget, any minute out of range exhausts it.
pub fn budget_used(excursion_minutes: f64, budget_minutes: u32) -> f64 {
    let minutes = excursion_minutes.max(0.0);
    if budget_minutes > 0 {
        minutes / f64::from(budget_minutes)
    } else if minutes > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// Spoilage from minutes out of range (see the module table): 0 up to
/// [`EXCURSION_FREE_SHARE`] of the budget, then rising quadratically to 1
/// when the budget is exhausted.
pub fn excursion_fraction(excursion_minutes: f64, budget_minutes: u32) -> f64 {
    let used = budget_used(excursion_minutes, budget_minutes);
    if used >= 1.0 {
        return 1.0;
    }
    let over = ((used - EXCURSION_FREE_SHARE) / (1.0 - EXCURSION_FREE_SHARE)).max(0.0);
    (over * over).min(1.0)
}

/// Spoilage from the cold side (see the module table): the excursion curve
/// over the lower budget, or total loss after any time in the cold zone.
pub fn cold_fraction(minutes_below: f64, budget_minutes: u32, cold_zone_minutes: f64) -> f64 {
    if cold_zone_minutes > 0.0 {
        return 1.0;
    }
    excursion_fraction(minutes_below, budget_minutes)
}

/// Spoilage from the mean kinetic temperature (see the module table): 0 at or
/// below `limits.max_c` or when unknown.
pub fn mkt_fraction(mkt_c: Option<f64>, limits: &ProfileLimits) -> f64 {
    match mkt_c {
        Some(mkt) if mkt.is_finite() && mkt > limits.max_c => {
            (MKT_SPOILAGE_PER_C * (mkt - limits.max_c)).min(1.0)
        }
        _ => 0.0,
    }
}

/// Minutes in words: tenths of a minute, or seconds under a minute.
pub fn minutes_text(minutes: f64) -> String {
    if minutes > 0.0 && minutes < 1.0 {
        format!("{:.0} s", minutes * 60.0)
    } else {
        format!("{minutes:.1} min")
    }
}

/// Independent losses combined: 1 − Π(1 − fᵢ), each fᵢ clamped to 0..=1.
pub fn combine(fractions: &[f64]) -> f64 {
    let kept: f64 = fractions.iter().map(|f| 1.0 - clamp_fraction(*f)).product();
    clamp_fraction(1.0 - kept)
}

fn clamp_fraction(fraction: f64) -> f64 {
    if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    }
}

/// Decimals of the currency's minor unit (ISO 4217,
/// [`crate::shipment::currency`]): 0 for e.g. JPY and KRW, 3 for e.g. KWD and
/// BHD; 2 for a code the table does not hold (a shipment's currency is
/// always one it holds).
pub fn currency_minor_units(currency: &str) -> u32 {
    crate::shipment::currency::minor_units(currency).unwrap_or(2)
}

/// `fraction` of `units`, exactly: the fraction is quantised to
/// 1 / [`FRACTION_QUANTUM`] (nearest), then the product is rounded half up
/// to a whole unit. Never more than `units`.
pub fn apply_fraction(units: u64, fraction: f64) -> u64 {
    let quantum = u128::from(FRACTION_QUANTUM);
    // 0..=1e9 after the clamp, so the cast is exact
    let parts = (clamp_fraction(fraction) * FRACTION_QUANTUM as f64).round() as u128;
    let amount = (u128::from(units) * parts + quantum / 2) / quantum;
    // parts <= quantum, so amount <= units
    u64::try_from(amount).unwrap_or(units).min(units)
}

/// `units` × 10^−scale as a decimal string with exactly `scale` decimals.
fn format_units(units: u64, scale: u32) -> String {
    if scale == 0 {
        return units.to_string();
    }
    let divisor = 10u64.pow(scale);
    format!(
        "{}.{:0width$}",
        units / divisor,
        units % divisor,
        width = scale as usize
    )
}

/// Estimates the loss of a shipment, or says every problem with the input.
pub fn estimate_risk(input: &RiskInput) -> Result<RiskEstimate, Vec<FieldError>> {
    let errors = input.problems();
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some((mantissa, amount_scale)) = input.cargo_value.scaled() else {
        // checked by problems()
        return Err(vec![FieldError::new(
            "cargo_value.amount",
            "is not a decimal",
        )]);
    };
    let currency = input.cargo_value.currency.clone();
    let scale = amount_scale.max(currency_minor_units(&currency));
    // at most 15 integer digits and 4 decimals: below 10^19, within u64
    let units = mantissa
        .checked_mul(10u64.pow(scale - amount_scale))
        .ok_or_else(|| vec![FieldError::new("cargo_value.amount", "is too large")])?;

    let limits = input.profile.limits();
    let threshold = input.crash_threshold_g;
    let upper_budget = limits.upper.budget_minutes;
    let lower_budget = limits.lower.budget_minutes;
    let above = input.excursion_minutes;
    let below = input.minutes_below_range.unwrap_or(0.0);
    let frozen = input.cold_zone_minutes.unwrap_or(0.0);
    let fractions = [
        crash_fraction(input.peak_vibration_g, threshold),
        excursion_fraction(above, upper_budget),
        cold_fraction(below, lower_budget, frozen),
        mkt_fraction(input.mkt_c, &limits),
    ];
    let above_words = if input.minutes_below_range.is_some() {
        "above the range"
    } else {
        "out of range"
    };
    let bases = [
        match input.peak_vibration_g {
            None => "no vibration peak reported".to_owned(),
            Some(g) if g > threshold => format!(
                "peak {g:.1} g, {:.1} g above the {threshold:.1} g crash threshold",
                g - threshold
            ),
            Some(g) => format!("peak {g:.1} g, at or below the {threshold:.1} g crash threshold"),
        },
        format!(
            "{above:.1} of {upper_budget} budget minutes {above_words} ({:.0} % used)",
            budget_used(above, upper_budget) * 100.0
        ),
        if frozen > 0.0 {
            format!(
                "{} in the cold zone below {} °C: frozen",
                minutes_text(frozen),
                limits.cold_zone.map_or(limits.min_c, |zone| zone.limit_c)
            )
        } else {
            format!(
                "{below:.1} of {lower_budget} budget minutes below the range ({:.0} % used)",
                budget_used(below, lower_budget) * 100.0
            )
        },
        match input.mkt_c {
            None => "mean kinetic temperature unknown".to_owned(),
            Some(mkt) if mkt > limits.max_c => format!(
                "MKT {mkt:.2} °C, {:.2} °C above the {:.1} °C upper bound",
                mkt - limits.max_c,
                limits.max_c
            ),
            Some(mkt) => format!(
                "MKT {mkt:.2} °C, not above the {:.1} °C upper bound",
                limits.max_c
            ),
        },
    ];
    let components = [
        RiskComponent::Crash,
        RiskComponent::ExcursionSpoilage,
        RiskComponent::ColdSpoilage,
        RiskComponent::MktSpoilage,
    ];
    let parts = components
        .into_iter()
        .zip(fractions)
        .zip(bases)
        .map(|((component, fraction), basis)| RiskPart {
            component,
            fraction,
            amount: format_units(apply_fraction(units, fraction), scale),
            basis,
        })
        .collect();
    let total_fraction = combine(&fractions);
    let assumptions = vec![
        format!(
            "crash damage: none at or below {threshold:.1} g; {:.0} % of the cargo value per g above it, capped at {:.0} %",
            CRASH_DAMAGE_PER_G * 100.0,
            CRASH_DAMAGE_CAP * 100.0
        ),
        format!(
            "excursion spoilage: none while at most {:.0} % of the {upper_budget}-minute budget above the range is used; then rising quadratically to total loss when the budget is exhausted",
            EXCURSION_FREE_SHARE * 100.0,
        ),
        format!(
            "cold spoilage: the same curve over the {lower_budget}-minute budget below the range; total loss after any time in the cold zone{}",
            limits
                .cold_zone
                .map_or_else(|| " (this profile has none)".to_owned(), |zone| format!(" (below {} °C)", zone.limit_c))
        ),
        format!(
            "MKT spoilage: {:.0} % of the cargo value per °C of mean kinetic temperature above {:.1} °C, up to total loss; an MKT below the range adds nothing here (cold exposure is the cold part)",
            MKT_SPOILAGE_PER_C * 100.0,
            limits.max_c
        ),
        "the parts overlap and are combined as independent losses, total = 1 − Π(1 − part): never more than the cargo value, less than the sum of the parts".to_owned(),
        format!(
            "amounts in {currency} with {scale} decimals; fractions applied in parts per billion, rounded half up to the smallest unit"
        ),
    ];
    Ok(RiskEstimate {
        currency,
        cargo_value: format_units(units, scale),
        parts,
        total_fraction,
        total: format_units(apply_fraction(units, total_fraction), scale),
        assumptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shipment::CustomProfile;
    use proptest::prelude::*;

    fn money(amount: &str, currency: &str) -> Money {
        Money {
            amount: amount.into(),
            currency: currency.into(),
        }
    }

    fn input(amount: &str) -> RiskInput {
        RiskInput {
            cargo_value: money(amount, "EUR"),
            profile: TemperatureProfile::Refrigerated,
            peak_vibration_g: None,
            crash_threshold_g: DEFAULT_CRASH_THRESHOLD_G,
            excursion_minutes: 0.0,
            minutes_below_range: None,
            cold_zone_minutes: None,
            mkt_c: None,
        }
    }

    fn estimate(input: &RiskInput) -> RiskEstimate {
        estimate_risk(input).expect("valid input")
    }

    fn amount(estimate: &RiskEstimate, component: RiskComponent) -> &str {
        &estimate.part(component).expect("part").amount
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn no_incident_is_no_loss() {
        let quiet = RiskInput {
            peak_vibration_g: Some(1.2),
            excursion_minutes: 10.0,
            mkt_c: Some(5.0),
            ..input("48000.00")
        };
        for input in [input("48000.00"), quiet] {
            let estimate = estimate(&input);
            assert_eq!(estimate.total, "0.00");
            assert_eq!(estimate.total_fraction, 0.0);
            assert_eq!(estimate.cargo_value, "48000.00");
            assert_eq!(estimate.currency, "EUR");
            assert_eq!(estimate.parts.len(), 4);
            assert!(estimate.parts.iter().all(|p| p.amount == "0.00"));
        }
    }

    #[test]
    fn a_crash_alone_damages_by_the_g_above_the_threshold() {
        let crash = |g| RiskInput {
            peak_vibration_g: Some(g),
            ..input("48000.00")
        };
        // 0.10 × (6 − 4) = 20 % of 48 000.00
        let estimate = estimate(&crash(6.0));
        assert_eq!(amount(&estimate, RiskComponent::Crash), "9600.00");
        assert_eq!(estimate.total, "9600.00");
        assert_eq!(amount(&estimate, RiskComponent::ExcursionSpoilage), "0.00");
        // at the threshold: nothing
        assert_eq!(estimate_risk(&crash(4.0)).unwrap().total, "0.00");
        // far above: capped at 50 %
        assert_eq!(estimate_risk(&crash(20.0)).unwrap().total, "24000.00");
        // a custom threshold
        let lenient = RiskInput {
            crash_threshold_g: 5.0,
            ..crash(6.0)
        };
        assert_eq!(estimate_risk(&lenient).unwrap().total, "4800.00");
    }

    #[test]
    fn excursion_spoilage_half_used_vs_exhausted() {
        let out = |minutes| RiskInput {
            excursion_minutes: minutes,
            ..input("48000.00")
        };
        // refrigerated budget 60 min; 15 min (25 %) is still free
        assert_eq!(estimate(&out(15.0)).total, "0.00");
        // half used: ((0.5 − 0.25) / 0.75)² = 1/9 → 111 111 111 ppb of
        // 4 800 000 cents = 533 333.3328 → 533 333 cents
        let half = estimate(&out(30.0));
        assert_eq!(amount(&half, RiskComponent::ExcursionSpoilage), "5333.33");
        assert_eq!(half.total, "5333.33");
        assert!((half.total_fraction - 1.0 / 9.0).abs() < 1e-12);
        // exhausted and beyond: total loss
        assert_eq!(estimate(&out(60.0)).total, "48000.00");
        assert_eq!(estimate(&out(90.0)).total, "48000.00");
    }

    #[test]
    fn a_zero_budget_is_exhausted_by_any_minute() {
        let profile = TemperatureProfile::custom(-20.0, -10.0, 10, 0).unwrap();
        let zero = RiskInput {
            profile,
            ..input("100.00")
        };
        assert_eq!(estimate(&zero).total, "0.00");
        let one = RiskInput {
            excursion_minutes: 0.5,
            ..zero
        };
        assert_eq!(estimate(&one).total, "100.00");
    }

    #[test]
    fn mkt_above_the_range_spoils() {
        let mkt = |c| RiskInput {
            mkt_c: Some(c),
            ..input("48000.00")
        };
        // 0.10 × (10.5 − 8) = 25 %
        let above = estimate(&mkt(10.5));
        assert_eq!(amount(&above, RiskComponent::MktSpoilage), "12000.00");
        assert_eq!(above.total, "12000.00");
        assert_eq!(estimate(&mkt(8.0)).total, "0.00");
        // below the range: counted by the excursion minutes, not the MKT
        assert_eq!(estimate(&mkt(1.0)).total, "0.00");
        // 10 °C above: total loss
        assert_eq!(estimate(&mkt(30.0)).total, "48000.00");
    }

    #[test]
    fn combined_parts_overlap_and_never_exceed_the_value() {
        // crash 20 %, MKT 25 %: 1 − 0.8 × 0.75 = 40 %
        let both = RiskInput {
            peak_vibration_g: Some(6.0),
            mkt_c: Some(10.5),
            ..input("48000.00")
        };
        let estimate_both = estimate(&both);
        assert_eq!(estimate_both.total, "19200.00");
        assert!((estimate_both.total_fraction - 0.4).abs() < 1e-12);

        // every part at its maximum
        let worst = RiskInput {
            peak_vibration_g: Some(100.0),
            excursion_minutes: 10_000.0,
            mkt_c: Some(60.0),
            ..input("48000.00")
        };
        let estimate_worst = estimate(&worst);
        assert_eq!(amount(&estimate_worst, RiskComponent::Crash), "24000.00");
        assert_eq!(estimate_worst.total, "48000.00");
        assert_eq!(estimate_worst.total_fraction, 1.0);
    }

    #[test]
    fn money_stays_exact_and_rounds_half_up() {
        // 1/9 of 100.01: 10 001 × 111 111 111 / 10⁹ = 1 111.22… → 1 111 cents
        let ninth = RiskInput {
            excursion_minutes: 30.0,
            ..input("100.01")
        };
        assert_eq!(estimate(&ninth).total, "11.11");
        // 10 % of 0.05 = 0.005 → half up → 0.01
        let half_cent = RiskInput {
            peak_vibration_g: Some(5.0),
            ..input("0.05")
        };
        assert_eq!(estimate(&half_cent).total, "0.01");
        // the largest amount keeps every digit
        let huge = RiskInput {
            peak_vibration_g: Some(6.0),
            ..input("999999999999999.9999")
        };
        let estimate_huge = estimate(&huge);
        assert_eq!(estimate_huge.cargo_value, "999999999999999.9999");
        assert_eq!(estimate_huge.total, "200000000000000.0000");
    }

    #[test]
    fn the_scale_follows_the_currency_and_the_amount() {
        let crash = |amount: &str, currency: &str| RiskInput {
            cargo_value: money(amount, currency),
            peak_vibration_g: Some(6.0),
            ..input("0")
        };
        let whole_euros = estimate(&crash("48000", "EUR"));
        assert_eq!(whole_euros.cargo_value, "48000.00");
        assert_eq!(whole_euros.total, "9600.00");
        assert_eq!(estimate(&crash("48000.0000", "EUR")).total, "9600.0000");
        assert_eq!(estimate(&crash("1000000", "JPY")).total, "200000");
        assert_eq!(estimate(&crash("1000", "KWD")).total, "200.000");
        assert_eq!(estimate(&crash("0", "EUR")).total, "0.00");
    }

    #[test]
    fn every_problem_is_reported_per_field() {
        let bad = RiskInput {
            cargo_value: money("-5", "eur"),
            profile: TemperatureProfile::Custom(CustomProfile::new(10.0, 5.0, 10, 30)),
            peak_vibration_g: Some(f64::NAN),
            crash_threshold_g: 0.0,
            excursion_minutes: -1.0,
            minutes_below_range: Some(f64::INFINITY),
            cold_zone_minutes: Some(-2.0),
            mkt_c: Some(500.0),
        };
        let errors = estimate_risk(&bad).unwrap_err();
        let fields = fields(&errors);
        for field in [
            "cargo_value.amount",
            "cargo_value.currency",
            "peak_vibration_g",
            "crash_threshold_g",
            "excursion_minutes",
            "mkt_c",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
        assert!(
            fields.iter().any(|f| f.starts_with("profile.")),
            "{fields:?}"
        );
        assert!(input("48000.00").problems().is_empty());
    }

    #[test]
    fn negative_minutes_alone_is_one_error() {
        let errors = estimate_risk(&RiskInput {
            excursion_minutes: -0.5,
            ..input("48000.00")
        })
        .unwrap_err();
        assert_eq!(fields(&errors), ["excursion_minutes"]);
    }

    #[test]
    fn input_and_output_are_json() {
        let body = r#"{"cargo_value":{"amount":"48000.00","currency":"EUR"},
            "profile":{"kind":"REFRIGERATED"},"peak_vibration_g":6.0}"#;
        let parsed: RiskInput = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.crash_threshold_g, DEFAULT_CRASH_THRESHOLD_G);
        assert_eq!(parsed.excursion_minutes, 0.0);
        assert_eq!(parsed.mkt_c, None);
        let unknown = r#"{"cargo_value":{"amount":"1","currency":"EUR"},
            "profile":{"kind":"FROZEN"},"colour":"red"}"#;
        assert!(serde_json::from_str::<RiskInput>(unknown).is_err());

        let json = serde_json::to_value(estimate(&parsed)).unwrap();
        assert_eq!(json["currency"], "EUR");
        assert_eq!(json["total"], "9600.00");
        assert_eq!(json["parts"][0]["component"], "CRASH");
        assert_eq!(json["parts"][0]["amount"], "9600.00");
        assert_eq!(json["parts"][1]["component"], "EXCURSION_SPOILAGE");
        assert_eq!(json["parts"][2]["component"], "COLD_SPOILAGE");
        assert_eq!(json["parts"][3]["component"], "MKT_SPOILAGE");
        assert!(json["assumptions"].as_array().unwrap().len() >= 4);
        let back: RiskEstimate = serde_json::from_value(json).unwrap();
        assert_eq!(back.total_money(), money("9600.00", "EUR"));
    }

    #[test]
    fn curves_at_their_edges() {
        assert_eq!(crash_fraction(None, 4.0), 0.0);
        assert_eq!(crash_fraction(Some(f64::INFINITY), 4.0), 0.0);
        assert_eq!(crash_fraction(Some(9.0), 4.0), CRASH_DAMAGE_CAP);
        assert_eq!(excursion_fraction(0.0, 60), 0.0);
        assert!(excursion_fraction(59.999, 60) < 1.0);
        assert_eq!(combine(&[]), 0.0);
        assert_eq!(combine(&[0.5, 0.5]), 0.75);
        assert_eq!(combine(&[2.0, f64::NAN]), 1.0);
        assert_eq!(apply_fraction(u64::MAX, 1.0), u64::MAX);
        assert_eq!(apply_fraction(7, 0.5), 4);
        assert_eq!(format_units(5, 2), "0.05");
        assert_eq!(format_units(5, 0), "5");
    }

    fn profiles() -> impl Strategy<Value = TemperatureProfile> {
        prop::sample::select(TemperatureProfile::PREDEFINED.to_vec())
    }

    fn amounts() -> impl Strategy<Value = String> {
        (0u64..100_000_000_000, 0u64..100).prop_map(|(euros, cents)| format!("{euros}.{cents:02}"))
    }

    fn total_units(estimate: &RiskEstimate) -> u64 {
        Money {
            amount: estimate.total.clone(),
            currency: estimate.currency.clone(),
        }
        .scaled()
        .unwrap()
        .0
    }

    proptest! {
        #[test]
        fn the_total_is_within_the_value_and_monotonic(
            amount in amounts(),
            profile in profiles(),
            g1 in 0.0f64..100.0,
            g2 in 0.0f64..100.0,
            m1 in 0.0f64..2_000.0,
            m2 in 0.0f64..2_000.0,
            mkt in prop::option::of(-100.0f64..100.0),
        ) {
            let base = RiskInput {
                cargo_value: money(&amount, "EUR"),
                profile,
                peak_vibration_g: Some(g1.min(g2)),
                crash_threshold_g: DEFAULT_CRASH_THRESHOLD_G,
                excursion_minutes: m1.min(m2),
                minutes_below_range: None,
                cold_zone_minutes: None,
                mkt_c: mkt,
            };
            let low = estimate_risk(&base).unwrap();
            let value = money(&low.cargo_value, "EUR").scaled().unwrap().0;
            prop_assert!(total_units(&low) <= value);
            prop_assert!((0.0..=1.0).contains(&low.total_fraction));
            for part in &low.parts {
                prop_assert!((0.0..=1.0).contains(&part.fraction));
                prop_assert!(part.fraction <= low.total_fraction + 1e-12);
            }

            let harder_shock = RiskInput { peak_vibration_g: Some(g1.max(g2)), ..base.clone() };
            let shocked = estimate_risk(&harder_shock).unwrap();
            prop_assert!(total_units(&shocked) >= total_units(&low));
            prop_assert!(shocked.total_fraction >= low.total_fraction);

            let longer = RiskInput { excursion_minutes: m1.max(m2), ..base };
            let longer = estimate_risk(&longer).unwrap();
            prop_assert!(total_units(&longer) >= total_units(&low));
            prop_assert!(total_units(&longer) <= value);
        }
    }
}
