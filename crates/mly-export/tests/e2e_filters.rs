//! End to end, issue 9 (`pano` and `lookat` in job files): the real binary against the real
//! mock over HTTP, v3 and v4. Panorama filters keep exactly the panoramas (or the others),
//! images and sequences; v3 `lookat` is the API's own rule, v4 `lookat` the tool's rule with the
//! job's `lookat_tolerance`; sequences are never filtered by `lookat`; the seed's example job
//! exports images that look at the University of Washington.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use mock_api::{MockConfig, MockImage, MockSequence, MockServer, World};
use serde_json::{Value, json};

/// The demo job's areas (jobs/demo.toml).
const DEMO_AREAS: &str = r#"
[[areas]]
name = "montana-campus"
bbox = [-113.98937, 46.85699, -113.98002, 46.86501]

[[areas]]
name = "campus-east"
closeto = [-113.9805, 46.8610]
radius = 300
"#;

const MONTANA_BBOX: [f64; 4] = [-113.98937, 46.85699, -113.98002, 46.86501];

/// The seed's University of Washington search: 200 m around the campus's central point, which
/// is also the `lookat` place.
const UW: [f64; 2] = [-122.3079, 47.6537];
const UW_AREA: &str = r#"
[[areas]]
name = "uw"
closeto = [-122.3079, 47.6537]
radius = 200
"#;

// ---------------------------------------------------------------------------------------------
// The test's own truth: areas, distances, bearings and the expected records, from the world.

#[derive(Debug, Clone, Copy)]
enum TestArea {
    Bbox([f64; 4]),
    Circle([f64; 2], f64),
}

fn demo_areas() -> Vec<TestArea> {
    vec![
        TestArea::Bbox(MONTANA_BBOX),
        TestArea::Circle([-113.9805, 46.8610], 300.0),
    ]
}

fn haversine_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let r = 6_371_008.8_f64;
    let (p1, p2) = (a[1].to_radians(), b[1].to_radians());
    let dp = p2 - p1;
    let dl = (b[0] - a[0]).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().min(1.0).asin()
}

fn inside(areas: &[TestArea], lon: f64, lat: f64) -> bool {
    areas.iter().any(|a| match *a {
        TestArea::Bbox(b) => lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3],
        TestArea::Circle(c, r) => haversine_m(c, [lon, lat]) <= r,
    })
}

fn iso_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

/// The images of `world` in the areas that pass `keep`, by key.
fn truth_images<'w>(
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
fn truth_sequences<'w>(
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

/// Which declared fields a comparison leaves out (documented differences or reported bugs).
#[derive(Clone, Copy)]
struct Skip {
    /// v4 sequences have no `created_at` (documented): null there.
    v4_created_at: bool,
    /// Product bug (reported): v4 requests never ask for `organization_id`.
    organization_key: bool,
}

const V3: Skip = Skip {
    v4_created_at: false,
    organization_key: false,
};
const V4: Skip = Skip {
    v4_created_at: true,
    organization_key: true,
};

/// The exported images GeoJSON equals the truth: key set, coordinates, every declared field.
fn assert_images_equal(dir: &Path, truth: &BTreeMap<String, &MockImage>, skip: Skip) {
    let got = common::geojson_features(&dir.join("images.geojson"), "key");
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
        let mut expected = vec![
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
        if !skip.organization_key {
            expected.push(("organization_key", opt_str(&image.organization_key)));
        }
        for (field, value) in expected {
            assert_eq!(p[field], value, "image {key} field {field}");
        }
    }
}

