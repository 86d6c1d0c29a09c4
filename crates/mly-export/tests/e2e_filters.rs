//! End to end, issue 9 (`pano` and `lookat` in job files): the real binary against the real
//! mock over HTTP, v3 and v4. Panorama filters keep exactly the panoramas (or the others),
//! images and sequences; v3 `lookat` is the API's own rule, v4 `lookat` the tool's rule with the
//! job's `lookat_tolerance`; sequences are never filtered by `lookat`; the seed's example job
//! exports images that look at the University of Washington.
#![allow(clippy::unwrap_used)]

mod common;

use common::truth::*;

use std::path::Path;

use mock_api::{MockConfig, MockImage, MockServer, World};
use serde_json::Value;

/// The seed's University of Washington search: 200 m around the campus's central point, which
/// is also the `lookat` place.
const UW: [f64; 2] = [-122.3079, 47.6537];
const UW_AREA: &str = r#"
[[areas]]
name = "uw"
closeto = [-122.3079, 47.6537]
radius = 200
"#;

/// The lookat rule (the mock's for v3, README's for v4): a panorama, or a camera angle within
/// `tolerance` degrees of the bearing from the image to `target`.
fn looks_at(image: &MockImage, target: [f64; 2], tolerance: f64) -> bool {
    image.pano
        || image.ca.is_some_and(|ca| {
            let d = (bearing_deg([image.lon, image.lat], target) - ca).rem_euclid(360.0);
            d.min(360.0 - d) <= tolerance
        })
}

fn skip(api: &str) -> ApiForm {
    if api == "v4" { V4 } else { V3 }
}

