//! Excursion tracking: how long a shipment has been out of its temperature
//! range — per side, continuously and in total over the trip — and in its
//! outer zones.
//!
//! # Attribution rule
//!
//! Readings are points in time; the tracker turns them into intervals. The
//! interval between two consecutive readings is attributed to the **later**
//! reading: it counts as out of range when the later reading is out of range.
//! Each interval is capped at the `max_gap` passed in ([`Accounting`]; it
//! follows the device's own reporting interval, see [`super::coverage`]), so
//! a device that stays silent for hours does not add hours of excursion (nor
//! of in-range time) — **except** a gap bounded by two out-of-range readings,
//! which counts as out of range in full (nothing shows the goods came back in
//! between), and likewise a gap between two readings in the same zone. The
//! first reading of a trip has no interval before it and counts for nothing.
//!
//! - an **episode** starts with the first out-of-range reading and ends only
//!   once the readings are back inside the range by the guard margin for the
//!   clearing time ([`super::clearing`]): readings jittering around a limit
//!   stay one episode;
//! - *continuous* time out of range is the attributed out-of-range time of
//!   the current episode (above or below: a jump from above to below is one
//!   episode); an excursion alarm is **due** once it reaches the alarm delay
//!   of the side the latest reading is on;
//! - *zone* time is the attributed time of the current run of readings in
//!   one zone; the zone's alarm is **due** once it reaches the zone's delay;
//! - *cumulative* time out of range is kept per side; a side's **budget is
//!   exhausted** when its time reaches that side's budget (and is not zero).
//!
//! During the start-up period ([`Accounting::settling`]) a reading out of
//! range but in no zone counts as in range: the load is settling. A zone
//! counts always (a freeze while loading is still a freeze).
//!
//! A reading whose timestamp is not after the last one (a duplicate or an
//! out-of-order reading) is ignored and leaves the tracker unchanged.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::clearing::is_well_inside;
use super::zone::ZoneBand;
use crate::shipment::{LimitRule, ProfileLimits};

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

    /// The rule of this side of the range (`None` in range).
    pub fn rule(self, limits: &ProfileLimits) -> Option<LimitRule> {
        match self {
            Band::Above => Some(limits.upper),
            Band::Below => Some(limits.lower),
            Band::InRange => None,
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

/// How one reading is accounted for (from the settings and the shipment).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accounting {
    /// Longest interval attributed to the reading (see the module docs).
    pub max_gap: Duration,
    /// How far inside the range a reading must be to count towards the end
    /// of an episode, °C ([`super::clearing`]).
    pub clear_margin_c: f64,
    /// How long the readings must stay that far inside to end it.
    pub clear_after: Duration,
    /// The reading falls in the start-up period.
    pub settling: bool,
}

impl Accounting {
    /// Plain accounting: a cap, no guard margin, episodes end on the first
    /// in-range reading, not settling.
    pub fn capped(max_gap: Duration) -> Self {
        Self {
            max_gap,
            clear_margin_c: 0.0,
            clear_after: Duration::ZERO,
            settling: false,
        }
    }
}

/// The excursion state of one shipment, fed reading by reading. Stored per
/// shipment (serializable); fields added since the first version default so
/// that stored trackers still load.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExcursionTracker {
    /// Timestamp of the first reading applied.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_ts: Option<OffsetDateTime>,
    /// Timestamp of the last reading applied.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_ts: Option<OffsetDateTime>,
    /// Band of the last reading applied, as counted (in range while settling).
    pub band: Band,
    /// Timestamp of the first out-of-range reading of the current episode.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub out_since: Option<OffsetDateTime>,
    /// Attributed out-of-range time of the current episode, milliseconds.
    pub continuous_ms: i64,
    /// Attributed time out of range over the trip, both sides, milliseconds.
    pub cumulative_ms: i64,
    /// Attributed time over the trip within the cap (in or out of range),
    /// milliseconds: the time the readings cover.
    pub attributed_ms: i64,
    /// Time above the range over the trip, milliseconds (`None`: a tracker
    /// stored before the sides were told apart; its `cumulative_ms` then
    /// counts against both sides).
    #[serde(default)]
    pub above_ms: Option<i64>,
    /// Time below the range over the trip, milliseconds (see `above_ms`).
    #[serde(default)]
    pub below_ms: Option<i64>,
    /// In-range time well inside the range since the episode's last
    /// out-of-range reading, milliseconds.
    #[serde(default)]
    pub returning_ms: i64,
    /// Zone of the last reading applied.
    #[serde(default)]
    pub zone: ZoneBand,
    /// First reading of the current run in a zone.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub zone_since: Option<OffsetDateTime>,
    /// Attributed time of the current run in a zone, milliseconds.
    #[serde(default)]
    pub zone_ms: i64,
    /// Time in the hot zone over the trip, milliseconds.
    #[serde(default)]
    pub hot_zone_ms: i64,
    /// Time in the cold zone over the trip, milliseconds.
    #[serde(default)]
    pub cold_zone_ms: i64,
}