/// The exported sequences and sequence points equal the truth: key sets, whole lines,
/// per-vertex properties and every declared field.
fn assert_sequences_equal(dir: &Path, truth: &BTreeMap<String, &MockSequence>, skip: Skip) {
    let got = common::geojson_features(&dir.join("sequences.geojson"), "key");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>(),
        "sequence key sets differ in {}",
        dir.display()
    );
    let mut expected_points = BTreeMap::new();
    for (key, s) in truth {
        let feature = &got[key];
        let coordinates: Vec<Value> = s.images.iter().map(|i| json!([i.lon, i.lat])).collect();
        assert_eq!(
            feature["geometry"],
            json!({"type": "LineString", "coordinates": coordinates}),
            "line of sequence {key}"
        );
        let p = &feature["properties"];
        let created_at = if skip.v4_created_at {
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

/// Initial bearing in degrees clockwise from north, 0..360, from `from` to `to`.
fn bearing_deg(from: [f64; 2], to: [f64; 2]) -> f64 {
    let (p1, p2) = (from[1].to_radians(), to[1].to_radians());
    let dl = (to[0] - from[0]).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// The lookat rule (the mock's for v3, README's for v4): a panorama, or a camera angle within
/// `tolerance` degrees of the bearing from the image to `target`.
fn looks_at(image: &MockImage, target: [f64; 2], tolerance: f64) -> bool {
    image.pano
        || image.ca.is_some_and(|ca| {
            let d = (bearing_deg([image.lon, image.lat], target) - ca).rem_euclid(360.0);
            d.min(360.0 - d) <= tolerance
        })
}

fn job(name: &str, api: &str, extra: &str, areas: &str) -> String {
    format!("name = \"{name}\"\napi = \"{api}\"\n{extra}\n{areas}")
}

fn skip(api: &str) -> Skip {
    if api == "v4" { V4 } else { V3 }
}

/// Runs `mly-export run JOBS --mock --out OUT -q` and checks it succeeded.
fn run_mock(jobs: &[&Path], out: &Path) {
    let mut args = vec!["run".to_owned()];
    args.extend(jobs.iter().map(|j| j.to_str().unwrap().to_owned()));
    args.extend(["--mock", "--out", out.to_str().unwrap(), "-q"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::run(&args, &[]);
    assert!(
        output.status.success(),
        "{args:?} failed ({:?}):\n{}",
        output.status.code(),
        common::stderr(&output)
    );
}

/// How many records a filter left out, from the manifest.
fn filtered(dir: &Path, resource: &str, reason: &str) -> u64 {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["summary"]["resources"][resource]["filtered"][reason]
        .as_u64()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------

#[test]
fn pano_true_and_false_keep_exactly_the_panoramas_or_the_others_in_v3_and_v4() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut jobs = Vec::new();
    for api in ["v3", "v4"] {
        for pano in [true, false] {
            let name = format!("pano-{pano}-{api}");
            let toml = job(&name, api, &format!("pano = {pano}"), DEMO_AREAS);
            jobs.push(common::write_job(
                tmp.path(),
                &format!("{name}.toml"),
                &toml,
            ));
        }
    }
    let job_refs: Vec<&Path> = jobs.iter().map(|p| p.as_path()).collect();
    run_mock(&job_refs, &out);

    let world = World::demo();
    let areas = demo_areas();
    for api in ["v3", "v4"] {
        let mut all_images = 0;
        for pano in [true, false] {
            let dir = out.join(format!("pano-{pano}-{api}"));
            let images = truth_images(&world, &areas, |i| i.pano == pano);
            let sequences = truth_sequences(&world, &areas, |s| s.pano == pano);
            assert!(
                !images.is_empty() && !sequences.is_empty(),
                "{api} pano {pano}"
            );
            all_images += images.len();
            assert_images_equal(&dir, &images, skip(api));
            assert_sequences_equal(&dir, &sequences, skip(api));
        }
        assert_eq!(all_images, truth_images(&world, &areas, |_| true).len());
    }
    // v3 sequences have no pano parameter: the tool filtered them (v4 asks the API, is_pano).
    assert!(filtered(&out.join("pano-true-v3"), "sequences", "pano") > 0);
}

#[test]
fn v3_lookat_is_the_apis_own_rule_and_leaves_sequences_alone() {
    // The API decides (here with a tolerance of 50 degrees); the job's lookat_tolerance is v4's.
    let world = World::demo();
    let config = MockConfig {
        lookat_tolerance_deg: 50.0,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config.clone(), 0).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let extra = "lookat = [-122.3079, 47.6537]\nlookat_tolerance = 30";
    let job_path = common::write_job(
        tmp.path(),
        "v3.toml",
        &job("lookat-v3", "v3", extra, UW_AREA),
    );
    let url = server.v3_url();
    let output = common::run(
        &[
            "run",
            job_path.to_str().unwrap(),
            "--api-url",
            &url,
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
        &[("MAPILLARY_CLIENT_ID", &config.client_id)],
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    let dir = out.join("lookat-v3");
    let areas = [TestArea::Circle(UW, 200.0)];
    let images = truth_images(&world, &areas, |i| looks_at(i, UW, 50.0));
    let all = truth_images(&world, &areas, |_| true);
    assert!(!images.is_empty() && images.len() < all.len());
    // Not the tool's rule with the job's 30 degrees.
    assert_ne!(
        images.len(),
        truth_images(&world, &areas, |i| looks_at(i, UW, 30.0)).len()
    );
    assert_images_equal(&dir, &images, V3);
    // Sequences: every sequence with a vertex in the area, as without lookat.
    assert_sequences_equal(&dir, &truth_sequences(&world, &areas, |_| true), V3);

    // `check` says so.
    let check = common::run(&["check", job_path.to_str().unwrap()], &[]);
    assert!(check.status.success(), "{}", common::stderr(&check));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("lookat does not apply"), "{text}");
}

#[test]
fn v4_lookat_is_the_tools_rule_with_the_jobs_tolerance_and_leaves_sequences_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let tolerances = [30.0, 60.0];
    let jobs: Vec<_> = tolerances
        .iter()
        .map(|t| {
            let name = format!("lookat-{t}-v4");
            let extra = format!("lookat = [-122.3079, 47.6537]\nlookat_tolerance = {t}");
            common::write_job(
                tmp.path(),
                &format!("{name}.toml"),
                &job(&name, "v4", &extra, UW_AREA),
            )
        })
        .collect();
    let job_refs: Vec<&Path> = jobs.iter().map(|p| p.as_path()).collect();
    run_mock(&job_refs, &out);

    let world = World::demo();
    let areas = [TestArea::Circle(UW, 200.0)];
    let all = truth_images(&world, &areas, |_| true);
    let sequences = truth_sequences(&world, &areas, |_| true);
    let mut counts = Vec::new();
    for t in tolerances {
        let dir = out.join(format!("lookat-{t}-v4"));
        let images = truth_images(&world, &areas, |i| looks_at(i, UW, t));
        assert!(
            !images.is_empty() && images.len() < all.len(),
            "tolerance {t}"
        );
        assert_images_equal(&dir, &images, V4);
        assert_eq!(
            filtered(&dir, "images", "lookat") as usize,
            all.len() - images.len(),
            "tolerance {t}"
        );
        // Sequences are not filtered by lookat: all of them, whole.
        assert_sequences_equal(&dir, &sequences, V4);
        counts.push(images.len());
    }
    assert!(
        counts[0] < counts[1],
        "a wider tolerance keeps more: {counts:?}"
    );
}

#[test]
fn the_seed_lookat_examples_export_images_looking_at_the_campus() {
    let workspace = common::workspace();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let v3_job = workspace.join("jobs/uw-lookat.toml");
    let v4_job = workspace.join("jobs/uw-lookat-v4.toml");
    run_mock(&[&v3_job, &v4_job], &out);
    let world = World::demo();
    let areas = [TestArea::Circle(UW, 200.0)];
    // v3: the mock API's rule (its default tolerance, 30 degrees).
    let images = truth_images(&world, &areas, |i| looks_at(i, UW, 30.0));
    assert!(!images.is_empty());
    assert_images_equal(&out.join("uw-lookat"), &images, V3);
    // v4: the tool's rule with the job's tolerance.
    let text = std::fs::read_to_string(&v4_job).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let tolerance = doc["lookat_tolerance"]
        .as_float()
        .unwrap_or_else(|| doc["lookat_tolerance"].as_integer().unwrap() as f64);
    let target: Vec<f64> = doc["lookat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_float().unwrap())
        .collect();
    assert_eq!(target, UW);
    let images = truth_images(&world, &areas, |i| looks_at(i, UW, tolerance));
    assert!(!images.is_empty());
    assert_images_equal(&out.join("uw-lookat-v4"), &images, V4);
}
