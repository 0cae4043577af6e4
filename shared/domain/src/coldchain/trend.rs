//! Pre-excursion warning from the temperature trend, at any reporting rate.
//!
//! The window is a span of time (see [`super::DEFAULT_TREND_WINDOW`]; the
//! monitor widens it to hold enough readings of a slow logger), not a number
//! of samples. Readings are summarised per minute: each minute of the window
//! is one point, the mean of its readings at their mean time. A device at
//! 1 Hz gives 60 readings a point, so its sensor noise averages out; a logger
//! every 5 minutes gives one reading a point. Memory stays bounded by the
//! minutes of the window ([`MAX_TREND_POINTS`]).
//!
//! The trend is the **ordinary least-squares line** through the points. A
//! forecast needs at least `min_points` points spanning at least `min_span`,
//! and a slope that stands out of the scatter: at least
//! [`SIGNIFICANT_SLOPE`] standard errors. That keeps noise at a steady
//! temperature from ever forecasting an excursion. The forecast is the line
//! extended from the latest point by `horizon` (see
//! [`super::DEFAULT_TREND_HORIZON`]).
//!
//! The PRE_EXCURSION alarm (WARNING, never escalated) is raised when the
//! latest reading is in range and the forecast is out of range; it clears
//! when a reading in range no longer forecasts leaving the range. While the
//! temperature is actually out of range it is left as it is (the excursion
//! alarm takes over after the alarm delay). A trend heading for one limit
//! while the window still holds minutes beyond the other (the cargo
//! recovering from an excursion) warns of nothing.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::alarm::{AlarmType, Severity, Signal};
use super::excursion::Band;
use crate::shipment::ProfileLimits;

/// Most points (minutes) kept in a trend window (bounds the stored state).
pub const MAX_TREND_POINTS: usize = 240;
/// How many standard errors the slope must stand out by to be a trend.
pub const SIGNIFICANT_SLOPE: f64 = 3.0;

/// The readings of one minute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The start of the minute.
    #[serde(with = "time::serde::rfc3339")]
    pub minute: OffsetDateTime,
    /// How many readings.
    pub count: u32,
    /// Sum of their temperatures, °C.
    pub temperature_sum_c: f64,
    /// Sum of their times after `minute`, seconds.
    pub offset_sum_s: f64,
    /// The latest reading's time (readings come in time order).
    #[serde(with = "time::serde::rfc3339")]
    pub last_ts: OffsetDateTime,
}

impl TrendPoint {
    /// The mean temperature, °C.
    pub fn mean_c(&self) -> f64 {
        self.temperature_sum_c / f64::from(self.count.max(1))
    }

    /// The mean time of the readings.
    pub fn mean_ts(&self) -> OffsetDateTime {
        self.minute + Duration::seconds_f64(self.offset_sum_s / f64::from(self.count.max(1)))
    }
}

/// The recent points of one shipment. Stored per shipment (serializable; a
/// window stored before the points existed loads empty and refills).
///
/// The least-squares sums of the closed points (every point but the
/// latest, which still takes readings) are kept beside them, so a forecast
/// adds the open point to them instead of refitting the window on every
/// reading. They are rebuilt from the points whenever a point opens or
/// leaves the window (once a minute at most), so rounding never adds up,
/// and after loading (they are not stored).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrendWindow {
    /// Points in time order, oldest first.
    #[serde(default)]
    pub points: Vec<TrendPoint>,
    #[serde(skip)]
    closed: Option<Sums>,
}

impl PartialEq for TrendWindow {
    fn eq(&self, other: &Self) -> bool {
        self.points == other.points
    }
}

/// Least-squares sums over points, with `x` the seconds after the `origin`
/// minute and `y` the temperature above `y0` (both near zero, so no
/// precision is lost to large offsets).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sums {
    /// The points summed: the first of the window up to this one, excluded.
    len: usize,
    /// The minute of the last point summed (a check that the sums still
    /// cover the points they were made of).
    last_minute: OffsetDateTime,
    origin: OffsetDateTime,
    y0: f64,
    n: f64,
    x: f64,
    y: f64,
    xx: f64,
    xy: f64,
    yy: f64,
    /// Points whose mean is above the range's maximum or below its minimum,
    /// for the limits given when they were counted.
    above: usize,
    below: usize,
    limits: (f64, f64),
}

