//! Issue 14, "two runs, one export", end to end against the real mock API:
//! - two runs of one job started at the same moment against the same `--out`: the second waits
//!   for the first's lock (and says so), both end with 0, the export is exact and nothing is
//!   left over; with `--no-wait` the second exits 1 at once naming the holder's pid; a run
//!   killed with `kill -9` leaves a lock file that holds nothing;
//! - two `[[areas]]` with the same geometry and different names: their requests are made once
//!   (as many as without the twin), the export is exact, and the manifest names every area.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::truth::{
    DEMO_AREAS, MONTANA_BBOX, V3, V4, assert_images_equal, assert_sequences_equal, demo_areas, job,
    truth_images, truth_sequences,
};
use common::{demo_world, entries, wait_for};
use mock_api::{FaultConfig, MockConfig, MockServer};
use serde_json::Value;

const NAME: &str = "twice";
/// Long enough for two runs to overlap: about twenty requests at concurrency 2.
const LATENCY: Duration = Duration::from_millis(100);
const ARGS: [&str; 4] = ["--result-cap", "300", "--concurrency", "2"];

fn slow_mock() -> (MockServer, MockConfig) {
    common::start_mock(
        demo_world(),
        FaultConfig {
            latency: LATENCY,
            ..FaultConfig::default()
        },
    )
}

/// The run of the job against `server`, its stderr piped.
fn command(server: &MockServer, config: &MockConfig, job: &Path, out: &Path) -> Command {
    let url = server.v3_url();
    let mut args = vec!["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(["--api-url", &url]);
    args.extend(ARGS);
    let mut cmd = common::command(&args, &[("MAPILLARY_CLIENT_ID", &config.client_id)]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

fn finish(child: Child) -> (Option<i32>, String) {
    let output = child.wait_with_output().unwrap();
    (output.status.code(), common::stderr(&output))
}

/// The export equals the demo areas' truth, and `out` holds only it and the cache folder, in
/// which only the job's lock file is left.
fn assert_exact_and_clean(out: &Path) {
    let world = demo_world();
    let areas = demo_areas();
    let dir = out.join(NAME);
    assert_images_equal(&dir, &truth_images(&world, &areas, |_| true), V3);
    assert_sequences_equal(&dir, &truth_sequences(&world, &areas, |_| true), V3);
    assert_eq!(entries(out), [NAME, ".mly-cache"].map(str::to_owned).into());
    assert_eq!(
        entries(&out.join(".mly-cache")),
        [format!("{NAME}.lock")].into()
    );
}

#[test]
fn two_runs_of_one_job_started_at_once_both_end_with_the_exact_export() {
    let tmp = tempfile::tempdir().unwrap();
    let job_file = common::write_job(tmp.path(), "twice.toml", &job(NAME, "v3", "", DEMO_AREAS));
    let out = tmp.path().join("out");
    let (server, config) = slow_mock();
    let first = command(&server, &config, &job_file, &out).spawn().unwrap();
    let second = command(&server, &config, &job_file, &out).spawn().unwrap();
    let results = [finish(first), finish(second)];
    for (code, stderr) in &results {
        assert_eq!(*code, Some(0), "{stderr}");
    }
    // One of them waited for the other (said once, on its stderr).
    let waited: usize = results
        .iter()
        .map(|(_, stderr)| stderr.matches("waiting for another mly-export run").count())
        .sum();
    assert_eq!(waited, 1, "{results:#?}");
    assert_exact_and_clean(&out);
}

#[test]
fn the_waiting_run_says_so_and_no_wait_exits_1_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let job_file = common::write_job(tmp.path(), "twice.toml", &job(NAME, "v3", "", DEMO_AREAS));
    let out = tmp.path().join("out");
    let (server, config) = slow_mock();

    let mut holder = command(&server, &config, &job_file, &out).spawn().unwrap();
    let running = wait_for(&mut holder, "the first request", || {
        server.stats().requests > 0
    });
    assert!(running, "the first run ended before the second started");
    // --no-wait: exit 1 while the holder still runs, naming its pid and the lock file.
    let refused: Output = command(&server, &config, &job_file, &out)
        .arg("--no-wait")
        .output()
        .unwrap();
    let stderr = common::stderr(&refused);
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the holder ended first"
    );
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("(pid {})", holder.id())),
        "{stderr}"
    );
    assert!(stderr.contains(".mly-cache/twice.lock"), "{stderr}");
    // Without it: the run waits, says so once, then does the job.
    let waiter = command(&server, &config, &job_file, &out).spawn().unwrap();
    let (code, holder_stderr) = finish(holder);
    assert_eq!(code, Some(0), "{holder_stderr}");
    let (code, stderr) = finish(waiter);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("waiting for another mly-export run").count(),
        1,
        "{stderr}"
    );
    assert!(!holder_stderr.contains("waiting"), "{holder_stderr}");
    assert_exact_and_clean(&out);

    // A run killed with kill -9 leaves its lock file, holding nothing: --no-wait runs at once.
    let mut killed = command(&server, &config, &job_file, &out).spawn().unwrap();
    let before = server.stats().requests;
    let running = wait_for(&mut killed, "a request", || {
        server.stats().requests > before
    });
    assert!(running, "the run ended before it could be killed");
    killed.kill().unwrap();
    killed.wait().unwrap();
    let output = command(&server, &config, &job_file, &out)
        .arg("--no-wait")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_exact_and_clean(&out);
}

