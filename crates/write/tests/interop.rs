#![allow(clippy::unwrap_used)]
//! Interop: GDAL's `ogrinfo` reads every GeoJSON, Shapefile, CSV and GPX output with the exact
//! feature count and no warning, and `xmllint` validates every GPX against the GPX 1.1 schema.
//! The fixtures hold a one-vertex sequence and one whose vertices share a position: every format
//! has them, each as a valid line. Skipped loudly when the tools are missing, unless
//! `MLY_REQUIRE_INTEROP=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use model::{Format, Resource};
use write::{LayerWriter, WriteOptions};

/// Writes every fixture layer in every format; returns the folder.
fn outputs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for resource in Resource::ALL {
        let formats = [Format::GeoJson, Format::Gpx, Format::Csv, Format::Shapefile];
        let mut layer =
            LayerWriter::new(dir.path(), resource, &formats, &WriteOptions::default()).unwrap();
        for feature in common::features(resource) {
            layer.write(feature).unwrap();
        }
        layer.finish().unwrap();
    }
    dir
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

#[test]
fn gpx_outputs_are_valid_gpx_1_1() {
    if !common::require_tool("xmllint") {
        return;
    }
    let xsd = common::fixture("gpx11.xsd");
    let dir = outputs();
    for resource in Resource::ALL {
        let gpx = dir.path().join(format!("{}.gpx", resource.stem()));
        let text = run(Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&xsd)
            .arg(&gpx));
        assert!(text.contains(" validates"), "{text}");
    }
}

/// `Feature Count: N` of every layer in ogrinfo's summary, by layer name.
fn feature_counts(path: &PathBuf) -> Vec<(String, u64)> {
    let text = run(Command::new("ogrinfo")
        .arg("-ro")
        .arg("-al")
        .arg("-so")
        .arg(path));
    assert!(
        !text.contains("Warning") && !text.contains("ERROR"),
        "ogrinfo complained about {}:\n{text}",
        path.display()
    );
    let mut counts = Vec::new();
    let mut layer = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            layer = name.to_owned();
        }
        if let Some(n) = line.strip_prefix("Feature Count: ") {
            counts.push((layer.clone(), n.trim().parse().unwrap()));
        }
    }
    counts
}

#[test]
fn ogrinfo_reads_every_output_with_its_feature_count() {
    if !common::require_tool("ogrinfo") {
        return;
    }
    let dir = outputs();
    for resource in Resource::ALL {
        let n = common::features(resource).len() as u64;
        let path = |ext: &str| dir.path().join(format!("{}.{ext}", resource.stem()));
        let layer = resource.stem().to_owned();
        assert_eq!(feature_counts(&path("geojson")), [(layer.clone(), n)]);
        assert_eq!(feature_counts(&path("shp")), [(layer.clone(), n)]);
        assert_eq!(feature_counts(&path("csv")), [(layer, n)]);
        let gpx = feature_counts(&path("gpx"));
        let expected_layer = match resource {
            Resource::Sequences => "tracks",
            Resource::Images | Resource::SequencePoints | Resource::MapFeatures => "waypoints",
        };
        let count = gpx.iter().find(|(name, _)| name == expected_layer);
        assert_eq!(count, Some(&(expected_layer.to_owned(), n)), "{gpx:?}");
    }
}

/// The positions of every `LINESTRING (...)` GDAL prints for `path`'s features, in order (after
/// checking it printed no warning or error).
fn ogr_lines(path: &Path, options: &[&str]) -> Vec<Vec<[f64; 2]>> {
    let text = run(Command::new("ogrinfo")
        .args(["-ro", "-al", "-q"])
        .args(options)
        .arg(path));
    assert!(
        !text.contains("Warning") && !text.contains("ERROR"),
        "ogrinfo complained about {}:\n{text}",
        path.display()
    );
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("LINESTRING ("))
        .map(|body| {
            body.trim_end_matches(')')
                .split(',')
                .map(|p| {
                    let (lon, lat) = p.trim().split_once(' ').unwrap();
                    [lon.parse().unwrap(), lat.parse().unwrap()]
                })
                .collect()
        })
        .collect()
}

/// Issue 14: a one-vertex sequence and one whose vertices share a position are rows in every
/// format, each a valid line there: GeoJSON and WKT lines with at least two positions (RFC 7946
/// 3.1.4, OGC WKT), a Shapefile PolyLine whose part has two points or more, a GPX track with
/// one `<trkpt>` per real vertex; the per-vertex layer has one point per real vertex.
#[test]
fn degenerate_sequences_are_valid_lines_in_every_format() {
    if !common::require_tool("ogrinfo") {
        return;
    }
    let dir = outputs();
    let sequences = common::sequences();
    let keys: Vec<&str> = sequences.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys[1..], ["one", "same"]);
    let want: Vec<Vec<[f64; 2]>> = sequences
        .iter()
        .map(|s| common::written_line(&s.coordinates))
        .collect();
    assert_eq!(
        want[1],
        [[13.4, 52.5]; 2],
        "the one-vertex line, its position twice"
    );
    assert_eq!(
        want[2],
        [[-0.1276, 51.5072]; 3],
        "the repeated position, as it is"
    );
    let path = |ext: &str| dir.path().join(format!("sequences.{ext}"));

    // GeoJSON, read by our own eyes (RFC 7946: two or more positions) and by GDAL.
    let text = std::fs::read_to_string(path("geojson")).unwrap();
    let collection: serde_json::Value = serde_json::from_str(&text).unwrap();
    let features = collection["features"].as_array().unwrap();
    assert_eq!(features.len(), sequences.len());
    for (feature, want) in features.iter().zip(&want) {
        assert_eq!(feature["geometry"]["type"], "LineString");
        let coordinates = feature["geometry"]["coordinates"].as_array().unwrap();
        assert!(coordinates.len() >= 2, "{feature}");
        assert_eq!(coordinates.len(), want.len());
    }
    // Its per-vertex properties stay one per real vertex.
    assert_eq!(
        features[1]["properties"]["coordinateProperties"]["image_keys"],
        serde_json::json!(["only"])
    );
    assert_eq!(ogr_lines(&path("geojson"), &[]), want);
    assert_eq!(ogr_lines(&path("shp"), &[]), want);
    assert_eq!(
        ogr_lines(&path("csv"), &["-oo", "GEOM_POSSIBLE_NAMES=WKT"]),
        want
    );

    // GPX: one track per sequence, one point per real vertex.
    let gpx = feature_counts(&path("gpx"));
    let vertices: usize = sequences.iter().map(|s| s.coordinates.len()).sum();
    assert!(
        gpx.contains(&("tracks".to_owned(), sequences.len() as u64)),
        "{gpx:?}"
    );
    assert!(
        gpx.contains(&("track_points".to_owned(), vertices as u64)),
        "{gpx:?}"
    );
    // The per-vertex layer: one point per real vertex in every format.
    let points = |ext: &str| dir.path().join(format!("sequence_points.{ext}"));
    for ext in ["geojson", "shp", "csv"] {
        assert_eq!(
            feature_counts(&points(ext)),
            [("sequence_points".to_owned(), vertices as u64)],
            "sequence_points.{ext}"
        );
    }
}
