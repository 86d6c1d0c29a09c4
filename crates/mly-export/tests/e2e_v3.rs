//! End to end, issues 2 and 3 (the v3 pipeline and the four formats): the real `mly-export`
//! binary against the real mock API over HTTP, its export compared with the mock world's own
//! truth, computed here with the test's own simple code (boxes inclusive; circles by haversine,
//! R = 6,371,008.8 m, inclusive).
//!
//! - `make export`'s path (`run jobs/demo.toml --mock`) writes every file of every resource and
//!   format, and each one holds exactly the deduped truth: keys, coordinates, properties,
//!   sequences unclipped with their per-vertex arrays, one point per vertex; a one-image
//!   sequence and one whose images share a position are in every format (a line format that
//!   needs two positions gets the single image's twice); the manifest counts equal the truth and
//!   nothing is rejected.
//! - The same data gives byte-identical data files, whatever the concurrency.
//! - Users and date ranges: images and sequences by the job's users only, sequences' capture
//!   dates enforced by the tool (the API ignores them for sequences).
#![allow(clippy::unwrap_used)]

mod common;

use common::{truth::haversine_m, truth::iso_ms, truth::opt_f64, truth::written_line};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use mock_api::{MockConfig, MockImage, MockSequence, MockServer, World};
use serde_json::{Map, Value, json};

const RESOURCES: [&str; 3] = ["images", "sequences", "sequence_points"];
const DATA_EXTENSIONS: [&str; 8] = ["geojson", "shp", "shx", "dbf", "prj", "cpg", "gpx", "csv"];

/// The Montana campus box of jobs/demo.toml.
const MONTANA_BBOX: [f64; 4] = [-113.98937, 46.85699, -113.98002, 46.86501];
/// The campus-east circle of jobs/demo.toml.
const CAMPUS_EAST: ([f64; 2], f64) = ([-113.9805, 46.8610], 300.0);
/// The box of jobs/montana-campus.toml (the tutorial's).
const TUTORIAL_BBOX: [f64; 4] = [
    -113.9893770218955,
    46.8569923487781,
    -113.9800214767456,
    46.86501800079085,
];

// ---------------------------------------------------------------------------------------------
// The truth: which records of the world a job asks for, and what their exported form must be.

#[derive(Debug, Clone, Copy)]
enum Area {
    Bbox([f64; 4]),
    Circle([f64; 2], f64),
}

impl Area {
    fn contains(self, lon: f64, lat: f64) -> bool {
        match self {
            Area::Bbox(b) => lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3],
            Area::Circle(c, r) => haversine_m(c, [lon, lat]) <= r,
        }
    }
}

/// What a job selects: areas (any), users by key (none = all), date ranges as `[start, end)`
/// in ms (none = all).
struct Selection {
    areas: Vec<Area>,
    user_keys: Option<BTreeSet<String>>,
    dates: Vec<(i64, i64)>,
}

impl Selection {
    fn demo() -> Selection {
        Selection {
            areas: vec![
                Area::Bbox(MONTANA_BBOX),
                Area::Circle(CAMPUS_EAST.0, CAMPUS_EAST.1),
            ],
            user_keys: None,
            dates: Vec::new(),
        }
    }

    fn inside(&self, lon: f64, lat: f64) -> bool {
        self.areas.iter().any(|a| a.contains(lon, lat))
    }

    fn user_ok(&self, user_key: &str) -> bool {
        self.user_keys.as_ref().is_none_or(|k| k.contains(user_key))
    }

    fn date_ok(&self, ms: i64) -> bool {
        self.dates.is_empty() || self.dates.iter().any(|&(s, e)| ms >= s && ms < e)
    }

    fn images<'w>(&self, world: &'w World) -> BTreeMap<String, &'w MockImage> {
        world
            .images()
            .filter(|i| self.inside(i.lon, i.lat))
            .filter(|i| self.user_ok(&i.user_key) && self.date_ok(i.captured_at_ms))
            .map(|i| (i.key.clone(), i))
            .collect()
    }

    /// Sequences with any vertex in an area (whole, not clipped), by the users, whose first
    /// capture falls in a date range.
    fn sequences<'w>(&self, world: &'w World) -> BTreeMap<String, &'w MockSequence> {
        world
            .sequences
            .iter()
            .filter(|s| s.images.iter().any(|i| self.inside(i.lon, i.lat)))
            .filter(|s| self.user_ok(&s.user_key) && self.date_ok(s.images[0].captured_at_ms))
            .map(|s| (s.key.clone(), s))
            .collect()
    }
}

