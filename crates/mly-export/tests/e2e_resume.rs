//! Issue 4 end to end: resume after `kill -9` and Ctrl+C, `--fresh`, the atomic replacement of
//! an export killed at different moments, and the change report of a refresh. The real binary
//! runs against the real mock API over HTTP; a latency on the mock makes a run long enough to
//! interrupt, and the mock's request counter says when.
#![allow(clippy::unwrap_used)]

mod common;

use common::{demo_world, entries, snapshot, wait_for};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mock_api::{FaultConfig, MockConfig, MockServer, World};

/// Two boxes of the demo world, images and sequences; with `--result-cap 300` the client splits
/// a few times: about twenty requests.
const JOB: &str = r#"
name = "refresh"
[[areas]]
name = "montana"
bbox = [-113.98937, 46.85699, -113.98002, 46.86501]
[[areas]]
name = "csu"
bbox = [-105.095, 40.566, -105.078, 40.579]
"#;
const ARGS: [&str; 4] = ["--result-cap", "300", "--concurrency", "2"];
const NAME: &str = "refresh";
const LATENCY: Duration = Duration::from_millis(100);

fn start(world: Arc<World>, latency: Duration) -> (MockServer, MockConfig) {
    let faults = FaultConfig {
        latency,
        ..FaultConfig::default()
    };
    common::start_mock(world, faults)
}

/// The binary's command line for the job against `server`.
fn command(server: &MockServer, config: &MockConfig, job: &Path, out: &Path) -> Command {
    let url = server.v3_url();
    let mut args = vec!["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(["--api-url", &url]);
    args.extend(ARGS);
    common::command(&args, &[("MAPILLARY_CLIENT_ID", &config.client_id)])
}

fn run(server: &MockServer, config: &MockConfig, job: &Path, out: &Path, extra: &[&str]) -> Output {
    let output = command(server, config, job, out)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        common::stderr(&output)
    );
    output
}

/// Starts a run in the background; its stderr goes to `stderr`.
fn spawn(server: &MockServer, config: &MockConfig, job: &Path, out: &Path, stderr: &Path) -> Child {
    command(server, config, job, out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

/// The files that hold data: not the run's times and request counts (`manifest.json`,
/// `index.html`), nor what changed since the export before (`changes.tsv`).
fn data(snapshot: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    snapshot
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "manifest.json" | "index.html" | "changes.tsv"
            )
        })
        .map(|(n, b)| (n.clone(), b.clone()))
        .collect()
}

/// The export in `actual` holds the same files as `expected` (`changes.tsv` aside: it depends
/// on the export before), with the same data.
fn assert_same_data(actual: &Path, expected: &BTreeMap<String, Vec<u8>>) {
    let actual = snapshot(actual);
    let names = |s: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
        s.keys().filter(|n| *n != "changes.tsv").cloned().collect()
    };
    assert_eq!(names(&actual), names(expected), "file sets differ");
    for (name, bytes) in data(expected) {
        assert!(actual[&name] == bytes, "{name} differs");
    }
}

