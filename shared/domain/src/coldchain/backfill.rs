//! Late and back-filled readings: a logger that uploads, after a dead zone
//! or a flight, readings older than ones already applied.
//!
//! The monitor advances reading by reading and ignores a reading older than
//! the last one it applied. So when a batch holds such a reading (older than
//! the monitor's last one, and not that last one again), the shipment's
//! history is read back ([`history_window`]) and the whole trip is
//! **rebuilt** ([`rebuild`]): a fresh monitor is fed every reading of the
//! history in time order, which the history holds once per reading id, the
//! late ones included. The MKT, the minimum and maximum, the excursion
//! totals, the budget and the coverage then count the late readings as if
//! they had come in order, and the alarms they imply are raised with their
//! real start time (deterministic alarm ids: the same readings in any order
//! give the same alarms).
//!
//! What the rebuild publishes:
//! - the replay's transitions from the earliest late reading on (earlier ones
//!   are what was published before; the same event ids if repeated, which
//!   consumers drop);
//! - an alarm that was active before and still is after the rebuild stays
//!   the same alarm (its id and its acknowledgement), taking the replay's
//!   figures and the earlier start if the late readings show one: `UPDATED`,
//!   or `ESCALATED` if its severity rose;
//! - an alarm that was active before but that the full data no longer
//!   supports (DEVICE_OFFLINE over a dead zone whose readings came later, an
//!   excursion that the late readings show had ended) is `CLEARED`.
//!
//! A batch that was already applied (a retried stream batch, a resent
//! upload) rebuilds to the same state: nothing is published or written.

use std::borrow::Borrow;
use std::collections::HashSet;

use time::{Duration, OffsetDateTime};

use super::MonitorSettings;
use super::alarm::{Alarm, AlarmState, AlarmTransition};
use super::detector::{Applied, alarm_context, apply_readings};
use super::events::AlarmContext;
use super::monitor::ShipmentMonitor;
use crate::shipment::TemperatureProfile;
use crate::telemetry::Reading;

/// How far the history is read forward from the earliest reading concerned:
/// the history keeps readings 30 days, and a reading's own clock may run
/// ahead of its receipt.
pub const HISTORY_SPAN: Duration = Duration::days(62);

/// The readings of `readings` that are late for `monitor`: older than the
/// last one it applied, and not that reading again.
pub fn late_readings<'a, R: Borrow<Reading>>(
    monitor: &ShipmentMonitor,
    readings: &'a [R],
) -> Vec<&'a Reading> {
    let Some(last) = monitor.last_reading_at() else {
        return Vec::new();
    };
    readings
        .iter()
        .map(Borrow::borrow)
        .filter(|r| {
            r.effective_ts() < last
                && monitor.last_reading_id.as_deref() != Some(r.reading_id.as_str())
        })
        .collect()
}

/// The time range of the history to read back for the late `readings` of
/// `monitor` (`None`: nothing is late, apply the readings as they are). It
/// starts at the earliest of the trip's first reading and the late ones; the
/// history is keyed by each reading's own time, never earlier than the time
/// it counts at.
pub fn history_window<R: Borrow<Reading>>(
    monitor: &ShipmentMonitor,
    readings: &[R],
) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let earliest = late_readings(monitor, readings)
        .iter()
        .map(|r| r.effective_ts())
        .min()?;
    let from = monitor
        .excursion
        .first_ts
        .map_or(earliest, |first| first.min(earliest));
    Some((from, from + HISTORY_SPAN))
}

