#![allow(clippy::unwrap_used)]
//! LayerWriter: every format gets every feature, in parallel, and the counts add up.

mod common;

use model::{Feature, Format, Geometry, Image, Resource};
use write::{LayerWriter, WriteError, WriteOptions};

const TEXT_FORMATS: [Format; 3] = [Format::GeoJson, Format::Gpx, Format::Csv];

#[test]
fn writes_every_format_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    // More than two batches, so full batches, a partial one and the channel are all used.
    let n = 2 * 1024 + 17;
    let mut layer = LayerWriter::new(
        dir.path(),
        Resource::Images,
        &TEXT_FORMATS,
        &WriteOptions::default(),
    )
    .unwrap();
    for i in 0..n {
        let lon = -180.0 + (i as f64) * 0.01;
        layer
            .write(Image::new(format!("k{i}"), lon, 45.0).to_feature())
            .unwrap();
    }
    // One feature every format rejects: a line in a point layer.
    layer
        .write(Feature {
            geometry: Geometry::LineString(vec![[0.0, 0.0], [1.0, 1.0]]),
            id: "bad".into(),
            ..Image::new("bad", 0.0, 0.0).to_feature()
        })
        .unwrap();
    let summary = layer.finish().unwrap();
    assert_eq!(summary.features, n as u64 + 1);
    assert_eq!(summary.outputs.len(), 3);
    for (output, format) in summary.outputs.iter().zip(TEXT_FORMATS) {
        assert_eq!(output.format, Some(format));
        assert_eq!(output.features, n as u64);
        let (file, bytes) = &output.files[0];
        assert_eq!(
            std::fs::metadata(dir.path().join(file)).unwrap().len(),
            *bytes
        );
    }
    assert_eq!(summary.rejected_total, 3);
    let rejected: Vec<_> = summary
        .rejected
        .iter()
        .map(|r| (r.format, r.id.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            (Format::GeoJson, "bad"),
            (Format::Gpx, "bad"),
            (Format::Csv, "bad")
        ]
    );
    assert_eq!(summary.truncated_total, 0);

    let csv = std::fs::read_to_string(dir.path().join("images.csv")).unwrap();
    assert_eq!(csv.lines().count(), n + 1);
    let gpx = std::fs::read_to_string(dir.path().join("images.gpx")).unwrap();
    assert_eq!(gpx.matches("<wpt ").count(), n);
    let geojson: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("images.geojson")).unwrap()).unwrap();
    let features = geojson["features"].as_array().unwrap();
    assert_eq!(features.len(), n);
    // Order is kept.
    assert_eq!(features[n - 1]["properties"]["key"], format!("k{}", n - 1));

    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["resource"], "images");
    assert_eq!(json["outputs"][2]["format"], "csv");
    assert_eq!(json["rejected"][1]["format"], "gpx");
}

#[test]
fn replaced_characters_are_counted_as_altered() {
    let dir = tempfile::tempdir().unwrap();
    let mut layer = LayerWriter::new(
        dir.path(),
        Resource::Images,
        &[Format::Gpx],
        &WriteOptions::default(),
    )
    .unwrap();
    for feature in common::features(Resource::Images) {
        layer.write(feature).unwrap();
    }
    let summary = layer.finish().unwrap();
    assert_eq!(summary.truncated_total, 1);
    assert_eq!(summary.truncated[0].id, "=HYPERLINK(1)");
    assert!(summary.truncated[0].reason.contains("organization_key"));
}

#[test]
fn a_failing_format_stops_the_layer_and_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut layer = LayerWriter::new(
        dir.path(),
        Resource::Images,
        &[Format::GeoJson],
        &WriteOptions::default(),
    )
    .unwrap();
    // /dev/full is not reachable through the sink; an unwritable folder is: files are opened
    // up front, so an error here comes from opening.
    drop(layer.write(Image::new("a", 0.0, 0.0).to_feature()));
    layer.finish().unwrap();
    let missing = dir.path().join("no/such/folder");
    let error = LayerWriter::new(
        &missing,
        Resource::Images,
        &[Format::Csv],
        &WriteOptions::default(),
    )
    .err()
    .unwrap();
    match error {
        WriteError::Io { path, .. } => assert_eq!(path, missing.join("images.csv")),
        other => panic!("unexpected {other}"),
    }
}
