//! Interop, issue 3: the demo export (`run jobs/demo.toml --mock`, what `make export` writes)
//! read by the tools GIS users have. GDAL's `ogrinfo` opens every output of every resource with
//! the exact feature count of the mock world's truth, the declared shapefile field types and no
//! warning; `xmllint` validates every GPX against the GPX 1.1 schema; and every username, the
//! Japanese `東京マッパー` and the one with quotes and a comma included, reads back intact from
//! the GeoJSON, the CSV, the DBF and the GPX extensions.
//!
//! Without `ogrinfo`/`xmllint` the tool tests print a loud SKIPPED line; with
//! `MLY_REQUIRE_INTEROP=1` (CI) a missing tool fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::truth::haversine_m;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use mock_api::{MockImage, World};
use model::{Resource, Schema};

const RESOURCES: [&str; 3] = ["images", "sequences", "sequence_points"];
/// The areas of jobs/demo.toml: the Montana campus box and the campus-east circle.
const MONTANA_BBOX: [f64; 4] = [-113.98937, 46.85699, -113.98002, 46.86501];
const CAMPUS_EAST: ([f64; 2], f64) = ([-113.9805, 46.8610], 300.0);
const TOKYO: &str = "東京マッパー";

// ---------------------------------------------------------------------------------------------
// The truth, with the test's own code.

fn in_demo_areas(lon: f64, lat: f64) -> bool {
    let b = MONTANA_BBOX;
    (lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3])
        || haversine_m(CAMPUS_EAST.0, [lon, lat]) <= CAMPUS_EAST.1
}

struct Truth {
    /// key → username of every exported image.
    usernames: BTreeMap<String, String>,
    images: usize,
    sequences: usize,
    /// Sequences with fewer than two distinct positions (zero-length lines in every format).
    zero_length: usize,
    vertices: usize,
}

fn truth(world: &World) -> Truth {
    let images: Vec<&MockImage> = world
        .images()
        .filter(|i| in_demo_areas(i.lon, i.lat))
        .collect();
    let mut usernames = BTreeMap::new();
    for i in &images {
        usernames.insert(i.key.clone(), i.username.clone());
    }
    let sequences: Vec<_> = world
        .sequences
        .iter()
        .filter(|s| s.images.iter().any(|i| in_demo_areas(i.lon, i.lat)))
        .collect();
    let zero_length = sequences
        .iter()
        .filter(|s| {
            s.images
                .iter()
                .all(|i| (i.lon, i.lat) == (s.images[0].lon, s.images[0].lat))
        })
        .count();
    Truth {
        images: usernames.len(),
        usernames,
        sequences: sequences.len(),
        zero_length,
        vertices: sequences.iter().map(|s| s.images.len()).sum(),
    }
}

// ---------------------------------------------------------------------------------------------
// ogrinfo.

/// One layer of an `ogrinfo -so` report.
#[derive(Debug, Default)]
struct OgrLayer {
    geometry: String,
    count: u64,
    /// `name: Type (width.precision)` lines, in order.
    fields: Vec<String>,
}

/// Runs `ogrinfo -ro -al [-so] [OPTIONS] FILE`; asserts success and no warning or error line;
/// returns the output.
fn run_ogrinfo(file: &Path, summary_only: bool, options: &[&str]) -> String {
    let output = Command::new("ogrinfo")
        .args(["-ro", "-al"])
        .args(summary_only.then_some("-so"))
        .args(options)
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{}: {text}", file.display());
    for line in text.lines() {
        assert!(
            !line.contains("Warning") && !line.contains("ERROR"),
            "{}: {line}",
            file.display()
        );
    }
    text
}

/// `ogrinfo -ro -al -so [OPTIONS] FILE` (no warning, no error) as layers by name; a full read of
/// every feature must not warn either.
fn ogrinfo(file: &Path, options: &[&str]) -> BTreeMap<String, OgrLayer> {
    run_ogrinfo(file, false, options);
    let text = run_ogrinfo(file, true, options);
    let mut layers = BTreeMap::new();
    let mut current: Option<(String, OgrLayer)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            if let Some((n, l)) = current.take() {
                layers.insert(n, l);
            }
            current = Some((name.trim().to_owned(), OgrLayer::default()));
            continue;
        }
        let Some((_, layer)) = current.as_mut() else {
            continue;
        };
        if let Some(g) = line.strip_prefix("Geometry: ") {
            layer.geometry = g.trim().to_owned();
        } else if let Some(c) = line.strip_prefix("Feature Count: ") {
            layer.count = c.trim().parse().unwrap();
        } else if let Some((name, kind)) = line.split_once(": ")
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && kind.ends_with(')')
            && kind.contains(" (")
            && !kind.starts_with('(')
        {
            layer.fields.push(line.trim().to_owned());
        }
    }
    if let Some((n, l)) = current {
        layers.insert(n, l);
    }
    layers
}

