//! Helpers shared by the write crate's integration tests: external tool lookup and fixtures.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use model::{Feature, Format, Image, MapFeature, Resource, Schema, Sequence, SequencePoint};
use write::{SinkSummary, WriteOptions, Written, open_sink};

/// True when the command-line tool `name` can be run. When it cannot: panics if
/// `MLY_REQUIRE_INTEROP=1` (CI), otherwise prints a loud SKIPPED line to stderr and returns false.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success() || !out.stdout.is_empty());
    if found {
        return true;
    }
    if std::env::var("MLY_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{name} not found and MLY_REQUIRE_INTEROP=1");
    }
    eprintln!("SKIPPED: {name} not found (set MLY_REQUIRE_INTEROP=1 to require it)");
    false
}

/// A file of `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn text(properties: &serde_json::Value, key: &str) -> Option<String> {
    properties[key].as_str().map(str::to_owned)
}

/// The images of the real v3 response `v3-images.json` (CC BY-SA 4.0, see fixtures/SOURCES.md).
pub fn real_images() -> Vec<Image> {
    let page: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("v3-images.json")).unwrap()).unwrap();
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let c = &f["geometry"]["coordinates"];
            Image {
                key: text(p, "key").unwrap(),
                lon: c[0].as_f64().unwrap(),
                lat: c[1].as_f64().unwrap(),
                ca: p["ca"].as_f64(),
                camera_make: text(p, "camera_make"),
                camera_model: text(p, "camera_model"),
                captured_at: text(p, "captured_at"),
                pano: p["pano"].as_bool(),
                sequence_key: text(p, "sequence_key"),
                user_key: text(p, "user_key"),
                username: text(p, "username"),
                organization_key: text(p, "organization_key"),
                computed_position: None,
                computed_ca: None,
                url: text(p, "key").map(|k| format!("https://www.mapillary.com/map/im/{k}")),
                extra: Vec::new(),
            }
        })
        .collect()
}