/// The excursion situation after a reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExcursionStatus {
    /// Band of the latest reading, as counted.
    pub band: Band,
    /// Zone of the latest reading.
    pub zone: ZoneBand,
    /// First reading of the current episode (`None`: no episode open).
    pub out_since: Option<OffsetDateTime>,
    /// Attributed out-of-range time of the current episode.
    pub continuous: Duration,
    /// Attributed time of the current run in a zone.
    pub zone_run: Duration,
    /// Attributed time out of range over the trip, both sides.
    pub cumulative: Duration,
    /// Time above the range over the trip.
    pub above: Duration,
    /// Time below the range over the trip.
    pub below: Duration,
    /// Time in the hot zone over the trip.
    pub hot_zone: Duration,
    /// Time in the cold zone over the trip.
    pub cold_zone: Duration,
    /// Fraction of the budget used, the larger of the two sides (1.0 =
    /// exhausted; may exceed 1). With a zero budget: 0 while nothing is out
    /// on that side, else 1.
    pub budget_used: f64,
    /// Out of range for at least the delay of the latest reading's side.
    pub alarm_due: bool,
    /// In a zone for at least the zone's delay.
    pub zone_due: bool,
    /// A side's time out of range has reached its budget.
    pub budget_exhausted: bool,
    /// The interval attributed to the latest reading (its weight, e.g. in
    /// the MKT).
    pub interval: Duration,
}

impl ExcursionStatus {
    /// Whether an episode is open (out of range, or back in but not yet for
    /// the clearing time).
    pub fn in_episode(&self) -> bool {
        self.out_since.is_some()
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.whole_milliseconds()).unwrap_or(i64::MAX)
}

/// Share of `budget` that `used` is (see [`ExcursionStatus::budget_used`]).
pub fn budget_share(used: Duration, budget: Duration) -> f64 {
    if budget.is_positive() {
        used.as_seconds_f64() / budget.as_seconds_f64()
    } else if used.is_positive() {
        1.0
    } else {
        0.0
    }
}

impl ExcursionTracker {
    /// A tracker that has seen no reading.
    pub fn new() -> Self {
        Self::default()
    }

    /// Time above the range over the trip.
    pub fn above(&self) -> Duration {
        Duration::milliseconds(self.above_ms.unwrap_or(self.cumulative_ms))
    }

    /// Time below the range over the trip.
    pub fn below(&self) -> Duration {
        Duration::milliseconds(self.below_ms.unwrap_or(self.cumulative_ms))
    }