fn only_layer(layers: &BTreeMap<String, OgrLayer>, name: &str) -> (u64, String) {
    assert_eq!(layers.keys().collect::<Vec<_>>(), [name], "layers");
    (layers[name].count, layers[name].geometry.clone())
}

#[test]
fn ogrinfo_reads_every_output_with_the_exact_count_the_field_types_and_no_warning() {
    if !common::require_tool("ogrinfo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::export_demo(tmp.path());
    let t = truth(&World::demo());
    assert!(
        t.zero_length > 0,
        "the demo must have zero-length sequences"
    );

    // GeoJSON.
    let geojson = [
        ("images", t.images, "Point"),
        ("sequences", t.sequences, "Line String"),
        ("sequence_points", t.vertices, "Point"),
    ];
    for (resource, count, geometry) in geojson {
        let layers = ogrinfo(&dir.join(format!("{resource}.geojson")), &[]);
        assert_eq!(
            only_layer(&layers, resource),
            (count as u64, geometry.to_owned()),
            "{resource}.geojson"
        );
    }

    // Shapefiles: counts, geometry and the README's field table.
    let text = |name: &str, width: u32| format!("{name}: String ({width}.0)");
    let images_fields = vec![
        text("key", 40),
        "ca: Real (12.6)".to_owned(),
        text("cam_make", 80),
        text("cam_model", 80),
        text("captured", 24),
        text("pano", 1),
        text("seq_key", 40),
        text("user_key", 40),
        text("username", 80),
        text("org_key", 40),
        "cmp_lon: Real (15.9)".to_owned(),
        "cmp_lat: Real (15.9)".to_owned(),
        "cmp_ca: Real (12.6)".to_owned(),
        text("url", 80),
    ];
    let sequences_fields = vec![
        text("key", 40),
        text("cam_make", 80),
        text("captured", 24),
        text("created", 24),
        text("pano", 1),
        text("user_key", 40),
        text("url", 80),
    ];
    let points_fields = vec![
        text("seq_key", 40),
        "idx: Integer (9.0)".to_owned(),
        text("image_key", 40),
        "ca: Real (12.6)".to_owned(),
    ];
    let shapefiles = [
        ("images", t.images, "Point", images_fields),
        ("sequences", t.sequences, "Line String", sequences_fields),
        ("sequence_points", t.vertices, "Point", points_fields),
    ];
    for (resource, count, geometry, fields) in shapefiles {
        let layers = ogrinfo(&dir.join(format!("{resource}.shp")), &[]);
        assert_eq!(
            only_layer(&layers, resource),
            (count as u64, geometry.to_owned()),
            "{resource}.shp"
        );
        assert_eq!(layers[resource].fields, fields, "{resource}.shp fields");
    }
    // GDAL decodes the DBF's names as UTF-8 (the .cpg).
    let tokyo = t.usernames.values().filter(|u| *u == TOKYO).count();
    assert!(tokyo > 0);
    let features = run_ogrinfo(&dir.join("images.shp"), false, &[]);
    let line = format!("  username (String) = {TOKYO}");
    assert_eq!(features.lines().filter(|l| *l == line).count(), tokyo);

    // GPX: waypoints for points, one track per sequence with a point per vertex.
    let gpx = [
        ("images", t.images, 0, 0),
        ("sequences", 0, t.sequences, t.vertices),
        ("sequence_points", t.vertices, 0, 0),
    ];
    for (resource, waypoints, tracks, track_points) in gpx {
        let layers = ogrinfo(&dir.join(format!("{resource}.gpx")), &[]);
        let count = |layer: &str| layers[layer].count as usize;
        assert_eq!(count("waypoints"), waypoints, "{resource}.gpx waypoints");
        assert_eq!(count("tracks"), tracks, "{resource}.gpx tracks");
        assert_eq!(count("track_points"), track_points, "{resource}.gpx");
        assert_eq!(count("routes"), 0, "{resource}.gpx routes");
    }

    // CSV: QGIS-style coordinate detection for points, the WKT column for sequences.
    let xy = ["-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat"];
    let csv: [(&str, usize, &[&str]); 3] = [
        ("images", t.images, &xy),
        (
            "sequences",
            t.sequences,
            &["-oo", "GEOM_POSSIBLE_NAMES=WKT"],
        ),
        ("sequence_points", t.vertices, &xy),
    ];
    for (resource, count, options) in csv {
        let layers = ogrinfo(&dir.join(format!("{resource}.csv")), options);
        let (got, geometry) = only_layer(&layers, resource);
        assert_eq!(got, count as u64, "{resource}.csv");
        if resource == "sequences" {
            // A CSV layer declares no geometry type: every feature must be a line.
            let features = run_ogrinfo(&dir.join("sequences.csv"), false, options);
            let lines = features
                .lines()
                .filter(|l| l.trim_start().starts_with("LINESTRING ("))
                .count();
            assert_eq!(lines, count, "sequences.csv lines");
        } else {
            assert_eq!(geometry, "Point", "{resource}.csv");
        }
    }
}

/// What `ogrinfo` calls a field of `kind` in a GeoPackage.
fn gpkg_field_type(kind: model::FieldKind) -> &'static str {
    match kind {
        model::FieldKind::Id | model::FieldKind::Text => "String",
        model::FieldKind::Timestamp => "DateTime",
        // SQLite's INTEGER is 64 bits.
        model::FieldKind::Integer => "Integer64",
        model::FieldKind::Float => "Real",
        model::FieldKind::Bool => "Integer(Boolean)",
    }
}

