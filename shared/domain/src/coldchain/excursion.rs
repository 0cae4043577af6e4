//! Excursion tracking: how long a shipment has been out of its temperature
//! range, continuously and in total over the trip.
//!
//! # Attribution rule
//!
//! Readings are points in time; the tracker turns them into intervals. The
//! interval between two consecutive readings is attributed to the **later**
//! reading: it counts as out of range when the later reading is out of range.
//! Each interval is capped at the `max_gap` passed in (see
//! [`super::DEFAULT_MAX_ATTRIBUTED_GAP`]), so a device that stays silent for
//! hours does not add hours of excursion (nor of in-range time). The first
//! reading of a trip has no interval before it and counts for nothing.
//!
//! - *continuous* time out of range is the attributed time of the current run
//!   of out-of-range readings (above or below: a jump from above to below
//!   without an in-range reading in between is one run);
//! - *cumulative* time out of range is the attributed out-of-range time over
//!   the whole trip;
//! - an excursion alarm is **due** when the continuous time reaches the
//!   profile's alarm delay; the **budget is exhausted** when the cumulative
//!   time reaches the profile's excursion budget (and is not zero).
//!
//! A reading whose timestamp is not after the last one (a duplicate or an
//! out-of-order reading) is ignored and leaves the tracker unchanged.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::shipment::ProfileLimits;

/// Where a temperature lies relative to the profile's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Band {
    /// Within the range, bounds included.
    #[default]
    InRange,
    /// Above the highest allowed temperature.
    Above,
    /// Below the lowest allowed temperature.
    Below,
}

impl Band {
    /// The band of `temperature_c` for `limits`.
    pub fn of(temperature_c: f64, limits: &ProfileLimits) -> Band {
        if temperature_c > limits.max_c {
            Band::Above
        } else if temperature_c < limits.min_c {
            Band::Below
        } else {
            Band::InRange
        }
    }

    /// Whether this is outside the range.
    pub fn is_out(self) -> bool {
        self != Band::InRange
    }

    /// How far `temperature_c` lies outside the range, °C (0 when inside).
    pub fn deviation(temperature_c: f64, limits: &ProfileLimits) -> f64 {
        match Band::of(temperature_c, limits) {
            Band::Above => temperature_c - limits.max_c,
            Band::Below => limits.min_c - temperature_c,
            Band::InRange => 0.0,
        }
    }
}

/// Why a reading was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Ignored {
    /// The reading was already processed (same id, or same timestamp as the
    /// last one).
    #[error("duplicate reading (already processed)")]
    Duplicate,
    /// The reading is older than the last one processed.
    #[error("out-of-order reading (older than the last one processed)")]
    OutOfOrder,
    /// The temperature is not a finite number.
    #[error("temperature is not a finite number")]
    InvalidTemperature,
}

/// The excursion state of one shipment, fed reading by reading. Stored per
/// shipment (serializable).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExcursionTracker {
    /// Timestamp of the first reading applied.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_ts: Option<OffsetDateTime>,
    /// Timestamp of the last reading applied.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_ts: Option<OffsetDateTime>,
    /// Band of the last reading applied.
    pub band: Band,
    /// Timestamp of the first reading of the current out-of-range run.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub out_since: Option<OffsetDateTime>,
    /// Attributed time of the current out-of-range run, milliseconds.
    pub continuous_ms: i64,
    /// Attributed time out of range over the trip, milliseconds.
    pub cumulative_ms: i64,
    /// Attributed time over the trip (in or out of range), milliseconds.
    pub attributed_ms: i64,
}

/// The excursion situation after a reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExcursionStatus {
    /// Band of the latest reading.
    pub band: Band,
    /// First reading of the current out-of-range run, if out of range.
    pub out_since: Option<OffsetDateTime>,
    /// Attributed time of the current out-of-range run.
    pub continuous: Duration,
    /// Attributed time out of range over the trip.
    pub cumulative: Duration,
    /// Fraction of the excursion budget used (1.0 = exhausted; may exceed 1).
    /// With a zero budget: 0 while nothing is out of range, else 1.
    pub budget_used: f64,
    /// Out of range continuously for at least the alarm delay.
    pub alarm_due: bool,
    /// The cumulative time out of range has reached the budget.
    pub budget_exhausted: bool,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.whole_milliseconds()).unwrap_or(i64::MAX)
}