    /// Applies a reading taken at `ts` (see the module docs). Returns the new
    /// status, or why the reading was ignored (the tracker is then unchanged).
    pub fn observe(
        &mut self,
        ts: OffsetDateTime,
        temperature_c: f64,
        limits: &ProfileLimits,
        accounting: &Accounting,
    ) -> Result<ExcursionStatus, Ignored> {
        if !temperature_c.is_finite() {
            return Err(Ignored::InvalidTemperature);
        }
        let gap = match self.last_ts {
            Some(last) if ts == last => return Err(Ignored::Duplicate),
            Some(last) if ts < last => return Err(Ignored::OutOfOrder),
            Some(last) => ts - last,
            None => Duration::ZERO,
        };
        let capped = gap.min(accounting.max_gap.max(Duration::ZERO));
        let zone = ZoneBand::of(temperature_c, limits);
        let band = match Band::of(temperature_c, limits) {
            _ if accounting.settling && !zone.is_zone() => Band::InRange,
            band => band,
        };
        // bounded by two readings out of range (or in the same zone): in full
        let out_interval = if self.band.is_out() && band.is_out() {
            gap
        } else {
            capped
        };
        let zone_interval = if zone.is_zone() && zone == self.zone {
            gap
        } else {
            capped
        };
        let (above_ms, below_ms) = (millis(self.above()), millis(self.below()));
        self.above_ms = Some(above_ms);
        self.below_ms = Some(below_ms);
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = Some(ts);
        self.attributed_ms = self.attributed_ms.saturating_add(millis(capped));

        let interval = if band.is_out() {
            let out_ms = millis(out_interval);
            if self.out_since.is_none() {
                self.out_since = Some(ts);
                self.continuous_ms = 0;
            }
            self.returning_ms = 0;
            self.continuous_ms = self.continuous_ms.saturating_add(out_ms);
            self.cumulative_ms = self.cumulative_ms.saturating_add(out_ms);
            if band == Band::Above {
                self.above_ms = Some(above_ms.saturating_add(out_ms));
            } else {
                self.below_ms = Some(below_ms.saturating_add(out_ms));
            }
            out_interval
        } else {
            if self.out_since.is_some() {
                if is_well_inside(temperature_c, limits, accounting.clear_margin_c) {
                    self.returning_ms = self.returning_ms.saturating_add(millis(capped));
                } else {
                    self.returning_ms = 0;
                }
                if self.returning_ms >= millis(accounting.clear_after) {
                    self.out_since = None;
                    self.continuous_ms = 0;
                    self.returning_ms = 0;
                }
            }
            capped
        };

        if zone.is_zone() {
            if zone != self.zone || self.zone_since.is_none() {
                self.zone_since = Some(ts);
                self.zone_ms = 0;
            }
            let zone_ms = millis(zone_interval);
            self.zone_ms = self.zone_ms.saturating_add(zone_ms);
            if zone == ZoneBand::Hot {
                self.hot_zone_ms = self.hot_zone_ms.saturating_add(zone_ms);
            } else {
                self.cold_zone_ms = self.cold_zone_ms.saturating_add(zone_ms);
            }
        } else {
            self.zone_since = None;
            self.zone_ms = 0;
        }
        self.band = band;
        self.zone = zone;
        let mut status = self.status(limits);
        // a zone lies out of range, so its interval is never longer
        status.interval = interval;
        Ok(status)
    }

    /// The current status for `limits` (`interval` is zero: it belongs to
    /// [`ExcursionTracker::observe`]).
    pub fn status(&self, limits: &ProfileLimits) -> ExcursionStatus {
        let continuous = Duration::milliseconds(self.continuous_ms);
        let above = self.above();
        let below = self.below();
        let exhausted = |used: Duration, budget: Duration| used.is_positive() && used >= budget;
        let zone_rule = match self.zone {
            ZoneBand::Hot => limits.hot_zone,
            ZoneBand::Cold => limits.cold_zone,
            ZoneBand::None => None,
        };
        let zone_run = Duration::milliseconds(self.zone_ms);
        ExcursionStatus {
            band: self.band,
            zone: self.zone,
            out_since: self.out_since,
            continuous,
            zone_run,
            cumulative: Duration::milliseconds(self.cumulative_ms),
            above,
            below,
            hot_zone: Duration::milliseconds(self.hot_zone_ms),
            cold_zone: Duration::milliseconds(self.cold_zone_ms),
            budget_used: budget_share(above, limits.upper.budget())
                .max(budget_share(below, limits.lower.budget())),
            alarm_due: self
                .band
                .rule(limits)
                .is_some_and(|rule| continuous >= rule.delay()),
            zone_due: zone_rule.is_some_and(|zone| zone_run >= zone.delay()),
            budget_exhausted: exhausted(above, limits.upper.budget())
                || exhausted(below, limits.lower.budget()),
            interval: Duration::ZERO,
        }
    }

    /// Time between the first and the last reading applied.
    pub fn elapsed(&self) -> Duration {
        match (self.first_ts, self.last_ts) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }

