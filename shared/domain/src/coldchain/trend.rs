//! Pre-excursion warning from the temperature trend.
//!
//! The window keeps the readings of the last `window` (see
//! [`super::DEFAULT_TREND_WINDOW`]), at most [`MAX_TREND_SAMPLES`] of them.
//! The trend is the **ordinary least-squares line** through those samples
//! (temperature against time). The forecast is that line extended from the
//! latest sample by `horizon` (see [`super::DEFAULT_TREND_HORIZON`]).
//!
//! A forecast needs at least `min_samples` samples spanning at least
//! `min_span`, so two noisy points do not make a trend. The PRE_EXCURSION
//! alarm (WARNING, never escalated) is raised when the latest reading is in
//! range and the forecast is out of range; it clears when a reading in range
//! no longer forecasts leaving the range. While the temperature is actually
//! out of range it is left as it is (the excursion alarm takes over after the
//! alarm delay).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::alarm::{AlarmType, Severity, Signal};
use super::excursion::Band;
use crate::shipment::ProfileLimits;

/// Most samples kept in a trend window (bounds the stored state).
pub const MAX_TREND_SAMPLES: usize = 120;

/// One temperature sample of the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendSample {
    /// When it was measured.
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
    /// Temperature, °C.
    pub temperature_c: f64,
}

/// The recent samples of one shipment. Stored per shipment (serializable).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrendWindow {
    /// Samples in time order, oldest first.
    pub samples: Vec<TrendSample>,
}

/// Where the trend leads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Slope of the least-squares line, °C per hour.
    pub slope_c_per_hour: f64,
    /// Value of the line at the latest sample, °C.
    pub fitted_now_c: f64,
    /// Value of the line `horizon` after the latest sample, °C.
    pub predicted_c: f64,
    /// When the line leaves the range, counted from the latest sample, if it
    /// does so within the horizon (zero if the fitted value is already out).
    pub leaves_range_in: Option<Duration>,
}

impl TrendWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample (ignored unless strictly after the latest one and
    /// finite) and drops those older than `window` before it.
    pub fn push(&mut self, ts: OffsetDateTime, temperature_c: f64, window: Duration) {
        if !temperature_c.is_finite() || self.samples.last().is_some_and(|last| ts <= last.ts) {
            return;
        }
        self.samples.push(TrendSample { ts, temperature_c });
        let oldest = ts - window;
        self.samples.retain(|s| s.ts >= oldest);
        let excess = self.samples.len().saturating_sub(MAX_TREND_SAMPLES);
        self.samples.drain(..excess);
    }

    /// The least-squares forecast `horizon` ahead, or `None` without enough
    /// data (fewer than `min_samples`, a span shorter than `min_span`).
    pub fn forecast(
        &self,
        limits: &ProfileLimits,
        horizon: Duration,
        min_samples: usize,
        min_span: Duration,
    ) -> Option<Forecast> {
        let first = self.samples.first()?;
        let last = self.samples.last()?;
        if self.samples.len() < min_samples.max(2) || last.ts - first.ts < min_span {
            return None;
        }
        let n = self.samples.len() as f64;
        let xs = || {
            self.samples
                .iter()
                .map(|s| (s.ts - first.ts).as_seconds_f64())
        };
        let mean_x = xs().sum::<f64>() / n;
        let mean_y = self.samples.iter().map(|s| s.temperature_c).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, s) in xs().zip(&self.samples) {
            sxy += (x - mean_x) * (s.temperature_c - mean_y);
            sxx += (x - mean_x) * (x - mean_x);
        }
        if sxx <= 0.0 {
            return None;
        }
        let slope = sxy / sxx; // °C per second
        let x_last = (last.ts - first.ts).as_seconds_f64();
        let fitted_now_c = mean_y + slope * (x_last - mean_x);
        let horizon_s = horizon.as_seconds_f64();
        let predicted_c = fitted_now_c + slope * horizon_s;
        let seconds_to_leave = if !limits.contains(fitted_now_c) {
            Some(0.0)
        } else if slope > 0.0 {
            Some((limits.max_c - fitted_now_c) / slope)
        } else if slope < 0.0 {
            Some((limits.min_c - fitted_now_c) / slope)
        } else {
            None
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
    const WINDOW: Duration = Duration::minutes(10);
    const HORIZON: Duration = Duration::minutes(30);
    const MIN_SPAN: Duration = Duration::minutes(2);

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

    #[test]
    fn a_warming_trend_forecasts_leaving_the_range() {
        // +0.1 °C per minute from 5 °C: 6 °C after 10 min, 9 °C 30 min later
        let temps: Vec<f64> = (0..=10).map(|i| 5.0 + 0.1 * f64::from(i)).collect();
        let w = window_of(&temps, Duration::minutes(1));
        let f = w.forecast(&fridge(), HORIZON, 3, MIN_SPAN).unwrap();
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
    fn a_slow_or_flat_trend_does_not_warn() {
        let w = window_of(&[5.0; 10], Duration::minutes(1));
        let f = w.forecast(&fridge(), HORIZON, 3, MIN_SPAN).unwrap();
        assert_eq!(f.leaves_range_in, None);
        assert!(matches!(
            pre_excursion_signal(5.0, T0, &fridge(), Some(&f)),
            Some(Signal::Absent { .. })
        ));
        let temps: Vec<f64> = (0..10).map(|i| 5.0 - 0.01 * f64::from(i)).collect();
        let f = window_of(&temps, Duration::minutes(1))
            .forecast(&fridge(), HORIZON, 3, MIN_SPAN)
            .unwrap();
        assert!(!Band::of(f.predicted_c, &fridge()).is_out());
    }

    #[test]
    fn a_cooling_trend_warns_too() {
        let temps: Vec<f64> = (0..=10).map(|i| 4.0 - 0.1 * f64::from(i)).collect();
        let f = window_of(&temps, Duration::minutes(1))
            .forecast(&fridge(), HORIZON, 3, MIN_SPAN)
            .unwrap();
        assert!(f.predicted_c < 2.0);
        assert!(f.leaves_range_in.is_some());
    }

    #[test]
    fn not_enough_data_means_no_forecast() {
        let w = window_of(&[5.0, 7.0], Duration::minutes(1));
        assert_eq!(w.forecast(&fridge(), HORIZON, 3, MIN_SPAN), None);
        let w = window_of(&[5.0, 6.0, 7.0], Duration::seconds(10));
        assert_eq!(
            w.forecast(&fridge(), HORIZON, 3, MIN_SPAN),
            None,
            "span too short"
        );
        assert_eq!(
            TrendWindow::new().forecast(&fridge(), HORIZON, 3, MIN_SPAN),
            None
        );
    }

    #[test]
    fn the_window_slides_and_is_bounded() {
        let temps = vec![5.0; 30];
        let w = window_of(&temps, Duration::minutes(1));
        assert_eq!(w.samples.len(), 11, "10 minutes inclusive");
        let mut w = TrendWindow::new();
        for i in 0..500 {
            w.push(T0 + Duration::seconds(i), 5.0, Duration::hours(1));
        }
        assert_eq!(w.samples.len(), MAX_TREND_SAMPLES);
        let before = w.clone();
        w.push(T0, 9.0, WINDOW);
        w.push(T0 + Duration::seconds(1000), f64::NAN, WINDOW);
        assert_eq!(w, before, "old and invalid samples are ignored");
    }

    #[test]
    fn out_of_range_leaves_the_warning_alone() {
        assert_eq!(pre_excursion_signal(9.0, T0, &fridge(), None), None);
    }
}
