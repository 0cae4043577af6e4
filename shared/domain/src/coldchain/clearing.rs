//! Clearing with hysteresis: when an excursion is really over.
//!
//! An excursion episode ([`super::excursion`]) ends only once the readings
//! are back inside the range by a guard margin — [`DEFAULT_CLEAR_MARGIN_C`],
//! never more than a quarter of the range's width, so that a narrow custom
//! range still has room to clear — and have stayed there for the clearing
//! time ([`super::DEFAULT_CLEAR_AFTER`]). A reading in range but within the
//! margin of a limit, or out of range, restarts the clearing time. Readings
//! jittering around a limit therefore raise one alarm, not a series, and
//! its minutes out of range keep adding to the same episode.

use crate::shipment::ProfileLimits;

/// How far inside the range a reading must be to count towards clearing, °C.
pub const DEFAULT_CLEAR_MARGIN_C: f64 = 0.3;

/// The guard margin used for `limits`: `margin_c`, at most a quarter of the
/// range's width, never negative.
pub fn guard_margin(limits: &ProfileLimits, margin_c: f64) -> f64 {
    let width = limits.max_c - limits.min_c;
    if !margin_c.is_finite() || !width.is_finite() {
        return 0.0;
    }
    margin_c.clamp(0.0, (width / 4.0).max(0.0))
}

/// Whether `temperature_c` is inside the range by at least the guard margin.
pub fn is_well_inside(temperature_c: f64, limits: &ProfileLimits, margin_c: f64) -> bool {
    let margin = guard_margin(limits, margin_c);
    temperature_c >= limits.min_c + margin && temperature_c <= limits.max_c - margin
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shipment::TemperatureProfile;

    #[test]
    fn the_margin_keeps_clear_of_both_limits_and_fits_a_narrow_range() {
        let fridge = TemperatureProfile::Refrigerated.limits();
        assert!(is_well_inside(5.0, &fridge, 0.3));
        assert!(is_well_inside(7.7, &fridge, 0.3));
        assert!(!is_well_inside(7.8, &fridge, 0.3));
        assert!(!is_well_inside(2.2, &fridge, 0.3));
        assert!(!is_well_inside(9.0, &fridge, 0.3));
        let narrow = TemperatureProfile::custom(4.0, 4.4, 5, 10)
            .unwrap()
            .limits();
        assert!((guard_margin(&narrow, 0.3) - 0.1).abs() < 1e-9);
        assert!(is_well_inside(4.2, &narrow, 0.3));
        assert_eq!(guard_margin(&fridge, f64::NAN), 0.0);
        assert_eq!(guard_margin(&fridge, -1.0), 0.0);
    }
}
