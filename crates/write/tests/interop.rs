#![allow(clippy::unwrap_used)]
//! Interop: GDAL's `ogrinfo` reads every GeoJSON, CSV and GPX output with the exact feature
//! count and no warning, and `xmllint` validates every GPX against the GPX 1.1 schema. Skipped
//! loudly when the tools are missing, unless `MLY_REQUIRE_INTEROP=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use model::{Format, Resource};
use write::{LayerWriter, WriteOptions};

/// Writes every fixture layer in the text formats; returns the folder.
fn outputs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for resource in Resource::ALL {
        let formats = [Format::GeoJson, Format::Gpx, Format::Csv];
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
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/gpx11.xsd");
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
