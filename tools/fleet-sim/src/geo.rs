//! Positions, great-circle distances and routes as polylines.

/// Mean Earth radius, km.
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// A position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

impl LatLon {
    /// A position.
    pub const fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }
}

/// Great-circle distance between two positions, km (haversine).
pub fn distance_km(a: LatLon, b: LatLon) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The point a fraction `f` (0..=1) of the way from `a` to `b`. Linear in
/// degrees, which is exact enough for road segments of a few tens of km.
pub fn lerp(a: LatLon, b: LatLon, f: f64) -> LatLon {
    LatLon::new(a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f)
}

/// A route: points joined by straight segments, with the distance along it.
#[derive(Debug, Clone, PartialEq)]
pub struct Polyline {
    points: Vec<LatLon>,
    /// Distance from the first point to each point, km.
    cumulative_km: Vec<f64>,
}

impl Polyline {
    /// A polyline through `points` (at least one).
    pub fn new(points: Vec<LatLon>) -> Self {
        assert!(!points.is_empty(), "a polyline needs a point");
        let mut cumulative_km = Vec::with_capacity(points.len());
        let mut total = 0.0;
        cumulative_km.push(0.0);
        for pair in points.windows(2) {
            total += distance_km(pair[0], pair[1]);
            cumulative_km.push(total);
        }
        Self {
            points,
            cumulative_km,
        }
    }

    /// The points.
    pub fn points(&self) -> &[LatLon] {
        &self.points
    }

    /// Length, km.
    pub fn length_km(&self) -> f64 {
        self.cumulative_km.last().copied().unwrap_or(0.0)
    }

    /// The position `km` along the route (clamped to its ends).
    pub fn position_at(&self, km: f64) -> LatLon {
        let km = km.clamp(0.0, self.length_km());
        let segment = self
            .cumulative_km
            .windows(2)
            .position(|pair| km <= pair[1])
            .unwrap_or(0);
        if self.points.len() < 2 {
            return self.points[0];
        }
        let (start, end) = (self.cumulative_km[segment], self.cumulative_km[segment + 1]);
        let f = if end > start {
            (km - start) / (end - start)
        } else {
            0.0
        };
        lerp(self.points[segment], self.points[segment + 1], f)
    }

    /// Distance from `p` to the nearest point of the route, km (on a local
    /// flat projection; good to metres over a few hundred km).
    pub fn distance_to_km(&self, p: LatLon) -> f64 {
        if self.points.len() < 2 {
            return distance_km(p, self.points[0]);
        }
        self.points
            .windows(2)
            .map(|pair| segment_distance_km(p, pair[0], pair[1]))
            .fold(f64::INFINITY, f64::min)
    }
}

fn segment_distance_km(p: LatLon, a: LatLon, b: LatLon) -> f64 {
    // Project onto a plane around `a`: x east, y north, in km.
    let kx = a.lat.to_radians().cos() * EARTH_RADIUS_KM.to_radians();
    let ky = EARTH_RADIUS_KM.to_radians();
    let (bx, by) = ((b.lon - a.lon) * kx, (b.lat - a.lat) * ky);
    let (px, py) = ((p.lon - a.lon) * kx, (p.lat - a.lat) * ky);
    let len2 = bx * bx + by * by;
    let t = if len2 > 0.0 {
        ((px * bx + py * by) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((px - t * bx).powi(2) + (py - t * by).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROTTERDAM: LatLon = LatLon::new(51.9244, 4.4777);
    const UTRECHT: LatLon = LatLon::new(52.0907, 5.1214);

    #[test]
    fn distances_match_the_map() {
        let km = distance_km(ROTTERDAM, UTRECHT);
        assert!((km - 47.7).abs() < 1.0, "{km}");
        assert_eq!(distance_km(ROTTERDAM, ROTTERDAM), 0.0);
    }

    #[test]
    fn positions_run_along_the_polyline() {
        let via = LatLon::new(52.02, 4.70);
        let line = Polyline::new(vec![ROTTERDAM, via, UTRECHT]);
        let expected = distance_km(ROTTERDAM, via) + distance_km(via, UTRECHT);
        assert!((line.length_km() - expected).abs() < 1e-9);
        assert_eq!(line.position_at(-5.0), ROTTERDAM);
        assert_eq!(line.position_at(1e6), UTRECHT);
        let at_via = line.position_at(distance_km(ROTTERDAM, via));
        assert!(distance_km(at_via, via) < 0.001);
        let mut km = 0.0;
        while km <= line.length_km() {
            let p = line.position_at(km);
            assert!(line.distance_to_km(p) < 0.05, "{km}: {p:?}");
            km += 0.7;
        }
        // a point well off the road is far from it
        assert!(line.distance_to_km(LatLon::new(51.5, 5.5)) > 30.0);
    }
}