/// GDAL's own GeoPackage validator, shipped by Debian's python3-gdal.
const VALIDATE_GPKG: &str = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py";

#[test]
fn ogrinfo_reads_every_layer_of_the_geopackage_with_its_count_type_fields_and_epsg_4326() {
    if !common::require_tool("ogrinfo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::export_demo(tmp.path());
    let file = dir.join("demo.gpkg");
    let t = truth(&World::demo());
    let layers = ogrinfo(&file, &[]);
    let want = [
        (Resource::Images, t.images, "Point"),
        (Resource::Sequences, t.sequences, "Line String"),
        (Resource::SequencePoints, t.vertices, "Point"),
    ];
    assert_eq!(layers.len(), want.len(), "{:?}", layers.keys());
    for (resource, count, geometry) in want {
        let name = resource.stem();
        let layer = &layers[name];
        assert_eq!(layer.count, count as u64, "{name} count");
        assert_eq!(layer.geometry, geometry, "{name} geometry");
        let schema = Schema::of(resource);
        let fields: Vec<String> = schema
            .fields
            .iter()
            .map(|f| format!("{}: {} (0.0)", f.name, gpkg_field_type(f.kind)))
            .chain(
                schema
                    .vertex_arrays
                    .iter()
                    .map(|a| format!("{a}: String(JSON) (0.0)")),
            )
            .collect();
        assert_eq!(layer.fields, fields, "{name} fields");
    }
    let summary = run_ogrinfo(&file, true, &[]);
    assert_eq!(
        summary.matches("ID[\"EPSG\",4326]]").count(),
        3,
        "{summary}"
    );

    // A spatial filter goes through the R-tree, which holds 32-bit floats rounded outwards: it
    // never misses a feature and adds at most those within a float's width of the box.
    let [min_x, min_y, max_x, max_y] = [-113.98937, 46.85699, -113.985, 46.86501];
    let within = |margin: f64| {
        World::demo()
            .images()
            .filter(|i| in_demo_areas(i.lon, i.lat))
            .filter(|i| {
                i.lon >= min_x - margin
                    && i.lon <= max_x + margin
                    && i.lat >= min_y - margin
                    && i.lat <= max_y + margin
            })
            .count()
    };
    let (inside, loose) = (within(0.0), within(1e-5));
    assert!(inside > 0 && inside < t.images);
    let spat = [min_x, min_y, max_x, max_y].map(|v| v.to_string());
    let mut options = vec!["-spat"];
    options.extend(spat.iter().map(String::as_str));
    let filtered = ogrinfo(&file, &options)["images"].count as usize;
    assert!(
        (inside..=loose).contains(&filtered),
        "{filtered} vs {inside}..={loose}"
    );
    let sql = format!(
        "SELECT count(*) AS n FROM rtree_images_geom WHERE maxx >= {min_x} AND minx <= {max_x} \
         AND maxy >= {min_y} AND miny <= {max_y}"
    );
    let counted = run_ogrinfo(&file, false, &["-sql", &sql]);
    let n: usize = counted
        .lines()
        .find_map(|l| l.trim().strip_prefix("n (Integer) = "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((inside..=loose).contains(&n), "{n} vs {inside}..={loose}");

    if !Path::new(VALIDATE_GPKG).is_file() {
        assert!(
            std::env::var("MLY_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "{VALIDATE_GPKG} (python3-gdal) is required (MLY_REQUIRE_INTEROP=1) but missing"
        );
        eprintln!("SKIPPED: {VALIDATE_GPKG} not found (apt-get install python3-gdal)");
        return;
    }
    let output = Command::new("python3")
        .args([VALIDATE_GPKG, "--extra", "--warning-as-error"])
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && text.trim().is_empty(), "{text}");
}

#[test]
fn xmllint_validates_every_gpx_against_the_gpx_1_1_schema() {
    if !common::require_tool("xmllint") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let v3 = common::export_demo(tmp.path());
    // The same job against v4: other links (`?pKey=`), computed values in the extensions.
    let job = std::fs::read_to_string(common::workspace().join("jobs/demo.toml"))
        .unwrap()
        .replace("name = \"demo\"", "name = \"demo-v4\"")
        .replace("api = \"v3\"", "api = \"v4\"");
    let job = common::write_job(tmp.path(), "demo-v4.toml", &job);
    let out = tmp.path().to_str().unwrap();
    let output = common::run(&["run", job.to_str().unwrap(), "--mock", "--out", out], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let v4 = tmp.path().join("demo-v4");
    let links = std::fs::read_to_string(v4.join("images.gpx")).unwrap();
    assert!(links.contains("<link href=\"https://www.mapillary.com/app/?pKey="));
    assert!(links.contains("<mly:computed_lon>"));
    let schema = common::workspace().join("crates/write/tests/fixtures/gpx11.xsd");
    assert!(schema.is_file(), "{}", schema.display());
    for (dir, resource) in [&v3, &v4]
        .into_iter()
        .flat_map(|dir| RESOURCES.map(|r| (dir, r)))
    {
        let file = dir.join(format!("{resource}.gpx"));
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", file.display());
        assert!(stderr.contains("validates"), "{}: {stderr}", file.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Usernames read back from every format.

/// The text of `<tag>...</tag>` inside `block`, XML-unescaped.
fn xml_text(block: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = block.find(&open)? + open.len();
    let end = start + block[start..].find(&format!("</{tag}>"))?;
    Some(xml_unescape(&block[start..end]))
}

fn xml_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = amp + rest[amp..].find(';').unwrap();
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            e => panic!("unknown entity &{e};"),
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    out
}

/// A CSV free-text cell as the README promises it (formula guard).
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

#[test]
fn every_username_survives_every_format_tokyo_mapper_included() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::export_demo(tmp.path());
    let want = truth(&World::demo()).usernames;
    let tokyo = want.values().filter(|u| *u == TOKYO).count();
    assert!(tokyo > 0, "{TOKYO} must be among the exported images");
    assert!(want.values().any(|u| u.contains('"') && u.contains(',')));

    // GeoJSON.
    let got: BTreeMap<String, String> =
        common::geojson_features(&dir.join("images.geojson"), "key")
            .into_iter()
            .map(|(k, f)| (k, f["properties"]["username"].as_str().unwrap().to_owned()))
            .collect();
    assert_eq!(got, want, "images.geojson");

    // CSV, read by the csv crate (RFC 4180 quoting); formula-like names get a leading `'`.
    let mut reader = csv::Reader::from_path(dir.join("images.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (key, username) = (column("key"), column("username"));
    let got: BTreeMap<String, String> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[key].to_owned(), r[username].to_owned())
        })
        .collect();
    let want_csv: BTreeMap<String, String> =
        want.iter().map(|(k, u)| (k.clone(), csv_text(u))).collect();
    assert_eq!(got, want_csv, "images.csv");

    // DBF, through the shapefile crate's reader (the .cpg says UTF-8).
    assert_eq!(
        std::fs::read_to_string(dir.join("images.cpg"))
            .unwrap()
            .trim(),
        "UTF-8"
    );
    let mut reader = shapefile::Reader::from_path(dir.join("images.shp")).unwrap();
    let text = |record: &shapefile::dbase::Record, field: &str| match record.get(field) {
        Some(shapefile::dbase::FieldValue::Character(Some(s))) => s.clone(),
        other => panic!("{field}: {other:?}"),
    };
    let got: BTreeMap<String, String> = reader
        .iter_shapes_and_records()
        .map(|item| {
            let (_, record) = item.unwrap();
            (text(&record, "key"), text(&record, "username"))
        })
        .collect();
    assert_eq!(got, want, "images.dbf");

    // GPX: `<name>` is the key, the username is in the project's extension namespace.
    let gpx = std::fs::read_to_string(dir.join("images.gpx")).unwrap();
    let got: BTreeMap<String, String> = gpx
        .split("<wpt ")
        .skip(1)
        .map(|block| {
            let block = &block[..block.find("</wpt>").unwrap()];
            (
                xml_text(block, "name").unwrap(),
                xml_text(block, "mly:username").unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want, "images.gpx");
}