/// The sequence of the real v3 response `v3-sequences.geojson`; its `username` goes to `extra`.
pub fn real_sequence() -> Sequence {
    let page: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("v3-sequences.geojson")).unwrap()).unwrap();
    let f = &page["features"][0];
    let p = &f["properties"];
    let cp = &p["coordinateProperties"];
    Sequence {
        key: text(p, "key").unwrap(),
        coordinates: f["geometry"]["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()])
            .collect(),
        cas: cp["cas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64())
            .collect(),
        image_keys: cp["image_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        camera_make: text(p, "camera_make"),
        captured_at: text(p, "captured_at"),
        created_at: text(p, "created_at"),
        pano: p["pano"].as_bool(),
        user_key: text(p, "user_key"),
        url: cp["image_keys"][0]
            .as_str()
            .map(|k| format!("https://www.mapillary.com/map/im/{k}")),
        extra: vec![("username".to_owned(), p["username"].clone())],
    }
}

/// Images: the real one, then hostile ones (non-Latin name, quotes and commas, formulas, XML
/// metacharacters, a control character, nulls, the corner of the map, an invalid timestamp).
pub fn images() -> Vec<Image> {
    let mut images = real_images();
    images.push(Image {
        camera_make: Some("Foo, \"Bar\" Inc.".into()),
        captured_at: Some("1970-01-01T00:00:00.000Z".into()),
        pano: Some(true),
        username: Some("東京マッパー".into()),
        computed_position: Some([-179.999999999, 89.9999999995]),
        computed_ca: Some(359.99999),
        url: Some("https://www.mapillary.com/app/?pKey=k2".into()),
        extra: vec![("quality_score".into(), serde_json::json!(0.5))],
        ..Image::new("k2", 180.0, -90.0)
    });
    images.push(Image {
        ca: Some(0.1),
        camera_model: Some("A<&>'B\r\nC".into()),
        captured_at: Some("2019-02-29T00:00:00Z".into()),
        sequence_key: Some("=HYPERLINK(1)".into()),
        username: Some("=HYPERLINK(1)".into()),
        organization_key: Some("bell\u{7}".into()),
        computed_position: Some([-179.5, 90.0]),
        url: Some("https://example.org/?a=1&b=\"<x>\"".into()),
        ..Image::new("=HYPERLINK(1)", -179.5, 89.999999)
    });
    images
}

/// Sequences: the real five-vertex one, a one-vertex line and a line whose three vertices share
/// one position (both real: a one-image sequence, a camera that stood still).
pub fn sequences() -> Vec<Sequence> {
    vec![
        real_sequence(),
        Sequence {
            key: "one".into(),
            coordinates: vec![[13.4, 52.5]],
            cas: vec![None],
            image_keys: vec![Some("only".into())],
            camera_make: Some("-minus".into()),
            ..Sequence::default()
        },
        Sequence {
            key: "same".into(),
            coordinates: vec![[-0.1276, 51.5072]; 3],
            cas: vec![Some(90.0), None, Some(270.5)],
            image_keys: vec![Some("s0".into()), Some("s1".into()), Some("s2".into())],
            ..Sequence::default()
        },
    ]
}

/// The positions a line format holds for `line`: its own, a one-vertex line's position twice.
pub fn written_line(line: &[[f64; 2]]) -> Vec<[f64; 2]> {
    match line {
        [only] => vec![*only, *only],
        _ => line.to_vec(),
    }
}

/// The exploded points of [`sequences`].
pub fn sequence_points() -> Vec<SequencePoint> {
    sequences()
        .iter()
        .flat_map(|s| s.explode().collect::<Vec<_>>())
        .collect()
}

/// Map features: a full one, one with nothing but its id and position, and a hostile one
/// (XML metacharacters, a time that is no time, a long numeric id).
pub fn map_features() -> Vec<MapFeature> {
    vec![
        MapFeature {
            object_type: Some("traffic_sign".into()),
            object_value: Some("regulatory--stop--g1".into()),
            first_seen_at: Some("2016-01-17T13:05:47.540Z".into()),
            last_seen_at: Some("2021-05-04T12:34:56.000Z".into()),
            ..MapFeature::new("498219774672583", -113.9843751, 46.8613281)
        },
        MapFeature::new("1", 0.0, 0.0),
        MapFeature {
            object_type: Some("point".into()),
            object_value: Some("object--<&>\"'".into()),
            last_seen_at: Some("soon".into()),
            ..MapFeature::new("1234567890123456789", 179.9999999, -89.9999999)
        },
    ]
}

/// The features of a layer's fixtures.
pub fn features(resource: Resource) -> Vec<Feature> {
    match resource {
        Resource::Images => images().iter().map(Image::to_feature).collect(),
        Resource::Sequences => sequences().iter().map(Sequence::to_feature).collect(),
        Resource::SequencePoints => sequence_points().iter().map(|p| p.to_feature()).collect(),
        Resource::MapFeatures => map_features()
            .into_iter()
            .map(MapFeature::into_feature)
            .collect(),
    }
}

/// Writes `features` as one layer in one format through its sink; returns each outcome and the
/// summary.
pub fn write_layer(
    format: Format,
    dir: &Path,
    resource: Resource,
    features: &[Feature],
    options: &WriteOptions,
) -> (Vec<Written>, SinkSummary) {
    let mut sink = open_sink(format, dir, resource, options).unwrap();
    sink.begin(Schema::of(resource)).unwrap();
    let written = features.iter().map(|f| sink.write(f).unwrap()).collect();
    (written, sink.finish().unwrap())
}

/// The file extension of a format (a shapefile: its `.shp`).
pub fn extension(format: Format) -> &'static str {
    match format {
        Format::GeoJson => "geojson",
        Format::Gpx => "gpx",
        Format::Csv => "csv",
        Format::Shapefile => "shp",
        Format::GeoPackage => "gpkg",
    }
}
