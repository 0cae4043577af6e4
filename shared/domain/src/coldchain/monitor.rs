//! [`ShipmentMonitor`]: every cold-chain rule for one shipment, fed reading by
//! reading.
//!
//! For each new reading, in this order: the device is back (clears
//! DEVICE_OFFLINE), the excursion tracker, the coverage and the MKT are
//! advanced (the interval since the previous reading, capped by the device's
//! learned reporting interval — see [`super::coverage`] — is attributed to
//! this reading's temperature), then the excursion, budget, shock and trend
//! signals are applied to the [`AlarmBook`]. Readings within the start-up
//! period after the shipment's start ([`ShipmentMonitor::started_at`],
//! [`MonitorSettings::start_up_ignore`]) raise no temperature alarm unless
//! they are in an outer zone. A reading already seen (same `reading_id` as
//! the last one, or `ts` not after the last processed) changes nothing and
//! yields no transition, so replaying a batch is harmless.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::alarm::{AckRefused, AlarmBook, AlarmTransition, AlarmType, Severity, Signal};
use super::coverage::{Coverage, cap_for, coverage_fraction};
use super::excursion::{Accounting, Band, ExcursionStatus, ExcursionTracker, Ignored};
use super::mkt::MktAccumulator;
use super::no_data::no_data_signal;
use super::offline::offline_signal;
use super::review::ReviewRequest;
use super::shock::shock_signal;
use super::trend::{TrendWindow, pre_excursion_signal};
use super::zone::Crossing;
use super::{CRITICAL_DELAY_FACTOR, MonitorSettings};
use crate::shipment::silence::{Silence, in_silence, quiet_since};
use crate::shipment::{ProfileLimits, ShipmentState, TemperatureProfile};
use crate::telemetry::Reading;

/// The cold-chain state of one shipment. Stored per shipment (serializable).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShipmentMonitor {
    /// The shipment.
    pub shipment_id: String,
    /// Id of the last reading applied.
    #[serde(default)]
    pub last_reading_id: Option<String>,
    /// When the shipment started (its dispatch): the start-up period counts
    /// from here. Set by the detector from the shipment.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Time out of range.
    pub excursion: ExcursionTracker,
    /// Reporting interval, gaps, minimum and maximum.
    #[serde(default)]
    pub coverage: Coverage,
    /// Mean kinetic temperature so far.
    pub mkt: MktAccumulator,
    /// Recent samples for the trend.
    pub trend: TrendWindow,
    /// Highest vibration peak of the readings applied, g.
    #[serde(default)]
    pub peak_vibration_g: Option<f64>,
    /// Active alarms.
    pub alarms: AlarmBook,
}

/// What a reading did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    /// Why the reading was ignored, if it was (then nothing changed).
    pub ignored: Option<Ignored>,
    /// The alarm transitions it caused.
    pub transitions: Vec<AlarmTransition>,
}

impl ShipmentMonitor {
    /// A monitor that has seen nothing.
    pub fn new(shipment_id: impl Into<String>) -> Self {
        Self {
            shipment_id: shipment_id.into(),
            ..Self::default()
        }
    }

    /// Time of the last reading applied.
    pub fn last_reading_at(&self) -> Option<OffsetDateTime> {
        self.excursion.last_ts
    }

    /// The mean kinetic temperature so far, °C.
    pub fn mkt_c(&self) -> Option<f64> {
        self.mkt.mkt_c()
    }

    /// The excursion status for `profile`.
    pub fn excursion_status(&self, profile: &TemperatureProfile) -> ExcursionStatus {
        self.excursion.status(&profile.limits())
    }

    /// Time with data over the time from the first to the last reading.
    pub fn coverage(&self) -> f64 {
        coverage_fraction(self.excursion.attributed(), self.excursion.elapsed())
    }

    /// Takes the shipment's start (its dispatch) unless the monitor has one:
    /// the start is fixed once known.
    pub fn follow_start(&mut self, shipment_started_at: Option<OffsetDateTime>) {
        self.started_at = self.started_at.or(shipment_started_at);
    }

    /// Whether a reading at `ts` falls in the start-up period: from the start
    /// for [`MonitorSettings::start_up_ignore`]. A reading from before the
    /// start is not in it (it counts, as nothing says the load was settling).
    pub fn is_settling(&self, ts: OffsetDateTime, settings: &MonitorSettings) -> bool {
        self.started_at
            .is_some_and(|start| ts >= start && ts < start + settings.start_up_ignore)
    }