impl Sums {
    fn empty(origin: OffsetDateTime, y0: f64, limits: (f64, f64)) -> Self {
        Self {
            len: 0,
            last_minute: origin,
            origin,
            y0,
            n: 0.0,
            x: 0.0,
            y: 0.0,
            xx: 0.0,
            xy: 0.0,
            yy: 0.0,
            above: 0,
            below: 0,
            limits,
        }
    }

    /// The sums over `points`, measured from the first of them.
    fn over(points: &[TrendPoint], limits: (f64, f64)) -> Option<Self> {
        let first = points.first()?;
        let mut sums = Self::empty(first.minute, first.mean_c(), limits);
        for point in points {
            sums.add(point);
        }
        Some(sums)
    }

    fn point(&self, point: &TrendPoint) -> (f64, f64) {
        let x = (point.minute - self.origin).as_seconds_f64()
            + point.offset_sum_s / f64::from(point.count.max(1));
        (x, point.mean_c() - self.y0)
    }

    fn add(&mut self, point: &TrendPoint) {
        let (x, y) = self.point(point);
        self.len += 1;
        self.last_minute = point.minute;
        self.n += 1.0;
        self.x += x;
        self.y += y;
        self.xx += x * x;
        self.xy += x * y;
        self.yy += y * y;
        let mean = point.mean_c();
        self.above += usize::from(mean > self.limits.1);
        self.below += usize::from(mean < self.limits.0);
    }

    /// Whether these are the sums of the closed points of `points`.
    fn cover(&self, points: &[TrendPoint], limits: (f64, f64)) -> bool {
        let closed = points.len().saturating_sub(1);
        self.len == closed
            && self.limits == limits
            && points.first().is_some_and(|p| p.minute == self.origin)
            && (closed == 0 || points[closed - 1].minute == self.last_minute)
    }
}

/// Where the trend leads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Slope of the least-squares line, °C per hour.
    pub slope_c_per_hour: f64,
    /// Value of the line at the latest point, °C.
    pub fitted_now_c: f64,
    /// Value of the line `horizon` after the latest point, °C.
    pub predicted_c: f64,
    /// When the line leaves the range, counted from the latest point, if it
    /// does so within the horizon (zero if the fitted value is already out).
    pub leaves_range_in: Option<Duration>,
}

fn minute_of(ts: OffsetDateTime) -> OffsetDateTime {
    let seconds = ts.unix_timestamp();
    let start = seconds - seconds.rem_euclid(60);
    OffsetDateTime::from_unix_timestamp(start).unwrap_or(ts)
}