    /// Time the readings cover (intervals within the cap).
    pub fn attributed(&self) -> Duration {
        Duration::milliseconds(self.attributed_ms)
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

    /// A 2–8 °C range without zones, 15 min delay and 60 min budget both sides.
    fn plain() -> ProfileLimits {
        TemperatureProfile::custom(2.0, 8.0, 15, 60)
            .unwrap()
            .limits()
    }

    fn at(minutes: i64) -> OffsetDateTime {
        T0 + Duration::minutes(minutes)
    }

    fn capped() -> Accounting {
        Accounting::capped(GAP)
    }

    fn hysteresis() -> Accounting {
        Accounting {
            clear_margin_c: 0.3,
            clear_after: Duration::minutes(5),
            ..capped()
        }
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
        assert_eq!(Band::Below.rule(&l), Some(l.lower));
        assert_eq!(Band::InRange.rule(&l), None);
    }

    #[test]
    fn alarm_due_after_the_delay_of_continuous_excursion() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        for m in 1..15 {
            let s = t.observe(at(m), 9.0, &l, &capped()).unwrap();
            assert_eq!(s.band, Band::Above);
            assert_eq!(s.out_since, Some(at(1)));
            assert_eq!(s.continuous, Duration::minutes(m));
            assert!(!s.alarm_due, "minute {m}");
        }
        let s = t.observe(at(15), 9.0, &l, &capped()).unwrap();
        assert!(s.alarm_due);
        assert_eq!(s.cumulative, Duration::minutes(15));
        assert_eq!(s.above, Duration::minutes(15));
        assert_eq!(s.below, Duration::ZERO);
        assert!((s.budget_used - 0.25).abs() < 1e-9);
    }

    #[test]
    fn below_the_range_has_its_own_shorter_delay_and_budget() {
        // 1 °C: below 2–8 but above the 0 °C cold zone
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        for m in 1..5 {
            assert!(!t.observe(at(m), 1.0, &l, &capped()).unwrap().alarm_due);
        }
        let s = t.observe(at(5), 1.0, &l, &capped()).unwrap();
        assert!(s.alarm_due, "lower delay is 5 min");
        assert!(!s.zone_due);
        assert_eq!(s.below, Duration::minutes(5));
        assert!((s.budget_used - 5.0 / 15.0).abs() < 1e-9);
        for m in 6..=15 {
            t.observe(at(m), 1.0, &l, &capped()).unwrap();
        }
        assert!(t.status(&l).budget_exhausted, "lower budget is 15 min");
    }

