//! End to end, issue 5 (API v4): the real binary against the real mock over HTTP. The v4 export
//! of the demo job is the same data as its v3 export and as the mock's own truth, in every
//! format; a dense cell is split until no cell is full; a username export follows
//! `paging.next`; a wrong token is a clear error that never shows the token; rate limits and
//! server errors are retried to the same files.
#![allow(clippy::unwrap_used)]

mod common;

use common::truth::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use mock_api::{FaultConfig, FaultKind, MockConfig, MockImage, MockSequence, MockServer, World};
use serde_json::Value;

/// The data files of an export: three resources, four formats.
const RESOURCES: [&str; 3] = ["images", "sequences", "sequence_points"];
const EXTENSIONS: [&str; 8] = ["geojson", "shp", "shx", "dbf", "prj", "cpg", "gpx", "csv"];

/// One export's layer in one format as sorted, comparable rows, with the `skip` fields left out
/// (names as in that format: declared names, or DBF names for the shapefile).
fn rows(dir: &Path, resource: &str, format: &str, skip: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = match format {
        "geojson" => {
            let text = std::fs::read_to_string(dir.join(format!("{resource}.geojson"))).unwrap();
            let mut doc: Value = serde_json::from_str(&text).unwrap();
            doc["features"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .map(|f| {
                    let props = f["properties"].as_object_mut().unwrap();
                    for field in skip {
                        props.remove(*field);
                    }
                    f.to_string()
                })
                .collect()
        }
        "csv" => {
            let mut reader = csv::Reader::from_path(dir.join(format!("{resource}.csv"))).unwrap();
            let headers = reader.headers().unwrap().clone();
            reader
                .records()
                .map(|r| {
                    let r = r.unwrap();
                    headers
                        .iter()
                        .zip(r.iter())
                        .filter(|(h, _)| !skip.contains(h))
                        .map(|(h, v)| format!("{h}={v}"))
                        .collect::<Vec<_>>()
                        .join("\u{1f}")
                })
                .collect()
        }
        "shapefile" => shapefile::read(dir.join(format!("{resource}.shp")))
            .unwrap()
            .into_iter()
            .map(|(shape, record)| {
                let fields: BTreeMap<String, String> = record
                    .into_iter()
                    .filter(|(name, _)| !skip.contains(&name.as_str()))
                    .map(|(name, value)| (name, format!("{value:?}")))
                    .collect();
                format!("{} {fields:?}", shape_text(&shape))
            })
            .collect(),
        "gpx" => {
            let text = std::fs::read_to_string(dir.join(format!("{resource}.gpx"))).unwrap();
            text.lines()
                .map(|line| {
                    let mut line = line.to_owned();
                    // The link field is GPX's own `<link href>` element.
                    if skip.contains(&"url")
                        && let Some(start) = line.find("<link href=\"")
                    {
                        let end = line[start..].find("\"/>").unwrap() + start + 3;
                        line.replace_range(start..end, "");
                    }
                    for field in skip {
                        let (open, close) = (format!("<mly:{field}>"), format!("</mly:{field}>"));
                        if let Some(start) = line.find(&open) {
                            let end = line[start..].find(&close).unwrap() + start + close.len();
                            line.replace_range(start..end, "");
                        }
                    }
                    line
                })
                .collect()
        }
        other => panic!("unknown format {other}"),
    };
    out.sort();
    out
}

/// A shape's coordinates as text.
fn shape_text(shape: &shapefile::Shape) -> String {
    match shape {
        shapefile::Shape::Point(p) => format!("POINT {} {}", p.x, p.y),
        shapefile::Shape::Polyline(line) => {
            let parts: Vec<String> = line
                .parts()
                .iter()
                .map(|part| {
                    let points: Vec<String> =
                        part.iter().map(|p| format!("{} {}", p.x, p.y)).collect();
                    points.join(",")
                })
                .collect();
            format!("POLYLINE {}", parts.join(";"))
        }
        other => panic!("unexpected shape {other}"),
    }
}

/// Two exports hold the same data in every format, but for the fields `skip` names per
/// resource (declared name, DBF name).
fn assert_same_data(a: &Path, b: &Path, skip: &[(&str, &str, &str)]) {
    for resource in RESOURCES {
        for format in ["geojson", "csv", "shapefile", "gpx"] {
            let names: Vec<&str> = skip
                .iter()
                .filter(|(r, _, _)| *r == resource)
                .map(|(_, declared, dbf)| {
                    if format == "shapefile" {
                        *dbf
                    } else {
                        *declared
                    }
                })
                .collect();
            let (ra, rb) = (
                rows(a, resource, format, &names),
                rows(b, resource, format, &names),
            );
            assert!(!ra.is_empty(), "{resource} {format} is empty");
            assert!(
                ra == rb,
                "{resource} in {format} differs between {} and {}",
                a.display(),
                b.display()
            );
        }
    }
}

/// Every data file of the three resources in the four formats exists, and the manifest counts
/// the same features in each format (sequences' shapefile leaves out the rejected ones).
fn assert_all_outputs(dir: &Path, counts: [usize; 3]) {
    for resource in RESOURCES {
        for ext in EXTENSIONS {
            let path = dir.join(format!("{resource}.{ext}"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    for (resource, count) in RESOURCES.into_iter().zip(counts) {
        let layer = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["resource"] == resource)
            .unwrap();
        let shapefile_rejected = layer["rejected_total"].as_u64().unwrap() as usize;
        for output in layer["outputs"].as_array().unwrap() {
            let expected = if output["format"] == "shapefile" {
                count - shapefile_rejected
            } else {
                count
            };
            assert_eq!(
                output["features"].as_u64().unwrap() as usize,
                expected,
                "{resource} {} count in the manifest",
                output["format"]
            );
        }
    }
}

/// The computed values and viewer links of an export's images (and the links of its
/// sequences) in CSV, DBF and GPX, against the truth (GeoJSON: [`assert_images_equal`]).
fn assert_links_and_computed_values(
    dir: &Path,
    images: &BTreeMap<String, &MockImage>,
    sequences: &BTreeMap<String, &MockSequence>,
    api: ApiForm,
) {
    let url = |key: &str| api.url(key).as_str().unwrap().to_owned();
    let computed = |image: &MockImage| {
        let position = image.computed_position.filter(|_| api.v4);
        let ca = image.computed_ca.filter(|_| api.v4);
        [position.map(|p| p[0]), position.map(|p| p[1]), ca]
    };
    // CSV: the four columns last, full precision, empty when absent.
    let mut reader = csv::Reader::from_path(dir.join("images.csv")).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        headers[headers.len() - 4..],
        ["computed_lon", "computed_lat", "computed_ca", "url"]
    );
    let (mut placed, mut unplaced) = (0, 0);
    for row in reader.records() {
        let row = row.unwrap();
        let image = images[&row[0]];
        let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let n = row.len();
        let want = computed(image).map(cell);
        assert_eq!(
            [&row[n - 4], &row[n - 3], &row[n - 2]],
            want.each_ref().map(String::as_str)
        );
        assert_eq!(&row[n - 1], url(&image.key), "csv url");
        if want[0].is_empty() {
            unplaced += 1;
        } else {
            placed += 1;
        }
    }
    assert_eq!(placed + unplaced, images.len());
    if api.v4 {
        assert!(
            placed > 0 && unplaced > 0,
            "{placed} placed, {unplaced} not"
        );
    } else {
        assert_eq!(placed, 0);
    }
    // DBF: N(15,9) coordinates, N(12,6) angle, C(80) link.
    for (_, record) in shapefile::read(dir.join("images.shp")).unwrap() {
        let text = |name: &str| match record.get(name) {
            Some(shapefile::dbase::FieldValue::Character(v)) => v.clone(),
            other => panic!("{name}: {other:?}"),
        };
        let number = |name: &str| match record.get(name) {
            Some(shapefile::dbase::FieldValue::Numeric(v)) => *v,
            other => panic!("{name}: {other:?}"),
        };
        let image = images[&text("key").unwrap()];
        let got = [number("cmp_lon"), number("cmp_lat"), number("cmp_ca")];
        for ((got, want), decimals) in got.into_iter().zip(computed(image)).zip([9, 9, 6]) {
            match (got, want) {
                (None, None) => {}
                (Some(got), Some(want)) => {
                    assert!(
                        (got - want).abs() <= 0.6 * 10f64.powi(-decimals),
                        "{got} {want}"
                    );
                }
                other => panic!("dbf computed value of {}: {other:?}", image.key),
            }
        }
        assert_eq!(text("url"), Some(url(&image.key)));
    }
    // GPX: one `<link href>` per image and per sequence.
    let gpx = std::fs::read_to_string(dir.join("images.gpx")).unwrap();
    assert_eq!(gpx.matches("<link href=").count(), images.len());
    for key in images.keys() {
        assert!(
            gpx.contains(&format!("<link href=\"{}\"/>", url(key))),
            "{key}"
        );
    }
    let gpx = std::fs::read_to_string(dir.join("sequences.gpx")).unwrap();
    assert_eq!(gpx.matches("<link href=").count(), sequences.len());
    for sequence in sequences.values() {
        let link = format!("<link href=\"{}\"/>", url(&sequence.images[0].key));
        assert!(gpx.contains(&link), "{}", sequence.key);
    }
}

/// The data files' bytes, by name.
fn data_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for resource in RESOURCES {
        for ext in ["geojson", "shp", "shx", "dbf", "gpx", "csv"] {
            let name = format!("{resource}.{ext}");
            out.insert(name.clone(), std::fs::read(dir.join(&name)).unwrap());
        }
    }
    out
}

fn manifest_summary(dir: &Path) -> Value {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["summary"].clone()
}

fn mock(world: World, token: &str) -> (MockServer, MockConfig) {
    let config = MockConfig {
        world: Arc::new(world),
        access_token: token.to_owned(),
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config.clone(), 0).unwrap();
    (server, config)
}

/// The environment variable and value that give a run the mock's token.
fn token_of(config: &MockConfig) -> (&'static str, &str) {
    ("MAPILLARY_ACCESS_TOKEN", config.access_token.as_str())
}

fn assert_success(output: &std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({:?}):\n{}",
        output.status.code(),
        common::stderr(output)
    );
}

// ---------------------------------------------------------------------------------------------

#[test]
fn v4_export_is_the_v3_export_and_the_truth_and_the_token_goes_in_a_header() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let v3_job = common::write_job(tmp.path(), "v3.toml", &job("same-v3", "v3", "", DEMO_AREAS));
    let v4_job = common::write_job(tmp.path(), "v4.toml", &job("same-v4", "v4", "", DEMO_AREAS));

    // --mock for both APIs (no token needed).
    let run = common::run(
        &[
            "run",
            v3_job.to_str().unwrap(),
            v4_job.to_str().unwrap(),
            "--mock",
            "--out",
            out_s,
            "-q",
        ],
        &[],
    );
    assert_success(&run, "v3 and v4 --mock runs");

    // v4 against an explicit mock that accepts only our own token.
    let token = "MLY|e2e-v4|s3cr3t-t0ken-4f9a";
    let (server, config) = mock(World::demo(), token);
    let explicit_job = common::write_job(
        tmp.path(),
        "v4x.toml",
        &job("explicit-v4", "v4", "", DEMO_AREAS),
    );
    let url = server.v4_url();
    let run_x = common::run_job(&explicit_job, &out, &url, token_of(&config), &["-v"]);
    assert_success(&run_x, "v4 run against an explicit mock");
    let stats = server.stats();
    // The mock answers anything else than the right token with 401: the run's success proves
    // the token reached it, and the product never writes it into a URL (only a header).
    assert!(stats.requests_to("/images") > 0, "{stats:?}");
    assert_eq!(stats.requests_to("/v3/images"), 0);
    let stderr = common::stderr(&run_x);
    assert!(stderr.contains("page"), "-v logs pages:\n{stderr}");
    for secret in [token, "s3cr3t-t0ken-4f9a", "access_token"] {
        assert!(!stderr.contains(secret), "{secret} in stderr:\n{stderr}");
    }
    for file in common::files_below(&out) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("s3cr3t-t0ken-4f9a"),
            "the token is in {}",
            file.display()
        );
    }

    let world = World::demo();
    let areas = demo_areas();
    let images = truth_images(&world, &areas, |_| true);
    let sequences = truth_sequences(&world, &areas, |_| true);
    let points: usize = sequences.values().map(|s| s.images.len()).sum();
    let (v3_dir, v4_dir, x_dir) = (
        out.join("same-v3"),
        out.join("same-v4"),
        out.join("explicit-v4"),
    );
    for dir in [&v3_dir, &v4_dir, &x_dir] {
        assert_all_outputs(dir, [images.len(), sequences.len(), points]);
    }
    assert_images_equal(&v3_dir, &images, V3);
    assert_sequences_equal(&v3_dir, &sequences, V3);
    for dir in [&v4_dir, &x_dir] {
        assert_images_equal(dir, &images, V4);
        assert_sequences_equal(dir, &sequences, V4);
    }
    // --mock and an explicit mock of the same world give the same files.
    assert!(data_files(&v4_dir) == data_files(&x_dir));
    // The new columns in every format.
    assert_links_and_computed_values(&v3_dir, &images, &sequences, V3);
    assert_links_and_computed_values(&v4_dir, &images, &sequences, V4);
    // v3 and v4: the same data in every format, but for what differs by design: sequences'
    // created_at and images' organization_key (null in v4), the computed values (v4 only)
    // and the viewer links (one form per API).
    assert_same_data(
        &v3_dir,
        &v4_dir,
        &[
            ("sequences", "created_at", "created"),
            ("sequences", "url", "url"),
            ("images", "organization_key", "org_key"),
            ("images", "computed_lon", "cmp_lon"),
            ("images", "computed_lat", "cmp_lat"),
            ("images", "computed_ca", "cmp_ca"),
            ("images", "url", "url"),
        ],
    );
}

