//! GeoPackage, issue 17: the demo export's `demo.gpkg` read back with SQLite itself, as QGIS
//! reads it. Every value of every layer equals the GeoJSON's; the R-tree answers a bbox query
//! with the right features; the metadata (application id, version, extents, counts, JSON
//! columns) is what readers expect; a deletion keeps the R-tree and the count in sync; no
//! journal file is left; the manifest lists the file under each layer with its count.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use model::{FieldKind, Resource, Schema};
use rusqlite::Connection;
use rusqlite::types::Value as Sql;
use serde_json::Value as Json;

/// The layers of the demo export (a v3 job: no map features).
const DEMO_LAYERS: [Resource; 3] = [
    Resource::Images,
    Resource::Sequences,
    Resource::SequencePoints,
];

/// Decodes our GeoPackage geometry blob: checks the header, returns the WKB's positions.
fn positions(blob: &[u8]) -> Vec<[f64; 2]> {
    assert_eq!(&blob[..3], b"GP\x00", "magic and version");
    assert_eq!(i32::from_le_bytes(blob[4..8].try_into().unwrap()), 4326);
    let f64_at = |at: usize| f64::from_le_bytes(blob[at..at + 8].try_into().unwrap());
    let wkb = if blob[3] == 0b11 { 40 } else { 8 };
    assert_eq!(blob[wkb], 1, "little-endian WKB");
    let kind = u32::from_le_bytes(blob[wkb + 1..wkb + 5].try_into().unwrap());
    let (count, start) = match kind {
        1 => (1, wkb + 5),
        2 => (
            u32::from_le_bytes(blob[wkb + 5..wkb + 9].try_into().unwrap()) as usize,
            wkb + 9,
        ),
        other => panic!("WKB type {other}"),
    };
    assert_eq!(blob.len(), start + 16 * count, "no trailing bytes");
    let points: Vec<[f64; 2]> = (0..count)
        .map(|i| [f64_at(start + 16 * i), f64_at(start + 16 * i + 8)])
        .collect();
    if blob[3] == 0b11 {
        let envelope = [f64_at(8), f64_at(16), f64_at(24), f64_at(32)];
        let xs = points.iter().map(|p| p[0]);
        let ys = points.iter().map(|p| p[1]);
        let want = [
            xs.clone().fold(f64::INFINITY, f64::min),
            xs.fold(f64::NEG_INFINITY, f64::max),
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(f64::NEG_INFINITY, f64::max),
        ];
        assert_eq!(envelope, want, "envelope [minx, maxx, miny, maxy]");
    }
    points
}

/// A GeoJSON geometry's positions.
fn geojson_positions(geometry: &Json) -> Vec<[f64; 2]> {
    let position = |p: &Json| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()];
    match geometry["type"].as_str().unwrap() {
        "Point" => vec![position(&geometry["coordinates"])],
        "LineString" => geometry["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(position)
            .collect(),
        other => panic!("{other}"),
    }
}

/// An SQLite value as the JSON value GeoJSON holds for a field of `kind`.
fn as_json(value: Sql, kind: FieldKind) -> Json {
    match (value, kind) {
        (Sql::Null, _) => Json::Null,
        (Sql::Text(s), FieldKind::Id | FieldKind::Text | FieldKind::Timestamp) => Json::from(s),
        (Sql::Integer(i), FieldKind::Integer) => Json::from(i),
        (Sql::Integer(i), FieldKind::Bool) => {
            assert!(i == 0 || i == 1, "boolean {i}");
            Json::from(i == 1)
        }
        (Sql::Real(f), FieldKind::Float) => Json::from(f),
        (other, kind) => panic!("{other:?} stored for a {kind:?} field"),
    }
}

/// Every row of `resource`'s table in fid order: (fid, positions, properties as JSON).
fn rows(conn: &Connection, resource: Resource) -> Vec<(i64, Vec<[f64; 2]>, Vec<Json>)> {
    let schema = Schema::of(resource);
    let columns: Vec<String> = schema
        .fields
        .iter()
        .map(|f| f.name)
        .chain(schema.vertex_arrays.iter().copied())
        .map(|name| format!("\"{name}\""))
        .collect();
    let sql = format!(
        "SELECT fid, geom, {} FROM \"{}\" ORDER BY fid",
        columns.join(", "),
        resource.stem()
    );
    let mut statement = conn.prepare(&sql).unwrap();
    let mut result = Vec::new();
    let mut query = statement.query([]).unwrap();
    while let Some(row) = query.next().unwrap() {
        let blob: Vec<u8> = row.get(1).unwrap();
        let mut values = Vec::new();
        for (i, field) in schema.fields.iter().enumerate() {
            values.push(as_json(row.get(2 + i).unwrap(), field.kind));
        }
        for i in 0..schema.vertex_arrays.len() {
            let text: Option<String> = row.get(2 + schema.fields.len() + i).unwrap();
            values.push(text.map_or(Json::Null, |t| serde_json::from_str(&t).unwrap()));
        }
        result.push((row.get(0).unwrap(), positions(&blob), values));
    }
    result
}