    #[test]
    fn a_freeze_is_due_at_once_in_the_cold_zone() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        let s = t.observe(at(1), -10.0, &l, &capped()).unwrap();
        assert_eq!(s.zone, ZoneBand::Cold);
        assert!(s.zone_due, "the fridge's cold zone has no delay");
        assert_eq!(s.cold_zone, Duration::minutes(1));
        let s = t.observe(at(14), -10.0, &l, &capped()).unwrap();
        assert_eq!(
            s.cold_zone,
            Duration::minutes(14),
            "the gap between two freezing readings counts in full"
        );
        assert_eq!(s.zone_run, Duration::minutes(14));
        assert_eq!(s.below, Duration::minutes(14));
        let s = t.observe(at(15), 1.0, &l, &capped()).unwrap();
        assert_eq!(s.zone, ZoneBand::None);
        assert_eq!(s.zone_run, Duration::ZERO);
        assert!(!s.zone_due);
        assert_eq!(s.cold_zone, Duration::minutes(14));
    }

    #[test]
    fn the_hot_zone_waits_for_its_own_delay() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        for m in 1..5 {
            let s = t.observe(at(m), 30.0, &l, &capped()).unwrap();
            assert_eq!(s.zone, ZoneBand::Hot);
            assert!(!s.zone_due && !s.alarm_due, "minute {m}");
        }
        let s = t.observe(at(5), 30.0, &l, &capped()).unwrap();
        assert!(s.zone_due, "the fridge's hot zone alarms after 5 min");
        assert!(!s.alarm_due, "the upper limit's 15 min are not over");
    }

    #[test]
    fn a_gap_between_two_readings_out_of_range_counts_in_full() {
        let l = plain();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 9.0, &l, &capped()).unwrap();
        let s = t.observe(at(40), 9.0, &l, &capped()).unwrap();
        assert_eq!(s.cumulative, Duration::minutes(40));
        assert_eq!(s.interval, Duration::minutes(40));
        assert_eq!(t.attributed(), GAP, "coverage still counts the cap only");
        // out, then in range after a gap: the gap counts as in range, capped
        let s = t.observe(at(80), 5.0, &l, &capped()).unwrap();
        assert_eq!(s.cumulative, Duration::minutes(40));
        assert_eq!(s.interval, GAP);
        // in range, then out after a gap: capped
        let s = t.observe(at(120), 9.0, &l, &capped()).unwrap();
        assert_eq!(s.cumulative, Duration::minutes(45));
    }

    #[test]
    fn a_silent_device_in_range_does_not_count_as_hours_of_anything() {
        let l = plain();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        let s = t.observe(at(180), 9.0, &l, &capped()).unwrap();
        assert_eq!(s.cumulative, GAP);
        assert_eq!(t.elapsed(), Duration::minutes(180));
        assert_eq!(t.attributed(), GAP);
    }

    #[test]
    fn without_hysteresis_back_in_range_ends_the_episode_but_not_the_budget() {
        let l = plain();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        t.observe(at(5), 9.0, &l, &capped()).unwrap();
        let s = t.observe(at(6), 5.0, &l, &capped()).unwrap();
        assert_eq!(s.band, Band::InRange);
        assert_eq!(s.out_since, None);
        assert_eq!(s.continuous, Duration::ZERO);
        assert_eq!(s.cumulative, Duration::minutes(5));
        let s = t.observe(at(7), 1.0, &l, &capped()).unwrap();
        assert_eq!(s.band, Band::Below);
        assert_eq!(s.continuous, Duration::minutes(1));
        assert_eq!(s.cumulative, Duration::minutes(6));
        assert_eq!(
            (s.above, s.below),
            (Duration::minutes(5), Duration::minutes(1))
        );
    }

    #[test]
    fn jitter_around_a_limit_stays_one_episode_until_well_inside_for_the_clearing_time() {
        let l = plain();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &hysteresis()).unwrap();
        // 8.1 / 7.9 alternating each minute for 30 min
        for m in 1..=30 {
            let temp = if m % 2 == 1 { 8.1 } else { 7.9 };
            let s = t.observe(at(m), temp, &l, &hysteresis()).unwrap();
            assert_eq!(s.out_since, Some(at(1)), "minute {m}: one episode");
        }
        let s = t.status(&l);
        assert_eq!(
            s.continuous,
            Duration::minutes(15),
            "half of the 30 minutes were out"
        );
        assert!(!s.alarm_due, "due is judged on an out-of-range reading");
        let s = t.observe(at(31), 8.1, &l, &hysteresis()).unwrap();
        assert!(s.alarm_due, "the jitter adds up to the 15-minute delay");
        // back at 7.5 °C: well inside the 0.3 °C margin; 5 min to clear
        for m in 32..36 {
            let s = t.observe(at(m), 7.5, &l, &hysteresis()).unwrap();
            assert!(s.in_episode(), "minute {m}");
        }
        // 7.8 °C is in range but within the margin: the clearing time restarts
        let s = t.observe(at(36), 7.8, &l, &hysteresis()).unwrap();
        assert!(s.in_episode());
        for m in 37..41 {
            assert!(
                t.observe(at(m), 7.5, &l, &hysteresis())
                    .unwrap()
                    .in_episode()
            );
        }
        let s = t.observe(at(41), 7.5, &l, &hysteresis()).unwrap();
        assert!(!s.in_episode(), "5 min well inside: the episode is over");
        assert_eq!(s.continuous, Duration::ZERO);
        assert_eq!(s.cumulative, Duration::minutes(16));
    }

    #[test]
    fn a_slow_logger_clears_with_its_next_reading_well_inside() {
        let l = plain();
        let accounting = Accounting {
            max_gap: Duration::minutes(30),
            ..hysteresis()
        };
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 9.0, &l, &accounting).unwrap();
        t.observe(at(15), 9.0, &l, &accounting).unwrap();
        let s = t.observe(at(30), 5.0, &l, &accounting).unwrap();
        assert!(!s.in_episode(), "15 min attributed well inside");
    }

    #[test]
    fn while_settling_only_the_zones_count() {
        let l = fridge();
        let settling = Accounting {
            settling: true,
            ..capped()
        };
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 14.0, &l, &settling).unwrap();
        let s = t.observe(at(5), 12.0, &l, &settling).unwrap();
        assert_eq!(s.band, Band::InRange);
        assert_eq!(s.cumulative, Duration::ZERO);
        assert!(!s.in_episode());
        let s = t.observe(at(6), -2.0, &l, &settling).unwrap();
        assert_eq!(s.zone, ZoneBand::Cold);
        assert!(s.zone_due, "a freeze while loading counts");
        assert_eq!(s.below, Duration::minutes(1));
        // settled: out of range counts from now on
        let s = t.observe(at(10), 12.0, &l, &capped()).unwrap();
        assert_eq!(s.band, Band::Above);
        assert_eq!(s.above, Duration::minutes(4));
    }

    #[test]
    fn budget_exhaustion() {
        let l = plain();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        let mut last = None;
        for m in 1..=60 {
            // alternate so no run is long, but the budget burns
            let temp = if m % 2 == 0 { 9.0 } else { 5.0 };
            last = Some(t.observe(at(m), temp, &l, &capped()).unwrap());
        }
        let s = last.unwrap();
        assert_eq!(s.cumulative, Duration::minutes(30));
        assert!(!s.budget_exhausted);
        for m in 61..=120 {
            last = Some(t.observe(at(m), 9.0, &l, &capped()).unwrap());
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
        let s = t.observe(at(0), 11.0, &l, &capped()).unwrap();
        assert!(s.alarm_due, "zero delay: due at once");
        assert!(!s.budget_exhausted, "nothing attributed yet");
        assert_eq!(s.budget_used, 0.0);
        let s = t.observe(at(1), 11.0, &l, &capped()).unwrap();
        assert!(s.budget_exhausted);
        assert_eq!(s.budget_used, 1.0);
    }

    #[test]
    fn duplicates_and_out_of_order_readings_change_nothing() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 5.0, &l, &capped()).unwrap();
        t.observe(at(2), 9.0, &l, &capped()).unwrap();
        let before = t.clone();
        assert_eq!(
            t.observe(at(2), 20.0, &l, &capped()),
            Err(Ignored::Duplicate)
        );
        assert_eq!(
            t.observe(at(1), 20.0, &l, &capped()),
            Err(Ignored::OutOfOrder)
        );
        assert_eq!(
            t.observe(at(3), f64::NAN, &l, &capped()),
            Err(Ignored::InvalidTemperature)
        );
        assert_eq!(t, before);
    }

    #[test]
    fn serde_round_trip() {
        let l = fridge();
        let mut t = ExcursionTracker::new();
        t.observe(at(0), 9.0, &l, &capped()).unwrap();
        t.observe(at(1), -1.0, &l, &capped()).unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["band"], "BELOW");
        assert_eq!(json["zone"], "COLD");
        assert_eq!(json["out_since"], "2026-01-01T00:00:00Z");
        let back: ExcursionTracker = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn a_tracker_stored_before_the_sides_were_split_counts_its_total_against_both() {
        let stored = serde_json::json!({
            "first_ts": "2026-01-01T00:00:00Z",
            "last_ts": "2026-01-01T00:20:00Z",
            "band": "ABOVE",
            "out_since": "2026-01-01T00:10:00Z",
            "continuous_ms": 600_000,
            "cumulative_ms": 720_000,
            "attributed_ms": 1_200_000
        });
        let mut t: ExcursionTracker = serde_json::from_value(stored).unwrap();
        let l = fridge();
        let s = t.status(&l);
        assert_eq!(s.above, Duration::minutes(12));
        assert_eq!(s.below, Duration::minutes(12));
        assert!(
            (s.budget_used - 12.0 / 15.0).abs() < 1e-9,
            "the lower side's 15 min budget"
        );
        let s = t.observe(at(21), 9.0, &l, &capped()).unwrap();
        assert_eq!(s.above, Duration::minutes(13));
        assert_eq!(s.below, Duration::minutes(12));
        assert_eq!(s.continuous, Duration::minutes(11));
    }

    proptest! {
        #[test]
        fn totals_add_up_and_replays_are_ignored(
            steps in prop::collection::vec((-120i64..1200, -15.0f64..30.0), 1..80),
            hysteresis_on in any::<bool>(),
        ) {
            let l = fridge();
            let accounting = if hysteresis_on { hysteresis() } else { capped() };
            let mut t = ExcursionTracker::new();
            let mut ts = T0;
            let mut applied = Vec::new();
            for (delta_s, temp) in steps {
                ts += Duration::seconds(delta_s);
                if t.observe(ts, temp, &l, &accounting).is_ok() {
                    applied.push((ts, temp));
                }
                let s = t.status(&l);
                prop_assert!(s.cumulative <= t.elapsed());
                prop_assert_eq!(s.above + s.below, s.cumulative);
                prop_assert!(s.hot_zone <= s.above && s.cold_zone <= s.below);
                prop_assert!(s.continuous <= s.cumulative);
                prop_assert!(s.zone_run <= s.hot_zone.max(s.cold_zone));
                prop_assert!(t.attributed() <= t.elapsed());
                prop_assert_eq!(s.in_episode(), t.out_since.is_some());
                if s.band.is_out() {
                    prop_assert!(s.in_episode());
                }
            }
            let snapshot = t.clone();
            for (ts, temp) in applied {
                prop_assert!(t.observe(ts, temp, &l, &accounting).is_err());
            }
            prop_assert_eq!(t, snapshot);
        }
    }
}
