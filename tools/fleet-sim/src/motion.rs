//! How a truck moves along its route: a cruising speed between
//! [`MIN_SPEED_KMH`] and [`MAX_SPEED_KMH`] that wanders a little, slower near
//! the start and the end (town), short stops (traffic lights, jams) now and
//! then, and arrival at the end of the polyline.

use crate::geo::{LatLon, Polyline};
use crate::rng::Rng;

/// Slowest speed of a moving truck, km/h.
pub const MIN_SPEED_KMH: f64 = 50.0;
/// Fastest speed, km/h.
pub const MAX_SPEED_KMH: f64 = 100.0;
/// Distance from either end of a route driven at town speed, km.
pub const TOWN_KM: f64 = 2.0;
/// Highest speed in town, km/h.
pub const TOWN_MAX_KMH: f64 = 60.0;
/// Mean time between two short stops, s.
pub const MEAN_S_BETWEEN_STOPS: f64 = 1200.0;
/// Shortest and longest short stop, s.
pub const STOP_S: (f64, f64) = (20.0, 90.0);

/// Where the truck is after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Position.
    pub at: LatLon,
    /// Distance driven along the route, km.
    pub km: f64,
    /// Speed, km/h (0 when standing).
    pub speed_kmh: f64,
    /// At the destination.
    pub arrived: bool,
}

/// A truck on a route.
#[derive(Debug, Clone)]
pub struct Motion {
    line: Polyline,
    km: f64,
    speed_kmh: f64,
    cruise_kmh: f64,
    stop_left_s: f64,
}

impl Motion {
    /// A truck at `start_km` along `line`, with a cruising speed drawn from `rng`.
    pub fn new(line: Polyline, start_km: f64, rng: &mut Rng) -> Self {
        let cruise_kmh = rng.range(70.0, 95.0);
        let km = start_km.clamp(0.0, line.length_km());
        Self {
            line,
            km,
            speed_kmh: MIN_SPEED_KMH,
            cruise_kmh,
            stop_left_s: 0.0,
        }
    }

    /// The route.
    pub fn line(&self) -> &Polyline {
        &self.line
    }

    /// Distance driven, km.
    pub fn km(&self) -> f64 {
        self.km
    }

    /// Whether the truck is at the end of the route.
    pub fn arrived(&self) -> bool {
        self.km >= self.line.length_km()
    }

    /// Stands still for `seconds` (e.g. after a crash); `f64::INFINITY` for good.
    pub fn halt(&mut self, seconds: f64) {
        self.stop_left_s = self.stop_left_s.max(seconds);
        self.speed_kmh = 0.0;
    }

    /// Whether the truck stands still now.
    pub fn standing(&self) -> bool {
        self.stop_left_s > 0.0 || self.arrived()
    }

    /// Advances `dt_s` seconds of wall time; the distance covered is
    /// multiplied by `speedup` (1 = real time).
    pub fn step(&mut self, dt_s: f64, speedup: f64, rng: &mut Rng) -> Sample {
        if self.arrived() {
            return self.sample(0.0);
        }
        if self.stop_left_s > 0.0 {
            self.stop_left_s = (self.stop_left_s - dt_s).max(0.0);
            return self.sample(0.0);
        }
        let to_go = self.line.length_km() - self.km;
        let in_town = self.km < TOWN_KM || to_go < TOWN_KM;
        if !in_town && rng.chance(dt_s / MEAN_S_BETWEEN_STOPS) {
            self.stop_left_s = rng.range(STOP_S.0, STOP_S.1);
            self.speed_kmh = MIN_SPEED_KMH;
            return self.sample(0.0);
        }
        let (target, ceiling) = if in_town {
            (MIN_SPEED_KMH + 2.0, TOWN_MAX_KMH)
        } else {
            (self.cruise_kmh, MAX_SPEED_KMH)
        };
        let pull = (dt_s / 30.0).min(1.0);
        let wander = rng.normal(0.0, 1.5) * dt_s.sqrt();
        self.speed_kmh =
            (self.speed_kmh.max(MIN_SPEED_KMH) + (target - self.speed_kmh) * pull + wander)
                .clamp(MIN_SPEED_KMH, ceiling);
        self.km = (self.km + self.speed_kmh * dt_s * speedup / 3600.0).min(self.line.length_km());
        self.sample(self.speed_kmh)
    }

