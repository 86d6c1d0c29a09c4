//! Map features end to end (issue 16): the real binary against the real mock API over HTTP. A
//! v4 job with two overlapping areas over the mock's dense spot (more map features in one cell
//! than the limit) exports every map feature of the world's truth exactly once in all four
//! formats; `object_values`, `object_types` and a date range select exactly the right ones;
//! GDAL reads every file with the exact count and xmllint validates the GPX; a refresh after the
//! world gains, loses and changes features reports exactly those; a v3 job cannot have them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::truth::{DEMO_AREAS, TestArea, demo_areas, inside};
use mock_api::{ACCESS_TOKEN, DENSE_SPOT_FEATURES, FaultConfig, MockMapFeature, World};
use serde_json::Value;

const TOKEN: (&str, &str) = ("MAPILLARY_ACCESS_TOKEN", ACCESS_TOKEN);
const STOP: &str = "regulatory--stop--g1";
const HYDRANT: &str = "object--fire-hydrant";

/// The world's truth: the ids a job must export.
fn truth(
    world: &World,
    areas: &[TestArea],
    values: &[&str],
    types: &[&str],
    range: Option<(i64, i64)>,
) -> BTreeSet<String> {
    world
        .map_features
        .iter()
        .filter(|f| inside(areas, f.lon, f.lat))
        .filter(|f| values.is_empty() || values.contains(&f.object_value.as_str()))
        .filter(|f| {
            types.is_empty() || f.object_type.as_deref().is_some_and(|t| types.contains(&t))
        })
        .filter(|f| {
            let Some((start, end)) = range else {
                return true;
            };
            let first = f.first_seen_at_ms.or(f.last_seen_at_ms);
            let last = f.last_seen_at_ms.or(f.first_seen_at_ms);
            matches!((first, last), (Some(a), Some(b)) if a < end && b >= start)
        })
        .map(|f| f.id.clone())
        .collect()
}

fn job(dir: &Path, extra: &str) -> std::path::PathBuf {
    common::write_job(
        dir,
        "mf.toml",
        &format!(
            "name = \"mf\"\napi = \"v4\"\nresources = [\"map_features\"]\n{extra}\n{DEMO_AREAS}"
        ),
    )
}