impl TrendWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reading (ignored unless strictly after the latest one and
    /// finite) and drops the minutes older than `window` before it.
    pub fn push(&mut self, ts: OffsetDateTime, temperature_c: f64, window: Duration) {
        if !temperature_c.is_finite() || self.points.last().is_some_and(|last| ts <= last.last_ts) {
            return;
        }
        let minute = minute_of(ts);
        let offset_s = (ts - minute).as_seconds_f64();
        match self.points.last_mut() {
            Some(point) if point.minute == minute => {
                point.count = point.count.saturating_add(1);
                point.temperature_sum_c += temperature_c;
                point.offset_sum_s += offset_s;
                point.last_ts = ts;
                // the open point took it: the closed sums still hold
                return;
            }
            _ => self.points.push(TrendPoint {
                minute,
                count: 1,
                temperature_sum_c: temperature_c,
                offset_sum_s: offset_s,
                last_ts: ts,
            }),
        }
        let oldest = minute - window;
        let stale = self.points.partition_point(|p| p.minute < oldest);
        let excess = (self.points.len() - stale).saturating_sub(MAX_TREND_POINTS);
        self.points.drain(..stale + excess);
        // a point opened (and maybe some left): the sums start again
        self.closed = None;
    }

    /// The sums of the closed points, kept or made for `limits`.
    fn closed_sums(&mut self, limits: (f64, f64)) -> Option<Sums> {
        let closed = self.points.len().checked_sub(1)?;
        match self.closed {
            Some(sums) if sums.cover(&self.points, limits) => Some(sums),
            _ => {
                let sums = Sums::over(&self.points[..closed], limits).unwrap_or_else(|| {
                    let first = &self.points[0];
                    Sums::empty(first.minute, first.mean_c(), limits)
                });
                self.closed = Some(sums);
                Some(sums)
            }
        }
    }

    /// The least-squares forecast `horizon` ahead, or `None` without a trend
    /// (fewer than `min_points` points, a span shorter than `min_span`, a
    /// slope lost in the scatter).
    pub fn forecast(
        &mut self,
        limits: &ProfileLimits,
        horizon: Duration,
        min_points: usize,
        min_span: Duration,
    ) -> Option<Forecast> {
        if self.points.len() < min_points.max(3) {
            return None;
        }
        let mut sums = self.closed_sums((limits.min_c, limits.max_c))?;
        let open = *self.points.last()?;
        sums.add(&open);
        let (x_first, _) = sums.point(&self.points[0]);
        let (x_last, _) = sums.point(&open);
        if x_last - x_first < min_span.as_seconds_f64() {
            return None;
        }
        let n = sums.n;
        let mean_x = sums.x / n;
        let mean_y = sums.y / n;
        let sxx = sums.xx - sums.x * mean_x;
        let sxy = sums.xy - sums.x * mean_y;
        let syy = sums.yy - sums.y * mean_y;
        if sxx <= 0.0 {
            return None;
        }
        let slope = sxy / sxx; // °C per second
        // rounding may leave a perfect fit a hair below zero
        let residuals = (syy - slope * sxy).max(0.0);
        let standard_error = (residuals / (n - 2.0) / sxx).sqrt();
        if slope == 0.0 || slope.abs() < SIGNIFICANT_SLOPE * standard_error {
            return None;
        }
        let fitted_now_c = sums.y0 + mean_y + slope * (x_last - mean_x);
        let horizon_s = horizon.as_seconds_f64();
        let predicted_c = fitted_now_c + slope * horizon_s;
        // recovering from beyond one limit is no trend towards the other
        if (slope < 0.0 && sums.above > 0) || (slope > 0.0 && sums.below > 0) {
            return None;
        }
        let seconds_to_leave = if !limits.contains(fitted_now_c) {
            Some(0.0)
        } else if slope > 0.0 {
            Some((limits.max_c - fitted_now_c) / slope)
        } else {
            Some((limits.min_c - fitted_now_c) / slope)
        };
        let leaves_range_in = seconds_to_leave
            .filter(|s| s.is_finite() && *s <= horizon_s)
            .map(Duration::seconds_f64);
        let forecast = Forecast {
            slope_c_per_hour: slope * 3600.0,
            fitted_now_c,
            predicted_c,
            leaves_range_in,
        };
        (forecast.predicted_c.is_finite() && forecast.fitted_now_c.is_finite()).then_some(forecast)
    }
}