    fn sample(&self, speed_kmh: f64) -> Sample {
        Sample {
            at: self.line.position_at(self.km),
            km: self.km,
            speed_kmh,
            arrived: self.arrived(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::route_by_key;
    use crate::geo::distance_km;

    #[test]
    fn a_truck_stays_on_its_road_at_legal_speeds_and_arrives() {
        let route = route_by_key("rotterdam-utrecht").expect("route");
        let line = route.polyline();
        let mut rng = Rng::new(11);
        let mut motion = Motion::new(line.clone(), 0.0, &mut rng);
        let mut previous = motion.step(1.0, 1.0, &mut rng);
        let (mut seconds, mut moving, mut standing) = (1u32, 0u32, 0u32);
        while !previous.arrived {
            let sample = motion.step(1.0, 1.0, &mut rng);
            seconds += 1;
            assert!(
                line.distance_to_km(sample.at) < 0.05,
                "off the road at {sample:?}"
            );
            // the distance covered matches the speed, and the speed its bounds
            let covered_kmh = distance_km(previous.at, sample.at) * 3600.0;
            if sample.speed_kmh == 0.0 {
                standing += 1;
                assert!(covered_kmh < 1e-6 || sample.arrived);
            } else {
                moving += 1;
                assert!((MIN_SPEED_KMH..=MAX_SPEED_KMH).contains(&sample.speed_kmh));
                assert!(
                    covered_kmh <= sample.speed_kmh + 0.5,
                    "{covered_kmh} > {}",
                    sample.speed_kmh
                );
            }
            assert!(sample.km >= previous.km, "never backwards");
            previous = sample;
            assert!(seconds < 4 * 3600, "never arrived");
        }
        assert_eq!(previous.at, route.destination().at);
        // about 80 km at 50..100 km/h with a few short stops: 50 min to 1 h 40
        let minutes = f64::from(seconds) / 60.0;
        assert!((48.0..100.0).contains(&minutes), "{minutes} min");
        let mean_kmh = line.length_km() / (f64::from(moving) / 3600.0);
        assert!((60.0..=100.0).contains(&mean_kmh), "{mean_kmh}");
        assert!(standing > 0, "some short stops on a long drive");
        // once there, it stays there
        let after = motion.step(1.0, 1.0, &mut rng);
        assert!(after.arrived && after.speed_kmh == 0.0);
    }

    #[test]
    fn speedup_covers_more_ground_and_a_halt_stops_the_truck() {
        let line = route_by_key("venlo-essen").expect("route").polyline();
        let mut rng = Rng::new(3);
        let mut fast = Motion::new(line.clone(), 10.0, &mut rng);
        let sample = fast.step(1.0, 10.0, &mut rng);
        assert!(sample.km - 10.0 > 10.0 * MIN_SPEED_KMH / 3600.0 * 0.99 || sample.speed_kmh == 0.0);

        let mut halted = Motion::new(line, 10.0, &mut rng);
        halted.halt(f64::INFINITY);
        for _ in 0..100 {
            let sample = halted.step(1.0, 1.0, &mut rng);
            assert_eq!((sample.km, sample.speed_kmh), (10.0, 0.0));
        }
        assert!(halted.standing());
    }

    #[test]
    fn the_same_seed_drives_the_same_way() {
        let line = route_by_key("antwerp-leuven").expect("route").polyline();
        let drive = |seed| {
            let mut rng = Rng::new(seed);
            let mut motion = Motion::new(line.clone(), 0.0, &mut rng);
            (0..600)
                .map(|_| motion.step(1.0, 1.0, &mut rng).km)
                .collect::<Vec<_>>()
        };
        assert_eq!(drive(5), drive(5));
        assert_ne!(drive(5), drive(6));
    }
}