#[test]
fn a_dense_v4_cell_is_split_until_no_cell_is_full() {
    let center = [-113.984695, 46.861];
    let world = World::dense(center, 2400, 7);
    let config = MockConfig {
        world: Arc::new(world.clone()),
        v4_max_limit: 200,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config.clone(), 0).unwrap();
    let bbox = [
        center[0] - 0.006,
        center[1] - 0.004,
        center[0] + 0.006,
        center[1] + 0.004,
    ];
    let areas = format!(
        "[[areas]]\nname = \"dense\"\nbbox = [{}, {}, {}, {}]\n",
        bbox[0], bbox[1], bbox[2], bbox[3]
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let job_path = common::write_job(tmp.path(), "dense.toml", &job("dense-v4", "v4", "", &areas));
    let url = server.v4_url();
    let extra = ["--v4-limit", "200", "-q"];
    let run = common::run_job(&job_path, &out, &url, token_of(&config), &extra);
    assert_success(&run, "dense v4 run");
    let dir = out.join("dense-v4");
    let areas = [TestArea::Bbox(bbox)];
    let images = truth_images(&world, &areas, |_| true);
    let sequences = truth_sequences(&world, &areas, |_| true);
    // The area holds far more than one request can return.
    assert!(images.len() > 4 * 200, "{} images", images.len());
    assert_images_equal(&dir, &images, V4);
    assert_sequences_equal(&dir, &sequences, V4);
    let summary = manifest_summary(&dir);
    assert!(summary["splits"].as_u64().unwrap() > 0, "{summary}");
    // At least one request per image cell plus one per sequence.
    let stats = server.stats();
    assert!(
        stats.requests_to("/images") as usize > sequences.len() + images.len() / 200,
        "{stats:?}"
    );
}

#[test]
fn a_v4_username_export_follows_paging_next() {
    let limit = 40;
    let world = World::demo();
    let config = MockConfig {
        v4_max_limit: limit,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config.clone(), 0).unwrap();
    let users = ["chrisbeddow", "東京マッパー"];
    let areas = format!(
        "[[areas]]\nname = \"campus\"\nbbox = [{}, {}, {}, {}]\n",
        MONTANA_BBOX[0], MONTANA_BBOX[1], MONTANA_BBOX[2], MONTANA_BBOX[3]
    );
    let extra = "usernames = [\"chrisbeddow\", \"東京マッパー\"]";
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let job_path = common::write_job(
        tmp.path(),
        "users.toml",
        &job("users-v4", "v4", extra, &areas),
    );
    let url = server.v4_url();
    let limit_arg = limit.to_string();
    let extra = ["--v4-limit", &limit_arg, "-q"];
    let run = common::run_job(&job_path, &out, &url, token_of(&config), &extra);
    assert_success(&run, "v4 usernames run");
    let dir = out.join("users-v4");
    let areas = [TestArea::Bbox(MONTANA_BBOX)];
    let images = truth_images(&world, &areas, |i| users.contains(&i.username.as_str()));
    for user in users {
        let n = images.values().filter(|i| i.username == user).count();
        assert!(n > 2 * limit, "{user} has only {n} images: no paging");
    }
    assert_images_equal(&dir, &images, V4);
    let user_keys: BTreeSet<&str> = images.values().map(|i| i.user_key.as_str()).collect();
    let sequences = truth_sequences(&world, &areas, |s| user_keys.contains(s.user_key.as_str()));
    assert_sequences_equal(&dir, &sequences, V4);
}

#[test]
fn a_wrong_v4_token_is_a_clear_error_that_never_shows_the_token() {
    let (server, _config) = mock(World::demo(), "MLY|the|right-one");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let job_path = common::write_job(
        tmp.path(),
        "v4.toml",
        &job("wrong-token", "v4", "", DEMO_AREAS),
    );
    let url = server.v4_url();
    let wrong = "MLY|wrong|zq8-not-this-one";
    let credential = ("MAPILLARY_ACCESS_TOKEN", wrong);
    let run = common::run_job(&job_path, &out, &url, credential, &["--max-attempts", "2"]);
    let stderr = common::stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("invalid or expired token"), "{stderr}");
    assert!(stderr.contains("MAPILLARY_ACCESS_TOKEN"), "{stderr}");
    for secret in [wrong, "zq8-not-this-one"] {
        assert!(!stderr.contains(secret), "{secret} in stderr:\n{stderr}");
    }
    assert!(!out.join("wrong-token").exists(), "no export is written");
    assert!(server.stats().requests_to("/images") > 0);
}