/// The PRE_EXCURSION signal for the latest reading (see the module docs):
/// present when `latest_c` is in range and the forecast leaves the range;
/// absent when it is in range and it does not (or cannot be forecast);
/// nothing while out of range.
pub fn pre_excursion_signal(
    latest_c: f64,
    at: OffsetDateTime,
    limits: &ProfileLimits,
    forecast: Option<&Forecast>,
) -> Option<Signal> {
    if Band::of(latest_c, limits).is_out() {
        return None;
    }
    match forecast {
        Some(f) if Band::of(f.predicted_c, limits).is_out() => {
            let deviation = Band::deviation(f.predicted_c, limits);
            let minutes = f
                .leaves_range_in
                .map(|d| format!(" in about {:.0} min", d.as_seconds_f64() / 60.0))
                .unwrap_or_default();
            Some(Signal::Present {
                alarm_type: AlarmType::PreExcursion,
                severity: Severity::Warning,
                value: f.predicted_c,
                magnitude: deviation,
                detail: format!(
                    "trend {:+.1} °C/h leaves {}–{} °C{minutes}",
                    f.slope_c_per_hour, limits.min_c, limits.max_c
                ),
                crossing: None,
                at,
            })
        }
        _ => Some(Signal::Absent {
            alarm_type: AlarmType::PreExcursion,
            at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shipment::TemperatureProfile;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const WINDOW: Duration = Duration::minutes(30);
    const HORIZON: Duration = Duration::minutes(30);
    const MIN_SPAN: Duration = Duration::minutes(10);
    const MIN_POINTS: usize = 4;

    fn fridge() -> ProfileLimits {
        TemperatureProfile::Refrigerated.limits()
    }

    fn window_of(temps: &[f64], step: Duration) -> TrendWindow {
        let mut w = TrendWindow::new();
        for (i, t) in temps.iter().enumerate() {
            w.push(T0 + step * i as i32, *t, WINDOW);
        }
        w
    }

    /// The forecast of a window as loaded (its sums made afresh).
    fn forecast(w: &TrendWindow) -> Option<Forecast> {
        let mut loaded: TrendWindow =
            serde_json::from_value(serde_json::to_value(w).unwrap()).unwrap();
        loaded.forecast(&fridge(), HORIZON, MIN_POINTS, MIN_SPAN)
    }

    /// The least-squares fit of every point from scratch, as a reference.
    fn refit(w: &TrendWindow) -> Option<(f64, f64)> {
        let first = w.points.first()?.mean_ts();
        let xy: Vec<(f64, f64)> = w
            .points
            .iter()
            .map(|p| ((p.mean_ts() - first).as_seconds_f64(), p.mean_c()))
            .collect();
        let n = xy.len() as f64;
        let mean_x = xy.iter().map(|(x, _)| x).sum::<f64>() / n;
        let mean_y = xy.iter().map(|(_, y)| y).sum::<f64>() / n;
        let sxy: f64 = xy.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
        let sxx: f64 = xy.iter().map(|(x, _)| (x - mean_x) * (x - mean_x)).sum();
        let slope = sxy / sxx;
        let x_last = xy.last()?.0;
        Some((slope * 3600.0, mean_y + slope * (x_last - mean_x)))
    }

    proptest::proptest! {
        #[test]
        fn kept_sums_forecast_what_a_refit_does(
            steps in proptest::collection::vec((1i64..200, -0.3f64..0.3), 20..400),
        ) {
            let mut w = TrendWindow::new();
            let (mut at, mut temperature) = (T0, 5.0);
            for (seconds, change) in steps {
                at += Duration::seconds(seconds);
                temperature += change;
                w.push(at, temperature, WINDOW);
                let kept = w.forecast(&fridge(), HORIZON, MIN_POINTS, MIN_SPAN);
                proptest::prop_assert_eq!(kept.is_some(), forecast(&w).is_some());
                if let (Some(kept), Some((slope, fitted))) = (kept, refit(&w)) {
                    proptest::prop_assert!((kept.slope_c_per_hour - slope).abs() < 1e-6 * slope.abs().max(1.0));
                    proptest::prop_assert!((kept.fitted_now_c - fitted).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn a_warming_trend_forecasts_leaving_the_range() {
        // +0.1 °C per minute from 5 °C: 6 °C after 10 min, 9 °C 30 min later
        let temps: Vec<f64> = (0..=10).map(|i| 5.0 + 0.1 * f64::from(i)).collect();
        let f = forecast(&window_of(&temps, Duration::minutes(1))).unwrap();
        assert!((f.slope_c_per_hour - 6.0).abs() < 1e-9);
        assert!((f.fitted_now_c - 6.0).abs() < 1e-9);
        assert!((f.predicted_c - 9.0).abs() < 1e-9);
        let leaves = f.leaves_range_in.unwrap();
        assert!((leaves.as_seconds_f64() - 1200.0).abs() < 1e-6);
        let signal = pre_excursion_signal(6.0, T0, &fridge(), Some(&f)).unwrap();
        assert!(matches!(
            signal,
            Signal::Present {
                severity: Severity::Warning,
                alarm_type: AlarmType::PreExcursion,
                ..
            }
        ));
    }

    #[test]
    fn a_flat_trend_is_no_trend() {
        assert_eq!(forecast(&window_of(&[5.0; 20], Duration::minutes(1))), None);
        assert!(matches!(
            pre_excursion_signal(5.0, T0, &fridge(), None),
            Some(Signal::Absent { .. })
        ));
        let temps: Vec<f64> = (0..20).map(|i| 5.0 - 0.01 * f64::from(i)).collect();
        let f = forecast(&window_of(&temps, Duration::minutes(1))).unwrap();
        assert!(
            !Band::of(f.predicted_c, &fridge()).is_out(),
            "slow: stays in"
        );
    }

    #[test]
    fn a_cooling_trend_warns_too() {
        let temps: Vec<f64> = (0..=10).map(|i| 4.0 - 0.1 * f64::from(i)).collect();
        let f = forecast(&window_of(&temps, Duration::minutes(1))).unwrap();
        assert!(f.predicted_c < 2.0);
        assert!(f.leaves_range_in.is_some());
    }

    #[test]
    fn readings_of_a_minute_are_one_point() {
        let mut w = TrendWindow::new();
        for s in 0..120 {
            w.push(
                T0 + Duration::seconds(s),
                if s % 2 == 0 { 4.0 } else { 6.0 },
                WINDOW,
            );
        }
        assert_eq!(w.points.len(), 2);
        assert_eq!(w.points[0].count, 60);
        assert!((w.points[0].mean_c() - 5.0).abs() < 1e-9);
        assert_eq!(w.points[0].mean_ts(), T0 + Duration::seconds_f64(29.5));
    }

    #[test]
    fn not_enough_data_means_no_forecast() {
        let w = window_of(&[5.0, 7.0, 9.0], Duration::minutes(5));
        assert_eq!(forecast(&w), None, "three points");
        let w = window_of(&[5.0, 6.0, 7.0, 8.0, 9.0], Duration::minutes(2));
        assert_eq!(forecast(&w), None, "span too short");
        assert_eq!(forecast(&TrendWindow::new()), None);
    }

    #[test]
    fn a_slope_lost_in_the_scatter_is_no_trend() {
        // ±1 °C scatter around a slight rise
        let temps: Vec<f64> = (0..12)
            .map(|i| 5.0 + 0.02 * f64::from(i) + if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert_eq!(forecast(&window_of(&temps, Duration::minutes(1))), None);
    }

    #[test]
    fn recovering_from_above_warns_of_nothing_below() {
        let mut temps = vec![10.0; 5];
        temps.extend((0..10).map(|i| 9.0 - 0.4 * f64::from(i)));
        assert_eq!(forecast(&window_of(&temps, Duration::minutes(1))), None);
    }

    #[test]
    fn the_window_slides_and_is_bounded() {
        let w = window_of(&[5.0; 60], Duration::minutes(1));
        assert_eq!(w.points.len(), 31, "30 minutes inclusive");
        let mut w = TrendWindow::new();
        for i in 0..500 {
            w.push(T0 + Duration::minutes(i), 5.0, Duration::days(1));
        }
        assert_eq!(w.points.len(), MAX_TREND_POINTS);
        let before = w.clone();
        w.push(T0, 9.0, WINDOW);
        w.push(T0 + Duration::days(1), f64::NAN, WINDOW);
        assert_eq!(w, before, "old and invalid readings are ignored");
    }

    #[test]
    fn a_window_stored_with_samples_loads_empty() {
        let stored =
            serde_json::json!({"samples": [{"ts": "2026-01-01T00:00:00Z", "temperature_c": 5.0}]});
        let w: TrendWindow = serde_json::from_value(stored).unwrap();
        assert!(w.points.is_empty());
    }

    #[test]
    fn out_of_range_leaves_the_warning_alone() {
        assert_eq!(pre_excursion_signal(9.0, T0, &fridge(), None), None);
    }
}
