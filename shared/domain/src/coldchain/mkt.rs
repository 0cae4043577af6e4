//! Mean kinetic temperature (USP 〈1079.2〉), computed incrementally.
//!
//! ```text
//! MKT = (ΔH/R) / −ln( Σ tᵢ·e^(−ΔH/(R·Tᵢ)) / Σ tᵢ )     T in kelvin
//! ```
//!
//! with ΔH/R = [`DELTA_H_OVER_R_K`] (10 000 K, i.e. ΔH = 83.144 kJ/mol).
//!
//! # Numerical stability
//!
//! `e^(−10 000/T)` is about 10⁻¹⁶ at 5 °C, and far smaller for frozen goods, so
//! summing the raw terms over a long trip loses precision. The accumulator
//! factors out the constant `e^(−ΔH/(R·T_ref))` with
//! `T_ref` = [`REFERENCE_TEMPERATURE_K`] (0 °C) and stores
//! `Σ tᵢ·e^(ΔH/R·(1/T_ref − 1/Tᵢ))`, whose terms lie between about e⁻¹⁹ and
//! e¹⁰ over the whole range a device may report (−100…+100 °C). The factor is
//! added back inside the logarithm:
//!
//! ```text
//! MKT = (ΔH/R) / ( ΔH/(R·T_ref) − ln(scaled_sum / Σ tᵢ) )
//! ```
//!
//! Because `T_ref` is a fixed constant, stored accumulators can be continued
//! and merged at any time.

use serde::{Deserialize, Serialize};
use time::Duration;

/// ΔH/R of the USP formula, in kelvin (ΔH = 83.144 kJ/mol).
pub const DELTA_H_OVER_R_K: f64 = 10_000.0;
/// Offset between degrees Celsius and kelvin.
pub const KELVIN_OFFSET: f64 = 273.15;
/// The reference temperature factored out of the sums, in kelvin (0 °C).
pub const REFERENCE_TEMPERATURE_K: f64 = KELVIN_OFFSET;

/// Why an interval was not added to an [`MktAccumulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MktError {
    /// The temperature is not a finite number above absolute zero.
    #[error("temperature must be a finite number above absolute zero")]
    InvalidTemperature,
    /// The duration is zero or negative.
    #[error("duration must be positive")]
    NonPositiveDuration,
}

/// A running mean kinetic temperature: add intervals of (temperature,
/// duration) one by one, read [`MktAccumulator::mkt_c`] at any time. Stored
/// per shipment (serializable) and continued with the next readings.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MktAccumulator {
    /// `Σ tᵢ·e^(ΔH/R·(1/T_ref − 1/Tᵢ))`, tᵢ in seconds (see the module docs).
    pub weighted_sum: f64,
    /// `Σ tᵢ`, in seconds.
    pub total_seconds: f64,
}

impl MktAccumulator {
    /// An empty accumulator (no MKT yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `duration` spent at `temperature_c`. Invalid input is refused and
    /// leaves the accumulator unchanged.
    pub fn add(&mut self, temperature_c: f64, duration: Duration) -> Result<(), MktError> {
        let kelvin = temperature_c + KELVIN_OFFSET;
        if !kelvin.is_finite() || kelvin <= 0.0 {
            return Err(MktError::InvalidTemperature);
        }
        if !duration.is_positive() {
            return Err(MktError::NonPositiveDuration);
        }
        let seconds = duration.as_seconds_f64();
        let exponent = DELTA_H_OVER_R_K * (1.0 / REFERENCE_TEMPERATURE_K - 1.0 / kelvin);
        self.weighted_sum += seconds * exponent.exp();
        self.total_seconds += seconds;
        Ok(())
    }

    /// Adds everything another accumulator holds (as if its intervals had
    /// been added here).
    pub fn merge(&mut self, other: &MktAccumulator) {
        self.weighted_sum += other.weighted_sum;
        self.total_seconds += other.total_seconds;
    }

    /// The total time accumulated.
    pub fn total(&self) -> Duration {
        Duration::seconds_f64(self.total_seconds)
    }

    /// The mean kinetic temperature in °C, or `None` before any interval.
    pub fn mkt_c(&self) -> Option<f64> {
        if self.total_seconds <= 0.0 || self.weighted_sum <= 0.0 {
            return None;
        }
        let mean_scaled = self.weighted_sum / self.total_seconds;
        let denominator = DELTA_H_OVER_R_K / REFERENCE_TEMPERATURE_K - mean_scaled.ln();
        let kelvin = DELTA_H_OVER_R_K / denominator;
        kelvin.is_finite().then_some(kelvin - KELVIN_OFFSET)
    }
}