/// Runs `mly-export run JOBS --mock --out OUT -q` and checks it succeeded.
fn run_mock(jobs: &[&Path], out: &Path) {
    let mut args = vec!["run".to_owned()];
    args.extend(jobs.iter().map(|j| j.to_str().unwrap().to_owned()));
    args.extend(["--mock", "--out", out.to_str().unwrap(), "-q"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::run(&args, &[]);
    assert!(
        output.status.success(),
        "{args:?} failed ({:?}):\n{}",
        output.status.code(),
        common::stderr(&output)
    );
}

/// How many records a filter left out, from the manifest.
fn filtered(dir: &Path, resource: &str, reason: &str) -> u64 {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["summary"]["resources"][resource]["filtered"][reason]
        .as_u64()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------

#[test]
fn pano_true_and_false_keep_exactly_the_panoramas_or_the_others_in_v3_and_v4() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut jobs = Vec::new();
    for api in ["v3", "v4"] {
        for pano in [true, false] {
            let name = format!("pano-{pano}-{api}");
            let toml = job(&name, api, &format!("pano = {pano}"), DEMO_AREAS);
            jobs.push(common::write_job(
                tmp.path(),
                &format!("{name}.toml"),
                &toml,
            ));
        }
    }
    let job_refs: Vec<&Path> = jobs.iter().map(|p| p.as_path()).collect();
    run_mock(&job_refs, &out);

    let world = World::demo();
    let areas = demo_areas();
    for api in ["v3", "v4"] {
        let mut all_images = 0;
        for pano in [true, false] {
            let dir = out.join(format!("pano-{pano}-{api}"));
            let images = truth_images(&world, &areas, |i| i.pano == pano);
            let sequences = truth_sequences(&world, &areas, |s| s.pano == pano);
            assert!(
                !images.is_empty() && !sequences.is_empty(),
                "{api} pano {pano}"
            );
            all_images += images.len();
            assert_images_equal(&dir, &images, skip(api));
            assert_sequences_equal(&dir, &sequences, skip(api));
        }
        assert_eq!(all_images, truth_images(&world, &areas, |_| true).len());
    }
    // v3 sequences have no pano parameter: the tool filtered them (v4 asks the API, is_pano).
    assert!(filtered(&out.join("pano-true-v3"), "sequences", "pano") > 0);
}

#[test]
fn v3_lookat_is_the_apis_own_rule_and_leaves_sequences_alone() {
    // The API decides (here with a tolerance of 50 degrees); the job's lookat_tolerance is v4's.
    let world = World::demo();
    let config = MockConfig {
        lookat_tolerance_deg: 50.0,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config.clone(), 0).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let extra = "lookat = [-122.3079, 47.6537]\nlookat_tolerance = 30";
    let job_path = common::write_job(
        tmp.path(),
        "v3.toml",
        &job("lookat-v3", "v3", extra, UW_AREA),
    );
    let url = server.v3_url();
    let credential = ("MAPILLARY_CLIENT_ID", config.client_id.as_str());
    let output = common::run_job(&job_path, &out, &url, credential, &["-q"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let dir = out.join("lookat-v3");
    let areas = [TestArea::Circle(UW, 200.0)];
    let images = truth_images(&world, &areas, |i| looks_at(i, UW, 50.0));
    let all = truth_images(&world, &areas, |_| true);
    assert!(!images.is_empty() && images.len() < all.len());
    // Not the tool's rule with the job's 30 degrees.
    assert_ne!(
        images.len(),
        truth_images(&world, &areas, |i| looks_at(i, UW, 30.0)).len()
    );
    assert_images_equal(&dir, &images, V3);
    // Sequences: every sequence with a vertex in the area, as without lookat.
    assert_sequences_equal(&dir, &truth_sequences(&world, &areas, |_| true), V3);

    // `check` says so.
    let check = common::run(&["check", job_path.to_str().unwrap()], &[]);
    assert!(check.status.success(), "{}", common::stderr(&check));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("lookat does not apply"), "{text}");
}

#[test]
fn v4_lookat_is_the_tools_rule_with_the_jobs_tolerance_and_leaves_sequences_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let tolerances = [30.0, 60.0];
    let jobs: Vec<_> = tolerances
        .iter()
        .map(|t| {
            let name = format!("lookat-{t}-v4");
            let extra = format!("lookat = [-122.3079, 47.6537]\nlookat_tolerance = {t}");
            common::write_job(
                tmp.path(),
                &format!("{name}.toml"),
                &job(&name, "v4", &extra, UW_AREA),
            )
        })
        .collect();
    let job_refs: Vec<&Path> = jobs.iter().map(|p| p.as_path()).collect();
    run_mock(&job_refs, &out);

    let world = World::demo();
    let areas = [TestArea::Circle(UW, 200.0)];
    let all = truth_images(&world, &areas, |_| true);
    let sequences = truth_sequences(&world, &areas, |_| true);
    let mut counts = Vec::new();
    for t in tolerances {
        let dir = out.join(format!("lookat-{t}-v4"));
        let images = truth_images(&world, &areas, |i| looks_at(i, UW, t));
        assert!(
            !images.is_empty() && images.len() < all.len(),
            "tolerance {t}"
        );
        assert_images_equal(&dir, &images, V4);
        assert_eq!(
            filtered(&dir, "images", "lookat") as usize,
            all.len() - images.len(),
            "tolerance {t}"
        );
        // Sequences are not filtered by lookat: all of them, whole.
        assert_sequences_equal(&dir, &sequences, V4);
        counts.push(images.len());
    }
    assert!(
        counts[0] < counts[1],
        "a wider tolerance keeps more: {counts:?}"
    );
}

#[test]
fn the_seed_lookat_examples_export_images_looking_at_the_campus() {
    let workspace = common::workspace();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let v3_job = workspace.join("jobs/uw-lookat.toml");
    let v4_job = workspace.join("jobs/uw-lookat-v4.toml");
    run_mock(&[&v3_job, &v4_job], &out);
    let world = World::demo();
    let areas = [TestArea::Circle(UW, 200.0)];
    // v3: the mock API's rule (its default tolerance, 30 degrees).
    let images = truth_images(&world, &areas, |i| looks_at(i, UW, 30.0));
    assert!(!images.is_empty());
    assert_images_equal(&out.join("uw-lookat"), &images, V3);
    // v4: the tool's rule with the job's tolerance.
    let text = std::fs::read_to_string(&v4_job).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let tolerance = doc["lookat_tolerance"]
        .as_float()
        .unwrap_or_else(|| doc["lookat_tolerance"].as_integer().unwrap() as f64);
    let target: Vec<f64> = doc["lookat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_float().unwrap())
        .collect();
    assert_eq!(target, UW);
    let images = truth_images(&world, &areas, |i| looks_at(i, UW, tolerance));
    assert!(!images.is_empty());
    assert_images_equal(&out.join("uw-lookat-v4"), &images, V4);
}
