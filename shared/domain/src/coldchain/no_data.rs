//! No data at all: a shipment on its way whose logger has never sent a
//! reading — the most common field failure, a logger nobody started.
//!
//! A DISPATCHED or IN_TRANSIT shipment with no reading for `after` (see
//! [`super::DEFAULT_NO_DATA_AFTER`]) since its start raises NO_DATA (MAJOR).
//! It clears with the first reading, or when the shipment is no longer on
//! its way. During an expected silence ([`crate::shipment::silence`])
//! nothing is raised, and the time counts from the silence's end.

use time::{Duration, OffsetDateTime};

use super::alarm::{AlarmType, Severity, Signal};
use super::detector::is_monitored;
use crate::shipment::ShipmentState;
use crate::shipment::silence::{Silence, quiet_since};

/// The NO_DATA signal at `now` for a shipment in `state` that started at
/// `started_at` and has (`has_readings`) or has not sent a reading; `None`
/// during an expected silence (nothing changes then).
pub fn no_data_signal(
    has_readings: bool,
    started_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    state: ShipmentState,
    after: Duration,
    silences: &[Silence],
) -> Option<Signal> {
    let absent = Signal::Absent {
        alarm_type: AlarmType::NoData,
        at: now,
    };
    if has_readings || !is_monitored(state) {
        return Some(absent);
    }
    let Some(started_at) = started_at else {
        return Some(absent);
    };
    if crate::shipment::silence::in_silence(silences, now) {
        return None;
    }
    let silent = now - quiet_since(started_at, now, silences);
    if silent < after {
        return Some(absent);
    }
    let minutes = silent.as_seconds_f64() / 60.0;
    Some(Signal::Present {
        alarm_type: AlarmType::NoData,
        severity: Severity::Major,
        value: minutes,
        magnitude: minutes,
        detail: format!(
            "no reading at all {minutes:.0} min after the start: is the logger switched on and paired?"
        ),
        crossing: None,
        at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const START: OffsetDateTime = datetime!(2026-12-03 08:00 UTC);
    const AFTER: Duration = Duration::minutes(15);

    fn at(minutes: i64) -> OffsetDateTime {
        START + Duration::minutes(minutes)
    }

    fn present(signal: &Option<Signal>) -> bool {
        matches!(signal, Some(Signal::Present { .. }))
    }

    #[test]
    fn a_logger_never_started_raises_no_data_after_the_delay() {
        let on_the_way = ShipmentState::Dispatched;
        assert!(!present(&no_data_signal(
            false,
            Some(START),
            at(14),
            on_the_way,
            AFTER,
            &[]
        )));
        let signal = no_data_signal(false, Some(START), at(15), on_the_way, AFTER, &[]);
        assert!(present(&signal));
        let Some(Signal::Present {
            severity, detail, ..
        }) = signal
        else {
            unreachable!()
        };
        assert_eq!(severity, Severity::Major);
        assert!(detail.contains("15 min"), "{detail}");
        assert!(present(&no_data_signal(
            false,
            Some(START),
            at(60),
            ShipmentState::InTransit,
            AFTER,
            &[]
        )));
    }

    #[test]
    fn a_reading_or_the_end_of_the_trip_clears_it() {
        for (has, state) in [
            (true, ShipmentState::InTransit),
            (false, ShipmentState::Delivered),
            (false, ShipmentState::Pending),
            (false, ShipmentState::Cancelled),
        ] {
            assert!(matches!(
                no_data_signal(has, Some(START), at(60), state, AFTER, &[]),
                Some(Signal::Absent { .. })
            ));
        }
    }

    #[test]
    fn an_expected_silence_holds_it_back_and_counts_from_its_end() {
        let flight = [Silence {
            from: at(5),
            to: at(125),
            reason: Some("flight".into()),
        }];
        let state = ShipmentState::InTransit;
        assert_eq!(
            no_data_signal(false, Some(START), at(60), state, AFTER, &flight),
            None
        );
        assert!(!present(&no_data_signal(
            false,
            Some(START),
            at(130),
            state,
            AFTER,
            &flight
        )));
        assert!(present(&no_data_signal(
            false,
            Some(START),
            at(140),
            state,
            AFTER,
            &flight
        )));
    }
}
