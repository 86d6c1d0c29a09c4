//! End to end, issue 6's `convert` (its behaviour, not its speed) and issue 8's path rules for
//! it: the real binary on real v3 API responses (`tests/fixtures/v3`, CC BY-SA 4.0), its
//! outputs compared with the inputs read here with serde_json.
//!
//! - Every format of every layer is written; keys, coordinates and properties equal the input;
//!   sequences are exploded into one point per vertex with their `image_keys` and `cas`.
//! - Features shared by two inputs are written once.
//! - `--formats csv,gpx` writes those formats only.
//! - Bad inputs (not JSON, not a FeatureCollection, a feature without geometry or key, a missing
//!   file) are reported on stderr with the file name (and the index of a feature without key);
//!   the good features are still written and the exit code is 1.
//! - `--out` naming a folder that is not an export, or a symlink, is refused and left as it is.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const IMAGE_FILES: [&str; 2] = [
    "pymapillary-search_images_example.json",
    "josm-searchImages.json",
];
const SEQUENCE_FILES: [&str; 3] = [
    "josm-searchSequences.json",
    "josm-searchSequencesTicket20211Area1.geojson",
    "pymapillary-search_sequences_example.json",
];
const DATA_FILES: [(&str, &[&str]); 4] = [
    ("geojson", &["geojson"]),
    ("shapefile", &["shp", "shx", "dbf", "prj", "cpg"]),
    ("gpx", &["gpx"]),
    ("csv", &["csv"]),
];
const LAYERS: [&str; 3] = ["images", "sequences", "sequence_points"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v3")
        .join(name)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The features of the inputs, by key, first occurrence first: (images, sequences).
fn input_features(files: &[PathBuf]) -> (BTreeMap<String, Value>, BTreeMap<String, Value>) {
    let (mut images, mut sequences) = (BTreeMap::new(), BTreeMap::new());
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for feature in doc["features"].as_array().unwrap() {
            let key = feature["properties"]["key"].as_str().unwrap().to_owned();
            let target = match feature["geometry"]["type"].as_str().unwrap() {
                "Point" => &mut images,
                "LineString" => &mut sequences,
                other => panic!("unexpected geometry {other}"),
            };
            target.entry(key).or_insert_with(|| feature.clone());
        }
    }
    (images, sequences)
}

fn convert(inputs: &[PathBuf], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["convert"];
    args.extend(inputs.iter().map(|p| path_str(p)));
    args.extend(["--out", path_str(out)]);
    args.extend(extra);
    let output = common::run(&args, &[]);
    assert!(
        !common::stderr(&output).contains("panicked"),
        "{}",
        common::stderr(&output)
    );
    output
}

