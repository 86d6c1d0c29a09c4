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

/// A seeded xorshift: the same features on every run, no dependency.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// In `[lo, hi)`, with all the digits a double has (so that f32 rounding matters).
    fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` lines, from one position (a zero-length line, a point's box) to a few, clustered in a
/// few towns and spread over the world, some on the same spot.
fn lines(n: usize, seed: u64) -> Vec<Feature> {
    let mut rng = Seeded(seed);
    let towns = [
        [-113.99, 46.87],
        [2.35, 48.85],
        [151.2, -33.86],
        [-0.001, 0.001],
    ];
    (0..n)
        .map(|i| {
            let [x, y] = match rng.next() % 8 {
                0 => [rng.float(-180.0, 180.0), rng.float(-90.0, 90.0)],
                1 => [46.5, 7.25],
                k => {
                    let [x, y] = towns[k as usize % towns.len()];
                    [x + rng.float(-0.05, 0.05), y + rng.float(-0.05, 0.05)]
                }
            };
            let positions = (0..1 + rng.next() % 3)
                .map(|_| [x + rng.float(0.0, 0.01), y - rng.float(0.0, 0.01)])
                .collect();
            line(&format!("s{i}"), positions)
        })
        .collect()
}

/// Each line's envelope as doubles, `[minx, maxx, miny, maxy]`; its fid is its place + 1.
fn envelopes(features: &[Feature]) -> Vec<[f64; 4]> {
    features
        .iter()
        .map(|f| match &f.geometry {
            Geometry::LineString(p) => p.iter().fold(
                [
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                ],
                |[a, b, c, d], [x, y]| [a.min(*x), b.max(*x), c.min(*y), d.max(*y)],
            ),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn fids(conn: &Connection, sql: &str, q: [f64; 4]) -> Vec<i64> {
    let mut ids: Vec<i64> = conn
        .prepare(sql)
        .unwrap()
        .query_map(q, |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids.sort();
    ids
}

/// Writes `n` lines to a GeoPackage and checks its bulk-loaded R-tree: SQLite's `rtreecheck`,
/// its depth, the very cells SQLite's own insert stores (a reference R-tree filled row by row),
/// and bbox queries against that reference and a brute-force scan of the envelopes.
fn check_rtree(n: usize, depth: u16) {
    let dir = tempfile::tempdir().unwrap();
    let features = lines(n, 0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let (written, summary) = common::write_layer(
        Format::GeoPackage,
        dir.path(),
        Resource::Sequences,
        &features,
        &WriteOptions::default(),
    );
    assert!(written.iter().all(|w| *w == Written::Complete));
    assert_eq!(summary.features, n as u64);
    let conn = Connection::open(dir.path().join("sequences.gpkg")).unwrap();
    let check: String = conn
        .query_row("SELECT rtreecheck('rtree_sequences_geom')", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(check, "ok", "{n} features");
    let root: Vec<u8> = conn
        .query_row(
            "SELECT data FROM rtree_sequences_geom_node WHERE nodeno = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // SQLite's node size on 4096-byte pages: 51 cells of 24 bytes and the 4-byte header.
    assert_eq!(root.len(), 4 + 51 * 24);
    assert_eq!(
        u16::from_be_bytes([root[0], root[1]]),
        depth,
        "{n} features"
    );
    // Nothing staged is left: not in the schema, not as free pages.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_master WHERE name LIKE '%stage%' OR name LIKE '%leaves%'"
        ),
        0
    );
    assert_eq!(count(&conn, "PRAGMA freelist_count"), 0);

    // The reference: the same envelopes inserted row by row by SQLite itself.
    let env = envelopes(&features);
    conn.execute_batch(
        "CREATE VIRTUAL TABLE temp.reference USING rtree(id, minx, maxx, miny, maxy)",
    )
    .unwrap();
    let mut insert = conn
        .prepare("INSERT INTO temp.reference VALUES (?1, ?2, ?3, ?4, ?5)")
        .unwrap();
    for (i, e) in env.iter().enumerate() {
        insert
            .execute(rusqlite::params![i as i64 + 1, e[0], e[1], e[2], e[3]])
            .unwrap();
    }
    let cells = |table: &str| -> Vec<(i64, f64, f64, f64, f64)> {
        conn.prepare(&format!("SELECT * FROM {table} ORDER BY id"))
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let ours = cells("rtree_sequences_geom");
    assert_eq!(ours.len(), n);
    // Bit for bit what SQLite stores: each min rounded down, each max up.
    assert!(ours == cells("temp.reference"), "{n} features");

    let mut rng = Seeded(n as u64 + 1);
    let by_index = |table: &str| {
        format!(
            "SELECT id FROM {table} WHERE minx <= ?2 AND maxx >= ?1 AND miny <= ?4 AND maxy >= ?3"
        )
    };
    for round in 0..200 {
        let q = if round % 2 == 0 {
            // Around a town, small to large.
            let (x, y) = (rng.float(-114.1, 2.4), rng.float(-33.9, 48.9));
            let (w, h) = (rng.float(0.0, 0.2), rng.float(0.0, 0.2));
            [x, x + w, y, y + h]
        } else {
            let (x, y) = (rng.float(-180.0, 180.0), rng.float(-90.0, 90.0));
            [x, x + rng.float(0.0, 90.0), y, y + rng.float(0.0, 45.0)]
        };
        let found = fids(&conn, &by_index("rtree_sequences_geom"), q);
        assert_eq!(found, fids(&conn, &by_index("temp.reference"), q), "{q:?}");
        let brute: Vec<i64> = (1..=n as i64)
            .filter(|&fid| {
                let e = env[fid as usize - 1];
                e[0] <= q[1] && e[1] >= q[0] && e[2] <= q[3] && e[3] >= q[2]
            })
            .collect();
        // The index never misses a feature, and its few extra candidates (boxes stored
        // rounded outwards) are exactly those the exact test then drops.
        let exact: Vec<i64> = found
            .iter()
            .copied()
            .filter(|&fid| brute.contains(&fid))
            .collect();
        assert_eq!(exact, brute, "{q:?}");
    }
}

#[test]
fn an_empty_layer_has_an_empty_root() {
    check_rtree(0, 0);
}

#[test]
fn one_feature_is_a_root_leaf() {
    check_rtree(1, 0);
}

#[test]
fn a_full_root_leaf_holds_51() {
    check_rtree(51, 0);
}

#[test]
fn one_more_than_a_node_holds_adds_a_level() {
    check_rtree(52, 1);
}

#[test]
fn thousands_of_features_make_a_three_level_tree() {
    // 51 * 51 + 1 needs a third level; 20,000 fills 393 leaves under 8 nodes under the root.
    check_rtree(51 * 51 + 1, 2);
    check_rtree(20_000, 2);
}