impl ExcursionTracker {
    /// A tracker that has seen no reading.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a reading taken at `ts`. `max_gap` caps the interval
    /// attributed to it (see the module docs). Returns the new status, or why
    /// the reading was ignored (the tracker is then unchanged).
    pub fn observe(
        &mut self,
        ts: OffsetDateTime,
        temperature_c: f64,
        limits: &ProfileLimits,
        max_gap: Duration,
    ) -> Result<ExcursionStatus, Ignored> {
        if !temperature_c.is_finite() {
            return Err(Ignored::InvalidTemperature);
        }
        let interval = match self.last_ts {
            Some(last) if ts == last => return Err(Ignored::Duplicate),
            Some(last) if ts < last => return Err(Ignored::OutOfOrder),
            Some(last) => (ts - last).min(max_gap.max(Duration::ZERO)),
            None => Duration::ZERO,
        };
        let interval_ms = millis(interval);
        let band = Band::of(temperature_c, limits);
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = Some(ts);
        self.attributed_ms = self.attributed_ms.saturating_add(interval_ms);
        if band.is_out() {
            if !self.band.is_out() || self.out_since.is_none() {
                self.out_since = Some(ts);
                self.continuous_ms = 0;
            }
            self.continuous_ms = self.continuous_ms.saturating_add(interval_ms);
            self.cumulative_ms = self.cumulative_ms.saturating_add(interval_ms);
        } else {
            self.out_since = None;
            self.continuous_ms = 0;
        }
        self.band = band;
        Ok(self.status(limits))
    }

    /// The current status for `limits`.
    pub fn status(&self, limits: &ProfileLimits) -> ExcursionStatus {
        let continuous = Duration::milliseconds(self.continuous_ms);
        let cumulative = Duration::milliseconds(self.cumulative_ms);
        let budget = limits.excursion_budget();
        let budget_used = if budget.is_positive() {
            cumulative.as_seconds_f64() / budget.as_seconds_f64()
        } else if cumulative.is_positive() {
            1.0
        } else {
            0.0
        };
        ExcursionStatus {
            band: self.band,
            out_since: self.out_since,
            continuous,
            cumulative,
            budget_used,
            alarm_due: self.band.is_out() && continuous >= limits.alarm_delay(),
            budget_exhausted: cumulative.is_positive() && cumulative >= budget,
        }
    }

