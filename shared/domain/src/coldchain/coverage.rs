//! Data coverage: how often a device reports, how much of the trip its
//! readings cover, its longest silence, and the coldest and warmest reading.
//!
//! The **reporting interval** is learned per shipment: the median of the
//! last [`RECENT_INTERVALS`] intervals between readings, so one dead zone or
//! two readings close together do not move it. It sets how long an interval
//! may be attributed to a reading ([`Coverage::cap`]): twice the reporting
//! interval, never less than the configured floor (5 minutes by default) —
//! a logger sending every 15 minutes has every interval counted, a device at
//! 1 Hz that falls silent for an hour has 5 minutes counted. Before any
//! interval is known, the cap is the slowest reporting rate supported
//! ([`super::DEFAULT_MAX_REPORTING_INTERVAL`]).
//!
//! **Coverage** is the attributed time over the elapsed time of the trip
//! (first to last reading): 1.0 when every interval was within the cap.

use serde::{Deserialize, Serialize};
use time::Duration;

/// How many recent intervals the reporting interval is learned from.
pub const RECENT_INTERVALS: usize = 9;

/// What the readings of a shipment cover. Stored with its monitor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Coverage {
    /// The last intervals between readings, milliseconds, oldest first.
    #[serde(default)]
    pub recent_intervals_ms: Vec<i64>,
    /// The longest interval between two readings, milliseconds.
    #[serde(default)]
    pub longest_gap_ms: i64,
    /// The coldest reading, °C.
    #[serde(default)]
    pub min_temperature_c: Option<f64>,
    /// The warmest reading, °C.
    #[serde(default)]
    pub max_temperature_c: Option<f64>,
}

impl Coverage {
    /// The learned reporting interval (`None` before two readings).
    pub fn reporting_interval(&self) -> Option<Duration> {
        if self.recent_intervals_ms.is_empty() {
            return None;
        }
        let mut sorted = self.recent_intervals_ms.clone();
        sorted.sort_unstable();
        Some(Duration::milliseconds(sorted[sorted.len() / 2]))
    }

    /// The longest interval attributed to one reading: twice the reporting
    /// interval, at least `floor`; `unknown` before an interval is known.
    pub fn cap(&self, floor: Duration, unknown: Duration) -> Duration {
        cap_for(self.reporting_interval(), floor, unknown)
    }

    /// Records a reading of `temperature_c` that came `interval` after the
    /// previous one (`None` for the first).
    pub fn record(&mut self, interval: Option<Duration>, temperature_c: f64) {
        if let Some(interval) = interval {
            let ms = i64::try_from(interval.whole_milliseconds()).unwrap_or(i64::MAX);
            self.recent_intervals_ms.push(ms);
            if self.recent_intervals_ms.len() > RECENT_INTERVALS {
                self.recent_intervals_ms.remove(0);
            }
            self.longest_gap_ms = self.longest_gap_ms.max(ms);
        }
        self.min_temperature_c = Some(
            self.min_temperature_c
                .map_or(temperature_c, |min| min.min(temperature_c)),
        );
        self.max_temperature_c = Some(
            self.max_temperature_c
                .map_or(temperature_c, |max| max.max(temperature_c)),
        );
    }

    /// The longest silence between two readings.
    pub fn longest_gap(&self) -> Duration {
        Duration::milliseconds(self.longest_gap_ms)
    }
}

/// [`Coverage::cap`] for a reporting interval already known.
pub fn cap_for(interval: Option<Duration>, floor: Duration, unknown: Duration) -> Duration {
    match interval {
        Some(interval) => interval.saturating_mul(2).max(floor),
        None => unknown.max(floor),
    }
}

/// Attributed time over elapsed time, 0..=1 (1 for a trip of one reading).
pub fn coverage_fraction(attributed: Duration, elapsed: Duration) -> f64 {
    if !elapsed.is_positive() {
        return 1.0;
    }
    (attributed.as_seconds_f64() / elapsed.as_seconds_f64()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: Duration = Duration::minutes(5);
    const UNKNOWN: Duration = Duration::minutes(15);

    #[test]
    fn the_cap_follows_the_devices_own_interval() {
        let mut c = Coverage::default();
        assert_eq!(c.cap(FLOOR, UNKNOWN), UNKNOWN);
        c.record(None, 5.0);
        for _ in 0..5 {
            c.record(Some(Duration::minutes(15)), 5.0);
        }
        assert_eq!(c.reporting_interval(), Some(Duration::minutes(15)));
        assert_eq!(c.cap(FLOOR, UNKNOWN), Duration::minutes(30));
        let mut fast = Coverage::default();
        for _ in 0..20 {
            fast.record(Some(Duration::seconds(1)), 5.0);
        }
        assert_eq!(fast.cap(FLOOR, UNKNOWN), FLOOR);
    }

    #[test]
    fn one_dead_zone_does_not_move_the_interval_but_is_the_longest_gap() {
        let mut c = Coverage::default();
        for _ in 0..8 {
            c.record(Some(Duration::seconds(30)), 5.0);
        }
        c.record(Some(Duration::hours(2)), 5.0);
        assert_eq!(c.reporting_interval(), Some(Duration::seconds(30)));
        assert_eq!(c.longest_gap(), Duration::hours(2));
        assert_eq!(c.recent_intervals_ms.len(), RECENT_INTERVALS);
    }

    #[test]
    fn min_and_max_and_the_coverage_fraction() {
        let mut c = Coverage::default();
        c.record(None, 5.0);
        c.record(Some(Duration::minutes(1)), -3.5);
        c.record(Some(Duration::minutes(1)), 9.25);
        assert_eq!(c.min_temperature_c, Some(-3.5));
        assert_eq!(c.max_temperature_c, Some(9.25));
        assert_eq!(
            coverage_fraction(Duration::minutes(30), Duration::hours(1)),
            0.5
        );
        assert_eq!(coverage_fraction(Duration::ZERO, Duration::ZERO), 1.0);
    }
}
