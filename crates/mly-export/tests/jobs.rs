//! Every job file shipped in `jobs/` (issue 7): it loads, `mly-export check` accepts it, and
//! the ones that target the tutorial's places (all of them: the mock's demo world has imagery
//! there) export something real with `--mock`, v4 ones included.
//!
//! The exports are checked against the mock world with the test's own code: every image lies in
//! one of the job's areas (read from the TOML here), every sequence touches one, the lookat jobs
//! keep only images facing the place, and jobs without user, date or lookat filters hold exactly
//! the world's records in their areas.
#![allow(clippy::unwrap_used)]

mod common;

use common::{truth::bearing_deg, truth::haversine_m};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mock_api::World;
use serde_json::Value;

/// The jobs the README names, all of which target places of the demo world.
const TUTORIAL_JOBS: [&str; 7] = [
    "demo",
    "uw-closeto",
    "montana-campus",
    "csu-sequences",
    "uw-lookat",
    "uw-lookat-v4",
    "ngo-region",
];

#[test]
fn every_job_file_loads_and_checks() {
    let files = common::job_files();
    let stems: BTreeSet<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    for name in TUTORIAL_JOBS {
        assert!(stems.contains(name), "jobs/{name}.toml is missing");
    }
    for file in &files {
        let job = mly_export::job::load(file).unwrap_or_else(|e| panic!("{e}"));
        // `jobs/NAME.toml` exports to `out/NAME/`, as the README says.
        assert_eq!(job.name, file.file_stem().unwrap().to_str().unwrap());
        let output = common::run(&["check", file.to_str().unwrap()], &[]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{file:?}: {}",
            common::stderr(&output)
        );
        assert!(stdout.contains(&format!("job {} (", job.name)), "{stdout}");
        assert!(stdout.contains("initial requests (cells)"), "{stdout}");
        // The cost: a lower bound per query, a total with its time at a named rate.
        let queries = mly_export::plan::queries(&job);
        for query in &queries {
            assert!(
                stdout.contains(&format!("    {}: ", query.label))
                    && stdout.contains("initial cell"),
                "{stdout}"
            );
        }
        let total = stdout
            .lines()
            .find_map(|l| l.strip_prefix("    total: at least "))
            .unwrap_or_else(|| panic!("{file:?}: no estimate\n{stdout}"));
        let requests: usize = total.split(' ').next().unwrap().parse().unwrap();
        assert!(requests >= queries.len(), "{total}");
        assert!(total.contains(" requests/s ("), "{total}");
    }
}

#[test]
fn check_says_what_the_last_run_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let job = common::workspace().join("jobs/demo.toml");
    let job = job.to_str().unwrap();
    let before = common::run(&["check", job, "--out", out], &[]);
    assert_eq!(before.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&before.stdout).contains("last run"));

    let export = common::export_demo(tmp.path());
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("manifest.json")).unwrap())
            .unwrap();
    let requests = manifest["summary"]["requests"].as_u64().unwrap();
    assert!(requests >= 4, "the demo's four cells: {requests}");
    let seconds = manifest["summary"]["seconds"].as_f64().unwrap();
    assert!(seconds > 0.0);

    let after = common::run(&["check", job, "--out", out], &[]);
    let stdout = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(0));
    let line = stdout
        .lines()
        .find(|l| l.starts_with("  last run: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.starts_with(&format!("  last run: {requests} requests in ")),
        "{line}"
    );
    assert!(
        line.contains(manifest["finished_at"].as_str().unwrap()),
        "{line}"
    );
}

/// A job's areas, read from its TOML: `(bbox)` or `(centre, radius)`.
enum Area {
    Bbox([f64; 4]),
    Circle([f64; 2], f64),
}

impl Area {
    fn contains(&self, position: [f64; 2]) -> bool {
        match self {
            Area::Bbox(b) => {
                position[0] >= b[0]
                    && position[0] <= b[2]
                    && position[1] >= b[1]
                    && position[1] <= b[3]
            }
            Area::Circle(c, r) => haversine_m(*c, position) <= *r,
        }
    }
}

fn number(v: &toml::Value) -> f64 {
    v.as_float().or(v.as_integer().map(|i| i as f64)).unwrap()
}

fn numbers(v: &toml::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(number).collect()
}

struct JobToml {
    table: toml::Table,
    areas: Vec<Area>,
}