/// Rebuilds `old` from the shipment's whole `history` (which holds the late
/// readings of `batch`) with `profile` (see the module docs). Returns the
/// new monitor and what to publish and store.
pub fn rebuild<R: Borrow<Reading>>(
    old: &ShipmentMonitor,
    history: &[Reading],
    batch: &[R],
    profile: &TemperatureProfile,
    settings: &MonitorSettings,
) -> (ShipmentMonitor, Applied) {
    let cutoff = late_readings(old, batch)
        .iter()
        .map(|r| r.effective_ts())
        .min();
    let mut readings: Vec<Reading> = history.to_vec();
    // the batch is in the history already, unless the history's (eventually
    // consistent) query does not show the latest writes yet
    readings.extend(batch.iter().map(|r| r.borrow().clone()));
    readings.sort_by(|a, b| {
        a.effective_ts()
            .cmp(&b.effective_ts())
            .then_with(|| a.reading_id.cmp(&b.reading_id))
    });
    let mut ids = HashSet::new();
    readings.retain(|r| ids.insert(r.reading_id.clone()));

    let mut fresh = ShipmentMonitor::new(old.shipment_id.clone());
    fresh.started_at = old.started_at;
    let replay = apply_readings(&mut fresh, &readings, profile, settings);

    let mut transitions: Vec<(AlarmTransition, AlarmContext)> = Vec::new();
    let mut merged_ids: HashSet<String> = HashSet::new();
    let mut reconciled: Vec<AlarmTransition> = Vec::new();
    for before in &old.alarms.active {
        match fresh
            .alarms
            .active
            .iter_mut()
            .find(|a| a.alarm_type == before.alarm_type)
        {
            Some(now) => {
                merged_ids.insert(now.alarm_id.clone());
                let merged = merge(before, now);
                *now = merged.clone();
                reconciled.push(if merged.severity > before.severity {
                    AlarmTransition::Escalated {
                        alarm: merged,
                        from: before.severity,
                    }
                } else {
                    AlarmTransition::Updated { alarm: merged }
                });
            }
            None => {
                let mut cleared = before.clone();
                cleared.state = AlarmState::Cleared;
                cleared.cleared_at = Some(
                    fresh
                        .last_reading_at()
                        .map_or(before.last_seen, |at| at.max(before.last_seen)),
                );
                reconciled.push(AlarmTransition::Cleared { alarm: cleared });
            }
        }
    }
    for (transition, context) in replay.transitions {
        let alarm = transition.alarm();
        let from_late_data = cutoff.is_none_or(|cutoff| transition_time(&transition) >= cutoff);
        if from_late_data && !merged_ids.contains(&alarm.alarm_id) {
            transitions.push((transition, context));
        }
    }
    if fresh == *old {
        // nothing was late after all (a batch applied before, sent again)
        return (fresh, Applied::default());
    }
    let latest = readings.last();
    let context = alarm_context(&fresh, latest, profile);
    transitions.extend(reconciled.into_iter().map(|t| (t, context.clone())));
    let applied = Applied {
        transitions,
        applied: replay.applied,
        ignored: replay.ignored,
        latest: latest.cloned(),
    };
    (fresh, applied)
}

/// When a transition happened (the time its event carries).
fn transition_time(transition: &AlarmTransition) -> OffsetDateTime {
    let alarm = transition.alarm();
    match transition {
        AlarmTransition::Cleared { .. } => alarm.cleared_at.unwrap_or(alarm.last_seen),
        AlarmTransition::Raised { .. } => alarm.raised_at,
        _ => alarm.last_seen,
    }
}

