//! Device offline: no reading for too long while the shipment is IN_TRANSIT.
//!
//! A pure function of the last reading time, the current time and the
//! shipment state. The alarm is MAJOR once the silence reaches `after`
//! (see [`super::DEFAULT_OFFLINE_AFTER`]) and CRITICAL at
//! [`OFFLINE_CRITICAL_FACTOR`] × `after`. It clears when a reading arrives
//! (the device is back) or when the shipment is no longer in transit. A
//! shipment that never sent a reading is not reported offline here (there is
//! no reading time to measure from; pass the start of transit as
//! `last_reading_at` to cover that case).

use time::{Duration, OffsetDateTime};

use super::alarm::{AlarmType, Severity, Signal};
use crate::shipment::ShipmentState;

/// Default silence after which an in-transit device is offline.
pub const DEFAULT_OFFLINE_AFTER: Duration = Duration::minutes(10);
/// The silence, as a multiple of the offline delay, that makes the alarm CRITICAL.
pub const OFFLINE_CRITICAL_FACTOR: i32 = 2;

/// How long the device has been silent when it counts as offline, else `None`.
pub fn offline_for(
    last_reading_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    state: ShipmentState,
    after: Duration,
) -> Option<Duration> {
    if state != ShipmentState::InTransit {
        return None;
    }
    let silence = now - last_reading_at?;
    (silence >= after).then_some(silence)
}

/// The offline alarm signal at `now`: present (MAJOR, then CRITICAL) while
/// offline, absent otherwise.
pub fn offline_signal(
    last_reading_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    state: ShipmentState,
    after: Duration,
) -> Signal {
    match offline_for(last_reading_at, now, state, after) {
        Some(silence) => {
            let severity = if silence >= after * OFFLINE_CRITICAL_FACTOR {
                Severity::Critical
            } else {
                Severity::Major
            };
            let minutes = silence.as_seconds_f64() / 60.0;
            Signal::Present {
                alarm_type: AlarmType::DeviceOffline,
                severity,
                value: minutes,
                magnitude: minutes,
                detail: format!("no reading for {minutes:.0} min"),
                crossing: None,
                at: now,
            }
        }
        None => Signal::Absent {
            alarm_type: AlarmType::DeviceOffline,
            at: now,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const AFTER: Duration = DEFAULT_OFFLINE_AFTER;

    #[test]
    fn offline_only_in_transit_and_after_the_delay() {
        let now = T0 + Duration::minutes(10);
        assert_eq!(
            offline_for(Some(T0), now, ShipmentState::InTransit, AFTER),
            Some(Duration::minutes(10))
        );
        assert_eq!(
            offline_for(
                Some(T0),
                now - Duration::SECOND,
                ShipmentState::InTransit,
                AFTER
            ),
            None
        );
        for state in ShipmentState::ALL {
            if state != ShipmentState::InTransit {
                assert_eq!(offline_for(Some(T0), now, state, AFTER), None);
            }
        }
        assert_eq!(
            offline_for(None, now, ShipmentState::InTransit, AFTER),
            None
        );
        // a reading "from the future" (clock skew) is not offline
        assert_eq!(
            offline_for(Some(now), T0, ShipmentState::InTransit, AFTER),
            None
        );
    }

    #[test]
    fn severity_grows_with_the_silence() {
        let major = offline_signal(Some(T0), T0 + AFTER, ShipmentState::InTransit, AFTER);
        assert!(matches!(
            major,
            Signal::Present {
                severity: Severity::Major,
                ..
            }
        ));
        let critical = offline_signal(Some(T0), T0 + AFTER * 2, ShipmentState::InTransit, AFTER);
        assert!(matches!(
            critical,
            Signal::Present {
                severity: Severity::Critical,
                ..
            }
        ));
        let back = offline_signal(Some(T0), T0, ShipmentState::InTransit, AFTER);
        assert!(matches!(back, Signal::Absent { .. }));
    }
}