/// The GeoJSON layer as (positions, the same properties as [`rows`]), in file order.
fn geojson_rows(dir: &Path, resource: Resource) -> Vec<(Vec<[f64; 2]>, Vec<Json>)> {
    let schema = Schema::of(resource);
    let text = std::fs::read_to_string(dir.join(format!("{}.geojson", resource.stem()))).unwrap();
    let doc: Json = serde_json::from_str(&text).unwrap();
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let properties = &f["properties"];
            let mut values: Vec<Json> = schema
                .fields
                .iter()
                .map(|field| match (&properties[field.name], field.kind) {
                    // `270` and `270.0` are the same real number.
                    (Json::Number(n), FieldKind::Float) => Json::from(n.as_f64().unwrap()),
                    (other, _) => other.clone(),
                })
                .collect();
            for array in schema.vertex_arrays {
                values.push(properties[model::COORDINATE_PROPERTIES][*array].clone());
            }
            (geojson_positions(&f["geometry"]), values)
        })
        .collect()
}

#[test]
fn every_value_of_every_layer_reads_back_as_the_geojson_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::export_demo(tmp.path());
    let conn = Connection::open(dir.join("demo.gpkg")).unwrap();
    for resource in DEMO_LAYERS {
        let got = rows(&conn, resource);
        let want = geojson_rows(&dir, resource);
        assert!(!want.is_empty(), "{resource:?}");
        assert_eq!(got.len(), want.len(), "{resource:?} count");
        for (i, ((fid, positions, values), (want_positions, want_values))) in
            got.into_iter().zip(want).enumerate()
        {
            assert_eq!(fid, i as i64 + 1, "{resource:?} fids in write order");
            assert_eq!(positions, want_positions, "{resource:?} #{i} geometry");
            assert_eq!(values, want_values, "{resource:?} #{i} values");
        }
    }
    // The sequences' vertex arrays are really there, one entry per vertex.
    let arrays: Vec<(String, String)> = conn
        .prepare("SELECT image_keys, cas FROM sequences")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        arrays
            .iter()
            .all(|(k, c)| k.starts_with("[\"") && c.starts_with('['))
    );
}

