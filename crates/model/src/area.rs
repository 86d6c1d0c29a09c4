//! Areas, dates and the bits of spherical geometry both the client and its filters need.

use geo::{Bearing, Distance, HaversineMeasure, Point};

/// Mean Earth radius in metres (IUGG), used for every distance in the project.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The sphere every distance and bearing is measured on.
const EARTH: HaversineMeasure = HaversineMeasure::new(EARTH_RADIUS_M);

/// A `[minx, miny, maxx, maxy]` box in degrees (lon, lat).
pub type Bbox = [f64; 4];

/// Where to search: a box, or a circle around a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Area {
    /// `bbox = [minx, miny, maxx, maxy]`; edges inclusive.
    Bbox(Bbox),
    /// `closeto = [lon, lat]` and `radius` in metres; the boundary is inclusive.
    Closeto {
        /// `[lon, lat]`.
        center: [f64; 2],
        /// Metres.
        radius_m: f64,
    },
}

impl Area {
    /// True when `[lon, lat]` lies in the area (edges included).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        match *self {
            Area::Bbox(b) => bbox_contains(b, lon, lat),
            Area::Closeto { center, radius_m } => haversine_m(center, [lon, lat]) <= radius_m,
        }
    }

    /// The smallest box holding the area (for a circle: its extent in latitude and, at the
    /// circle's widest latitude, longitude). Not wrapped at the antimeridian.
    pub fn bounding_box(&self) -> Bbox {
        match *self {
            Area::Bbox(b) => b,
            Area::Closeto { center, radius_m } => {
                let [lon, lat] = center;
                let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
                let widest = (lat.abs() + dlat).min(89.999_999).to_radians();
                let dlon = ((radius_m / EARTH_RADIUS_M).sin() / widest.cos())
                    .clamp(-1.0, 1.0)
                    .asin()
                    .to_degrees();
                [
                    lon - dlon,
                    (lat - dlat).max(-90.0),
                    lon + dlon,
                    (lat + dlat).min(90.0),
                ]
            }
        }
    }
}

/// True when `[lon, lat]` lies in the box, edges included.
pub fn bbox_contains(b: Bbox, lon: f64, lat: f64) -> bool {
    lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]
}

/// The box's four quadrants (SW, SE, NW, NE). Their union is the box; shared edges belong to
/// both neighbours, so a point on an edge may come back twice (dedupe removes it).
pub fn quadrants(b: Bbox) -> [Bbox; 4] {
    let mx = b[0] + (b[2] - b[0]) / 2.0;
    let my = b[1] + (b[3] - b[1]) / 2.0;
    [
        [b[0], b[1], mx, my],
        [mx, b[1], b[2], my],
        [b[0], my, mx, b[3]],
        [mx, my, b[2], b[3]],
    ]
}

/// Great-circle distance in metres between two `[lon, lat]` positions (haversine).
pub fn haversine_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    EARTH.distance(Point::new(a[0], a[1]), Point::new(b[0], b[1]))
}

/// Initial bearing in degrees clockwise from north (0..360) from `from` to `to`.
pub fn bearing_deg(from: [f64; 2], to: [f64; 2]) -> f64 {
    EARTH.bearing(Point::new(from[0], from[1]), Point::new(to[0], to[1]))
}

/// A half-open capture-time range in milliseconds since the epoch: `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// Inclusive start.
    pub start_ms: i64,
    /// Exclusive end.
    pub end_ms: i64,
}

impl DateRange {
    /// True when `t_ms` falls in the range.
    pub fn contains(&self, t_ms: i64) -> bool {
        t_ms >= self.start_ms && t_ms < self.end_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_bounding_box_holds_the_circle() {
        let area = Area::Closeto {
            center: [-122.3079, 47.6537],
            radius_m: 200.0,
        };
        let b = area.bounding_box();
        for deg in 0..360 {
            let t = f64::from(deg).to_radians();
            // A point just inside the circle in every direction is inside the box.
            let dlat = (199.0 / EARTH_RADIUS_M).to_degrees() * t.cos();
            let dlon =
                (199.0 / EARTH_RADIUS_M).to_degrees() * t.sin() / 47.6537f64.to_radians().cos();
            let p = [-122.3079 + dlon, 47.6537 + dlat];
            assert!(area.contains(p[0], p[1]), "{p:?}");
            assert!(bbox_contains(b, p[0], p[1]), "{p:?} outside {b:?}");
        }
    }

    #[test]
    fn quadrants_cover_the_box() {
        let q = quadrants([0.0, 0.0, 2.0, 1.0]);
        assert_eq!(q[0], [0.0, 0.0, 1.0, 0.5]);
        assert_eq!(q[3], [1.0, 0.5, 2.0, 1.0]);
    }

    #[test]
    fn bearing_points_the_right_way() {
        assert!((bearing_deg([0.0, 0.0], [0.0, 1.0]) - 0.0).abs() < 1e-9);
        assert!((bearing_deg([0.0, 0.0], [1.0, 0.0]) - 90.0).abs() < 1e-9);
        assert!((bearing_deg([0.0, 0.0], [0.0, -1.0]) - 180.0).abs() < 1e-9);
        assert!((haversine_m([0.0, 0.0], [0.0, 1.0]) - 111_195.08).abs() < 1.0);
    }
}
