//! Map features: the world's detected objects (traffic signs, point objects), generated beside
//! the images they were seen in.

use std::ops::Range;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{Cluster, MockSequence, WorldConfig};
use crate::geo::offset;

/// One map feature of the world.
#[derive(Debug, Clone, PartialEq)]
pub struct MockMapFeature {
    /// The v4 id: a numeric string, as the API's.
    pub id: String,
    /// Longitude, WGS 84.
    pub lon: f64,
    /// Latitude, WGS 84.
    pub lat: f64,
    /// `traffic_sign` or `point`; `None` for the few served without one.
    pub object_type: Option<String>,
    /// What it is: `regulatory--stop--g1`, `object--fire-hydrant`, ...
    pub object_value: String,
    /// First seen, ms since the epoch; `None` when the mock leaves the field out.
    pub first_seen_at_ms: Option<i64>,
    /// Last seen, ms since the epoch; `None` when the mock leaves the field out.
    pub last_seen_at_ms: Option<i64>,
    /// Serve the times as ISO 8601 text instead of epoch milliseconds.
    pub iso_times: bool,
    /// The images it was detected in (served as the `images` connection).
    pub image_keys: Vec<String>,
}

/// (object_type, object_value, weight): what the world's features are.
const KINDS: [(&str, &str, u32); 10] = [
    ("traffic_sign", "regulatory--stop--g1", 5),
    ("traffic_sign", "regulatory--yield--g1", 2),
    ("traffic_sign", "regulatory--maximum-speed-limit-25--g2", 3),
    ("traffic_sign", "regulatory--one-way-right--g1", 2),
    ("traffic_sign", "warning--pedestrians-crossing--g4", 2),
    ("point", "object--fire-hydrant", 4),
    ("point", "object--street-light", 6),
    ("point", "object--bench", 3),
    ("point", "marking--discrete--crosswalk-zebra", 3),
    ("point", "object--manhole", 2),
];

/// The tutorial's campus box (jobs/demo.toml): the first quirky cluster puts features exactly
/// on its edges and on the lines where its cells split, so dedupe across cells is exercised.
pub const DEMO_CAMPUS_BBOX: [f64; 4] = [-113.98937, 46.85699, -113.98002, 46.86501];
/// Features in the dense spot of the first quirky cluster: more than the default `limit`
/// (2000), so a bbox search over it must be split.
pub const DENSE_SPOT_FEATURES: usize = 2100;
/// Map features per cluster image, scattered over the cluster.
const FEATURES_PER_IMAGE: f64 = 0.12;
/// 2016-01-01 .. 2022-01-01: when features are first seen.
const FIRST_SEEN_MS: (i64, i64) = (1_451_606_400_000, 1_640_995_200_000);
const DAY_MS: i64 = 86_400_000;

/// The map features of a generated world. `cluster_sequences[i]` are the indices in `sequences`
/// of cluster `i`'s sequences (features name some of their images).
pub(crate) fn generate(
    config: &WorldConfig,
    sequences: &[MockSequence],
    cluster_sequences: &[Range<usize>],
) -> Vec<MockMapFeature> {
    // A stream of its own: the images stay what they were before map features existed.
    let mut rng = SmallRng::seed_from_u64(config.seed ^ 0x6d61_705f_6665_6174);
    let mut features = Vec::new();
    for (i, (cluster, range)) in config.clusters.iter().zip(cluster_sequences).enumerate() {
        let images: Vec<&str> = sequences[range.clone()]
            .iter()
            .flat_map(|s| s.images.iter().map(|i| i.key.as_str()))
            .collect();
        let mut add = |rng: &mut SmallRng, position: [f64; 2], kind: Option<usize>| {
            let kind = kind.unwrap_or_else(|| pick_kind(rng));
            let feature = feature(rng, features.len(), position, kind, &images);
            features.push(feature);
        };
        let scattered = (cluster.images as f64 * FEATURES_PER_IMAGE).round() as usize;
        for _ in 0..scattered {
            let position = scatter(&mut rng, cluster, cluster.radius_m);
            add(&mut rng, position, None);
        }
        if config.quirks && i == 0 {
            // A car park full of street lights and benches 150 m east-north-east of the centre.
            let spot = Cluster {
                center: offset(cluster.center, 150.0, 60.0),
                radius_m: 70.0,
                ..cluster.clone()
            };
            for n in 0..DENSE_SPOT_FEATURES {
                let position = scatter(&mut rng, &spot, spot.radius_m);
                add(&mut rng, position, Some(6 + n % 2));
            }
            for position in edge_positions(DEMO_CAMPUS_BBOX) {
                add(&mut rng, position, None);
            }
        }
    }
    features
}

/// Positions on a box's four edges, on its two mid-lines (where a full cell is split into
/// quadrants, computed as the client's planner does) and at its centre and corners.
fn edge_positions(b: [f64; 4]) -> Vec<[f64; 2]> {
    let mx = b[0] + (b[2] - b[0]) / 2.0;
    let my = b[1] + (b[3] - b[1]) / 2.0;
    let mut out = vec![
        [mx, my],
        [b[0], b[1]],
        [b[2], b[3]],
        [b[0], b[3]],
        [b[2], b[1]],
    ];
    for t in [0.2, 0.4, 0.7, 0.9] {
        let x = round7(b[0] + (b[2] - b[0]) * t);
        let y = round7(b[1] + (b[3] - b[1]) * t);
        out.extend([[x, b[1]], [x, b[3]], [b[0], y], [b[2], y], [x, my], [mx, y]]);
    }
    out
}

fn pick_kind(rng: &mut SmallRng) -> usize {
    let total: u32 = KINDS.iter().map(|k| k.2).sum();
    let mut draw = rng.random_range(0..total);
    for (i, kind) in KINDS.iter().enumerate() {
        if draw < kind.2 {
            return i;
        }
        draw -= kind.2;
    }
    0
}

fn scatter(rng: &mut SmallRng, cluster: &Cluster, radius_m: f64) -> [f64; 2] {
    let r = radius_m * rng.random_range(0.0..=1.0f64).sqrt();
    let p = offset(cluster.center, r, rng.random_range(0.0..360.0));
    p.map(round7)
}

fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

fn feature(
    rng: &mut SmallRng,
    index: usize,
    [lon, lat]: [f64; 2],
    kind: usize,
    images: &[&str],
) -> MockMapFeature {
    let (object_type, object_value, _) = KINDS[kind];
    let first = rng.random_range(FIRST_SEEN_MS.0..FIRST_SEEN_MS.1);
    let last = first + rng.random_range(0..3 * 365) * DAY_MS + rng.random_range(0..DAY_MS);
    let seen = images.len().min(rng.random_range(1..=3));
    MockMapFeature {
        // Numeric ids like the API's, unique by construction.
        id: format!("{}", 300_000_000_000_000u64 + index as u64 * 7_919),
        lon,
        lat,
        // Real responses leave optional fields out now and then.
        object_type: (index % 41 != 7).then(|| object_type.to_owned()),
        object_value: object_value.to_owned(),
        first_seen_at_ms: (index % 37 != 5).then_some(first),
        last_seen_at_ms: (index % 43 != 11).then_some(last),
        iso_times: index % 3 == 1,
        image_keys: (0..seen)
            .map(|_| images[rng.random_range(0..images.len())].to_owned())
            .collect(),
    }
}