    /// Applies one reading (see the module docs).
    pub fn observe(
        &mut self,
        reading: &Reading,
        profile: &TemperatureProfile,
        settings: &MonitorSettings,
    ) -> Observation {
        if self.last_reading_id.as_deref() == Some(reading.reading_id.as_str()) {
            return Observation {
                ignored: Some(Ignored::Duplicate),
                transitions: Vec::new(),
            };
        }
        let limits = profile.limits();
        let previous = self.excursion.last_ts;
        // judged in order by when it counts: never later than its receipt
        let ts = reading.effective_ts();
        let temperature = reading.temperature_c;
        let settling = self.is_settling(ts, settings);
        let reporting_interval = self.coverage.reporting_interval();
        let accounting = Accounting {
            max_gap: cap_for(
                reporting_interval,
                settings.max_attributed_gap,
                settings.max_reporting_interval,
            ),
            clear_margin_c: settings.clear_margin_c,
            clear_after: settings.clear_after,
            settling,
        };
        let status = match self
            .excursion
            .observe(ts, temperature, &limits, &accounting)
        {
            Ok(status) => status,
            Err(ignored) => {
                return Observation {
                    ignored: Some(ignored),
                    transitions: Vec::new(),
                };
            }
        };
        // the id's buffer is reused: no allocation per reading
        match &mut self.last_reading_id {
            Some(last) => last.clone_from(&reading.reading_id),
            None => self.last_reading_id = Some(reading.reading_id.clone()),
        }
        self.peak_vibration_g = Some(
            self.peak_vibration_g
                .map_or(reading.vibration_g, |peak| peak.max(reading.vibration_g)),
        );
        self.coverage
            .record(previous.map(|previous| ts - previous), temperature);
        if previous.is_some() {
            // A refused interval (e.g. a zero gap setting) simply adds nothing.
            let _ = self.mkt.add(temperature, status.interval);
        }
        if !settling {
            // the load settling is no trend
            let window = trend_window_for(reporting_interval, settings);
            self.trend.push(ts, temperature, window);
        }

        let forecast = if settling {
            None
        } else {
            self.trend.forecast(
                &limits,
                settings.trend_horizon,
                settings.trend_min_points,
                settings.trend_min_span,
            )
        };
        let signals = [
            Some(Signal::Absent {
                alarm_type: AlarmType::DeviceOffline,
                at: ts,
            }),
            Some(Signal::Absent {
                alarm_type: AlarmType::NoData,
                at: ts,
            }),
            excursion_signal(&status, temperature, &limits, ts),
            budget_signal(&status, &limits, ts),
            shock_signal(
                reading.vibration_g,
                ts,
                settings.crash_threshold_g,
                settings.shock_quiet_period,
                self.alarms.get(AlarmType::Shock),
            ),
            if settling {
                None
            } else {
                pre_excursion_signal(temperature, ts, &limits, forecast.as_ref())
            },
        ];

        let transitions = signals
            .into_iter()
            .flatten()
            .flat_map(|signal| self.alarms.apply(&self.shipment_id, signal))
            .collect();
        Observation {
            ignored: None,
            transitions,
        }
    }

    /// Raises, escalates or clears DEVICE_OFFLINE and NO_DATA for the time
    /// `now` and the shipment `state`, with no expected silence. Calling it
    /// again with the same `now` changes nothing.
    pub fn check_offline(
        &mut self,
        now: OffsetDateTime,
        state: ShipmentState,
        settings: &MonitorSettings,
    ) -> Vec<AlarmTransition> {
        self.check_quiet(now, state, &[], settings)
    }

    /// [`ShipmentMonitor::check_offline`] with the shipment's expected
    /// `silences`: during one nothing changes, after one the silence counts
    /// from its end.
    pub fn check_quiet(
        &mut self,
        now: OffsetDateTime,
        state: ShipmentState,
        silences: &[Silence],
        settings: &MonitorSettings,
    ) -> Vec<AlarmTransition> {
        if in_silence(silences, now) {
            return Vec::new();
        }
        let last = self
            .last_reading_at()
            .map(|last| quiet_since(last, now, silences));
        let mut signals = vec![offline_signal(last, now, state, settings.offline_after)];
        signals.extend(no_data_signal(
            last.is_some(),
            self.started_at,
            now,
            state,
            settings.no_data_after,
            silences,
        ));
        signals
            .into_iter()
            .flat_map(|signal| self.alarms.apply(&self.shipment_id, signal))
            .collect()
    }

