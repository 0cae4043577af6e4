//! What the truck's sensor measures: the cargo temperature (held at the
//! profile's set point by the reefer unit, with slow drift, the unit's cycling
//! and sensor noise, or warming up when the door is open or the compressor has
//! failed) and the vibration peak (road, bumps, a crash).

use crate::catalogue::Profile;
use crate::rng::Rng;

/// Air temperature outside the cargo space, °C (a warm day).
pub const AMBIENT_C: f64 = 28.0;
/// How fast the cargo warms with the door open, °C per minute.
pub const DOOR_OPEN_RISE_C_PER_MIN: f64 = 0.3;
/// How fast the reefer unit brings the cargo back once the door is shut, °C per minute.
pub const RECOVERY_C_PER_MIN: f64 = 0.5;
/// How fast a thermostat stuck on full cooling chills the cargo, °C per minute.
pub const FREEZE_DROP_C_PER_MIN: f64 = 1.5;
/// The coldest a stuck thermostat takes the cargo, °C (below freezing).
pub const FREEZE_FLOOR_C: f64 = -3.0;
/// Time constant of the warm-up towards ambient after a compressor failure, minutes.
pub const COMPRESSOR_FAILURE_TAU_MIN: f64 = 40.0;
/// Slow drift: its standard deviation (°C), time constant (s) and bound (°C).
const DRIFT_SD_C: f64 = 0.25;
const DRIFT_TAU_S: f64 = 3600.0;
const DRIFT_MAX_C: f64 = 0.8;
/// The reefer unit's on/off cycling: amplitude (°C) and period (s).
const CYCLE_C: f64 = 0.2;
const CYCLE_S: f64 = 1800.0;
/// Sensor noise, °C.
const NOISE_C: f64 = 0.05;
/// Crash peak range, g.
pub const CRASH_G: (f64, f64) = (6.0, 9.0);

/// What the reefer unit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cooling {
    /// Holds the set point.
    Normal,
    /// The door is open: warming towards ambient.
    DoorOpen,
    /// The compressor failed: warming towards ambient for good.
    Failed,
    /// The thermostat is stuck on full cooling: chilling towards
    /// [`FREEZE_FLOOR_C`] (a cargo kept colder than that is not affected).
    Freezing,
}

/// The cargo temperature model of one shipment.
#[derive(Debug, Clone)]
pub struct Thermal {
    setpoint_c: f64,
    drift_c: f64,
    /// Warming above (negative: cooling below) the controlled temperature
    /// caused by an incident, °C.
    excess_c: f64,
    phase_s: f64,
    cooling: Cooling,
}

impl Thermal {
    /// A cargo space at the set point of `profile`.
    pub fn new(profile: Profile, rng: &mut Rng) -> Self {
        Self {
            setpoint_c: profile.setpoint_c(),
            drift_c: rng
                .normal(0.0, DRIFT_SD_C / 2.0)
                .clamp(-DRIFT_MAX_C, DRIFT_MAX_C),
            excess_c: 0.0,
            phase_s: rng.range(0.0, CYCLE_S),
            cooling: Cooling::Normal,
        }
    }

    /// What the unit does now.
    pub fn cooling(&self) -> Cooling {
        self.cooling
    }

    /// Changes what the unit does.
    pub fn set_cooling(&mut self, cooling: Cooling) {
        self.cooling = cooling;
    }

    /// Advances `dt_s` seconds and returns the measured temperature, °C (two decimals).
    pub fn step(&mut self, dt_s: f64, rng: &mut Rng) -> f64 {
        let headroom = (AMBIENT_C - self.setpoint_c).max(0.0);
        self.excess_c = match self.cooling {
            Cooling::Normal if self.excess_c >= 0.0 => {
                (self.excess_c - RECOVERY_C_PER_MIN * dt_s / 60.0).max(0.0)
            }
            Cooling::Normal => (self.excess_c + RECOVERY_C_PER_MIN * dt_s / 60.0).min(0.0),
            Cooling::Freezing => {
                let depth = (self.setpoint_c - FREEZE_FLOOR_C).max(0.0);
                (self.excess_c - FREEZE_DROP_C_PER_MIN * dt_s / 60.0).max(-depth)
            }
            Cooling::DoorOpen => {
                (self.excess_c + DOOR_OPEN_RISE_C_PER_MIN * dt_s / 60.0).min(headroom)
            }
            Cooling::Failed => {
                let f = 1.0 - (-dt_s / (COMPRESSOR_FAILURE_TAU_MIN * 60.0)).exp();
                self.excess_c + (headroom - self.excess_c) * f
            }
        };
        // Ornstein–Uhlenbeck drift around the set point.
        let sigma = DRIFT_SD_C * (2.0 / DRIFT_TAU_S).sqrt();
        self.drift_c = (self.drift_c - self.drift_c * dt_s / DRIFT_TAU_S
            + sigma * dt_s.sqrt() * rng.normal(0.0, 1.0))
        .clamp(-DRIFT_MAX_C, DRIFT_MAX_C);
        self.phase_s = (self.phase_s + dt_s) % CYCLE_S;
        let cycle = CYCLE_C * (std::f64::consts::TAU * self.phase_s / CYCLE_S).sin();
        let measured =
            self.setpoint_c + self.drift_c + cycle + self.excess_c + rng.normal(0.0, NOISE_C);
        (measured * 100.0).round() / 100.0
    }
}