fn ms_of(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn opt_str(v: Option<&String>) -> Value {
    v.map_or(Value::Null, |s| json!(s))
}

fn image_properties(i: &MockImage) -> Map<String, Value> {
    let v = json!({
        "key": i.key,
        "ca": opt_f64(i.ca),
        "camera_make": opt_str(i.camera_make.as_ref()),
        "camera_model": opt_str(i.camera_model.as_ref()),
        "captured_at": iso_ms(i.captured_at_ms),
        "pano": i.pano,
        "sequence_key": i.sequence_key,
        "user_key": i.user_key,
        "username": i.username,
        "organization_key": opt_str(i.organization_key.as_ref()),
        "computed_lon": null,
        "computed_lat": null,
        "computed_ca": null,
        "url": format!("https://www.mapillary.com/map/im/{}", i.key),
    });
    v.as_object().unwrap().clone()
}

fn sequence_properties(s: &MockSequence) -> Map<String, Value> {
    let v = json!({
        "key": s.key,
        "camera_make": opt_str(s.camera_make.as_ref()),
        "captured_at": iso_ms(s.images[0].captured_at_ms),
        "created_at": iso_ms(s.created_at_ms),
        "pano": s.pano,
        "user_key": s.user_key,
        "url": format!("https://www.mapillary.com/map/im/{}", s.images[0].key),
        "coordinateProperties": {
            "cas": s.images.iter().map(|i| opt_f64(i.ca)).collect::<Vec<_>>(),
            "image_keys": s.images.iter().map(|i| json!(i.key)).collect::<Vec<_>>(),
        },
    });
    v.as_object().unwrap().clone()
}

/// Fewer than two distinct positions: a zero-length line.
fn zero_length(s: &MockSequence) -> bool {
    s.images
        .iter()
        .all(|i| (i.lon, i.lat) == (s.images[0].lon, s.images[0].lat))
}

/// A CSV free-text cell as the README promises it (formula guard).
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Running the binary.

fn assert_ok(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "mly-export failed: {}",
        common::stderr(output)
    );
}