#[test]
fn the_metadata_is_what_geopackage_readers_expect() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::export_demo(tmp.path());
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let journals: Vec<_> = names.iter().filter(|n| n.contains(".gpkg-")).collect();
    assert!(journals.is_empty(), "{journals:?}");
    let conn = Connection::open(dir.join("demo.gpkg")).unwrap();
    let one = |sql: &str| -> Sql { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(one("PRAGMA application_id"), Sql::Integer(0x4750_4B47));
    assert_eq!(one("PRAGMA user_version"), Sql::Integer(10200));
    assert_eq!(one("PRAGMA integrity_check"), Sql::Text("ok".into()));
    let srs: Vec<i64> = conn
        .prepare("SELECT srs_id FROM gpkg_spatial_ref_sys ORDER BY srs_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(srs, [-1, 0, 4326]);

    let manifest: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let size = std::fs::metadata(dir.join("demo.gpkg")).unwrap().len();
    for resource in DEMO_LAYERS {
        let table = resource.stem();
        let geojson = geojson_rows(&dir, resource);
        let count = geojson.len() as i64;
        let q = |sql: &str| one(&sql.replace("{t}", table));
        assert_eq!(q("SELECT count(*) FROM \"{t}\""), Sql::Integer(count));
        assert_eq!(
            q("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = '{t}'"),
            Sql::Integer(count),
            "{table}"
        );
        let all: Vec<[f64; 2]> = geojson.iter().flat_map(|(p, _)| p.clone()).collect();
        let min = |i: usize| all.iter().map(|p| p[i]).fold(f64::INFINITY, f64::min);
        let max = |i: usize| all.iter().map(|p| p[i]).fold(f64::NEG_INFINITY, f64::max);
        let extent: (f64, f64, f64, f64) = conn
            .query_row(
                "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?1 \
                 AND data_type = 'features' AND srs_id = 4326",
                [table],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(extent, (min(0), min(1), max(0), max(1)), "{table} extent");
        let geometry = match Schema::of(resource).geometry {
            model::GeometryType::Point => "POINT",
            model::GeometryType::LineString => "LINESTRING",
        };
        assert_eq!(
            q(
                "SELECT geometry_type_name || srs_id || z || m FROM gpkg_geometry_columns \
               WHERE table_name = '{t}' AND column_name = 'geom'"
            ),
            Sql::Text(format!("{geometry}432600"))
        );
        assert_eq!(
            q(
                "SELECT scope FROM gpkg_extensions WHERE table_name = '{t}' \
               AND column_name = 'geom' AND extension_name = 'gpkg_rtree_index'"
            ),
            Sql::Text("write-only".into())
        );
        // JSON columns are declared; nothing else is.
        let json_columns: Vec<String> = conn
            .prepare(
                "SELECT column_name FROM gpkg_data_columns WHERE table_name = ?1 \
                 AND mime_type = 'application/json' ORDER BY rowid",
            )
            .unwrap()
            .query_map([table], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(json_columns, Schema::of(resource).vertex_arrays, "{table}");

        let layer = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["resource"] == table)
            .unwrap();
        let output = layer["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["format"] == "gpkg")
            .unwrap();
        assert_eq!(output["features"], count, "{table} manifest count");
        assert_eq!(output["files"], serde_json::json!([["demo.gpkg", size]]));
        assert!(layer["truncated"].as_array().unwrap().is_empty());
    }
    assert_eq!(
        one("SELECT count(*) FROM gpkg_extensions WHERE extension_name = 'gpkg_schema'"),
        Sql::Integer(2)
    );
}

#[test]
fn the_r_tree_answers_a_bbox_query_and_a_deletion_keeps_it_and_the_count_in_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::export_demo(tmp.path());
    let conn = Connection::open(dir.join("demo.gpkg")).unwrap();
    // The west half of the campus box.
    let [min_x, min_y, max_x, max_y] = [-113.98937, 46.85699, -113.985, 46.86501];
    for resource in DEMO_LAYERS {
        let table = resource.stem();
        let inside =
            |p: &[f64; 2]| p[0] >= min_x && p[0] <= max_x && p[1] >= min_y && p[1] <= max_y;
        let near = |p: &[f64; 2]| {
            let e = 1e-5;
            p[0] >= min_x - e && p[0] <= max_x + e && p[1] >= min_y - e && p[1] <= max_y + e
        };
        let all = rows(&conn, resource);
        // A line's envelope meets the box when the box meets the line's bounding box.
        let meets = |points: &[[f64; 2]], test: &dyn Fn(&[f64; 2]) -> bool| {
            let lo = [
                points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min),
                points.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min),
            ];
            let hi = [
                points
                    .iter()
                    .map(|p| p[0])
                    .fold(f64::NEG_INFINITY, f64::max),
                points
                    .iter()
                    .map(|p| p[1])
                    .fold(f64::NEG_INFINITY, f64::max),
            ];
            let clamped = [lo[0].max(min_x).min(hi[0]), lo[1].max(min_y).min(hi[1])];
            test(&clamped)
        };
        let exact: BTreeSet<i64> = all
            .iter()
            .filter(|(_, p, _)| meets(p, &inside))
            .map(|(fid, _, _)| *fid)
            .collect();
        let loose: BTreeSet<i64> = all
            .iter()
            .filter(|(_, p, _)| meets(p, &near))
            .map(|(fid, _, _)| *fid)
            .collect();
        let found: BTreeSet<i64> = conn
            .prepare(&format!(
                "SELECT id FROM rtree_{table}_geom WHERE maxx >= ?1 AND minx <= ?2 \
                 AND maxy >= ?3 AND miny <= ?4"
            ))
            .unwrap()
            .query_map([min_x, max_x, min_y, max_y], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!exact.is_empty() && exact.len() < all.len(), "{table}");
        // The R-tree stores 32-bit floats rounded outwards: it may add a feature within a
        // float's width of the box, never miss one.
        assert!(
            found.is_superset(&exact),
            "{table}: missed {:?}",
            &exact - &found
        );
        assert!(
            found.is_subset(&loose),
            "{table}: extra {:?}",
            &found - &loose
        );
        let indexed: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM rtree_{table}_geom"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, all.len() as i64, "{table}: every feature indexed");

        // A deletion (what an edit in QGIS does) goes through the triggers.
        let fid = *exact.first().unwrap();
        conn.execute(&format!("DELETE FROM \"{table}\" WHERE fid = ?1"), [fid])
            .unwrap();
        let (indexed_after, counted): (i64, i64) = conn
            .query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM rtree_{table}_geom), \
                     (SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = '{table}')"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (indexed_after, counted),
            (indexed - 1, indexed - 1),
            "{table}"
        );
    }
}