/// The demo's areas plus a twin of the first: the same box, another name.
fn twin_areas() -> String {
    let [minx, miny, maxx, maxy] = MONTANA_BBOX;
    format!(
        "{DEMO_AREAS}\n[[areas]]\nname = \"campus-twin\"\nbbox = [{minx}, {miny}, {maxx}, {maxy}]\n"
    )
}

#[test]
fn areas_with_the_same_geometry_share_their_requests_and_are_all_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = common::start_mock(demo_world(), FaultConfig::default());
    let world = demo_world();
    let areas = demo_areas();
    for api in ["v3", "v4"] {
        let (url, credential) = match api {
            "v3" => (
                server.v3_url(),
                ("MAPILLARY_CLIENT_ID", config.client_id.as_str()),
            ),
            _ => (
                server.v4_url(),
                ("MAPILLARY_ACCESS_TOKEN", config.access_token.as_str()),
            ),
        };
        let mut requests = Vec::new();
        let twins = twin_areas();
        for (name, areas_toml) in [("single", DEMO_AREAS), ("twins", twins.as_str())] {
            let name = format!("{name}-{api}");
            let file = common::write_job(
                tmp.path(),
                &format!("{name}.toml"),
                &job(&name, api, "", areas_toml),
            );
            let out = tmp.path().join("out");
            let before = server.stats().requests;
            let output = common::run_job(&file, &out, &url, credential, &["-q"]);
            let stderr = common::stderr(&output);
            assert_eq!(output.status.code(), Some(0), "{name}: {stderr}");
            requests.push(server.stats().requests - before);
            let dir = out.join(&name);
            let skip = if api == "v4" { V4 } else { V3 };
            assert_images_equal(&dir, &truth_images(&world, &areas, |_| true), skip);
            assert_sequences_equal(&dir, &truth_sequences(&world, &areas, |_| true), skip);
            let manifest: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                    .unwrap();
            let named: Vec<(&str, Option<&str>)> = manifest["areas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a["name"].as_str().unwrap(), a["same_as"].as_str()))
                .collect();
            if areas_toml == twins {
                assert_eq!(
                    named,
                    [
                        ("montana-campus", None),
                        ("campus-east", None),
                        ("campus-twin", Some("montana-campus")),
                    ]
                );
                let check = common::run(&["check", file.to_str().unwrap()], &[]);
                let plan = String::from_utf8_lossy(&check.stdout);
                assert!(
                    plan.contains("montana-campus/images + campus-twin/images"),
                    "{plan}"
                );
            } else {
                assert_eq!(named, [("montana-campus", None), ("campus-east", None)]);
            }
        }
        assert_eq!(requests[0], requests[1], "{api}: the twin area's requests");
    }
}