/// `make export`'s command: `run jobs/demo.toml --mock --out OUT`.
fn run_demo(out: &Path, extra: &[&str]) {
    let job = common::workspace().join("jobs/demo.toml");
    let (job, out) = (job.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["run", job, "--mock", "--out", out];
    args.extend_from_slice(extra);
    assert_ok(&common::run(&args, &[]));
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The features of a GeoJSON output; panics on a duplicate key.
fn features_by(path: &Path, key: impl Fn(&Value) -> String) -> BTreeMap<String, Value> {
    let doc = read_json(path);
    let features = doc["features"].as_array().unwrap();
    let map: BTreeMap<String, Value> = features.iter().map(|f| (key(f), f.clone())).collect();
    assert_eq!(
        map.len(),
        features.len(),
        "{}: duplicate keys",
        path.display()
    );
    map
}

// ---------------------------------------------------------------------------------------------
// The GeoJSON outputs equal the truth.

fn assert_geojson_equals_truth(dir: &Path, world: &World, selection: &Selection) {
    // Images: key set, exact coordinates, every property.
    let truth = selection.images(world);
    assert!(!truth.is_empty(), "the selection must not be empty");
    let got = features_by(&dir.join("images.geojson"), |f| {
        f["properties"]["key"].as_str().unwrap().to_owned()
    });
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>(),
        "image keys"
    );
    for (key, image) in &truth {
        let f = &got[key];
        assert_eq!(f["type"], "Feature");
        assert_eq!(
            f["geometry"],
            json!({"type": "Point", "coordinates": [image.lon, image.lat]}),
            "image {key}"
        );
        assert_eq!(
            f["properties"].as_object().unwrap(),
            &image_properties(image),
            "image {key}"
        );
    }

    // Sequences: whole (not clipped), properties and per-vertex arrays.
    let truth = selection.sequences(world);
    assert!(!truth.is_empty(), "the selection must hold sequences");
    let got = features_by(&dir.join("sequences.geojson"), |f| {
        f["properties"]["key"].as_str().unwrap().to_owned()
    });
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>(),
        "sequence keys"
    );
    for (key, s) in &truth {
        let f = &got[key];
        let coordinates: Vec<Value> = written_line(s)
            .into_iter()
            .map(|(lon, lat)| json!([lon, lat]))
            .collect();
        assert_eq!(
            f["geometry"],
            json!({"type": "LineString", "coordinates": coordinates}),
            "sequence {key}"
        );
        assert_eq!(
            f["properties"].as_object().unwrap(),
            &sequence_properties(s),
            "sequence {key}"
        );
    }

    // Sequence points: one per vertex of those sequences.
    let got = features_by(&dir.join("sequence_points.geojson"), |f| {
        format!(
            "{}#{:06}",
            f["properties"]["seq_key"].as_str().unwrap(),
            f["properties"]["idx"].as_u64().unwrap()
        )
    });
    let vertices: usize = truth.values().map(|s| s.images.len()).sum();
    assert_eq!(got.len(), vertices, "sequence points");
    for (key, s) in &truth {
        for (idx, image) in s.images.iter().enumerate() {
            let f = &got[&format!("{key}#{idx:06}")];
            assert_eq!(
                f["geometry"],
                json!({"type": "Point", "coordinates": [image.lon, image.lat]}),
                "point {key} {idx}"
            );
            assert_eq!(
                f["properties"],
                json!({"seq_key": key, "idx": idx, "image_key": image.key, "ca": opt_f64(image.ca)}),
                "point {key} {idx}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The other formats hold the same records.

/// CSV images: header, key set, exact coordinates and every cell.
fn assert_csv_images(dir: &Path, truth: &BTreeMap<String, &MockImage>) {
    let mut reader = csv::Reader::from_path(dir.join("images.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "key",
            "lon",
            "lat",
            "ca",
            "camera_make",
            "camera_model",
            "captured_at",
            "pano",
            "sequence_key",
            "user_key",
            "username",
            "organization_key",
            "computed_lon",
            "computed_lat",
            "computed_ca",
            "url"
        ]
    );
    let mut seen = BTreeSet::new();
    for row in reader.records() {
        let row = row.unwrap();
        let key = row[0].to_owned();
        let image = truth
            .get(&key)
            .unwrap_or_else(|| panic!("csv: unexpected {key}"));
        assert!(seen.insert(key.clone()), "csv: duplicate {key}");
        assert_eq!(row[1].parse::<f64>().unwrap(), image.lon, "csv lon {key}");
        assert_eq!(row[2].parse::<f64>().unwrap(), image.lat, "csv lat {key}");
        let ca = (!row[3].is_empty()).then(|| row[3].parse::<f64>().unwrap());
        assert_eq!(ca, image.ca, "csv ca {key}");
        let text = |v: &Option<String>| v.as_deref().map(csv_text).unwrap_or_default();
        let expected = [
            text(&image.camera_make),
            text(&image.camera_model),
            iso_ms(image.captured_at_ms),
            image.pano.to_string(),
            image.sequence_key.clone(),
            image.user_key.clone(),
            csv_text(&image.username),
            image.organization_key.clone().unwrap_or_default(),
            // v3 has no computed values.
            String::new(),
            String::new(),
            String::new(),
            format!("https://www.mapillary.com/map/im/{}", image.key),
        ];
        assert_eq!(
            row.iter().skip(4).collect::<Vec<_>>(),
            expected.iter().map(String::as_str).collect::<Vec<_>>(),
            "csv row {key}"
        );
    }
    assert_eq!(seen.len(), truth.len(), "csv rows");
}

/// CSV sequence points: one row per vertex in vertex order.
fn assert_csv_points(dir: &Path, truth: &BTreeMap<String, &MockSequence>) {
    let mut reader = csv::Reader::from_path(dir.join("sequence_points.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["seq_key", "idx", "image_key", "lon", "lat", "ca"]
    );
    let mut rows: BTreeMap<(String, usize), csv::StringRecord> = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        let id = (row[0].to_owned(), row[1].parse::<usize>().unwrap());
        assert!(rows.insert(id, row).is_none(), "csv point duplicate");
    }
    let vertices: usize = truth.values().map(|s| s.images.len()).sum();
    assert_eq!(rows.len(), vertices);
    for (key, s) in truth {
        for (idx, image) in s.images.iter().enumerate() {
            let row = &rows[&(key.clone(), idx)];
            assert_eq!(&row[2], image.key);
            assert_eq!(row[3].parse::<f64>().unwrap(), image.lon);
            assert_eq!(row[4].parse::<f64>().unwrap(), image.lat);
            let ca = (!row[5].is_empty()).then(|| row[5].parse::<f64>().unwrap());
            assert_eq!(ca, image.ca, "csv point {key} {idx}");
        }
    }
}

fn dbf_text(record: &shapefile::dbase::Record, field: &str) -> Option<String> {
    match record.get(field) {
        Some(shapefile::dbase::FieldValue::Character(v)) => v.clone(),
        other => panic!("{field}: not a text field: {other:?}"),
    }
}

fn dbf_number(record: &shapefile::dbase::Record, field: &str) -> Option<f64> {
    match record.get(field) {
        Some(shapefile::dbase::FieldValue::Numeric(v)) => *v,
        other => panic!("{field}: not a numeric field: {other:?}"),
    }
}

/// The images shapefile: points at the exact positions, DBF values as the README says.
fn assert_shapefile_images(dir: &Path, truth: &BTreeMap<String, &MockImage>) {
    let mut reader = shapefile::Reader::from_path(dir.join("images.shp")).unwrap();
    let mut seen = BTreeSet::new();
    for item in reader.iter_shapes_and_records() {
        let (shape, record) = item.unwrap();
        let key = dbf_text(&record, "key").unwrap();
        let image = truth
            .get(&key)
            .unwrap_or_else(|| panic!("dbf: unexpected {key}"));
        assert!(seen.insert(key.clone()), "dbf: duplicate {key}");
        match shape {
            shapefile::Shape::Point(p) => assert_eq!((p.x, p.y), (image.lon, image.lat)),
            other => panic!("images.shp: not a point: {}", other.shapetype()),
        }
        match (dbf_number(&record, "ca"), image.ca) {
            (Some(got), Some(want)) => assert!((got - want).abs() <= 5e-7, "dbf ca {key}"),
            (got, want) => assert_eq!(got, want, "dbf ca {key}"),
        }
        assert_eq!(dbf_text(&record, "cam_make"), image.camera_make);
        assert_eq!(dbf_text(&record, "cam_model"), image.camera_model);
        assert_eq!(
            dbf_text(&record, "captured"),
            Some(iso_ms(image.captured_at_ms))
        );
        let pano = if image.pano { "T" } else { "F" };
        assert_eq!(dbf_text(&record, "pano").as_deref(), Some(pano));
        assert_eq!(
            dbf_text(&record, "seq_key").as_deref(),
            Some(image.sequence_key.as_str())
        );
        assert_eq!(
            dbf_text(&record, "user_key").as_deref(),
            Some(image.user_key.as_str())
        );
        assert_eq!(
            dbf_text(&record, "username").as_deref(),
            Some(image.username.as_str())
        );
        assert_eq!(dbf_text(&record, "org_key"), image.organization_key);
        assert_eq!(
            dbf_text(&record, "url"),
            Some(format!("https://www.mapillary.com/map/im/{}", image.key))
        );
    }
    assert_eq!(seen.len(), truth.len(), "dbf rows");
}

/// The sequences shapefile: every sequence, its vertices in order (a single image's twice).
fn assert_shapefile_sequences(dir: &Path, truth: &BTreeMap<String, &MockSequence>) {
    let mut reader = shapefile::Reader::from_path(dir.join("sequences.shp")).unwrap();
    let mut seen = BTreeSet::new();
    for item in reader.iter_shapes_and_records() {
        let (shape, record) = item.unwrap();
        let key = dbf_text(&record, "key").unwrap();
        let s = truth.get(&key).unwrap();
        assert!(seen.insert(key.clone()));
        let shapefile::Shape::Polyline(line) = shape else {
            panic!("sequences.shp: not a polyline")
        };
        let points: Vec<(f64, f64)> = line.parts().iter().flatten().map(|p| (p.x, p.y)).collect();
        assert_eq!(points, written_line(s), "sequence {key}");
        assert_eq!(
            dbf_text(&record, "captured"),
            Some(iso_ms(s.images[0].captured_at_ms))
        );
        assert_eq!(dbf_text(&record, "created"), Some(iso_ms(s.created_at_ms)));
    }
    let want: BTreeSet<String> = truth.keys().cloned().collect();
    assert_eq!(seen, want, "sequences.shp keys");
}

/// The `<name>`s of a GPX file's elements `tag` (`wpt` or `trk`); keys need no unescaping.
fn gpx_names(dir: &Path, file: &str, tag: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.split(&format!("<{tag}"))
        .skip(1)
        .filter(|block| block.starts_with([' ', '>']))
        .map(|block| {
            let start = block.find("<name>").unwrap() + "<name>".len();
            let end = block.find("</name>").unwrap();
            block[start..end].to_owned()
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn make_export_path_writes_every_file_and_exactly_the_deduped_truth() {
    let tmp = tempfile::tempdir().unwrap();
    run_demo(tmp.path(), &[]);
    let dir = tmp.path().join("demo");

    for resource in RESOURCES {
        for ext in DATA_EXTENSIONS {
            let path = dir.join(format!("{resource}.{ext}"));
            assert!(path.is_file(), "missing {}", path.display());
        }
    }
    for file in ["manifest.json", "preview.svg", "index.html"] {
        assert!(dir.join(file).is_file(), "missing {file}");
    }

    let world = World::demo();
    let selection = Selection::demo();
    assert_geojson_equals_truth(&dir, &world, &selection);

    let images = selection.images(&world);
    let sequences = selection.sequences(&world);
    // The two areas overlap: some images lie in both, and each is exported once.
    let in_both = images
        .values()
        .filter(|i| selection.areas.iter().all(|a| a.contains(i.lon, i.lat)))
        .count();
    assert!(in_both > 0, "the demo areas must overlap");
    let only_in_circle = images
        .values()
        .filter(|i| !Area::Bbox(MONTANA_BBOX).contains(i.lon, i.lat))
        .count();
    assert!(
        only_in_circle > 0,
        "the circle must add images beyond the box"
    );

    assert_csv_images(&dir, &images);
    assert_csv_points(&dir, &sequences);
    assert_shapefile_images(&dir, &images);
    assert_shapefile_sequences(&dir, &sequences);
    assert_eq!(
        sorted(gpx_names(&dir, "images.gpx", "wpt")),
        images.keys().cloned().collect::<Vec<_>>()
    );
    assert_eq!(
        sorted(gpx_names(&dir, "sequences.gpx", "trk")),
        sequences.keys().cloned().collect::<Vec<_>>()
    );
    let mut image_keys: Vec<String> = sequences
        .values()
        .flat_map(|s| s.images.iter().map(|i| i.key.clone()))
        .collect();
    image_keys.sort();
    assert_eq!(
        sorted(gpx_names(&dir, "sequence_points.gpx", "wpt")),
        image_keys
    );

    // The manifest: the job, per resource and format the files and counts of the truth, nothing
    // left out (zero-length sequences included).
    let manifest = read_json(&dir.join("manifest.json"));
    assert_eq!(manifest["job"], "demo");
    assert_eq!(manifest["api"], "v3");
    // The demo world's single-image sequence and the one whose images share a position.
    assert!(sequences.values().any(|s| s.images.len() == 1));
    assert!(
        sequences
            .values()
            .any(|s| s.images.len() > 1 && zero_length(s))
    );
    let counts = BTreeMap::from([
        ("images", images.len()),
        ("sequences", sequences.len()),
        ("sequence_points", image_keys.len()),
    ]);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        layers
            .iter()
            .map(|l| l["resource"].as_str().unwrap())
            .collect::<Vec<_>>(),
        RESOURCES
    );
    for layer in layers {
        let resource = layer["resource"].as_str().unwrap();
        let count = counts[resource];
        assert_eq!(layer["features"], count, "{resource}");
        let formats: Vec<&str> = layer["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["format"].as_str().unwrap())
            .collect();
        assert_eq!(
            formats,
            ["geojson", "shapefile", "gpx", "csv", "gpkg"],
            "{resource}"
        );
        for output in layer["outputs"].as_array().unwrap() {
            let format = output["format"].as_str().unwrap();
            let extensions = match format {
                "shapefile" => vec!["shp", "shx", "dbf", "prj", "cpg"],
                // One file for every layer, named after the job.
                "gpkg" => vec![],
                other => vec![other],
            };
            let files: Vec<(String, u64)> = output["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f[0].as_str().unwrap().to_owned(), f[1].as_u64().unwrap()))
                .collect();
            let mut names: Vec<String> = extensions
                .iter()
                .map(|e| format!("{resource}.{e}"))
                .collect();
            if format == "gpkg" {
                names.push("demo.gpkg".to_owned());
            }
            assert_eq!(
                files.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
                names,
                "{resource} {format}"
            );
            for (name, size) in &files {
                assert_eq!(
                    std::fs::metadata(dir.join(name)).unwrap().len(),
                    *size,
                    "{name}"
                );
            }
            assert_eq!(output["features"], count, "{resource} {format}");
        }
        assert!(layer["truncated"].as_array().unwrap().is_empty());
        let rejected = layer["rejected"].as_array().unwrap();
        assert!(rejected.is_empty(), "{resource}: {rejected:?}");
    }
    assert!(
        manifest["transform"]["rejected"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        manifest["transform"]["warnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for resource in RESOURCES {
        let summary = &manifest["summary"]["resources"][resource];
        assert_eq!(summary["exported"], counts[resource], "{resource}");
        assert_eq!(summary["filtered"], json!({}), "{resource}");
        assert_eq!(summary["truncated"], 0, "{resource}");
    }
    for resource in RESOURCES {
        assert_eq!(
            manifest["summary"]["resources"][resource]["rejected"], 0,
            "{resource}"
        );
    }
    // Duplicates removed across the overlapping areas: the API served every image of each
    // area, so the duplicates are the images in both.
    assert_eq!(
        manifest["summary"]["resources"]["images"]["duplicates"],
        in_both
    );
}

#[test]
fn the_same_data_gives_byte_identical_data_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_demo(&a, &[]);
    run_demo(&b, &["--concurrency", "1"]);
    let (a, b) = (a.join("demo"), b.join("demo"));

    let mut compared = 0;
    for resource in RESOURCES {
        for ext in DATA_EXTENSIONS {
            let name = format!("{resource}.{ext}");
            let (x, y) = (
                std::fs::read(a.join(&name)).unwrap(),
                std::fs::read(b.join(&name)).unwrap(),
            );
            assert!(!x.is_empty(), "{name} is empty");
            assert!(x == y, "{name} differs between two runs of the same data");
            compared += 1;
        }
    }
    assert_eq!(compared, 24);
    let names = |dir: &Path| -> Vec<String> {
        common::files_below(dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&a), names(&b));
}

#[test]
fn users_and_date_ranges_select_images_and_sequences_and_the_tool_enforces_sequence_dates() {
    let config = MockConfig::default();
    let world = config.world.clone();
    let client_id = config.client_id.clone();
    let server = MockServer::start_blocking(config, 0).unwrap();
    let tmp = tempfile::tempdir().unwrap();

    let key_of = |name: &str| -> String {
        world
            .users
            .iter()
            .find(|u| u.username == name)
            .unwrap()
            .key
            .clone()
    };

    // 1. The tutorial's job, as in jobs/montana-campus.toml.
    let tutorial = std::fs::read_to_string(common::workspace().join("jobs/montana-campus.toml"))
        .unwrap()
        .replace("name = \"montana-campus\"", "name = \"tutorial\"");
    assert!(tutorial.contains("usernames = [\"chrisbeddow\"]"));
    assert!(
        tutorial.contains("start = \"2016-03-28\"") && tutorial.contains("end = \"2017-03-28\"")
    );
    let tutorial_job = common::write_job(tmp.path(), "tutorial.toml", &tutorial);
    let tutorial_sel = Selection {
        areas: vec![Area::Bbox(TUTORIAL_BBOX)],
        user_keys: Some(BTreeSet::from([key_of("chrisbeddow")])),
        dates: vec![(ms_of("2016-03-28T00:00:00Z"), ms_of("2017-03-28T00:00:00Z"))],
    };

    // 2. User keys only, over the demo areas: the user with the Japanese name and the one with
    //    quotes and a comma in theirs.
    let (tokyo, obrien) = (key_of("東京マッパー"), key_of("O'Brien, \"Bob\""));
    let keys_job = common::write_job(
        tmp.path(),
        "keys.toml",
        &format!(
            "name = \"keys\"\nformats = [\"geojson\"]\nuserkeys = [\"{tokyo}\", \"{obrien}\"]\n\
             [[areas]]\nbbox = {MONTANA_BBOX:?}\n\
             [[areas]]\ncloseto = {:?}\nradius = {}\n",
            CAMPUS_EAST.0, CAMPUS_EAST.1
        ),
    );
    let keys_sel = Selection {
        user_keys: Some(BTreeSet::from([tokyo.clone(), obrien])),
        ..Selection::demo()
    };

    // 3. Usernames and userkeys together (a user in either list), with two date ranges.
    let gyllen = key_of("gyllen");
    let mixed_job = common::write_job(
        tmp.path(),
        "mixed.toml",
        &format!(
            "name = \"mixed\"\nformats = [\"geojson\"]\nusernames = [\"=HYPERLINK(1)\"]\n\
             userkeys = [\"{gyllen}\"]\n\
             [[areas]]\nbbox = {MONTANA_BBOX:?}\n\
             [[date_ranges]]\nstart = \"2015-01-01\"\nend = \"2016-06-01T12:00:00Z\"\n\
             [[date_ranges]]\nstart = \"2018-01-01\"\nend = \"2020-01-01\"\n"
        ),
    );
    let mixed_sel = Selection {
        areas: vec![Area::Bbox(MONTANA_BBOX)],
        user_keys: Some(BTreeSet::from([key_of("=HYPERLINK(1)"), gyllen])),
        dates: vec![
            (ms_of("2015-01-01T00:00:00Z"), ms_of("2016-06-01T12:00:00Z")),
            (ms_of("2018-01-01T00:00:00Z"), ms_of("2020-01-01T00:00:00Z")),
        ],
    };

    let out = tmp.path().join("out");
    let output = common::run(
        &[
            "run",
            tutorial_job.to_str().unwrap(),
            keys_job.to_str().unwrap(),
            mixed_job.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--api-url",
            &server.v3_url(),
        ],
        &[("MAPILLARY_CLIENT_ID", &client_id)],
    );
    assert_ok(&output);

    for (name, selection) in [
        ("tutorial", &tutorial_sel),
        ("keys", &keys_sel),
        ("mixed", &mixed_sel),
    ] {
        // The filter does select something, and not everything.
        let everything = Selection {
            areas: selection.areas.clone(),
            user_keys: None,
            dates: Vec::new(),
        };
        assert!(selection.images(&world).len() < everything.images(&world).len());
        assert!(selection.sequences(&world).len() < everything.sequences(&world).len());
        assert_geojson_equals_truth(&out.join(name), &world, selection);
    }

    // The API ignores dates for sequences: the tutorial's user has sequences in the box outside
    // the year, which the tool itself left out and counted.
    let undated = Selection {
        dates: Vec::new(),
        areas: tutorial_sel.areas.clone(),
        user_keys: tutorial_sel.user_keys.clone(),
    };
    let outside_year = undated.sequences(&world).len() - tutorial_sel.sequences(&world).len();
    assert!(outside_year > 0, "the world must test the date filter");
    let manifest = read_json(&out.join("tutorial/manifest.json"));
    assert_eq!(
        manifest["summary"]["resources"]["sequences"]["filtered"]["date"],
        outside_year
    );
    // ...and the Japanese name came through the user-key job.
    let images = read_json(&out.join("keys/images.geojson"));
    assert!(
        images["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["properties"]["username"] == "東京マッパー")
    );
    server.shutdown();
}