/// Runs the job again after an interrupted run and checks that it resumed: fewer requests than
/// a full run's `full`, pages reused from the cache, and the data of an uninterrupted run.
fn assert_resumes(
    server: &MockServer,
    config: &MockConfig,
    job: &Path,
    out: &Path,
    expected: &BTreeMap<String, Vec<u8>>,
    full: u64,
) {
    let before = server.stats().requests;
    run(server, config, job, out, &[]);
    let resumed = server.stats().requests - before;
    assert!(
        resumed < full,
        "{resumed} requests to resume, {full} for a full run"
    );
    let summary = &manifest(&out.join(NAME))["summary"];
    assert!(
        summary["pages_from_cache"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert_same_data(&out.join(NAME), expected);
}

/// A refresh that brought nothing new lists no keys.
fn assert_no_changes(export: &Path) {
    let changes = std::fs::read_to_string(export.join("changes.tsv")).unwrap();
    assert_eq!(changes, "change\tresource\tkey\n");
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn cache_dir(out: &Path) -> PathBuf {
    out.join(".mly-cache").join(NAME)
}

/// Complete pages in the job's cache: each chain's log (`*.pages`) ends every page record
/// with an `end` line (the mock's JSON bodies hold no newline).
fn cached_pages(out: &Path) -> usize {
    match std::fs::read_dir(cache_dir(out)) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pages"))
            .map(|p| {
                let bytes = std::fs::read(p).unwrap();
                bytes.windows(5).filter(|w| w == b"\nend\n").count()
            })
            .sum(),
        Err(_) => 0,
    }
}

/// A complete run of the job against a latency-free mock of `world`: its export and requests.
fn reference(world: Arc<World>, root: &Path, label: &str) -> (BTreeMap<String, Vec<u8>>, u64) {
    let (server, config) = start(world, Duration::ZERO);
    let job = common::write_job(root, "job.toml", JOB);
    let out = root.join(label);
    run(&server, &config, &job, &out, &[]);
    (snapshot(&out.join(NAME)), server.stats().requests)
}

#[test]
fn a_killed_run_resumes_and_fresh_starts_over() {
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "job.toml", JOB);
    let (expected, full) = reference(demo_world(), root.path(), "reference");
    assert!(full >= 12, "{full} requests: too few to interrupt");
    let (server, config) = start(demo_world(), LATENCY);
    let out = root.path().join("out");

    // kill -9 half way, then the same command again.
    let mut child = spawn(&server, &config, &job, &out, &root.path().join("1.err"));
    let running = wait_for(&mut child, "half the requests", || {
        server.stats().requests >= full / 2
    });
    assert!(running, "the run ended before it could be killed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(cached_pages(&out) > 0, "the killed run kept no page");
    assert!(!out.join(NAME).exists());
    assert_resumes(&server, &config, &job, &out, &expected, full);
    // A completed run leaves no cache: the next one sees new data.
    assert!(!cache_dir(&out).exists());

    // Killed again; --fresh ignores what it kept and fetches everything.
    let before = server.stats().requests;
    let mut child = spawn(&server, &config, &job, &out, &root.path().join("2.err"));
    let running = wait_for(&mut child, "half the requests", || {
        server.stats().requests >= before + full / 2
    });
    assert!(running, "the run ended before it could be killed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(cached_pages(&out) > 0);
    let before = server.stats().requests;
    run(&server, &config, &job, &out, &["--fresh"]);
    assert_eq!(server.stats().requests - before, full);
    let summary = &manifest(&out.join(NAME))["summary"];
    assert_eq!(summary["pages_from_cache"].as_u64(), Some(0), "{summary}");
    assert_same_data(&out.join(NAME), &expected);
    assert_no_changes(&out.join(NAME));
    assert!(!cache_dir(&out).exists());
}

#[test]
fn ctrl_c_stops_cleanly_and_the_rerun_resumes() {
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "job.toml", JOB);
    let (expected, full) = reference(demo_world(), root.path(), "reference");
    let (server, config) = start(demo_world(), LATENCY);
    let out = root.path().join("out");
    run(&server, &config, &job, &out, &[]);
    let previous = snapshot(&out.join(NAME));
    let listing = entries(&out);

    let before = server.stats().requests;
    let stderr = root.path().join("int.err");
    let mut child = spawn(&server, &config, &job, &out, &stderr);
    let running = wait_for(&mut child, "half the requests", || {
        server.stats().requests >= before + full / 2
    });
    assert!(running, "the run ended before it could be interrupted");
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(status.code(), Some(130), "stderr:\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // The previous export untouched, nothing half-written, the fetched pages kept.
    assert_eq!(snapshot(&out.join(NAME)), previous);
    assert_eq!(entries(&out), listing);
    assert!(cached_pages(&out) > 0, "the interrupted run kept no page");

    assert_resumes(&server, &config, &job, &out, &expected, full);
    assert_no_changes(&out.join(NAME));
    assert!(!cache_dir(&out).exists());
}

/// The demo world without some of its sequences (other data than the demo world's export).
fn smaller_world() -> Arc<World> {
    let mut world = World::demo();
    world
        .sequences
        .retain(|s| !s.key.starts_with(['A', 'B', 'C', 'D']));
    Arc::new(world)
}

/// A refresh killed at several moments (fetching, writing, committing) leaves exactly the old
/// export or exactly the new one, never a mix; the next run completes the refresh.
#[test]
fn a_killed_refresh_leaves_the_old_export_or_the_new_one() {
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "job.toml", JOB);
    let (old_server, old_config) = start(demo_world(), Duration::ZERO);
    // The new export as an uninterrupted refresh of the old one makes it.
    let reference_out = root.path().join("reference");
    let (new_reference_server, new_reference_config) = start(smaller_world(), Duration::ZERO);
    run(&old_server, &old_config, &job, &reference_out, &[]);
    run(
        &new_reference_server,
        &new_reference_config,
        &job,
        &reference_out,
        &[],
    );
    let new_export = snapshot(&reference_out.join(NAME));
    let full = new_reference_server.stats().requests;
    let (server, config) = start(smaller_world(), LATENCY);

    #[allow(clippy::type_complexity)]
    let moments: Vec<(&str, Box<dyn Fn(&Path, u64) -> bool>)> = vec![
        ("the first request", Box::new(|_, sent| sent >= 1)),
        (
            "half the requests",
            Box::new(move |_, sent| sent >= full / 2),
        ),
        (
            "the first file written",
            Box::new(|out, _| partial_files(out) > 0),
        ),
        (
            "the manifest written",
            Box::new(|out, _| partial_has(out, "manifest.json")),
        ),
    ];
    for (i, (moment, reached)) in moments.iter().enumerate() {
        let out = root.path().join(format!("out-{i}"));
        run(&old_server, &old_config, &job, &out, &[]);
        let old_export = snapshot(&out.join(NAME));
        assert_ne!(data(&old_export), data(&new_export));

        let before = server.stats().requests;
        let mut child = spawn(&server, &config, &job, &out, &root.path().join("k.err"));
        let running = wait_for(&mut child, moment, || {
            reached(&out, server.stats().requests - before)
        });
        // The early moments come well before the run can end.
        assert!(running || i == 3, "the run ended before {moment}");
        child.kill().unwrap();
        child.wait().unwrap();

        let now = snapshot(&out.join(NAME));
        let is_old = now == old_export;
        if !is_old {
            assert_eq!(
                now.keys().collect::<Vec<_>>(),
                new_export.keys().collect::<Vec<_>>(),
                "killed at {moment}: neither the old export nor the new one"
            );
            assert!(
                data(&now) == data(&new_export) && now["changes.tsv"] == new_export["changes.tsv"],
                "killed at {moment}: neither the old export nor the new one"
            );
            assert!(
                !manifest(&out.join(NAME))["summary"]["changes"].is_null(),
                "killed at {moment}: the new files with the old manifest"
            );
        }
        if i < 3 {
            assert!(is_old, "killed at {moment}, before the commit");
        }

        // The next run completes the refresh and clears what the killed one left.
        run(&server, &config, &job, &out, &[]);
        assert_same_data(&out.join(NAME), &new_export);
        if is_old {
            let changes = std::fs::read(out.join(NAME).join("changes.tsv")).unwrap();
            assert!(changes == new_export["changes.tsv"], "changes.tsv differs");
        } else {
            assert_no_changes(&out.join(NAME));
        }
        assert_eq!(
            entries(&out),
            BTreeSet::from([NAME.to_owned(), ".mly-cache".to_owned()]),
            "killed at {moment}: leftovers"
        );
    }
}

/// The export's temporary folders (`.<name>.partial-*`).
fn partials(out: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(out)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!(".{NAME}.partial-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn partial_files(out: &Path) -> usize {
    partials(out)
        .iter()
        .map(|p| std::fs::read_dir(p).map_or(0, |e| e.count()))
        .sum()
}

fn partial_has(out: &Path, name: &str) -> bool {
    partials(out).iter().any(|p| p.join(name).exists())
}

/// A refresh against changed data reports what changed, in the summary, the manifest and
/// `changes.tsv`, and the keys are exactly those that changed.
#[test]
fn a_refresh_reports_what_changed() {
    let bbox = [-105.095, 40.566, -105.078, 40.579];
    let in_box =
        |lon: f64, lat: f64| bbox[0] <= lon && lon <= bbox[2] && bbox[1] <= lat && lat <= bbox[3];
    let base = World::demo();
    // The sequences with an image in the box (v3 sequences match by any vertex).
    let touching: Vec<String> = base
        .sequences
        .iter()
        .filter(|s| s.images.iter().any(|i| in_box(i.lon, i.lat)))
        .map(|s| s.key.clone())
        .collect();
    assert!(touching.len() >= 8, "{}", touching.len());
    let (gone_first, gone_second) = (&touching[0..2], &touching[2..4]);
    let recast = &touching[4];
    let renamed_user = base
        .sequences
        .iter()
        .find(|s| s.key == touching[5])
        .unwrap()
        .user_key
        .clone();
    let first = {
        let mut w = base.clone();
        w.sequences.retain(|s| !gone_first.contains(&s.key));
        w
    };
    let second = {
        let mut w = base.clone();
        w.sequences.retain(|s| !gone_second.contains(&s.key));
        for user in w.users.iter_mut().filter(|u| u.key == renamed_user) {
            user.username.push_str(" (renamed)");
        }
        for s in &mut w.sequences {
            if s.key == *recast {
                s.camera_make = Some("Recast Camera Co".to_owned());
            }
            for image in s.images.iter_mut().filter(|i| i.user_key == renamed_user) {
                image.username.push_str(" (renamed)");
            }
        }
        w
    };

    // The truth, from the worlds.
    let images_in = |w: &World| -> BTreeSet<String> {
        w.images()
            .filter(|i| in_box(i.lon, i.lat))
            .map(|i| i.key.clone())
            .collect()
    };
    let sequences_in = |w: &World| -> BTreeSet<String> {
        w.sequences
            .iter()
            .filter(|s| s.images.iter().any(|i| in_box(i.lon, i.lat)))
            .map(|s| s.key.clone())
            .collect()
    };
    let mut expected: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut add = |change: &str, resource: &str, keys: &mut dyn Iterator<Item = &String>| {
        for key in keys {
            expected.insert((change.to_owned(), resource.to_owned(), key.clone()));
        }
    };
    let (i1, i2) = (images_in(&first), images_in(&second));
    let (s1, s2) = (sequences_in(&first), sequences_in(&second));
    add("added", "images", &mut i2.difference(&i1));
    add("removed", "images", &mut i1.difference(&i2));
    let renamed: BTreeSet<String> = second
        .images()
        .filter(|i| i.user_key == renamed_user && i1.contains(&i.key) && i2.contains(&i.key))
        .map(|i| i.key.clone())
        .collect();
    assert!(!renamed.is_empty());
    add("changed", "images", &mut renamed.iter());
    add("added", "sequences", &mut s2.difference(&s1));
    add("removed", "sequences", &mut s1.difference(&s2));
    add("changed", "sequences", &mut std::iter::once(recast));
    let count = |change: &str, resource: &str| {
        expected
            .iter()
            .filter(|(c, r, _)| c == change && r == resource)
            .count()
    };

    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(
        root.path(),
        "job.toml",
        &format!(
            "name = \"{NAME}\"\n[[areas]]\nbbox = [{}, {}, {}, {}]\n",
            bbox[0], bbox[1], bbox[2], bbox[3]
        ),
    );
    let out = root.path().join("out");
    let (server, config) = start(Arc::new(first), Duration::ZERO);
    let output = run(&server, &config, &job, &out, &[]);
    assert!(common::stderr(&output).contains("first export of this job"));
    assert!(!out.join(NAME).join("changes.tsv").exists());
    let (server, config) = start(Arc::new(second), Duration::ZERO);
    let output = run(&server, &config, &job, &out, &[]);

    let stderr = common::stderr(&output);
    for resource in ["images", "sequences"] {
        let line = format!(
            "{resource}: +{} added, -{} removed, ~{} changed",
            count("added", resource),
            count("removed", resource),
            count("changed", resource)
        );
        assert!(stderr.contains(&line), "no {line:?} in:\n{stderr}");
    }
    let counts = &manifest(&out.join(NAME))["summary"]["changes"]["counts"];
    for resource in ["images", "sequences"] {
        for change in ["added", "removed", "changed"] {
            assert_eq!(
                counts[resource][change].as_u64(),
                Some(count(change, resource) as u64),
                "{resource} {change}: {counts}"
            );
        }
    }
    let tsv = std::fs::read_to_string(out.join(NAME).join("changes.tsv")).unwrap();
    let mut lines = tsv.lines();
    assert_eq!(lines.next(), Some("change\tresource\tkey"));
    let listed: BTreeSet<(String, String, String)> = lines
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "{l}");
            (cols[0].to_owned(), cols[1].to_owned(), cols[2].to_owned())
        })
        .collect();
    assert_eq!(listed.len(), tsv.lines().count() - 1, "duplicate lines");
    assert_eq!(listed, expected);
}