fn all_fixtures() -> Vec<PathBuf> {
    IMAGE_FILES
        .iter()
        .chain(SEQUENCE_FILES.iter())
        .map(|f| fixture(f))
        .collect()
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn expected_files(formats: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::from(["manifest.json".to_owned()]);
    for (format, extensions) in DATA_FILES {
        if formats.contains(&format) {
            for layer in LAYERS {
                for ext in extensions {
                    names.insert(format!("{layer}.{ext}"));
                }
            }
        }
    }
    names
}

/// Every input property is in the output with the same value; every other output property is
/// null (a declared field the API did not send), but `url`, the viewer link of the image (or
/// of the sequence's first image) in its v3 form.
fn assert_same_feature(what: &str, input: &Value, output: &Value) {
    assert_eq!(output["geometry"], input["geometry"], "{what}: geometry");
    let (inp, out) = (
        input["properties"].as_object().unwrap(),
        output["properties"].as_object().unwrap(),
    );
    for (name, value) in inp {
        assert_eq!(out.get(name), Some(value), "{what}: property {name}");
    }
    let image_key = input["properties"]["coordinateProperties"]["image_keys"]
        .get(0)
        .unwrap_or(&input["properties"]["key"]);
    let url = json!(format!(
        "https://www.mapillary.com/map/im/{}",
        image_key.as_str().unwrap()
    ));
    for (name, value) in out {
        if !inp.contains_key(name) {
            let expected = if name == "url" { &url } else { &Value::Null };
            assert_eq!(
                value, expected,
                "{what}: property {name} is not in the input"
            );
        }
    }
}

/// One expected sequence point: (seq_key, idx) -> (lon, lat, image_key, ca).
type Points = BTreeMap<(String, u64), ([f64; 2], String, Option<f64>)>;

fn expected_points(sequences: &BTreeMap<String, Value>) -> Points {
    let mut points = BTreeMap::new();
    for (key, sequence) in sequences {
        let coordinates = sequence["geometry"]["coordinates"].as_array().unwrap();
        let cp = &sequence["properties"]["coordinateProperties"];
        for (i, c) in coordinates.iter().enumerate() {
            let position = [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()];
            let image_key = cp["image_keys"][i].as_str().unwrap().to_owned();
            points.insert(
                (key.clone(), i as u64),
                (position, image_key, cp["cas"][i].as_f64()),
            );
        }
    }
    points
}

fn dbf_text(record: &shapefile::dbase::Record, field: &str) -> String {
    match record.get(field) {
        Some(shapefile::dbase::FieldValue::Character(Some(v))) => v.clone(),
        other => panic!("{field}: not a filled text field: {other:?}"),
    }
}

#[test]
fn real_v3_samples_convert_to_every_format_with_keys_and_properties_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("converted");
    let inputs = all_fixtures();
    let output = convert(&inputs, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        file_names(&out),
        expected_files(&["geojson", "shapefile", "gpx", "csv"])
    );
    let (images, sequences) = input_features(&inputs);
    assert_eq!((images.len(), sequences.len()), (3, 3));
    let points = expected_points(&sequences);

    // GeoJSON: keys, geometry and every property as the API sent them.
    let got = common::geojson_features(&out.join("images.geojson"), "key");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        images.keys().collect::<Vec<_>>()
    );
    for (key, feature) in &got {
        assert_same_feature(&format!("image {key}"), &images[key], feature);
    }
    let got = common::geojson_features(&out.join("sequences.geojson"), "key");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        sequences.keys().collect::<Vec<_>>()
    );
    for (key, feature) in &got {
        assert_same_feature(&format!("sequence {key}"), &sequences[key], feature);
    }

    // Sequences exploded: one point per vertex, in every format that has a point layer.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("sequence_points.geojson")).unwrap(),
    )
    .unwrap();
    let mut seen = BTreeSet::new();
    for feature in doc["features"].as_array().unwrap() {
        let p = &feature["properties"];
        let id = (
            p["seq_key"].as_str().unwrap().to_owned(),
            p["idx"].as_u64().unwrap(),
        );
        let (position, image_key, ca) = &points[&id];
        assert_eq!(
            feature["geometry"]["coordinates"],
            json!(position),
            "{id:?}"
        );
        assert_eq!(p["image_key"], json!(image_key), "{id:?}");
        assert_eq!(p["ca"].as_f64(), *ca, "{id:?}");
        assert!(seen.insert(id));
    }
    assert_eq!(seen.len(), points.len());

    // CSV: the same keys, positions and text.
    let mut reader = csv::Reader::from_path(out.join("images.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut keys = BTreeSet::new();
    for row in reader.records() {
        let row = row.unwrap();
        let key = row[column("key")].to_owned();
        let input = &images[&key];
        let coordinates = &input["geometry"]["coordinates"];
        assert_eq!(
            row[column("lon")].parse::<f64>().unwrap(),
            coordinates[0].as_f64().unwrap()
        );
        assert_eq!(
            row[column("lat")].parse::<f64>().unwrap(),
            coordinates[1].as_f64().unwrap()
        );
        for field in ["username", "captured_at", "user_key", "camera_make"] {
            let want = input["properties"][field].as_str().unwrap_or("");
            assert_eq!(&row[column(field)], want, "csv {key} {field}");
        }
        keys.insert(key);
    }
    assert_eq!(keys, images.keys().cloned().collect());
    let mut reader = csv::Reader::from_path(out.join("sequence_points.csv")).unwrap();
    let rows: BTreeSet<(String, u64, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].parse().unwrap(), r[2].to_owned())
        })
        .collect();
    let want: BTreeSet<(String, u64, String)> = points
        .iter()
        .map(|((s, i), (_, image_key, _))| (s.clone(), *i, image_key.clone()))
        .collect();
    assert_eq!(rows, want);
    let mut reader = csv::Reader::from_path(out.join("sequences.csv")).unwrap();
    let keys: BTreeSet<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(keys, sequences.keys().cloned().collect());

    // Shapefile: the same keys and positions.
    let mut reader = shapefile::Reader::from_path(out.join("images.shp")).unwrap();
    let mut keys = BTreeSet::new();
    for item in reader.iter_shapes_and_records() {
        let (shape, record) = item.unwrap();
        let key = dbf_text(&record, "key");
        let c = &images[&key]["geometry"]["coordinates"];
        let shapefile::Shape::Point(p) = shape else {
            panic!("images.shp: not a point")
        };
        assert_eq!((p.x, p.y), (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()));
        assert_eq!(
            dbf_text(&record, "username"),
            images[&key]["properties"]["username"].as_str().unwrap()
        );
        keys.insert(key);
    }
    assert_eq!(keys, images.keys().cloned().collect());
    let mut reader = shapefile::Reader::from_path(out.join("sequences.shp")).unwrap();
    let mut keys = BTreeSet::new();
    for item in reader.iter_shapes_and_records() {
        let (shape, record) = item.unwrap();
        let key = dbf_text(&record, "key");
        let shapefile::Shape::Polyline(line) = shape else {
            panic!("sequences.shp: not a polyline")
        };
        let want = sequences[&key]["geometry"]["coordinates"]
            .as_array()
            .unwrap();
        let got: Vec<_> = line.parts()[0].iter().map(|p| json!([p.x, p.y])).collect();
        assert_eq!(&got, want, "sequences.shp {key}");
        keys.insert(key);
    }
    assert_eq!(keys, sequences.keys().cloned().collect());
    let points_shp = shapefile::read(out.join("sequence_points.shp")).unwrap();
    assert_eq!(points_shp.len(), points.len());

    // GPX: a waypoint per image and per sequence point, a track per sequence, every key named.
    let gpx = std::fs::read_to_string(out.join("images.gpx")).unwrap();
    assert_eq!(gpx.matches("<wpt ").count(), images.len());
    for key in images.keys() {
        assert!(gpx.contains(key.as_str()), "images.gpx lacks {key}");
    }
    let gpx = std::fs::read_to_string(out.join("sequences.gpx")).unwrap();
    assert_eq!(gpx.matches("<trk>").count(), sequences.len());
    assert_eq!(gpx.matches("<trkpt ").count(), points.len());
    let gpx = std::fs::read_to_string(out.join("sequence_points.gpx")).unwrap();
    assert_eq!(gpx.matches("<wpt ").count(), points.len());

    // The manifest counts the same.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let counts: BTreeMap<String, u64> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["resource"].as_str().unwrap().to_owned(),
                l["features"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("images".to_owned(), images.len() as u64),
            ("sequences".to_owned(), sequences.len() as u64),
            ("sequence_points".to_owned(), points.len() as u64),
        ])
    );
}

