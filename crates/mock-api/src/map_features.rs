//! Map features: the world's detected objects (traffic signs, point objects) and the v4
//! `/map_features` endpoint, as strict as the documented field list allows.

use std::ops::Range;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::RequestError;
use crate::geo::{bbox_contains, offset};
use crate::http::Response;
use crate::params::Params;
use crate::server::Context;
use crate::world::{Cluster, MockSequence, WorldConfig};

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

/// The documented map feature fields; `id` always comes back.
const FIELDS: [&str; 7] = [
    "id",
    "geometry",
    "object_value",
    "object_type",
    "first_seen_at",
    "last_seen_at",
    "images",
];

/// The parameters `/map_features` accepts; anything else is refused.
const PARAMETERS: [&str; 5] = ["bbox", "fields", "object_values", "limit", "access_token"];

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

/// One map feature as v4 returns it: `id`, then the requested fields that have a value.
#[derive(Serialize)]
struct Entry<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    geometry: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<Connection<'a>>,
}

#[derive(Serialize)]
struct Point {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

/// A timestamp in either form the API is seen to send.
#[derive(Serialize)]
#[serde(untagged)]
enum Time {
    Ms(i64),
    Text(String),
}

#[derive(Serialize)]
struct Connection<'a> {
    data: Vec<IdEntry<'a>>,
}

#[derive(Serialize)]
struct IdEntry<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct Page<'a> {
    data: Vec<Entry<'a>>,
}

fn time(ms: Option<i64>, iso: bool, index: usize) -> Option<Time> {
    let ms = ms?;
    if !iso {
        return Some(Time::Ms(ms));
    }
    let t = jiff::Timestamp::from_millisecond(ms).ok()?;
    // Both ISO forms: RFC 3339 with `Z`, and the Graph API's `+0000`.
    Some(Time::Text(if index.is_multiple_of(2) {
        format!("{t:.3}")
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
    }))
}

/// `GET /map_features`.
pub(crate) fn map_features(ctx: &Context, params: &Params) -> Result<Response, RequestError> {
    if let Some(param) = params.names().find(|n| !PARAMETERS.contains(n)) {
        return Err(RequestError::UnknownParameter {
            param: param.to_owned(),
        });
    }
    let mut selected = [false; FIELDS.len()];
    for field in params.list("fields").unwrap_or_default() {
        let idx = FIELDS.iter().position(|f| *f == field).ok_or_else(|| {
            RequestError::NonexistingField {
                field: field.to_owned(),
                node: "MapFeature",
            }
        })?;
        selected[idx] = true;
    }
    let max_limit = ctx.config.v4_max_limit;
    // Stricter than /images: a limit above the maximum is refused, not served as the maximum.
    let limit = params
        .count(
            "limit",
            max_limit,
            "expected a whole number from 1 to the maximum",
        )?
        .unwrap_or(max_limit);
    let bbox = params
        .bbox("bbox")?
        .ok_or(RequestError::MissingParameter { param: "bbox" })?;
    let area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]);
    if area >= ctx.config.v4_max_bbox_area {
        return Err(RequestError::BboxTooLarge {
            area,
            max: ctx.config.v4_max_bbox_area,
        });
    }
    let values = params.list("object_values");
    let [_, geometry, value, kind, first, last, images] = selected;
    let data = ctx
        .world
        .map_features
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            bbox_contains(bbox, f.lon, f.lat)
                && values
                    .as_ref()
                    .is_none_or(|v| v.contains(&f.object_value.as_str()))
        })
        .take(limit)
        .map(|(index, f)| Entry {
            id: &f.id,
            geometry: geometry.then_some(Point {
                kind: "Point",
                coordinates: [f.lon, f.lat],
            }),
            object_value: value.then_some(f.object_value.as_str()),
            object_type: kind.then_some(f.object_type.as_deref()).flatten(),
            first_seen_at: first
                .then(|| time(f.first_seen_at_ms, f.iso_times, index))
                .flatten(),
            last_seen_at: last
                .then(|| time(f.last_seen_at_ms, f.iso_times, index + 1))
                .flatten(),
            images: images.then(|| Connection {
                data: f.image_keys.iter().map(|id| IdEntry { id }).collect(),
            }),
        })
        .collect();
    Ok(Response::json(200, &Page { data }))
}
