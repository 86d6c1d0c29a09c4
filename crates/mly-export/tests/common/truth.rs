//! The tests' own truth about the mock's world: areas, distances, the records a job must
//! export, and assertions that an export's GeoJSON equals them (shared by the v4 and filter
//! end-to-end tests).

use std::collections::BTreeMap;
use std::path::Path;

use mock_api::{MockImage, MockSequence, World};
use serde_json::{Value, json};

/// The demo job's areas (jobs/demo.toml).
pub const DEMO_AREAS: &str = r#"
[[areas]]
name = "montana-campus"
bbox = [-113.98937, 46.85699, -113.98002, 46.86501]

[[areas]]
name = "campus-east"
closeto = [-113.9805, 46.8610]
radius = 300
"#;

pub const MONTANA_BBOX: [f64; 4] = [-113.98937, 46.85699, -113.98002, 46.86501];

// ---------------------------------------------------------------------------------------------
// The test's own truth: areas, distances and the expected records, from the mock's world.

#[derive(Debug, Clone, Copy)]
pub enum TestArea {
    Bbox([f64; 4]),
    Circle([f64; 2], f64),
}

pub fn demo_areas() -> Vec<TestArea> {
    vec![
        TestArea::Bbox(MONTANA_BBOX),
        TestArea::Circle([-113.9805, 46.8610], 300.0),
    ]
}

pub fn haversine_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let r = 6_371_008.8_f64;
    let (p1, p2) = (a[1].to_radians(), b[1].to_radians());
    let dp = p2 - p1;
    let dl = (b[0] - a[0]).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().min(1.0).asin()
}

pub fn inside(areas: &[TestArea], lon: f64, lat: f64) -> bool {
    areas.iter().any(|a| match *a {
        TestArea::Bbox(b) => lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3],
        TestArea::Circle(c, r) => haversine_m(c, [lon, lat]) <= r,
    })
}

pub fn iso_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

pub fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

/// The images of `world` in the areas that pass `keep`, by key.
pub fn truth_images<'w>(
    world: &'w World,
    areas: &[TestArea],
    keep: impl Fn(&MockImage) -> bool,
) -> BTreeMap<String, &'w MockImage> {
    world
        .images()
        .filter(|i| inside(areas, i.lon, i.lat) && keep(i))
        .map(|i| (i.key.clone(), i))
        .collect()
}

/// The whole sequences with at least one image in the areas that pass `keep`, by key.
pub fn truth_sequences<'w>(
    world: &'w World,
    areas: &[TestArea],
    keep: impl Fn(&MockSequence) -> bool,
) -> BTreeMap<String, &'w MockSequence> {
    world
        .sequences
        .iter()
        .filter(|s| s.images.iter().any(|i| inside(areas, i.lon, i.lat)) && keep(s))
        .map(|s| (s.key.clone(), s))
        .collect()
}

/// Which API made an export: the fields whose values differ by design (documented) follow it.
/// v4 sequences have no `created_at` and v4 images no `organization_key` (null there); only v4
/// has the computed values; the viewer links have one form per API.
#[derive(Clone, Copy)]
pub struct ApiForm {
    pub v4: bool,
}

pub const V3: ApiForm = ApiForm { v4: false };
pub const V4: ApiForm = ApiForm { v4: true };

impl ApiForm {
    /// The viewer link of an image key.
    pub fn url(self, key: &str) -> Value {
        if self.v4 {
            json!(format!("https://www.mapillary.com/app/?pKey={key}"))
        } else {
            json!(format!("https://www.mapillary.com/map/im/{key}"))
        }
    }
}

/// The exported images GeoJSON equals the truth: key set, coordinates, every declared field.
pub fn assert_images_equal(dir: &Path, truth: &BTreeMap<String, &MockImage>, api: ApiForm) {
    let got = super::geojson_features(&dir.join("images.geojson"), "key");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>(),
        "image key sets differ in {}",
        dir.display()
    );
    for (key, image) in truth {
        let feature = &got[key];
        assert_eq!(
            feature["geometry"],
            json!({"type": "Point", "coordinates": [image.lon, image.lat]}),
            "geometry of image {key}"
        );
        let p = &feature["properties"];
        let expected = vec![
            ("key", json!(image.key)),
            ("ca", opt_f64(image.ca)),
            ("camera_make", opt_str(&image.camera_make)),
            ("camera_model", opt_str(&image.camera_model)),
            ("captured_at", json!(iso_ms(image.captured_at_ms))),
            ("pano", json!(image.pano)),
            ("sequence_key", json!(image.sequence_key)),
            ("user_key", json!(image.user_key)),
            ("username", json!(image.username)),
        ];
        let (organization_key, computed) = if api.v4 {
            (Value::Null, image.computed_position)
        } else {
            (opt_str(&image.organization_key), None)
        };
        let computed_ca = if api.v4 { image.computed_ca } else { None };
        let expected = expected.into_iter().chain([
            ("organization_key", organization_key),
            ("computed_lon", opt_f64(computed.map(|p| p[0]))),
            ("computed_lat", opt_f64(computed.map(|p| p[1]))),
            ("computed_ca", opt_f64(computed_ca)),
            ("url", api.url(&image.key)),
        ]);
        for (field, value) in expected {
            assert_eq!(p[field], value, "image {key} field {field}");
        }
    }
}