/// The alarm `before` (its id, review, earliest start, worst severity and
/// peak) with the replay's latest figures `now`; a severity risen by the
/// late readings resets the review, as an escalation does.
fn merge(before: &Alarm, now: &Alarm) -> Alarm {
    let worse = now.peak_magnitude > before.peak_magnitude;
    let crossing = match (before.crossing, now.crossing) {
        (Some(b), Some(n)) => Some(if n.rank() > b.rank() { n } else { b }),
        (b, n) => n.or(b),
    };
    let mut merged = Alarm {
        alarm_id: before.alarm_id.clone(),
        shipment_id: before.shipment_id.clone(),
        alarm_type: before.alarm_type,
        severity: before.severity.max(now.severity),
        state: before.state,
        raised_at: before.raised_at.min(now.raised_at),
        last_seen: before.last_seen.max(now.last_seen),
        count: before.count.max(now.count),
        value: now.value,
        peak_value: if worse {
            now.peak_value
        } else {
            before.peak_value
        },
        peak_magnitude: before.peak_magnitude.max(now.peak_magnitude),
        detail: now.detail.clone(),
        crossing,
        acknowledged_by: before.acknowledged_by.clone(),
        acknowledged_at: before.acknowledged_at,
        cleared_at: None,
        review: before.review.clone(),
        earlier_reviews: before.earlier_reviews.clone(),
    };
    if merged.severity > before.severity {
        merged.reset_review();
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coldchain::alarm::{AlarmType, Severity};
    use crate::coldchain::detector::apply_readings;
    use crate::telemetry::READING_SCHEMA_VERSION;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const FRIDGE: TemperatureProfile = TemperatureProfile::Refrigerated;

    /// A reading taken at minute `minute`, received at `received_minute`.
    fn reading(minute: i64, temperature_c: f64, received_minute: i64) -> Reading {
        Reading {
            v: READING_SCHEMA_VERSION,
            reading_id: format!("logger-1-{minute:03}"),
            device_id: "logger-1".into(),
            shipment_id: Some("shp-1".into()),
            ts: T0 + Duration::minutes(minute),
            lat: 52.0,
            lon: 4.0,
            temperature_c,
            vibration_g: 0.2,
            received_at: T0 + Duration::minutes(received_minute),
            source: "mqtt".into(),
            sender: None,
        }
    }

    /// 90 minutes, one reading a minute: in range, a freeze from minute 20
    /// to 29 (−3 °C) inside a dead zone from minute 11 to 50, in range again.
    fn trip() -> Vec<Reading> {
        (0..90)
            .map(|m| {
                let temp = if (20..30).contains(&m) { -3.0 } else { 5.0 };
                let dead = (11..=50).contains(&m);
                // the dead zone's readings are uploaded at minute 51
                reading(m, temp, if dead { 51 } else { m })
            })
            .collect()
    }

    /// What a shipment shows in the end, and every alarm published.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        above_ms: Duration,
        below_ms: Duration,
        cold_zone: Duration,
        mkt_c: String,
        coverage: String,
        min_c: Option<f64>,
        active: Vec<(AlarmType, Severity, OffsetDateTime)>,
    }

    fn outcome(m: &ShipmentMonitor) -> Outcome {
        let status = m.excursion_status(&FRIDGE);
        Outcome {
            above_ms: status.above,
            below_ms: status.below,
            cold_zone: status.cold_zone,
            mkt_c: format!("{:.6}", m.mkt_c().unwrap()),
            coverage: format!("{:.6}", m.coverage()),
            min_c: m.coverage.min_temperature_c,
            active: m
                .alarms
                .active
                .iter()
                .map(|a| (a.alarm_type, a.severity, a.raised_at))
                .collect(),
        }
    }

    /// The detector's way with one batch: apply, or rebuild from the history
    /// when something in it is late. Returns the published transitions by
    /// alarm id (last state).
    fn deliver(
        m: &mut ShipmentMonitor,
        history: &mut Vec<Reading>,
        batch: &[Reading],
        published: &mut BTreeMap<String, Alarm>,
    ) {
        let settings = MonitorSettings::default();
        let mut batch = batch.to_vec();
        batch.sort_by_key(|r| r.ts);
        history.extend(batch.iter().cloned());
        let applied = match history_window(m, &batch) {
            Some(_) => {
                let (next, applied) = rebuild(m, history, &batch, &FRIDGE, &settings);
                *m = next;
                applied
            }
            None => apply_readings(m, &batch, &FRIDGE, &settings),
        };
        for (transition, _) in applied.transitions {
            let alarm = transition.alarm().clone();
            published.insert(alarm.alarm_id.clone(), alarm);
        }
    }

    fn in_order() -> (ShipmentMonitor, BTreeMap<String, Alarm>) {
        let mut m = ShipmentMonitor::new("shp-1");
        let mut history = Vec::new();
        let mut published = BTreeMap::new();
        for r in trip() {
            deliver(&mut m, &mut history, &[r], &mut published);
        }
        (m, published)
    }

    #[test]
    fn a_freeze_inside_a_dead_zone_counts_once_its_readings_come() {
        let (expected, expected_alarms) = in_order();
        let freeze = expected_alarms
            .values()
            .find(|a| a.alarm_type == AlarmType::TemperatureExcursion)
            .expect("the freeze alarm");
        assert_eq!(freeze.raised_at, T0 + Duration::minutes(20));
        assert_eq!(freeze.severity, Severity::Critical);

        // as it arrives: live until minute 10, the first reading after the
        // dead zone at minute 51, then the 40-minute upload, then live again
        let trip = trip();
        let mut m = ShipmentMonitor::new("shp-1");
        let mut history = Vec::new();
        let mut published = BTreeMap::new();
        for r in &trip[..11] {
            deliver(
                &mut m,
                &mut history,
                std::slice::from_ref(r),
                &mut published,
            );
        }
        deliver(&mut m, &mut history, &trip[51..52], &mut published);
        assert!(published.is_empty(), "nothing seen of the freeze yet");
        let before = m.excursion_status(&FRIDGE);
        assert_eq!(before.below, Duration::ZERO);
        deliver(&mut m, &mut history, &trip[11..51], &mut published);
        let alarm = published
            .values()
            .find(|a| a.alarm_type == AlarmType::TemperatureExcursion)
            .expect("the upload raises the freeze alarm");
        assert_eq!(alarm.alarm_id, freeze.alarm_id, "with its real start time");
        assert_eq!(alarm.state, AlarmState::Cleared);
        for r in &trip[52..] {
            deliver(
                &mut m,
                &mut history,
                std::slice::from_ref(r),
                &mut published,
            );
        }
        assert_eq!(outcome(&m), outcome(&expected));
        assert_eq!(published, expected_alarms);
    }

    #[test]
    fn an_alarm_active_before_the_upload_stays_the_same_alarm_and_its_acknowledgement() {
        let settings = MonitorSettings::default();
        // live: in range, then the logger is back at −3 °C at minute 25
        let mut m = ShipmentMonitor::new("shp-1");
        let live = [reading(0, 5.0, 0), reading(25, -3.0, 25)];
        apply_readings(&mut m, &live, &FRIDGE, &settings);
        let raised = m
            .alarms
            .get(AlarmType::TemperatureExcursion)
            .unwrap()
            .clone();
        assert_eq!(raised.raised_at, T0 + Duration::minutes(25));
        m.review(
            &raised.alarm_id,
            &crate::fixtures::review(),
            "usr-qa",
            T0 + Duration::minutes(26),
        )
        .unwrap();
        // the upload shows the freeze began at minute 20
        let upload: Vec<Reading> = (1..25)
            .map(|k| reading(k, if k >= 20 { -3.0 } else { 5.0 }, 27))
            .collect();
        let mut history = live.to_vec();
        history.extend(upload.iter().cloned());
        let (next, applied) = rebuild(&m, &history, &upload, &FRIDGE, &settings);
        let alarm = next.alarms.get(AlarmType::TemperatureExcursion).unwrap();
        assert_eq!(alarm.alarm_id, raised.alarm_id, "the same alarm");
        assert_eq!(
            alarm.raised_at,
            T0 + Duration::minutes(20),
            "its real start"
        );
        assert_eq!(alarm.state, AlarmState::ActiveAck);
        assert_eq!(alarm.acknowledged_by.as_deref(), Some("usr-qa"));
        assert!(alarm.is_reviewed(), "the review stays with it");
        let kinds: Vec<(&str, &str)> = applied
            .transitions
            .iter()
            .map(|(t, _)| (t.kind(), t.alarm().alarm_id.as_str()))
            .collect();
        assert!(
            kinds.contains(&("UPDATED", raised.alarm_id.as_str())),
            "{kinds:?}"
        );
        assert_eq!(
            next.excursion_status(&FRIDGE).cold_zone,
            Duration::minutes(6),
            "minutes 20 to 25"
        );
    }

    #[test]
    fn an_alarm_the_full_data_no_longer_supports_is_cleared() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        apply_readings(&mut m, &[reading(0, 5.0, 0)], &FRIDGE, &settings);
        let offline = m.check_offline(
            T0 + Duration::minutes(11),
            crate::shipment::ShipmentState::InTransit,
            &settings,
        );
        assert_eq!(offline.len(), 1);
        apply_readings(&mut m, &[reading(30, 5.0, 30)], &FRIDGE, &settings);
        // a stale active alarm from before (kept here by hand)
        let mut stale = offline[0].alarm().clone();
        stale.alarm_type = AlarmType::Shock;
        m.alarms.active.push(stale.clone());
        let upload: Vec<Reading> = (1..30).map(|k| reading(k, 5.0, 31)).collect();
        let mut history = vec![reading(0, 5.0, 0), reading(30, 5.0, 30)];
        history.extend(upload.iter().cloned());
        let (next, applied) = rebuild(&m, &history, &upload, &FRIDGE, &settings);
        assert!(next.alarms.get(AlarmType::Shock).is_none());
        let cleared = applied
            .transitions
            .iter()
            .find(|(t, _)| t.alarm().alarm_id == stale.alarm_id)
            .unwrap();
        assert_eq!(cleared.0.kind(), "CLEARED");
        assert_eq!(next.coverage(), 1.0, "the dead zone is covered now");
    }

    #[test]
    fn nothing_late_nothing_to_read_back() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        assert_eq!(history_window(&m, &[reading(0, 5.0, 0)]), None);
        apply_readings(&mut m, &[reading(5, 5.0, 5)], &FRIDGE, &settings);
        assert_eq!(history_window(&m, &[reading(6, 5.0, 6)]), None);
        assert_eq!(
            history_window(&m, &[reading(5, 5.0, 5)]),
            None,
            "the last one again"
        );
        let (from, to) = history_window(&m, &[reading(2, 5.0, 7)]).unwrap();
        assert_eq!(from, T0 + Duration::minutes(2));
        assert_eq!(to - from, HISTORY_SPAN);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The upload, shuffled and split into batches any way, ends in the
        /// same totals and active alarms as the trip in order, and every
        /// alarm of the trip in order is published with its real start.
        #[test]
        fn an_upload_in_any_order_ends_where_the_trip_in_order_does(
            order in Just((11usize..51).collect::<Vec<_>>()).prop_shuffle(),
            cuts in prop::collection::vec(1usize..40, 0..4),
        ) {
            let (expected, expected_alarms) = in_order();
            let trip = trip();
            let mut m = ShipmentMonitor::new("shp-1");
            let mut history = Vec::new();
            let mut published = BTreeMap::new();
            for r in &trip[..11] {
                deliver(&mut m, &mut history, std::slice::from_ref(r), &mut published);
            }
            deliver(&mut m, &mut history, &trip[51..52], &mut published);
            let upload: Vec<Reading> = order.iter().map(|i| trip[*i].clone()).collect();
            let mut cuts = cuts;
            cuts.push(0);
            cuts.push(upload.len());
            cuts.sort_unstable();
            cuts.dedup();
            for pair in cuts.windows(2) {
                deliver(&mut m, &mut history, &upload[pair[0]..pair[1]], &mut published);
            }
            for r in &trip[52..] {
                deliver(&mut m, &mut history, std::slice::from_ref(r), &mut published);
            }
            prop_assert_eq!(outcome(&m), outcome(&expected));
            for (id, alarm) in &expected_alarms {
                let got = published.get(id);
                prop_assert!(got.is_some(), "{id} not published");
                prop_assert_eq!(got.unwrap().raised_at, alarm.raised_at);
            }
        }
    }
}