#[test]
fn v4_rate_limits_and_server_errors_are_retried_to_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let job_path = common::write_job(
        tmp.path(),
        "v4.toml",
        &job("faults-v4", "v4", "", DEMO_AREAS),
    );
    let export = |faults: FaultConfig, out: &Path| {
        let config = MockConfig {
            faults,
            ..MockConfig::default()
        };
        let server = MockServer::start_blocking(config.clone(), 0).unwrap();
        let url = server.v4_url();
        let extra = ["--max-attempts", "12", "-q"];
        let run = common::run_job(&job_path, out, &url, token_of(&config), &extra);
        assert_success(&run, "v4 run");
        server.stats()
    };
    let clean_out = tmp.path().join("clean");
    let clean = export(FaultConfig::default(), &clean_out);
    assert!(clean.faults.is_empty());
    let faulty_out = tmp.path().join("faulty");
    let faulty = export(
        FaultConfig {
            seed: 5,
            server_error_rate: 0.15,
            too_many_requests_rate: 0.15,
            ..FaultConfig::default()
        },
        &faulty_out,
    );
    assert!(faulty.faults_of(FaultKind::ServerError) > 0, "{faulty:?}");
    assert!(
        faulty.faults_of(FaultKind::TooManyRequests) > 0,
        "{faulty:?}"
    );
    let injected =
        faulty.faults_of(FaultKind::ServerError) + faulty.faults_of(FaultKind::TooManyRequests);
    assert_eq!(
        faulty.requests,
        clean.requests + injected,
        "one retry per fault"
    );
    let summary = manifest_summary(&faulty_out.join("faults-v4"));
    // 429s are the rate limit: counted apart from the retries of faults.
    assert_eq!(
        summary["retries"].as_u64().unwrap(),
        faulty.faults_of(FaultKind::ServerError),
        "{summary}"
    );
    assert_eq!(
        summary["rate_limited"].as_u64().unwrap(),
        faulty.faults_of(FaultKind::TooManyRequests),
        "{summary}"
    );
    let (a, b) = (
        data_files(&clean_out.join("faults-v4")),
        data_files(&faulty_out.join("faults-v4")),
    );
    for (name, bytes) in &a {
        assert!(*bytes == b[name], "{name} differs after retries");
    }
}