/// The positions a GeoJSON, Shapefile or WKT line holds for `s`: its images' positions, a
/// single image's twice (a line needs two positions).
pub fn written_line(s: &MockSequence) -> Vec<(f64, f64)> {
    let mut line: Vec<(f64, f64)> = s.images.iter().map(|i| (i.lon, i.lat)).collect();
    if let [only] = line[..] {
        line.push(only);
    }
    line
}

/// The exported sequences and sequence points equal the truth: key sets, whole lines (a single
/// image's position twice), per-vertex properties and every declared field.
pub fn assert_sequences_equal(dir: &Path, truth: &BTreeMap<String, &MockSequence>, api: ApiForm) {
    let got = super::geojson_features(&dir.join("sequences.geojson"), "key");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>(),
        "sequence key sets differ in {}",
        dir.display()
    );
    let mut expected_points = BTreeMap::new();
    for (key, s) in truth {
        let feature = &got[key];
        let coordinates: Vec<Value> = written_line(s)
            .into_iter()
            .map(|(lon, lat)| json!([lon, lat]))
            .collect();
        assert_eq!(
            feature["geometry"],
            json!({"type": "LineString", "coordinates": coordinates}),
            "line of sequence {key}"
        );
        let p = &feature["properties"];
        let created_at = if api.v4 {
            Value::Null
        } else {
            json!(iso_ms(s.created_at_ms))
        };
        let expected = [
            ("key", json!(s.key)),
            ("camera_make", opt_str(&s.camera_make)),
            ("captured_at", json!(iso_ms(s.images[0].captured_at_ms))),
            ("created_at", created_at),
            ("pano", json!(s.pano)),
            ("user_key", json!(s.user_key)),
            ("url", api.url(&s.images[0].key)),
        ];
        for (field, value) in expected {
            assert_eq!(p[field], value, "sequence {key} field {field}");
        }
        let cas: Vec<Value> = s.images.iter().map(|i| opt_f64(i.ca)).collect();
        let image_keys: Vec<Value> = s.images.iter().map(|i| json!(i.key)).collect();
        assert_eq!(
            p["coordinateProperties"],
            json!({"cas": cas, "image_keys": image_keys}),
            "coordinateProperties of sequence {key}"
        );
        for (idx, image) in s.images.iter().enumerate() {
            expected_points.insert(
                (key.clone(), idx as u64),
                (
                    json!(image.key),
                    opt_f64(image.ca),
                    json!([image.lon, image.lat]),
                ),
            );
        }
    }
    let text = std::fs::read_to_string(dir.join("sequence_points.geojson")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let got_points: BTreeMap<(String, u64), (Value, Value, Value)> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                (
                    p["seq_key"].as_str().unwrap().to_owned(),
                    p["idx"].as_u64().unwrap(),
                ),
                (
                    p["image_key"].clone(),
                    p["ca"].clone(),
                    f["geometry"]["coordinates"].clone(),
                ),
            )
        })
        .collect();
    assert_eq!(
        doc["features"].as_array().unwrap().len(),
        got_points.len(),
        "duplicate sequence points"
    );
    assert_eq!(got_points, expected_points, "sequence points");
}

// ---------------------------------------------------------------------------------------------
// Reading every format back, for comparing two exports field by field.

/// A job file's text: name, API, extra keys, areas.
pub fn job(name: &str, api: &str, extra: &str, areas: &str) -> String {
    format!("name = \"{name}\"\napi = \"{api}\"\n{extra}\n{areas}")
}

/// Initial bearing in degrees clockwise from north, 0..360, from `from` to `to`.
pub fn bearing_deg(from: [f64; 2], to: [f64; 2]) -> f64 {
    let (p1, p2) = (from[1].to_radians(), to[1].to_radians());
    let dl = (to[0] - from[0]).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}