/// The vibration peak of one reading, g (three decimals): a little when
/// standing, 0.1–1 g on the road with an occasional bump.
pub fn vibration_g(speed_kmh: f64, dt_s: f64, rng: &mut Rng) -> f64 {
    let g = if speed_kmh <= 0.0 {
        rng.range(0.01, 0.05)
    } else {
        let road = 0.1 + 0.3 * (speed_kmh / 100.0) + rng.normal(0.0, 0.06).abs();
        let bump = if rng.chance(0.03 * dt_s) {
            rng.range(0.2, 0.5)
        } else {
            0.0
        };
        (road + bump).min(1.0)
    };
    (g * 1000.0).round() / 1000.0
}

/// The vibration peak of a crash, g.
pub fn crash_g(rng: &mut Rng) -> f64 {
    (rng.range(CRASH_G.0, CRASH_G.1) * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(thermal: &mut Thermal, seconds: u32, rng: &mut Rng) -> Vec<f64> {
        (0..seconds).map(|_| thermal.step(1.0, rng)).collect()
    }

    #[test]
    fn cargo_stays_around_the_set_point_for_hours() {
        for profile in [
            Profile::Refrigerated,
            Profile::Frozen,
            Profile::ControlledRoom,
        ] {
            let limits = profile.domain().limits();
            for seed in 0..5 {
                let mut rng = Rng::new(seed);
                let mut thermal = Thermal::new(profile, &mut rng);
                let temperatures = run(&mut thermal, 6 * 3600, &mut rng);
                let (low, high) = temperatures
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(l, h), t| (l.min(*t), h.max(*t)));
                assert!(
                    low > limits.min_c + 1.0 && high < limits.max_c - 1.0,
                    "{profile:?}: {low}..{high}"
                );
                assert!(high - low > 0.2, "it is not a constant: {low}..{high}");
            }
        }
    }

    #[test]
    fn a_stuck_thermostat_freezes_refrigerated_cargo_and_the_reset_unit_recovers() {
        let mut rng = Rng::new(9);
        let mut thermal = Thermal::new(Profile::Refrigerated, &mut rng);
        run(&mut thermal, 60, &mut rng);
        thermal.set_cooling(Cooling::Freezing);
        let freezing = run(&mut thermal, 12 * 60, &mut rng);
        // 1.5 °C/min from about 5 °C: below 0 °C after roughly 3.5 minutes
        let frozen = freezing.iter().position(|t| *t < 0.0).expect("freezes");
        assert!((2 * 60..6 * 60).contains(&frozen), "{frozen} s");
        let low = freezing.iter().copied().fold(f64::MAX, f64::min);
        assert!((-4.5..-1.5).contains(&low), "{low}");
        thermal.set_cooling(Cooling::Normal);
        let after = run(&mut thermal, 30 * 60, &mut rng);
        assert!(
            after[after.len() - 60..]
                .iter()
                .all(|t| (2.0..=8.0).contains(t)),
            "back at the set point"
        );
        let mut frozen_goods = Thermal::new(Profile::Frozen, &mut rng);
        frozen_goods.set_cooling(Cooling::Freezing);
        let deep = run(&mut frozen_goods, 12 * 60, &mut rng);
        assert!(deep.iter().all(|t| *t < -15.0), "frozen goods stay frozen");
    }

    #[test]
    fn an_open_door_warms_the_cargo_slowly_and_the_unit_recovers() {
        let mut rng = Rng::new(9);
        let mut thermal = Thermal::new(Profile::Refrigerated, &mut rng);
        let before = run(&mut thermal, 60, &mut rng);
        thermal.set_cooling(Cooling::DoorOpen);
        let open = run(&mut thermal, 25 * 60, &mut rng);
        // +0.3 °C/min: out of the 2–8 band after roughly 10 minutes, not at once
        let left_band = open.iter().position(|t| *t > 8.0).expect("leaves the band");
        assert!((6 * 60..14 * 60).contains(&left_band), "{left_band} s");
        let peak = open.iter().copied().fold(f64::MIN, f64::max);
        assert!((10.0..14.5).contains(&peak), "{peak}");
        thermal.set_cooling(Cooling::Normal);
        let after = run(&mut thermal, 30 * 60, &mut rng);
        let back = after.iter().position(|t| *t <= 8.0).expect("recovers");
        assert!(back < 15 * 60, "{back} s");
        assert!(
            after[after.len() - 60..]
                .iter()
                .all(|t| (2.0..=8.0).contains(t))
        );
        assert!(before.iter().all(|t| (2.0..=8.0).contains(t)));
    }

    #[test]
    fn a_failed_compressor_warms_the_cargo_out_of_range_for_good() {
        let mut rng = Rng::new(4);
        let mut thermal = Thermal::new(Profile::Frozen, &mut rng);
        thermal.set_cooling(Cooling::Failed);
        let temperatures = run(&mut thermal, 3 * 3600, &mut rng);
        let out = temperatures
            .iter()
            .position(|t| *t > -15.0)
            .expect("out of range");
        assert!((3 * 60..15 * 60).contains(&out), "{out} s");
        assert!(
            temperatures[out + 60..].iter().all(|t| *t > -15.0),
            "stays out"
        );
        let last = temperatures[temperatures.len() - 1];
        assert!(last > 15.0 && last <= AMBIENT_C + 1.0, "{last}");
    }

    #[test]
    fn vibration_is_road_noise_and_a_crash_is_a_spike() {
        let mut rng = Rng::new(2);
        for _ in 0..10_000 {
            let moving = vibration_g(80.0, 1.0, &mut rng);
            assert!((0.1..=1.0).contains(&moving), "{moving}");
            let standing = vibration_g(0.0, 1.0, &mut rng);
            assert!(standing < 0.1);
            let crash = crash_g(&mut rng);
            assert!((6.0..=9.0).contains(&crash));
        }
    }
}
