//! Outer zones and crossings: which limit of a profile a temperature is
//! beyond, and by how much.
//!
//! A profile may have a hot zone above its range and a cold zone below it
//! ([`crate::shipment::Zone`]); a reading strictly beyond a zone's limit is
//! in the zone. The [`Crossing`] of a reading names the outermost limit it is
//! beyond (a zone before the range's own bound), the limit's temperature and
//! how far beyond it the reading is: what alarms, events, mails and the
//! dashboard say ("−10.0 °C, 10.0 °C below the 0 °C cold zone").

use serde::{Deserialize, Serialize};

use crate::shipment::ProfileLimits;

/// Whether a temperature is in an outer zone of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ZoneBand {
    /// In no zone.
    #[default]
    None,
    /// Above the hot zone's limit.
    Hot,
    /// Below the cold zone's limit.
    Cold,
}

impl ZoneBand {
    /// The zone of `temperature_c` for `limits` (`None` when the profile has
    /// no zone on that side).
    pub fn of(temperature_c: f64, limits: &ProfileLimits) -> ZoneBand {
        if limits
            .hot_zone
            .is_some_and(|zone| temperature_c > zone.limit_c)
        {
            ZoneBand::Hot
        } else if limits
            .cold_zone
            .is_some_and(|zone| temperature_c < zone.limit_c)
        {
            ZoneBand::Cold
        } else {
            ZoneBand::None
        }
    }

    /// Whether this is a zone.
    pub fn is_zone(self) -> bool {
        self != ZoneBand::None
    }
}

/// Which limit a temperature crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Limit {
    /// Above the range's highest temperature.
    Upper,
    /// Below the range's lowest temperature.
    Lower,
    /// In the hot zone.
    HotZone,
    /// In the cold zone.
    ColdZone,
}

impl Limit {
    /// Words for a reader, e.g. `the 0 °C cold zone`.
    pub fn describe(self, threshold_c: f64) -> String {
        match self {
            Limit::Upper => format!("the {threshold_c} °C upper limit"),
            Limit::Lower => format!("the {threshold_c} °C lower limit"),
            Limit::HotZone => format!("the {threshold_c} °C hot zone"),
            Limit::ColdZone => format!("the {threshold_c} °C cold zone"),
        }
    }

    /// Whether the limit is above the range.
    pub fn is_warm(self) -> bool {
        matches!(self, Limit::Upper | Limit::HotZone)
    }
}

/// The outermost limit a temperature is beyond, and by how much.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// The limit.
    pub limit: Limit,
    /// The limit's temperature, °C.
    pub threshold_c: f64,
    /// How far beyond it the temperature is, °C (positive).
    pub by_c: f64,
}

impl Crossing {
    /// The crossing of `temperature_c` (`None` within the range).
    pub fn of(temperature_c: f64, limits: &ProfileLimits) -> Option<Crossing> {
        let crossing = |limit, threshold_c: f64| {
            Some(Crossing {
                limit,
                threshold_c,
                by_c: (temperature_c - threshold_c).abs(),
            })
        };
        match ZoneBand::of(temperature_c, limits) {
            ZoneBand::Hot => limits
                .hot_zone
                .and_then(|zone| crossing(Limit::HotZone, zone.limit_c)),
            ZoneBand::Cold => limits
                .cold_zone
                .and_then(|zone| crossing(Limit::ColdZone, zone.limit_c)),
            ZoneBand::None if temperature_c > limits.max_c => crossing(Limit::Upper, limits.max_c),
            ZoneBand::None if temperature_c < limits.min_c => crossing(Limit::Lower, limits.min_c),
            ZoneBand::None => None,
        }
    }

    /// E.g. `10.0 °C below the 0 °C cold zone`.
    pub fn describe(&self) -> String {
        let side = if self.limit.is_warm() {
            "above"
        } else {
            "below"
        };
        format!(
            "{:.1} °C {side} {}",
            self.by_c,
            self.limit.describe(self.threshold_c)
        )
    }

    /// How bad it is: zones rank above the range's bounds, then the distance.
    pub fn rank(&self) -> (u8, f64) {
        let outer = matches!(self.limit, Limit::HotZone | Limit::ColdZone);
        (u8::from(outer), self.by_c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shipment::TemperatureProfile;

    #[test]
    fn zones_start_strictly_beyond_their_limit() {
        let fridge = TemperatureProfile::Refrigerated.limits();
        assert_eq!(ZoneBand::of(0.0, &fridge), ZoneBand::None);
        assert_eq!(ZoneBand::of(-0.1, &fridge), ZoneBand::Cold);
        assert_eq!(ZoneBand::of(25.0, &fridge), ZoneBand::None);
        assert_eq!(ZoneBand::of(25.1, &fridge), ZoneBand::Hot);
        assert_eq!(ZoneBand::of(5.0, &fridge), ZoneBand::None);
        let frozen = TemperatureProfile::Frozen.limits();
        assert_eq!(ZoneBand::of(-80.0, &frozen), ZoneBand::None, "no cold zone");
    }

    #[test]
    fn a_crossing_names_the_outermost_limit_and_the_distance() {
        let fridge = TemperatureProfile::Refrigerated.limits();
        assert_eq!(Crossing::of(5.0, &fridge), None);
        let freeze = Crossing::of(-10.0, &fridge).unwrap();
        assert_eq!(freeze.limit, Limit::ColdZone);
        assert_eq!(freeze.threshold_c, 0.0);
        assert!((freeze.by_c - 10.0).abs() < 1e-9);
        assert_eq!(freeze.describe(), "10.0 °C below the 0 °C cold zone");
        let cool = Crossing::of(1.0, &fridge).unwrap();
        assert_eq!(cool.limit, Limit::Lower);
        assert_eq!(cool.describe(), "1.0 °C below the 2 °C lower limit");
        let warm = Crossing::of(30.0, &fridge).unwrap();
        assert_eq!(warm.limit, Limit::HotZone);
        assert_eq!(warm.describe(), "5.0 °C above the 25 °C hot zone");
        assert_eq!(Crossing::of(9.0, &fridge).unwrap().limit, Limit::Upper);
        assert!(warm.rank() > Crossing::of(24.0, &fridge).unwrap().rank());
    }
}