#[test]
fn features_shared_by_two_inputs_are_written_once() {
    let tmp = tempfile::tempdir().unwrap();
    // A second saved page that repeats features of the first two (as overlapping searches do).
    let a: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(IMAGE_FILES[0])).unwrap()).unwrap();
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(IMAGE_FILES[1])).unwrap()).unwrap();
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(SEQUENCE_FILES[1])).unwrap())
            .unwrap();
    let overlap = json!({
        "type": "FeatureCollection",
        "features": [b["features"][1], a["features"][0], s["features"][0]],
    });
    let overlap_path = tmp.path().join("overlap.geojson");
    std::fs::write(&overlap_path, overlap.to_string()).unwrap();
    let inputs = vec![
        fixture(IMAGE_FILES[0]),
        fixture(IMAGE_FILES[1]),
        fixture(SEQUENCE_FILES[1]),
        overlap_path,
        fixture(IMAGE_FILES[0]),
    ];
    let out = tmp.path().join("deduped");
    let output = convert(&inputs, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let (images, sequences) = input_features(&inputs);
    for (layer, want) in [("images", &images), ("sequences", &sequences)] {
        let got = common::geojson_features(&out.join(format!("{layer}.geojson")), "key");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{layer}"
        );
        let mut reader = csv::Reader::from_path(out.join(format!("{layer}.csv"))).unwrap();
        assert_eq!(reader.records().count(), want.len(), "{layer}.csv");
    }
    let mut reader = csv::Reader::from_path(out.join("sequence_points.csv")).unwrap();
    assert_eq!(reader.records().count(), expected_points(&sequences).len());
}

