#![allow(clippy::unwrap_used)]
//! The GeoPackage sink: the layers of an export share one `<name>.gpkg`, written interleaved
//! from their own threads; the file is published only when every layer is finished; a plain
//! folder gets one file per layer; what no format can hold is rejected, an empty line is kept.

mod common;

use model::{Feature, Format, Geometry, Resource, Schema, Value};
use rusqlite::Connection;
use write::{ExportDir, WriteError, WriteOptions, Written};

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_layers_of_an_export_share_one_file_written_interleaved() {
    let out = tempfile::tempdir().unwrap();
    let export = ExportDir::create(out.path(), "job").unwrap();
    let formats = [Format::GeoPackage, Format::Csv];
    let options = WriteOptions::default();
    let mut lines = export
        .layer_writer(Resource::Sequences, &formats, &options)
        .unwrap();
    let mut points = export
        .layer_writer(Resource::SequencePoints, &formats, &options)
        .unwrap();
    let sequences = common::features(Resource::Sequences);
    let vertices = common::features(Resource::SequencePoints);
    // Many rounds, so that both threads insert at the same time.
    let rounds = 200;
    for _ in 0..rounds {
        for feature in &vertices {
            points.write(feature.clone()).unwrap();
        }
        for feature in &sequences {
            lines.write(feature.clone()).unwrap();
        }
    }
    // The lines finish while the points are still open, then the points.
    let mut layers = vec![lines.finish().unwrap(), points.finish().unwrap()];
    export.update_sizes(&mut layers).unwrap();
    let size = std::fs::metadata(export.path().join("job.gpkg"))
        .unwrap()
        .len();
    for layer in &layers {
        assert_eq!(layer.outputs[0].format, Some(Format::GeoPackage));
        assert_eq!(layer.outputs[0].files, vec![("job.gpkg".into(), size)]);
    }
    let dir = export.commit(&serde_json::json!({})).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "job.gpkg",
            "manifest.json",
            "sequence_points.csv",
            "sequences.csv"
        ]
    );
    let conn = Connection::open(dir.join("job.gpkg")).unwrap();
    let want = [
        ("sequences", sequences.len() * rounds),
        ("sequence_points", vertices.len() * rounds),
    ];
    for (table, n) in want {
        let n = n as i64;
        assert_eq!(count(&conn, &format!("SELECT count(*) FROM {table}")), n);
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM rtree_{table}_geom")),
            n
        );
        assert_eq!(
            count(
                &conn,
                &format!(
                    "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = '{table}'"
                )
            ),
            n
        );
    }
    // Each layer's rows are in its own write order.
    let idx: Vec<i64> = conn
        .prepare("SELECT idx FROM sequence_points ORDER BY fid LIMIT ?1")
        .unwrap()
        .query_map([vertices.len() as i64], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want_idx: Vec<i64> = vertices
        .iter()
        .map(|f| match f.values[1] {
            Value::Int(i) => i,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(idx, want_idx);
}

#[test]
fn an_unfinished_layer_fails_the_commit_and_nothing_is_published() {
    let out = tempfile::tempdir().unwrap();
    let export = ExportDir::create(out.path(), "job").unwrap();
    let options = WriteOptions::default();
    let mut images = export
        .layer_writer(Resource::Images, &[Format::GeoPackage], &options)
        .unwrap();
    for feature in common::features(Resource::Images) {
        images.write(feature).unwrap();
    }
    let error = export.commit(&serde_json::json!({})).unwrap_err();
    assert!(
        matches!(error, WriteError::SinkOrder { ref path, .. } if path.ends_with("job.gpkg")),
        "{error}"
    );
    assert!(!out.path().join("job").exists());
    drop(images);
}

fn line(id: &str, positions: Vec<[f64; 2]>) -> Feature {
    let schema = Schema::of(Resource::Sequences);
    let mut values = vec![Value::Null; schema.fields.len()];
    values[0] = Value::Text(id.to_owned());
    Feature {
        id: id.to_owned(),
        geometry: Geometry::LineString(positions),
        values,
        extra: Vec::new(),
    }
}

#[test]
fn a_plain_folder_gets_a_file_per_layer_and_only_what_no_format_holds_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let features = [
        line("two", vec![[1.0, 2.0], [3.0, 4.0]]),
        line("one", vec![[5.0, 6.0]]),
        line("empty", Vec::new()),
        line("bad", vec![[f64::NAN, 1.0], [2.0, 3.0]]),
    ];
    let (written, summary) = common::write_layer(
        Format::GeoPackage,
        dir.path(),
        Resource::Sequences,
        &features,
        &WriteOptions::default(),
    );
    // A line without positions is refused by every format alike (`unfit_reason`).
    assert_eq!(
        written[..3],
        [
            Written::Complete,
            Written::Complete,
            Written::Rejected("is a line without positions".into())
        ]
    );
    assert!(matches!(&written[3], Written::Rejected(r) if r.contains("non-finite")));
    assert_eq!(summary.features, 2);
    let file = dir.path().join("sequences.gpkg");
    assert_eq!(
        summary.files,
        vec![(
            "sequences.gpkg".into(),
            std::fs::metadata(&file).unwrap().len()
        )]
    );
    let conn = Connection::open(&file).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM sequences"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM rtree_sequences_geom"), 2);
    let extent: (f64, f64, f64, f64) = conn
        .query_row(
            "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(extent, (1.0, 2.0, 5.0, 6.0));
    // A missing vertex array is NULL, not an empty string.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sequences WHERE image_keys IS NULL"
        ),
        2
    );
}
