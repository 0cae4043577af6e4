//! Shock detection: a vibration peak above the crash threshold is a crash,
//! and a CRITICAL [`AlarmType::Shock`] alarm.
//!
//! A shock is an event, not a lasting condition: repeated peaks update the
//! active alarm, and the alarm clears once a reading arrives after a quiet
//! period (see [`super::DEFAULT_SHOCK_QUIET_PERIOD`]) without any peak above
//! the threshold. A later crash then raises a new alarm.

use time::{Duration, OffsetDateTime};

use super::alarm::{Alarm, AlarmType, Severity, Signal};

/// Default crash threshold, in g: a peak strictly above it is a crash.
pub const DEFAULT_CRASH_THRESHOLD_G: f64 = 4.0;

/// Whether a vibration peak is a crash (strictly above `threshold_g`; a
/// non-finite peak is not).
pub fn is_crash(vibration_g: f64, threshold_g: f64) -> bool {
    vibration_g.is_finite() && vibration_g > threshold_g
}

/// What a reading says about the shock alarm: present (CRITICAL) on a crash;
/// absent once `quiet_period` has passed since the active alarm was last
/// seen; otherwise nothing.
pub fn shock_signal(
    vibration_g: f64,
    at: OffsetDateTime,
    threshold_g: f64,
    quiet_period: Duration,
    active: Option<&Alarm>,
) -> Option<Signal> {
    if is_crash(vibration_g, threshold_g) {
        return Some(Signal::Present {
            alarm_type: AlarmType::Shock,
            severity: Severity::Critical,
            value: vibration_g,
            magnitude: vibration_g,
            detail: format!("vibration peak {vibration_g:.1} g above {threshold_g:.1} g"),
            crossing: None,
            at,
        });
    }
    let quiet_since = active?.last_seen;
    (at - quiet_since >= quiet_period).then_some(Signal::Absent {
        alarm_type: AlarmType::Shock,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coldchain::alarm::AlarmBook;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const QUIET: Duration = Duration::minutes(10);

    #[test]
    fn threshold_is_strict_and_nan_is_no_crash() {
        assert!(!is_crash(4.0, DEFAULT_CRASH_THRESHOLD_G));
        assert!(is_crash(4.01, DEFAULT_CRASH_THRESHOLD_G));
        assert!(!is_crash(f64::NAN, DEFAULT_CRASH_THRESHOLD_G));
        assert!(!is_crash(f64::INFINITY, DEFAULT_CRASH_THRESHOLD_G));
        assert!(is_crash(2.5, 2.0), "configurable threshold");
    }

    #[test]
    fn crash_is_critical_and_clears_after_the_quiet_period() {
        let mut book = AlarmBook::new();
        let signal = shock_signal(6.5, T0, DEFAULT_CRASH_THRESHOLD_G, QUIET, None).unwrap();
        let t = book.apply("shp-1", signal);
        assert_eq!(t[0].alarm().severity, Severity::Critical);
        assert_eq!(t[0].alarm().alarm_type, AlarmType::Shock);
        assert_eq!(t[0].alarm().value, 6.5);

        let active = book.get(AlarmType::Shock);
        let soon = T0 + Duration::minutes(9);
        assert_eq!(shock_signal(0.3, soon, 4.0, QUIET, active), None);
        let later = T0 + QUIET;
        assert_eq!(
            shock_signal(0.3, later, 4.0, QUIET, active),
            Some(Signal::Absent {
                alarm_type: AlarmType::Shock,
                at: later
            })
        );
        assert_eq!(shock_signal(0.3, later, 4.0, QUIET, None), None);
    }
}