fn export(world: Arc<World>, job: &Path, out: &Path) -> Value {
    let (server, _) = common::start_mock(world, FaultConfig::default());
    let output = common::run_job(job, out, &server.v4_url(), TOKEN, &["-q"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(server.stats().requests_to("/map_features") > 0);
    let manifest = std::fs::read_to_string(out.join("mf/manifest.json")).unwrap();
    serde_json::from_str(&manifest).unwrap()
}

/// The ids in each format, every one checked to appear once.
fn ids_in_every_format(dir: &Path) -> [Vec<String>; 4] {
    let geojson = common::geojson_features(&dir.join("map_features.geojson"), "id");
    let text = std::fs::read_to_string(dir.join("map_features.geojson")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let geojson_ids: Vec<String> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(geojson.len(), geojson_ids.len());

    let mut csv = csv::Reader::from_path(dir.join("map_features.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "id",
            "lon",
            "lat",
            "object_type",
            "object_value",
            "first_seen_at",
            "last_seen_at",
            "url"
        ]
    );
    let csv_ids = csv
        .records()
        .map(|r| r.unwrap()[0].to_owned())
        .collect::<Vec<_>>();

    let mut dbf = shapefile::dbase::Reader::from_path(dir.join("map_features.dbf")).unwrap();
    let dbf_ids = dbf
        .read()
        .unwrap()
        .into_iter()
        .map(|r| match r.get("id") {
            Some(shapefile::dbase::FieldValue::Character(Some(id))) => id.clone(),
            other => panic!("dbf id: {other:?}"),
        })
        .collect();

    let gpx = std::fs::read_to_string(dir.join("map_features.gpx")).unwrap();
    // Each waypoint's id is its link's text.
    let gpx_ids = gpx
        .split("</text></link>")
        .filter_map(|s| s.rsplit_once("<text>"))
        .map(|(_, id)| id.to_owned())
        .collect::<Vec<_>>();
    assert_eq!(gpx.matches("<wpt ").count(), gpx_ids.len());
    [geojson_ids, csv_ids, dbf_ids, gpx_ids]
}

fn assert_exported(dir: &Path, want: &BTreeSet<String>) {
    for (format, ids) in ["geojson", "csv", "dbf", "gpx"]
        .iter()
        .zip(ids_in_every_format(dir))
    {
        let set: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(set.len(), ids.len(), "{format}: a map feature twice");
        assert_eq!(&set, want, "{format}: not the world's truth");
    }
}

#[test]
fn two_overlapping_areas_and_a_dense_cell_export_every_map_feature_once_in_every_format() {
    let world = common::demo_world();
    let tmp = tempfile::tempdir().unwrap();
    let job = job(tmp.path(), "");
    let manifest = export(world.clone(), &job, tmp.path());
    let want = truth(&world, &demo_areas(), &[], &[], None);
    assert!(want.len() > DENSE_SPOT_FEATURES, "{}", want.len());
    let dir = tmp.path().join("mf");
    assert_exported(&dir, &want);

    let summary = &manifest["summary"];
    // The dense spot holds more than the limit: its cell was split.
    assert!(summary["splits"].as_u64().unwrap() >= 1, "{summary}");
    let line = &summary["resources"]["map_features"];
    assert_eq!(line["exported"].as_u64().unwrap(), want.len() as u64);
    // The overlap and the split cells' shared edges: duplicates removed by id.
    assert!(line["duplicates"].as_u64().unwrap() > 0, "{line}");
    let on_edges = world
        .map_features
        .iter()
        .filter(|f| {
            let b = mock_api::DEMO_CAMPUS_BBOX;
            f.lon == b[0] || f.lon == b[2] || f.lat == b[1] || f.lat == b[3]
        })
        .count();
    assert!(on_edges >= 8, "{on_edges} features on the box's edges");

    // Timestamps in either form became ISO 8601 UTC; missing fields are empty.
    let features = common::geojson_features(&dir.join("map_features.geojson"), "id");
    let by_id = |f: &MockMapFeature| &features[&f.id]["properties"];
    let exported: Vec<&MockMapFeature> = world
        .map_features
        .iter()
        .filter(|f| want.contains(&f.id))
        .collect();
    for f in &exported {
        let p = by_id(f);
        let iso =
            |ms: Option<i64>| ms.map_or(Value::Null, |ms| Value::from(common::truth::iso_ms(ms)));
        assert_eq!(p["first_seen_at"], iso(f.first_seen_at_ms), "{p}");
        assert_eq!(p["last_seen_at"], iso(f.last_seen_at_ms), "{p}");
        assert_eq!(
            p["object_type"],
            f.object_type.as_deref().map_or(Value::Null, Value::from)
        );
        assert_eq!(p["object_value"], f.object_value.as_str());
        assert_eq!(
            p["url"],
            format!(
                "https://www.mapillary.com/app/?lat={}&lng={}&z=19&focus=map&mapFeature={}",
                f.lat, f.lon, f.id
            )
        );
    }
    assert!(exported.iter().any(|f| f.iso_times) && exported.iter().any(|f| !f.iso_times));
    assert!(exported.iter().any(|f| f.object_type.is_none()));
    assert!(exported.iter().any(|f| f.last_seen_at_ms.is_none()));

    // GPX: the value is the name, the type the type, the last sighting the time.
    let gpx = std::fs::read_to_string(dir.join("map_features.gpx")).unwrap();
    let f = exported
        .iter()
        .find(|f| f.object_type.is_some() && f.last_seen_at_ms.is_some())
        .unwrap();
    let wpt = gpx
        .lines()
        .find(|l| l.contains(&format!("<text>{}</text>", f.id)))
        .unwrap();
    let url = format!(
        "https://www.mapillary.com/app/?lat={}&amp;lng={}&amp;z=19&amp;focus=map&amp;mapFeature={}",
        f.lat, f.lon, f.id
    );
    let expected = format!(
        "<time>{}</time><name>{}</name><link href=\"{url}\"><text>{}</text></link><type>{}</type>",
        common::truth::iso_ms(f.last_seen_at_ms.unwrap()),
        f.object_value,
        f.id,
        f.object_type.as_deref().unwrap()
    );
    assert!(wpt.contains(&expected), "{wpt}");
}

#[test]
fn object_values_types_and_a_date_range_select_exactly_the_right_ones() {
    let world = common::demo_world();
    let tmp = tempfile::tempdir().unwrap();
    // 2018 .. 2019: seen during it = first seen before its end, last seen at or after its start.
    let (start, end) = (1_514_764_800_000, 1_546_300_800_000);
    let job = job(
        tmp.path(),
        "object_values = [\"regulatory--stop--g1\", \"object--fire-hydrant\"]\n\
         object_types = [\"traffic_sign\"]\n\
         [[date_ranges]]\nstart = \"2018-01-01\"\nend = \"2019-01-01\"\n",
    );
    let (server, _) = common::start_mock(world.clone(), FaultConfig::default());
    let output = common::run_job(&job, tmp.path(), &server.v4_url(), TOKEN, &["-q"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let want = truth(
        &world,
        &demo_areas(),
        &[STOP, HYDRANT],
        &["traffic_sign"],
        Some((start, end)),
    );
    // The filters bite: each of them leaves something out.
    let all_values = truth(&world, &demo_areas(), &[STOP, HYDRANT], &[], None);
    let stops = truth(&world, &demo_areas(), &[STOP], &[], None);
    assert!(!want.is_empty() && want.len() < stops.len() && stops.len() < all_values.len());
    assert_exported(&tmp.path().join("mf"), &want);
    // object_values went to the API: no other value was served.
    assert_eq!(server.stats().requests_to("/map_features"), 2);
}

#[test]
fn gdal_reads_every_file_with_the_exact_count_and_xmllint_validates_the_gpx() {
    let (ogr, xmllint) = (
        common::require_tool("ogrinfo"),
        common::require_tool("xmllint"),
    );
    if !ogr && !xmllint {
        return;
    }
    let world = common::demo_world();
    let tmp = tempfile::tempdir().unwrap();
    let job = job(tmp.path(), "");
    export(world.clone(), &job, tmp.path());
    let want = truth(&world, &demo_areas(), &[], &[], None).len() as u64;
    let dir = tmp.path().join("mf");
    if ogr {
        for (file, layer) in [
            ("map_features.geojson", "map_features"),
            ("map_features.shp", "map_features"),
            ("map_features.csv", "map_features"),
            ("map_features.gpx", "waypoints"),
        ] {
            let output = Command::new("ogrinfo")
                .args(["-ro", "-so", "-al"])
                .arg(dir.join(file))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{file}: {text}");
            assert!(
                !text.contains("ERROR") && !text.contains("Warning"),
                "{file}: {text}"
            );
            let count = text
                .split(&format!("Layer name: {layer}\n"))
                .nth(1)
                .and_then(|rest| rest.split("Feature Count: ").nth(1))
                .and_then(|rest| rest.lines().next())
                .unwrap_or_else(|| panic!("{file}: no {layer} layer: {text}"));
            assert_eq!(count.trim().parse::<u64>().unwrap(), want, "{file}");
            if file.ends_with(".shp") {
                for field in [
                    "id: String (40.0)",
                    "obj_type: String (80.0)",
                    "obj_value: String (80.0)",
                    "first_seen: String (24.0)",
                    "last_seen: String (24.0)",
                    "url: String (254.0)",
                ] {
                    assert!(text.contains(field), "{field}: {text}");
                }
            }
        }
    }
    if xmllint {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpx11.xsd");
        let output = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&schema)
            .arg(dir.join("map_features.gpx"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", common::stderr(&output));
    }
}

#[test]
fn a_refresh_reports_exactly_the_features_gained_lost_and_changed() {
    let world = common::demo_world();
    let tmp = tempfile::tempdir().unwrap();
    let job = job(tmp.path(), "");
    export(world.clone(), &job, tmp.path());

    let before = truth(&world, &demo_areas(), &[], &[], None);
    let mut next = (*world).clone();
    let in_export: Vec<usize> = next
        .map_features
        .iter()
        .enumerate()
        .filter(|(_, f)| before.contains(&f.id))
        .map(|(i, _)| i)
        .collect();
    // Two seen again later, three gone, two new ones (one on the box's corner).
    let mut changed = BTreeSet::new();
    for &i in &in_export[10..12] {
        let f = &mut next.map_features[i];
        f.last_seen_at_ms = Some(f.last_seen_at_ms.unwrap_or(0) + 86_400_000);
        changed.insert(f.id.clone());
    }
    let removed: BTreeSet<String> = [3, 500, 1500]
        .iter()
        .map(|&i| next.map_features[in_export[i]].id.clone())
        .collect();
    next.map_features.retain(|f| !removed.contains(&f.id));
    let mut added = BTreeSet::new();
    for (n, position) in [[-113.985, 46.86], [-113.98002, 46.86501]]
        .iter()
        .enumerate()
    {
        let mut f = next.map_features[0].clone();
        f.id = format!("99900000000000{n}");
        [f.lon, f.lat] = *position;
        added.insert(f.id.clone());
        next.map_features.push(f);
    }
    let manifest = export(Arc::new(next), &job, tmp.path());

    let changes = std::fs::read_to_string(tmp.path().join("mf/changes.tsv")).unwrap();
    let mut want = vec!["change\tresource\tkey".to_owned()];
    for (kind, ids) in [
        ("added", &added),
        ("changed", &changed),
        ("removed", &removed),
    ] {
        want.extend(ids.iter().map(|id| format!("{kind}\tmap_features\t{id}")));
    }
    assert_eq!(changes.lines().collect::<Vec<_>>(), want);
    assert_eq!(
        manifest["summary"]["changes"]["counts"]["map_features"],
        serde_json::json!({"added": 2, "removed": 3, "changed": 2})
    );
}

#[test]
fn map_features_with_v3_are_a_job_error_and_check_says_which_filters_do_not_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let v3 = common::write_job(
        tmp.path(),
        "v3.toml",
        &format!(
            "name = \"mf\"\napi = \"v3\"\nresources = [\"images\", \"map_features\"]\n{DEMO_AREAS}"
        ),
    );
    let output = common::run(&["check", v3.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("resources: \"map_features\" needs `api = \"v4\"`"),
        "{stderr}"
    );
    let output = common::run(
        &[
            "run",
            v3.to_str().unwrap(),
            "--mock",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(!tmp.path().join("mf").exists());

    let v4 = job(
        tmp.path(),
        "usernames = [\"gyllen\"]\npano = true\nobject_values = [\"regulatory--stop--g1\"]\n",
    );
    let output = common::run(&["check", v4.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("resources: map_features"), "{stdout}");
    assert!(
        stdout.contains("map_features: usernames, pano do not apply"),
        "{stdout}"
    );
    assert!(
        stdout.contains("&object_values=regulatory--stop--g1"),
        "{stdout}"
    );
}

#[test]
fn the_stop_signs_job_exports_every_stop_sign_of_the_demo_region() {
    let tmp = tempfile::tempdir().unwrap();
    let file = common::workspace().join("jobs/stop-signs.toml");
    let output = common::run(
        &[
            "-q",
            "run",
            file.to_str().unwrap(),
            "--mock",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let want = truth(&World::demo(), &demo_areas(), &[STOP], &[], None);
    assert!(want.len() > 10, "{}", want.len());
    let got: BTreeSet<String> =
        common::geojson_features(&tmp.path().join("stop-signs/map_features.geojson"), "id")
            .into_keys()
            .collect();
    assert_eq!(got, want);
}

#[test]
fn faults_and_retries_give_the_same_bytes_as_a_clean_run() {
    let world = common::demo_world();
    let tmp = tempfile::tempdir().unwrap();
    let job = job(tmp.path(), "formats = [\"geojson\", \"csv\", \"gpx\"]");
    let clean = tmp.path().join("clean");
    export(world.clone(), &job, &clean);
    let faults = FaultConfig {
        seed: 16,
        server_error_rate: 0.2,
        truncate_rate: 0.1,
        cut_json_rate: 0.1,
        too_many_requests_rate: 0.1,
        ..FaultConfig::default()
    };
    let (server, _) = common::start_mock(world, faults);
    let faulty = tmp.path().join("faulty");
    // Three in ten answers are faults: 20 attempts make a request that fails them all (and so
    // the run) practically impossible (0.3^20); with the default 6 a run failed here.
    let output = common::run_job(
        &job,
        &faulty,
        &server.v4_url(),
        TOKEN,
        &["-q", "--max-attempts", "20"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let injected: u64 = server.stats().faults.values().sum();
    assert!(injected > 0, "no fault injected");
    for file in [
        "map_features.geojson",
        "map_features.csv",
        "map_features.gpx",
    ] {
        let read = |dir: &Path| std::fs::read(dir.join("mf").join(file)).unwrap();
        assert!(
            read(&clean) == read(&faulty),
            "{file} differs after {injected} faults"
        );
    }
}