#[test]
fn formats_flag_writes_only_those_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("two-formats");
    let output = convert(&all_fixtures(), &out, &["--formats", "csv,gpx"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(file_names(&out), expected_files(&["csv", "gpx"]));
    let output = convert(&all_fixtures(), &out, &["--formats", "csv,kml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(common::stderr(&output).contains("kml"));
    assert_eq!(file_names(&out), expected_files(&["csv", "gpx"]));
}

#[test]
fn bad_inputs_are_reported_by_file_and_the_good_features_still_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let not_json = dir.join("not-json.geojson");
    std::fs::write(&not_json, "this is not JSON\n").unwrap();
    let not_collection = fixture("pymapillary-search_users_example.json");
    let object = dir.join("object.geojson");
    std::fs::write(&object, r#"{"message": "rate limit"}"#).unwrap();
    let missing = dir.join("missing.geojson");
    // Real features with one broken each: the first without geometry, the third without key.
    let page: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(IMAGE_FILES[1])).unwrap()).unwrap();
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(IMAGE_FILES[0])).unwrap()).unwrap();
    let mut no_geometry = page["features"][0].clone();
    no_geometry.as_object_mut().unwrap().remove("geometry");
    let no_geometry_key = no_geometry["properties"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut no_key = page["features"][1].clone();
    no_key["properties"].as_object_mut().unwrap().remove("key");
    let mixed = dir.join("mixed.geojson");
    std::fs::write(
        &mixed,
        json!({"type": "FeatureCollection",
               "features": [no_geometry, good["features"][0], no_key]})
        .to_string(),
    )
    .unwrap();
    let sequences = fixture(SEQUENCE_FILES[0]);
    let inputs = vec![
        not_json.clone(),
        not_collection.clone(),
        object.clone(),
        missing.clone(),
        mixed.clone(),
        sequences.clone(),
    ];
    let out = dir.join("partial");
    let output = convert(&inputs, &out, &[]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines_naming = |path: &Path| -> Vec<&str> {
        stderr
            .lines()
            .filter(|l| l.contains(path_str(path)))
            .collect()
    };
    for bad in [&not_json, &not_collection, &object, &missing] {
        assert_eq!(
            lines_naming(bad).len(),
            1,
            "{bad:?} not reported once:\n{stderr}"
        );
    }
    assert!(
        lines_naming(&missing)[0].contains("cannot read"),
        "{stderr}"
    );
    let mixed_lines = lines_naming(&mixed);
    assert_eq!(mixed_lines.len(), 2, "{stderr}");
    assert!(
        mixed_lines.iter().any(|l| l.contains("feature #0 ")
            && l.contains(&no_geometry_key)
            && l.contains("geometry")),
        "{stderr}"
    );
    assert!(
        mixed_lines
            .iter()
            .any(|l| l.contains("feature #2 ") && l.contains("key")),
        "{stderr}"
    );
    assert!(lines_naming(&sequences).is_empty(), "{stderr}");
    assert!(stderr.contains("6 input problem(s)"), "{stderr}");

    // The good features: the one good image and the good file's sequence.
    let images = common::geojson_features(&out.join("images.geojson"), "key");
    let good_key = good["features"][0]["properties"]["key"].as_str().unwrap();
    assert_eq!(images.keys().collect::<Vec<_>>(), [good_key]);
    assert_same_feature("good image", &good["features"][0], &images[good_key]);
    let (_, want) = input_features(&[sequences]);
    let got = common::geojson_features(&out.join("sequences.geojson"), "key");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["input_errors"].as_array().unwrap().len(), 4);
    assert_eq!(manifest["transform"]["rejected_total"], json!(2));
}

#[test]
fn out_that_is_not_an_export_or_is_a_symlink_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inputs = vec![fixture(IMAGE_FILES[0])];

    // A folder of the user's, not an export.
    let theirs = dir.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
    let output = convert(&inputs, &theirs, &[]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not an mly-export"), "{stderr}");
    assert_eq!(
        file_names(&theirs),
        BTreeSet::from(["notes.txt".to_owned()])
    );
    assert_eq!(
        std::fs::read_to_string(theirs.join("notes.txt")).unwrap(),
        "mine"
    );

    // A symlink to that folder, and a symlink to a real export: both refused, both kept.
    let export = dir.join("export");
    let output = convert(&inputs, &export, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let export_files = file_names(&export);
    for (link, target) in [("link-theirs", &theirs), ("link-export", &export)] {
        let link = dir.join(link);
        std::os::unix::fs::symlink(target, &link).unwrap();
        let output = convert(&inputs, &link, &[]);
        assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    }
    assert_eq!(
        file_names(&theirs),
        BTreeSet::from(["notes.txt".to_owned()])
    );
    assert_eq!(file_names(&export), export_files);

    // An export is replaced as a whole; its neighbours survive.
    std::fs::write(dir.join("neighbour.txt"), "n").unwrap();
    let output = convert(
        &[fixture(SEQUENCE_FILES[0])],
        &export,
        &["--formats", "csv"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(file_names(&export), expected_files(&["csv"]));
    assert_eq!(
        std::fs::read_to_string(dir.join("neighbour.txt")).unwrap(),
        "n"
    );
}