    /// Reviews (and so acknowledges) an active alarm (see
    /// [`AlarmBook::review`]).
    pub fn review(
        &mut self,
        alarm_id: &str,
        request: &ReviewRequest,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<AlarmTransition>, AckRefused> {
        self.alarms.review(alarm_id, request, by, at)
    }
}

/// How far back the trend looks: the configured window, or more for a slow
/// logger ([`super::TREND_WINDOW_INTERVALS`] reporting intervals).
fn trend_window_for(interval: Option<Duration>, settings: &MonitorSettings) -> Duration {
    interval.map_or(settings.trend_window, |interval| {
        settings
            .trend_window
            .max(interval.saturating_mul(super::TREND_WINDOW_INTERVALS))
    })
}

fn minutes(duration: Duration) -> f64 {
    duration.as_seconds_f64() / 60.0
}

/// The TEMPERATURE_EXCURSION signal: present once due (MAJOR after the
/// delay of the side the reading is on; CRITICAL at [`CRITICAL_DELAY_FACTOR`]
/// × that delay, in an outer zone after its delay, or with a budget
/// exhausted), absent once the episode is over (back well inside the range
/// for the clearing time), nothing in between.
fn excursion_signal(
    status: &ExcursionStatus,
    temperature_c: f64,
    limits: &ProfileLimits,
    at: OffsetDateTime,
) -> Option<Signal> {
    if !status.in_episode() && !status.band.is_out() {
        return Some(Signal::Absent {
            alarm_type: AlarmType::TemperatureExcursion,
            at,
        });
    }
    let rule = status.band.rule(limits)?;
    if !status.alarm_due && !status.zone_due {
        return None;
    }
    let severity = if status.zone_due
        || status.continuous >= rule.delay() * CRITICAL_DELAY_FACTOR
        || status.budget_exhausted
    {
        Severity::Critical
    } else {
        Severity::Major
    };
    let crossing = Crossing::of(temperature_c, limits);
    let crossed = crossing.map_or_else(String::new, |c| format!("{}, ", c.describe()));
    let run = if status.zone_due {
        format!("{:.0} min in the zone", minutes(status.zone_run))
    } else {
        format!("{:.0} min out of range", minutes(status.continuous))
    };
    Some(Signal::Present {
        alarm_type: AlarmType::TemperatureExcursion,
        severity,
        value: temperature_c,
        magnitude: Band::deviation(temperature_c, limits),
        detail: format!(
            "{temperature_c:.1} °C: {crossed}range {}–{} °C; {run}",
            limits.min_c, limits.max_c
        ),
        crossing,
        at,
    })
}

/// The BUDGET_EXHAUSTED signal: present while out of range with a side's
/// budget spent (it never clears during the trip).
fn budget_signal(
    status: &ExcursionStatus,
    limits: &ProfileLimits,
    at: OffsetDateTime,
) -> Option<Signal> {
    if !(status.budget_exhausted && status.band.is_out()) {
        return None;
    }
    let side = |name: &str, used: Duration, budget: u32| {
        format!("{:.0} of {budget} min {name} the range", minutes(used))
    };
    Some(Signal::Present {
        alarm_type: AlarmType::BudgetExhausted,
        severity: Severity::Critical,
        value: status.budget_used,
        magnitude: status.budget_used,
        detail: format!(
            "budget used: {}; {}",
            side("above", status.above, limits.upper.budget_minutes),
            side("below", status.below, limits.lower.budget_minutes)
        ),
        crossing: None,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coldchain::alarm::AlarmState;
    use crate::coldchain::zone::Limit;
    use crate::telemetry::READING_SCHEMA_VERSION;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const FRIDGE: TemperatureProfile = TemperatureProfile::Refrigerated;

    fn reading(seconds: i64, temperature_c: f64, vibration_g: f64) -> Reading {
        let ts = T0 + Duration::seconds(seconds);
        Reading {
            v: READING_SCHEMA_VERSION,
            reading_id: format!("truck-1-{seconds}"),
            device_id: "truck-1".into(),
            shipment_id: Some("shp-1".into()),
            ts,
            lat: 52.0,
            lon: 4.0,
            temperature_c,
            vibration_g,
            received_at: ts,
            source: "mqtt".into(),
            sender: None,
        }
    }

    fn kinds(transitions: &[AlarmTransition]) -> Vec<(AlarmType, &'static str)> {
        transitions
            .iter()
            .map(|t| (t.alarm().alarm_type, t.kind()))
            .collect()
    }

    /// Feeds one reading per minute and collects every transition.
    fn feed(
        monitor: &mut ShipmentMonitor,
        from_minute: i64,
        temps: &[f64],
    ) -> Vec<AlarmTransition> {
        let settings = MonitorSettings::default();
        temps
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                let r = reading((from_minute + i as i64) * 60, *t, 0.2);
                monitor.observe(&r, &FRIDGE, &settings).transitions
            })
            .collect()
    }

    #[test]
    fn an_excursion_raises_major_then_critical_then_clears() {
        let mut m = ShipmentMonitor::new("shp-1");
        assert!(feed(&mut m, 0, &[5.0; 5]).is_empty());
        // out of range from minute 5; due after 15 attributed minutes (minute 19)
        let t = feed(&mut m, 5, &[9.0; 14]);
        assert!(t.is_empty(), "{:?}", kinds(&t));
        let t = feed(&mut m, 19, &[9.0]);
        assert_eq!(kinds(&t), [(AlarmType::TemperatureExcursion, "RAISED")]);
        assert_eq!(t[0].alarm().severity, Severity::Major);
        assert!(
            t[0].alarm().detail.contains("above"),
            "{}",
            t[0].alarm().detail
        );
        let t = feed(&mut m, 20, &[10.0; 14]);
        assert!(t.iter().all(|t| t.kind() == "UPDATED"));
        assert_eq!(t.last().unwrap().alarm().peak_value, 10.0);
        // 30 min continuous → CRITICAL
        let t = feed(&mut m, 34, &[9.5]);
        assert_eq!(kinds(&t), [(AlarmType::TemperatureExcursion, "ESCALATED")]);
        assert_eq!(t[0].alarm().severity, Severity::Critical);
        // back in range: cleared once 5 min well inside
        let excursion = |t: Vec<AlarmTransition>| -> Vec<(AlarmType, &'static str)> {
            kinds(&t)
                .into_iter()
                .filter(|(kind, _)| *kind == AlarmType::TemperatureExcursion)
                .collect()
        };
        assert_eq!(excursion(feed(&mut m, 35, &[6.0; 4])), []);
        assert_eq!(
            excursion(feed(&mut m, 39, &[6.0])),
            [(AlarmType::TemperatureExcursion, "CLEARED")]
        );
        assert!(m.alarms.get(AlarmType::TemperatureExcursion).is_none());
        let mkt = m.mkt_c().unwrap();
        assert!(mkt > 5.0 && mkt < 10.0, "{mkt}");
    }

    #[test]
    fn budget_exhaustion_is_critical_and_escalates_the_excursion() {
        // a custom profile: alarm delay 10 min, budget 20 min
        let profile = TemperatureProfile::custom(2.0, 8.0, 10, 20).unwrap();
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        let mut all = Vec::new();
        for minute in 0..=25 {
            let temp = if minute == 0 { 5.0 } else { 9.0 };
            let r = reading(minute * 60, temp, 0.1);
            all.extend(m.observe(&r, &profile, &settings).transitions);
        }
        let k = kinds(&all);
        assert!(k.contains(&(AlarmType::TemperatureExcursion, "RAISED")));
        assert!(k.contains(&(AlarmType::TemperatureExcursion, "ESCALATED")));
        assert!(k.contains(&(AlarmType::BudgetExhausted, "RAISED")));
        let budget = m.alarms.get(AlarmType::BudgetExhausted).unwrap();
        assert_eq!(budget.severity, Severity::Critical);
        // back in range: the excursion clears, the budget stays spent
        let t: Vec<_> = (26..=30)
            .flat_map(|minute| {
                let r = reading(minute * 60, 5.0, 0.1);
                m.observe(&r, &profile, &settings).transitions
            })
            .filter(|t| t.alarm().alarm_type != AlarmType::PreExcursion)
            .collect();
        assert_eq!(kinds(&t), [(AlarmType::TemperatureExcursion, "CLEARED")]);
        assert!(m.alarms.get(AlarmType::BudgetExhausted).is_some());
    }

    /// Feeds one reading every `step_s` seconds from `from_s` and collects
    /// every transition.
    fn feed_every(
        monitor: &mut ShipmentMonitor,
        profile: &TemperatureProfile,
        settings: &MonitorSettings,
        from_s: i64,
        step_s: i64,
        temps: &[f64],
    ) -> Vec<AlarmTransition> {
        temps
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                let r = reading(from_s + i as i64 * step_s, *t, 0.2);
                monitor.observe(&r, profile, settings).transitions
            })
            .collect()
    }

    /// The excursion alarms raised.
    fn raised(transitions: &[AlarmTransition]) -> Vec<&AlarmTransition> {
        transitions
            .iter()
            .filter(|t| {
                t.kind() == "RAISED" && t.alarm().alarm_type == AlarmType::TemperatureExcursion
            })
            .collect()
    }

    #[test]
    fn a_freeze_is_critical_at_once_and_says_how_far_below_the_cold_zone() {
        // a 2–8 °C vaccine at −10 °C for 14 minutes, one reading a minute
        let mut m = ShipmentMonitor::new("shp-1");
        feed(&mut m, 0, &[5.0; 3]);
        let t = feed(&mut m, 3, &[-10.0; 14]);
        let raised = raised(&t);
        assert_eq!(raised.len(), 1, "{:?}", kinds(&t));
        let alarm = raised[0].alarm();
        assert_eq!(alarm.alarm_type, AlarmType::TemperatureExcursion);
        assert_eq!(alarm.severity, Severity::Critical);
        assert_eq!(
            alarm.raised_at,
            T0 + Duration::minutes(3),
            "at the first freezing reading"
        );
        let crossing = alarm.crossing.unwrap();
        assert_eq!(crossing.limit, Limit::ColdZone);
        assert!((crossing.by_c - 10.0).abs() < 1e-9);
        assert!(
            alarm.detail.contains("10.0 °C below the 0 °C cold zone"),
            "{}",
            alarm.detail
        );
        let status = m.excursion_status(&FRIDGE);
        assert_eq!(status.cold_zone, Duration::minutes(14));
        assert_eq!(status.below, Duration::minutes(14));
    }

    #[test]
    fn thirty_degrees_is_critical_after_the_hot_zones_delay() {
        let mut m = ShipmentMonitor::new("shp-1");
        feed(&mut m, 0, &[5.0; 3]);
        let t = feed(&mut m, 3, &[30.0; 14]);
        let raised = raised(&t);
        assert_eq!(raised.len(), 1, "{:?}", kinds(&t));
        assert_eq!(raised[0].alarm().severity, Severity::Critical);
        // the first hot reading (minute 3) counts the minute before it: the
        // zone's 5 min are due at minute 7
        assert_eq!(raised[0].alarm().raised_at, T0 + Duration::minutes(7));
        assert_eq!(raised[0].alarm().crossing.unwrap().limit, Limit::HotZone);
    }

    #[test]
    fn below_the_range_alarms_after_the_lower_delay() {
        // 1 °C: too cold but not freezing; the lower side's delay is 5 min
        let mut m = ShipmentMonitor::new("shp-1");
        feed(&mut m, 0, &[5.0]);
        let t = feed(&mut m, 1, &[1.0; 5]);
        let raised = raised(&t);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].alarm().severity, Severity::Major);
        assert_eq!(raised[0].alarm().crossing.unwrap().limit, Limit::Lower);
        assert_eq!(raised[0].alarm().raised_at, T0 + Duration::minutes(5));
    }

    #[test]
    fn noise_around_a_limit_raises_one_alarm_not_a_series() {
        // 16 min just above 8 °C, then one reading just below, four times over
        let mut temps = Vec::new();
        for _ in 0..4 {
            temps.extend([8.4; 16]);
            temps.push(7.9);
        }
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        let mut t = feed_every(&mut m, &FRIDGE, &settings, 0, 60, &[5.0]);
        t.extend(feed_every(&mut m, &FRIDGE, &settings, 60, 60, &temps));
        assert_eq!(raised(&t).len(), 1, "{:?}", kinds(&t));
        assert!(!kinds(&t).contains(&(AlarmType::TemperatureExcursion, "CLEARED")));
        // without the guard margin and clearing time, the same noise is a series
        let bare = MonitorSettings {
            clear_margin_c: 0.0,
            clear_after: Duration::ZERO,
            ..settings
        };
        let mut m = ShipmentMonitor::new("shp-1");
        let mut t = feed_every(&mut m, &FRIDGE, &bare, 0, 60, &[5.0]);
        t.extend(feed_every(&mut m, &FRIDGE, &bare, 60, 60, &temps));
        assert_eq!(raised(&t).len(), 4, "{:?}", kinds(&t));
    }

    #[test]
    fn a_logger_reporting_every_15_minutes_has_its_intervals_counted() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        let t = feed_every(&mut m, &FRIDGE, &settings, 0, 900, &[5.0, 9.0]);
        let raised = raised(&t);
        assert_eq!(raised.len(), 1, "15 min out of range at the second reading");
        assert_eq!(raised[0].alarm().raised_at, T0 + Duration::minutes(15));
        feed_every(&mut m, &FRIDGE, &settings, 1800, 900, &[9.0, 5.0, 5.0]);
        let status = m.excursion_status(&FRIDGE);
        assert_eq!(status.above, Duration::minutes(30));
        assert_eq!(m.coverage.reporting_interval(), Some(Duration::minutes(15)));
        assert_eq!(m.coverage(), 1.0);
        assert_eq!(m.coverage.longest_gap(), Duration::minutes(15));
        assert_eq!(m.coverage.max_temperature_c, Some(9.0));
    }

    #[test]
    fn coverage_shows_a_silence_at_one_hertz() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        let temps = [5.0; 30];
        feed_every(&mut m, &FRIDGE, &settings, 0, 1, &temps);
        // an hour of silence, then 30 more seconds
        feed_every(&mut m, &FRIDGE, &settings, 3629, 1, &temps);
        assert_eq!(m.coverage.longest_gap(), Duration::seconds(3600));
        let expected = (29.0 + 300.0 + 29.0) / 3658.0;
        assert!((m.coverage() - expected).abs() < 1e-9, "{}", m.coverage());
    }

    #[test]
    fn the_start_up_period_raises_no_band_alarm_but_a_freeze_still_counts() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        m.started_at = Some(T0);
        // the load settles from 14 °C during the first 10 minutes
        let settling: Vec<f64> = (0..10).map(|i| 14.0 - f64::from(i) * 0.9).collect();
        let t = feed_every(&mut m, &FRIDGE, &settings, 0, 60, &settling);
        assert!(t.is_empty(), "{:?}", kinds(&t));
        assert_eq!(m.excursion_status(&FRIDGE).cumulative, Duration::ZERO);
        let t = feed_every(&mut m, &FRIDGE, &settings, 600, 60, &[5.0; 5]);
        assert!(t.is_empty());

        let mut frozen = ShipmentMonitor::new("shp-2");
        frozen.started_at = Some(T0);
        let t = feed_every(&mut frozen, &FRIDGE, &settings, 0, 60, &[5.0, -3.0]);
        assert_eq!(
            raised(&t).len(),
            1,
            "a freeze while loading is still a freeze"
        );
        // after the start-up period the band counts again
        let mut late = ShipmentMonitor::new("shp-3");
        late.started_at = Some(T0);
        let t = feed_every(&mut late, &FRIDGE, &settings, 600, 60, &[12.0; 16]);
        assert_eq!(raised(&t).len(), 1);
        // readings from before the start count as well
        let mut early = ShipmentMonitor::new("shp-4");
        early.started_at = Some(T0 + Duration::hours(1));
        let t = feed_every(&mut early, &FRIDGE, &settings, 0, 60, &[12.0; 16]);
        assert_eq!(raised(&t).len(), 1);
    }

    #[test]
    fn a_crash_is_critical_and_clears_after_a_quiet_period() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        m.observe(&reading(0, 5.0, 0.2), &FRIDGE, &settings);
        let t = m
            .observe(&reading(60, 5.0, 7.5), &FRIDGE, &settings)
            .transitions;
        assert_eq!(kinds(&t), [(AlarmType::Shock, "RAISED")]);
        assert_eq!(t[0].alarm().severity, Severity::Critical);
        let t = m
            .observe(&reading(120, 5.0, 5.0), &FRIDGE, &settings)
            .transitions;
        assert_eq!(kinds(&t), [(AlarmType::Shock, "UPDATED")]);
        assert_eq!(t[0].alarm().count, 2);
        assert_eq!(t[0].alarm().peak_value, 7.5);
        let t = m
            .observe(&reading(300, 5.0, 0.2), &FRIDGE, &settings)
            .transitions;
        assert!(t.is_empty());
        let t = m
            .observe(&reading(720, 5.0, 0.2), &FRIDGE, &settings)
            .transitions;
        assert_eq!(kinds(&t), [(AlarmType::Shock, "CLEARED")]);
    }

    #[test]
    fn offline_while_in_transit_and_back() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        assert!(
            m.check_offline(T0, ShipmentState::InTransit, &settings)
                .is_empty()
        );
        m.observe(&reading(0, 5.0, 0.2), &FRIDGE, &settings);
        let now = T0 + Duration::minutes(10);
        assert!(
            m.check_offline(now, ShipmentState::Dispatched, &settings)
                .is_empty()
        );
        let t = m.check_offline(now, ShipmentState::InTransit, &settings);
        assert_eq!(kinds(&t), [(AlarmType::DeviceOffline, "RAISED")]);
        assert_eq!(t[0].alarm().severity, Severity::Major);
        assert!(
            m.check_offline(now, ShipmentState::InTransit, &settings)
                .is_empty(),
            "same now: nothing new"
        );
        let t = m.check_offline(
            now + Duration::minutes(10),
            ShipmentState::InTransit,
            &settings,
        );
        assert_eq!(kinds(&t), [(AlarmType::DeviceOffline, "ESCALATED")]);
        let t = m
            .observe(&reading(21 * 60, 5.0, 0.2), &FRIDGE, &settings)
            .transitions;
        assert_eq!(kinds(&t), [(AlarmType::DeviceOffline, "CLEARED")]);
        // delivered: an active offline alarm clears
        let later = T0 + Duration::minutes(40);
        m.check_offline(later, ShipmentState::InTransit, &settings);
        let t = m.check_offline(later, ShipmentState::Delivered, &settings);
        assert_eq!(kinds(&t), [(AlarmType::DeviceOffline, "CLEARED")]);
    }

    /// Noise in ±`amplitude` °C, the same for a seed.
    fn noise(seed: &mut u64, amplitude: f64) -> f64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        // the mean of three uniforms: close to a normal distribution
        let mut sum = 0.0;
        for shift in [0, 21, 42] {
            sum += ((*seed >> shift) & 0x1f_ffff) as f64 / f64::from(0x1f_ffff);
        }
        (sum / 3.0 * 2.0 - 1.0) * amplitude
    }

    /// A reefer that holds 5 °C for an hour, then fails: +0.1 °C a minute.
    fn compressor_failure(minutes_after: f64) -> f64 {
        if minutes_after <= 0.0 {
            5.0
        } else {
            5.0 + 0.1 * minutes_after
        }
    }

    #[test]
    fn a_compressor_failure_warns_before_the_range_is_left_at_every_rate() {
        let settings = MonitorSettings::default();
        for step_s in [1i64, 30, 300] {
            let mut m = ShipmentMonitor::new("shp-1");
            let mut seed = 0x5eed_u64 + step_s as u64;
            let mut warned_at = None;
            let mut left_at = None;
            for k in 0..(3 * 3600 / step_s) {
                let s = k * step_s;
                let truth = compressor_failure((s as f64 - 3600.0) / 60.0);
                let temperature = truth + noise(&mut seed, 0.2);
                let t = m
                    .observe(&reading(s, temperature, 0.2), &FRIDGE, &settings)
                    .transitions;
                if warned_at.is_none()
                    && t.iter().any(|t| {
                        t.kind() == "RAISED" && t.alarm().alarm_type == AlarmType::PreExcursion
                    })
                {
                    warned_at = Some(s);
                }
                if left_at.is_none() && temperature > 8.0 {
                    left_at = Some(s);
                }
            }
            let (warned, left) = (warned_at.unwrap(), left_at.unwrap());
            assert!(
                warned >= 3600,
                "every {step_s} s: no warning before the failure"
            );
            assert!(
                warned < left,
                "every {step_s} s: warned at {warned} s, out of range at {left} s"
            );
            eprintln!(
                "every {step_s} s: warned {:.0} min after the failure, {:.0} min before the range was left",
                (warned - 3600) as f64 / 60.0,
                (left - warned) as f64 / 60.0
            );
        }
    }

    #[test]
    fn sensor_noise_at_a_steady_temperature_never_warns() {
        let settings = MonitorSettings::default();
        for (step_s, amplitude) in [(1i64, 0.5), (30, 0.5), (300, 0.5), (900, 0.5)] {
            let mut m = ShipmentMonitor::new("shp-1");
            let mut seed = 0xfeed_u64 + step_s as u64;
            for k in 0..(12 * 3600 / step_s) {
                let s = k * step_s;
                let temperature = 5.0 + noise(&mut seed, amplitude);
                let t = m
                    .observe(&reading(s, temperature, 0.2), &FRIDGE, &settings)
                    .transitions;
                assert!(
                    t.is_empty(),
                    "every {step_s} s, ±{amplitude} °C noise: {:?} at {s} s",
                    kinds(&t)
                );
            }
        }
    }

    #[test]
    fn a_warning_clears_once_the_temperature_holds() {
        let mut m = ShipmentMonitor::new("shp-1");
        let temps: Vec<f64> = (0..15).map(|i| 4.0 + 0.2 * f64::from(i)).collect();
        let t = feed(&mut m, 0, &temps);
        let raised: Vec<_> = t.iter().filter(|t| t.kind() == "RAISED").collect();
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].alarm().alarm_type, AlarmType::PreExcursion);
        assert_eq!(raised[0].alarm().severity, Severity::Warning);
        let t = feed(&mut m, 15, &[6.8; 40]);
        assert!(kinds(&t).contains(&(AlarmType::PreExcursion, "CLEARED")));
    }

    #[test]
    fn a_logger_that_never_reports_raises_no_data_and_its_first_reading_clears_it() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        m.started_at = Some(T0);
        let state = ShipmentState::Dispatched;
        assert!(
            m.check_offline(T0 + Duration::minutes(14), state, &settings)
                .is_empty()
        );
        let t = m.check_offline(T0 + Duration::minutes(15), state, &settings);
        assert_eq!(kinds(&t), [(AlarmType::NoData, "RAISED")]);
        assert_eq!(t[0].alarm().severity, Severity::Major);
        let t = m
            .observe(&reading(16 * 60, 5.0, 0.2), &FRIDGE, &settings)
            .transitions;
        assert_eq!(kinds(&t), [(AlarmType::NoData, "CLEARED")]);
        assert!(
            m.check_offline(T0 + Duration::minutes(20), state, &settings)
                .is_empty(),
            "neither NO_DATA nor DEVICE_OFFLINE (dispatched, not yet in transit)"
        );
    }

    #[test]
    fn an_expected_silence_raises_nothing_and_counts_from_its_end() {
        use crate::shipment::silence::Silence;
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        m.observe(&reading(0, 5.0, 0.2), &FRIDGE, &settings);
        let flight = [Silence {
            from: T0 + Duration::minutes(5),
            to: T0 + Duration::hours(3),
            reason: Some("flight AMS-MAD".into()),
        }];
        let state = ShipmentState::InTransit;
        for minutes in [30, 90, 180] {
            let now = T0 + Duration::minutes(minutes);
            assert!(
                m.check_quiet(now, state, &flight, &settings).is_empty(),
                "{minutes} min"
            );
        }
        let after = T0 + Duration::hours(3);
        assert!(
            m.check_quiet(after + Duration::minutes(9), state, &flight, &settings)
                .is_empty()
        );
        let t = m.check_quiet(after + Duration::minutes(10), state, &flight, &settings);
        assert_eq!(kinds(&t), [(AlarmType::DeviceOffline, "RAISED")]);
        assert!(
            (t[0].alarm().value - 10.0).abs() < 1e-9,
            "counted from the landing"
        );
    }

    #[test]
    fn duplicates_and_old_readings_change_nothing() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        m.observe(&reading(0, 5.0, 0.2), &FRIDGE, &settings);
        m.observe(&reading(60, 9.0, 9.0), &FRIDGE, &settings);
        let before = m.clone();
        let same = m.observe(&reading(60, 9.0, 9.0), &FRIDGE, &settings);
        assert_eq!(same.ignored, Some(Ignored::Duplicate));
        assert!(same.transitions.is_empty());
        let mut resent = reading(60, 9.0, 9.0);
        resent.reading_id = "other-id".into();
        assert_eq!(
            m.observe(&resent, &FRIDGE, &settings).ignored,
            Some(Ignored::Duplicate)
        );
        assert_eq!(
            m.observe(&reading(30, 20.0, 9.0), &FRIDGE, &settings)
                .ignored,
            Some(Ignored::OutOfOrder)
        );
        assert_eq!(
            m.observe(&reading(90, f64::NAN, 0.0), &FRIDGE, &settings)
                .ignored,
            Some(Ignored::InvalidTemperature)
        );
        assert_eq!(m, before);
    }

    #[test]
    fn the_state_survives_a_serde_round_trip() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        feed(&mut m, 0, &[5.0, 9.0, 9.0]);
        m.observe(&reading(200, 9.0, 8.0), &FRIDGE, &settings);
        let json = serde_json::to_string(&m).unwrap();
        let mut back: ShipmentMonitor = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        let a = m.observe(&reading(300, 9.0, 0.1), &FRIDGE, &settings);
        let b = back.observe(&reading(300, 9.0, 0.1), &FRIDGE, &settings);
        assert_eq!(a, b);
    }

    #[test]
    fn a_monitor_stored_before_zones_and_coverage_loads_and_goes_on() {
        let stored = serde_json::json!({
            "shipment_id": "shp-1",
            "last_reading_id": "truck-1-60",
            "excursion": {
                "first_ts": "2026-01-01T00:00:00Z", "last_ts": "2026-01-01T00:01:00Z",
                "band": "ABOVE", "out_since": "2026-01-01T00:01:00Z",
                "continuous_ms": 60000, "cumulative_ms": 60000, "attributed_ms": 60000
            },
            "mkt": {"weighted_sum": 0.0, "total_seconds": 0.0},
            "trend": {"samples": []},
            "alarms": {"active": []}
        });
        let mut m: ShipmentMonitor = serde_json::from_value(stored).unwrap();
        assert_eq!(m.started_at, None);
        assert_eq!(m.coverage, Coverage::default());
        let settings = MonitorSettings::default();
        let t = feed_every(&mut m, &FRIDGE, &settings, 120, 60, &[9.0; 14]);
        assert_eq!(
            raised(&t).len(),
            1,
            "the stored minute counts towards the delay"
        );
        assert_eq!(raised(&t)[0].alarm().raised_at, T0 + Duration::minutes(15));
    }

    #[test]
    fn acknowledge_through_the_monitor() {
        let settings = MonitorSettings::default();
        let mut m = ShipmentMonitor::new("shp-1");
        let t = m
            .observe(&reading(0, 5.0, 9.0), &FRIDGE, &settings)
            .transitions;
        let id = t[0].alarm().alarm_id.clone();
        let at = T0 + Duration::minutes(1);
        let request = ReviewRequest {
            reason: "crash reported by the driver".into(),
            disposition: super::super::review::Disposition::EscalatedToQa,
        };
        assert!(m.review(&id, &request, "usr-1", at).unwrap().is_some());
        assert_eq!(m.review(&id, &request, "usr-1", at), Ok(None));
        assert_eq!(
            m.alarms.get(AlarmType::Shock).unwrap().state,
            AlarmState::ActiveAck
        );
    }

    fn steps() -> impl Strategy<Value = Vec<(i64, f64, f64, bool)>> {
        // (seconds since the previous reading, temperature, vibration, check offline after it)
        prop::collection::vec(
            (
                prop_oneof![Just(0i64), -60i64..0, 1i64..120, 300i64..2400],
                -2.0f64..14.0,
                prop_oneof![4 => 0.0f64..2.0, 1 => 3.0f64..9.0],
                any::<bool>(),
            ),
            1..150,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn lifecycle_invariants(
            steps in steps(),
            zoned in any::<bool>(),
            started_s in prop::option::of(-600i64..1200),
        ) {
            let settings = MonitorSettings::default();
            // a profile with outer zones and sided limits, or a plain one
            let profile = if zoned {
                FRIDGE
            } else {
                TemperatureProfile::custom(2.0, 8.0, 5, 30).unwrap()
            };
            let mut m = ShipmentMonitor::new("shp-1");
            m.started_at = started_s.map(|s| T0 + Duration::seconds(s));
            let mut ts_s = 0i64;
            let mut readings = Vec::new();
            let mut severity: HashMap<String, Severity> = HashMap::new();
            let mut cleared: HashSet<String> = HashSet::new();
            for (i, (delta, temp, vibration, check)) in steps.into_iter().enumerate() {
                ts_s += delta;
                let mut r = reading(ts_s, temp, vibration);
                r.reading_id = format!("r-{i}");
                let mut transitions = m.observe(&r, &profile, &settings).transitions;
                readings.push(r);
                if check {
                    let now = T0 + Duration::seconds(ts_s + 900);
                    transitions.extend(m.check_offline(now, ShipmentState::InTransit, &settings));
                }
                for t in &transitions {
                    let alarm = t.alarm();
                    prop_assert!(!cleared.contains(&alarm.alarm_id), "cleared alarm came back: {t:?}");
                    if let Some(before) = severity.get(&alarm.alarm_id) {
                        prop_assert!(alarm.severity >= *before, "severity went down: {t:?}");
                        prop_assert!(t.kind() != "RAISED", "raised twice: {t:?}");
                    }
                    severity.insert(alarm.alarm_id.clone(), alarm.severity);
                    if t.kind() == "CLEARED" {
                        cleared.insert(alarm.alarm_id.clone());
                    }
                }
                let active_types: HashSet<AlarmType> =
                    m.alarms.active.iter().map(|a| a.alarm_type).collect();
                prop_assert_eq!(active_types.len(), m.alarms.active.len(), "two active of a type");
                prop_assert!(m.alarms.active.iter().all(|a| a.state.is_active()));
                let status = m.excursion_status(&profile);
                prop_assert!(status.cumulative <= m.excursion.elapsed());
                prop_assert!(status.continuous <= status.cumulative);
                prop_assert_eq!(status.above + status.below, status.cumulative);
                prop_assert!((0.0..=1.0).contains(&m.coverage()));
                if let Some(alarm) = m.alarms.get(AlarmType::TemperatureExcursion) {
                    prop_assert!(alarm.crossing.is_some(), "an excursion alarm says what it crossed");
                    prop_assert!(status.in_episode(), "an excursion alarm lives in an episode");
                }
            }
            // the stored state loads back (floats up to JSON's rounding)
            let json = serde_json::to_string(&m).unwrap();
            let back: ShipmentMonitor = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back.excursion, &m.excursion);
            prop_assert_eq!(&back.coverage.recent_intervals_ms, &m.coverage.recent_intervals_ms);
            let ids = |m: &ShipmentMonitor| -> Vec<(String, AlarmState)> {
                m.alarms.active.iter().map(|a| (a.alarm_id.clone(), a.state)).collect()
            };
            prop_assert_eq!(ids(&back), ids(&m));
            let snapshot = m.clone();
            for r in &readings {
                let again = m.observe(r, &profile, &settings);
                prop_assert!(again.transitions.is_empty());
                prop_assert!(again.ignored.is_some());
            }
            prop_assert_eq!(m, snapshot);
        }
    }
}