#[test]
fn whole_sequences_false_draws_lines_through_the_images_in_the_areas_with_no_sequence_request() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (server, config) = mock(World::demo(), "MLY|e2e-clipped|token");
    let url = server.v4_url();
    let whole = common::write_job(tmp.path(), "w.toml", &job("whole", "v4", "", DEMO_AREAS));
    let clipped = common::write_job(
        tmp.path(),
        "c.toml",
        &job("clipped", "v4", "whole_sequences = false", DEMO_AREAS),
    );
    for path in [&whole, &clipped] {
        let run = common::run_job(path, &out, &url, token_of(&config), &["-q"]);
        assert_success(&run, &path.display().to_string());
    }
    let (whole_dir, clipped_dir) = (out.join("whole"), out.join("clipped"));
    let whole_summary = manifest_summary(&whole_dir);
    let clipped_summary = manifest_summary(&clipped_dir);
    let exported = |s: &Value, r: &str| s["resources"][r]["exported"].as_u64().unwrap();
    let sequences = exported(&whole_summary, "sequences");
    assert!(sequences > 0);
    assert_eq!(exported(&clipped_summary, "sequences"), sequences);
    assert_eq!(
        exported(&clipped_summary, "images"),
        exported(&whole_summary, "images")
    );
    // Every demo sequence fits one page: the whole run asked once per sequence, the other never.
    let requests = |s: &Value| s["requests"].as_u64().unwrap();
    assert_eq!(
        requests(&whole_summary) - requests(&clipped_summary),
        sequences
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(clipped_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["whole_sequences"], Value::Bool(false));

    // Each line runs through exactly the sequence's images inside the areas, in capture order.
    let world = World::demo();
    let areas = demo_areas();
    let got = common::geojson_features(&clipped_dir.join("sequences.geojson"), "key");
    let mut points = 0;
    for (key, sequence) in truth_sequences(&world, &areas, |_| true) {
        let inside_keys: Vec<Value> = sequence
            .images
            .iter()
            .filter(|i| inside(&areas, i.lon, i.lat))
            .map(|i| Value::String(i.key.clone()))
            .collect();
        points += inside_keys.len();
        let feature = got
            .get(&key)
            .unwrap_or_else(|| panic!("sequence {key} missing"));
        assert_eq!(
            feature["properties"]["coordinateProperties"]["image_keys"],
            Value::Array(inside_keys),
            "{key}"
        );
    }
    assert_eq!(got.len() as u64, sequences);
    assert_eq!(exported(&clipped_summary, "sequence_points"), points as u64);
}