impl JobToml {
    fn read(path: &Path) -> JobToml {
        let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
        let areas = table["areas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| match (a.get("bbox"), a.get("closeto")) {
                (Some(b), None) => {
                    let b = numbers(b);
                    Area::Bbox([b[0], b[1], b[2], b[3]])
                }
                (None, Some(c)) => {
                    let c = numbers(c);
                    let r = a.get("radius").map_or(100.0, number);
                    Area::Circle([c[0], c[1]], r)
                }
                _ => panic!("{path:?}: an area without bbox or closeto"),
            })
            .collect();
        JobToml { table, areas }
    }

    fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn resources(&self) -> Vec<&str> {
        match self.table.get("resources") {
            None => vec!["images", "sequences"],
            Some(v) => v
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect(),
        }
    }

    fn inside(&self, position: [f64; 2]) -> bool {
        self.areas.iter().any(|a| a.contains(position))
    }
}

fn features(path: &Path) -> Vec<Value> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["features"].as_array().unwrap().clone()
}

fn position(v: &Value) -> [f64; 2] {
    [v[0].as_f64().unwrap(), v[1].as_f64().unwrap()]
}

#[test]
fn the_tutorial_jobs_export_their_places_with_mock() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let files: Vec<PathBuf> = TUTORIAL_JOBS
        .iter()
        .map(|n| common::workspace().join(format!("jobs/{n}.toml")))
        .collect();
    let mut args = vec!["-q", "run"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend(["--mock", "--out", out.to_str().unwrap()]);
    let output = common::run(&args, &[]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let world = World::demo();
    for (name, file) in TUTORIAL_JOBS.iter().zip(&files) {
        let job = JobToml::read(file);
        let dir = out.join(name);
        assert!(
            stderr.contains(&format!("{name}: export complete")),
            "{name}: {stderr}"
        );
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        let resources = job.resources();
        for layer in manifest["layers"].as_array().unwrap() {
            let resource = layer["resource"].as_str().unwrap();
            let wanted = resources.contains(&resource)
                || (resource == "sequence_points" && resources.contains(&"sequences"));
            if wanted {
                assert!(
                    layer["features"].as_u64().unwrap() > 0,
                    "{name}: no {resource} exported"
                );
            }
        }
        let plain = !job.has("usernames")
            && !job.has("userkeys")
            && !job.has("date_ranges")
            && !job.has("lookat")
            && !job.has("pano");

        if resources.contains(&"images") {
            let images = features(&dir.join("images.geojson"));
            assert!(!images.is_empty(), "{name}: no images");
            for image in &images {
                let at = position(&image["geometry"]["coordinates"]);
                assert!(job.inside(at), "{name}: image {at:?} outside the areas");
            }
            if let Some(target) = job.table.get("lookat") {
                let target = numbers(target);
                let tolerance = if job.table.get("api").and_then(|a| a.as_str()) == Some("v4") {
                    number(&job.table["lookat_tolerance"])
                } else {
                    30.0 // the mock's (the API's) own rule for v3
                };
                for image in &images {
                    let p = &image["properties"];
                    if p["pano"] == Value::Bool(true) {
                        continue;
                    }
                    let at = position(&image["geometry"]["coordinates"]);
                    let ca = p["ca"].as_f64().unwrap();
                    let d = (bearing_deg(at, [target[0], target[1]]) - ca).rem_euclid(360.0);
                    assert!(
                        d.min(360.0 - d) <= tolerance + 1e-9,
                        "{name}: {p} looks away"
                    );
                }
            }
            if plain {
                let got: BTreeSet<&str> = images
                    .iter()
                    .map(|i| i["properties"]["key"].as_str().unwrap())
                    .collect();
                let want: BTreeSet<&str> = world
                    .images()
                    .filter(|i| job.inside([i.lon, i.lat]))
                    .map(|i| i.key.as_str())
                    .collect();
                assert_eq!(got, want, "{name}: images");
            }
        }
        if resources.contains(&"sequences") {
            let sequences = features(&dir.join("sequences.geojson"));
            assert!(!sequences.is_empty(), "{name}: no sequences");
            for sequence in &sequences {
                let vertices = sequence["geometry"]["coordinates"].as_array().unwrap();
                assert!(
                    vertices.iter().any(|v| job.inside(position(v))),
                    "{name}: a sequence that touches no area"
                );
            }
            if plain {
                let got: BTreeSet<&str> = sequences
                    .iter()
                    .map(|s| s["properties"]["key"].as_str().unwrap())
                    .collect();
                let want: BTreeSet<&str> = world
                    .sequences
                    .iter()
                    .filter(|s| s.images.iter().any(|i| job.inside([i.lon, i.lat])))
                    .map(|s| s.key.as_str())
                    .collect();
                assert_eq!(got, want, "{name}: sequences");
            }
        }
    }
}