/// The MKT of a list of (temperature °C, duration) intervals, or `None` when
/// no valid interval is given (invalid ones are skipped).
pub fn mean_kinetic_temperature(intervals: &[(f64, Duration)]) -> Option<f64> {
    let mut accumulator = MktAccumulator::new();
    for (temperature_c, duration) in intervals {
        // Invalid intervals are skipped on purpose (documented above).
        let _ = accumulator.add(*temperature_c, *duration);
    }
    accumulator.mkt_c()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOLERANCE_C: f64 = 0.001;

    fn hours(n: i64) -> Duration {
        Duration::hours(n)
    }

    fn assert_close(got: Option<f64>, expected: f64) {
        let got = got.expect("an MKT");
        assert!(
            (got - expected).abs() < TOLERANCE_C,
            "got {got}, expected {expected}"
        );
    }

    #[test]
    fn reference_two_and_eight() {
        assert_close(
            mean_kinetic_temperature(&[(2.0, hours(1)), (8.0, hours(1))]),
            5.536,
        );
    }

    #[test]
    fn reference_a_day_at_five_then_an_hour_at_fifteen() {
        assert_close(
            mean_kinetic_temperature(&[(5.0, hours(24)), (15.0, hours(1))]),
            5.734,
        );
    }

    #[test]
    fn reference_three_fours_and_a_twenty() {
        let intervals: Vec<(f64, Duration)> = [4.0, 4.0, 4.0, 20.0]
            .iter()
            .map(|t| (*t, hours(1)))
            .collect();
        assert_close(mean_kinetic_temperature(&intervals), 11.355);
    }

    #[test]
    fn is_not_the_arithmetic_mean() {
        let mkt = mean_kinetic_temperature(&[(4.0, hours(1)), (20.0, hours(1))]).unwrap();
        assert!((mkt - 12.0).abs() > 0.5, "MKT {mkt} looks like the mean");
        let mkt = mean_kinetic_temperature(&[
            (4.0, hours(1)),
            (4.0, hours(1)),
            (4.0, hours(1)),
            (20.0, hours(1)),
        ])
        .unwrap();
        assert!((mkt - 8.0).abs() > 3.0);
    }

    #[test]
    fn constant_temperature_is_itself_even_when_frozen_or_hot() {
        for t in [-90.0, -25.0, 0.0, 5.0, 40.0, 100.0] {
            assert_close(mean_kinetic_temperature(&[(t, Duration::days(365))]), t);
        }
    }

    #[test]
    fn empty_and_invalid_input() {
        assert_eq!(MktAccumulator::new().mkt_c(), None);
        let mut acc = MktAccumulator::new();
        assert_eq!(
            acc.add(f64::NAN, hours(1)),
            Err(MktError::InvalidTemperature)
        );
        assert_eq!(acc.add(-300.0, hours(1)), Err(MktError::InvalidTemperature));
        assert_eq!(
            acc.add(5.0, Duration::ZERO),
            Err(MktError::NonPositiveDuration)
        );
        assert_eq!(acc.add(5.0, -hours(1)), Err(MktError::NonPositiveDuration));
        assert_eq!(acc, MktAccumulator::new());
    }

    #[test]
    fn continues_after_a_serde_round_trip() {
        let mut acc = MktAccumulator::new();
        acc.add(2.0, hours(1)).unwrap();
        let json = serde_json::to_string(&acc).unwrap();
        let mut back: MktAccumulator = serde_json::from_str(&json).unwrap();
        back.add(8.0, hours(1)).unwrap();
        assert_close(back.mkt_c(), 5.536);
        assert_eq!(back.total(), hours(2));
    }

    #[test]
    fn merge_equals_adding_everything() {
        let mut a = MktAccumulator::new();
        a.add(5.0, hours(24)).unwrap();
        let mut b = MktAccumulator::new();
        b.add(15.0, hours(1)).unwrap();
        a.merge(&b);
        assert_close(a.mkt_c(), 5.734);
    }

    fn interval() -> impl Strategy<Value = (f64, Duration)> {
        (-90.0f64..60.0, 1i64..86_400).prop_map(|(t, s)| (t, Duration::seconds(s)))
    }

    proptest! {
        #[test]
        fn lies_between_min_and_max(intervals in prop::collection::vec(interval(), 1..40)) {
            let mkt = mean_kinetic_temperature(&intervals).unwrap();
            let min = intervals.iter().map(|i| i.0).fold(f64::INFINITY, f64::min);
            let max = intervals.iter().map(|i| i.0).fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(mkt >= min - 1e-6 && mkt <= max + 1e-6, "{mkt} not in {min}..{max}");
        }

        #[test]
        fn is_at_least_the_time_weighted_mean(intervals in prop::collection::vec(interval(), 1..40)) {
            let mkt = mean_kinetic_temperature(&intervals).unwrap();
            let total: f64 = intervals.iter().map(|i| i.1.as_seconds_f64()).sum();
            let mean = intervals.iter().map(|i| i.0 * i.1.as_seconds_f64()).sum::<f64>() / total;
            prop_assert!(mkt >= mean - 1e-6, "MKT {mkt} < mean {mean}");
        }

        #[test]
        fn splitting_an_interval_changes_nothing(
            intervals in prop::collection::vec(interval(), 1..20),
            index in any::<prop::sample::Index>(),
            fraction in 0.01f64..0.99,
        ) {
            let i = index.index(intervals.len());
            let (t, d) = intervals[i];
            let first = Duration::seconds_f64(d.as_seconds_f64() * fraction);
            let mut split = intervals.clone();
            split.remove(i);
            if first.is_positive() && (d - first).is_positive() {
                split.push((t, first));
                split.push((t, d - first));
            } else {
                split.push((t, d));
            }
            let a = mean_kinetic_temperature(&intervals).unwrap();
            let b = mean_kinetic_temperature(&split).unwrap();
            prop_assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }

        #[test]
        fn order_does_not_matter(intervals in prop::collection::vec(interval(), 1..30)) {
            let mut reversed = intervals.clone();
            reversed.reverse();
            let mut sorted = intervals.clone();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let a = mean_kinetic_temperature(&intervals).unwrap();
            prop_assert!((a - mean_kinetic_temperature(&reversed).unwrap()).abs() < 1e-6);
            prop_assert!((a - mean_kinetic_temperature(&sorted).unwrap()).abs() < 1e-6);
        }
    }
}
