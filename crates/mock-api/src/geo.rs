//! The few bits of spherical geometry the mock needs. Kept here rather than shared with the
//! client on purpose: the mock is an independent statement of the API's rules.

/// Mean Earth radius in metres, the API's (and the project's) haversine radius.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Metres in one degree of latitude.
pub(crate) const METRES_PER_DEGREE: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

/// True when `[lon, lat]` lies in `[minx, miny, maxx, maxy]`, edges included.
pub(crate) fn bbox_contains(b: [f64; 4], lon: f64, lat: f64) -> bool {
    lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]
}

/// Great-circle distance in metres between two `[lon, lat]` positions.
pub(crate) fn haversine_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Initial bearing in degrees clockwise from north (0..360) from `from` to `to`.
pub(crate) fn bearing_deg(from: [f64; 2], to: [f64; 2]) -> f64 {
    let (lat1, lat2) = (from[1].to_radians(), to[1].to_radians());
    let dlon = (to[0] - from[0]).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// The absolute difference between two angles in degrees, folded into 0..=180.
pub(crate) fn angle_between_deg(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// The position `distance_m` metres from `from` in direction `heading_deg` (a local flat
/// approximation, plenty for paths of a few metres per step).
pub(crate) fn offset(from: [f64; 2], distance_m: f64, heading_deg: f64) -> [f64; 2] {
    let h = heading_deg.to_radians();
    let dlat = distance_m * h.cos() / METRES_PER_DEGREE;
    let dlon = distance_m * h.sin() / (METRES_PER_DEGREE * from[1].to_radians().cos());
    [from[0] + dlon, from[1] + dlat]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_moves_the_requested_distance_and_direction() {
        let start = [-113.98, 46.86];
        let end = offset(start, 12.0, 135.0);
        assert!((haversine_m(start, end) - 12.0).abs() < 0.01);
        assert!((bearing_deg(start, end) - 135.0).abs() < 0.1);
    }

    #[test]
    fn angles_fold_across_north() {
        assert_eq!(angle_between_deg(350.0, 10.0), 20.0);
        assert_eq!(angle_between_deg(10.0, 350.0), 20.0);
        assert_eq!(angle_between_deg(0.0, 180.0), 180.0);
    }
}