    /// Time between the first and the last reading applied.
    pub fn elapsed(&self) -> Duration {
        match (self.first_ts, self.last_ts) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shipment::TemperatureProfile;
    use proptest::prelude::*;
    use time::macros::datetime;

    const GAP: Duration = Duration::minutes(5);
    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn fridge() -> ProfileLimits {
        TemperatureProfile::Refrigerated.limits()
    }

    fn at(minutes: i64) -> OffsetDateTime {
        T0 + Duration::minutes(minutes)
    }

    #[test]
    fn bands_with_inclusive_bounds() {
        let l = fridge();
        assert_eq!(Band::of(2.0, &l), Band::InRange);
        assert_eq!(Band::of(8.0, &l), Band::InRange);
        assert_eq!(Band::of(8.01, &l), Band::Above);
        assert_eq!(Band::of(1.99, &l), Band::Below);
        assert!((Band::deviation(9.5, &l) - 1.5).abs() < 1e-9);
        assert!((Band::deviation(-1.0, &l) - 3.0).abs() < 1e-9);
        assert_eq!(Band::deviation(5.0, &l), 0.0);
    }

    #[test]
    fn alarm_due_after_the_delay_of_continuous_excursion() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, GAP).unwrap();
        for m in 1..15 {
            let s = t.observe(at(m), 9.0, &l, GAP).unwrap();
            assert_eq!(s.band, Band::Above);
            assert_eq!(s.out_since, Some(at(1)));
            assert_eq!(s.continuous, Duration::minutes(m));
            assert!(!s.alarm_due, "minute {m}");
        }
        let s = t.observe(at(15), 9.0, &l, GAP).unwrap();
        assert!(s.alarm_due);
        assert_eq!(s.cumulative, Duration::minutes(15));
        assert!((s.budget_used - 0.25).abs() < 1e-9);
    }

    #[test]
    fn back_in_range_resets_the_run_but_not_the_budget() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 9.0, &l, GAP).unwrap();
        t.observe(at(10), 9.0, &l, GAP).unwrap(); // capped at 5 min
        let s = t.observe(at(11), 5.0, &l, GAP).unwrap();
        assert_eq!(s.band, Band::InRange);
        assert_eq!(s.out_since, None);
        assert_eq!(s.continuous, Duration::ZERO);
        assert_eq!(s.cumulative, Duration::minutes(5));
        let s = t.observe(at(12), 1.0, &l, GAP).unwrap();
        assert_eq!(s.band, Band::Below);
        assert_eq!(s.continuous, Duration::minutes(1));
        assert_eq!(s.cumulative, Duration::minutes(6));
    }

    #[test]
    fn above_to_below_is_one_run() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 9.0, &l, GAP).unwrap();
        t.observe(at(1), 9.0, &l, GAP).unwrap();
        let s = t.observe(at(2), 0.0, &l, GAP).unwrap();
        assert_eq!(s.out_since, Some(at(0)));
        assert_eq!(s.continuous, Duration::minutes(2));
    }

    #[test]
    fn a_silent_device_does_not_count_as_hours_of_excursion() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 9.0, &l, GAP).unwrap();
        let s = t.observe(at(180), 9.0, &l, GAP).unwrap();
        assert_eq!(s.cumulative, GAP);
        assert_eq!(t.elapsed(), Duration::minutes(180));
    }

    #[test]
    fn budget_exhaustion() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, GAP).unwrap();
        let mut last = None;
        for m in 1..=60 {
            // alternate so no run is long, but the budget burns
            let temp = if m % 2 == 0 { 9.0 } else { 5.0 };
            last = Some(t.observe(at(m), temp, &l, GAP).unwrap());
        }
        let s = last.unwrap();
        assert_eq!(s.cumulative, Duration::minutes(30));
        assert!(!s.budget_exhausted);
        for m in 61..=120 {
            last = Some(t.observe(at(m), 9.0, &l, GAP).unwrap());
        }
        let s = last.unwrap();
        assert!(s.budget_exhausted);
        assert!(s.budget_used >= 1.0);
    }

    #[test]
    fn zero_budget_is_exhausted_by_any_excursion() {
        let l = TemperatureProfile::custom(0.0, 10.0, 0, 0)
            .unwrap()
            .limits();
        let mut t = ExcursionTracker::new();
        let s = t.observe(at(0), 11.0, &l, GAP).unwrap();
        assert!(s.alarm_due, "zero delay: due at once");
        assert!(!s.budget_exhausted, "nothing attributed yet");
        assert_eq!(s.budget_used, 0.0);
        let s = t.observe(at(1), 11.0, &l, GAP).unwrap();
        assert!(s.budget_exhausted);
        assert_eq!(s.budget_used, 1.0);
    }

    #[test]
    fn duplicates_and_out_of_order_readings_change_nothing() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, GAP).unwrap();
        t.observe(at(2), 9.0, &l, GAP).unwrap();
        let before = t.clone();
        assert_eq!(t.observe(at(2), 20.0, &l, GAP), Err(Ignored::Duplicate));
        assert_eq!(t.observe(at(1), 20.0, &l, GAP), Err(Ignored::OutOfOrder));
        assert_eq!(
            t.observe(at(3), f64::NAN, &l, GAP),
            Err(Ignored::InvalidTemperature)
        );
        assert_eq!(t, before);
    }

    #[test]
    fn serde_round_trip() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 9.0, &l, GAP).unwrap();
        t.observe(at(1), 9.0, &l, GAP).unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["band"], "ABOVE");
        assert_eq!(json["out_since"], "2026-01-01T00:00:00Z");
        let back: ExcursionTracker = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
    }

    proptest! {
        #[test]
        fn cumulative_never_exceeds_elapsed_and_replays_are_ignored(
            steps in prop::collection::vec((-120i64..600, -5.0f64..15.0), 1..80),
        ) {
            let l = fridge();
            let mut t = ExcursionTracker::new();
            let mut ts = T0;
            let mut applied = Vec::new();
            for (delta_s, temp) in steps {
                ts += Duration::seconds(delta_s);
                if t.observe(ts, temp, &l, GAP).is_ok() {
                    applied.push((ts, temp));
                }
                prop_assert!(Duration::milliseconds(t.cumulative_ms) <= t.elapsed());
                prop_assert!(t.continuous_ms <= t.cumulative_ms);
                prop_assert!(t.cumulative_ms <= t.attributed_ms);
            }
            let snapshot = t.clone();
            for (ts, temp) in applied {
                prop_assert!(t.observe(ts, temp, &l, GAP).is_err());
            }
            prop_assert_eq!(t, snapshot);
        }
    }
}
