//! Issue 4 end to end: the real binary against the real mock API over HTTP, with faults
//! injected (each kind alone and the issue's mix), retries running out, and result-cap splitting
//! over a world dense enough to need several levels of quadrants.
#![allow(clippy::unwrap_used)]

mod common;

use common::{demo_world, entries, snapshot, truth::haversine_m};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mock_api::{FaultConfig, FaultKind, MockConfig, MockServer, Outage, RateLimitAnswer, World};
use model::Api;

/// The data files of an export: what must not change with faults and retries.
const DATA_EXTENSIONS: [&str; 8] = ["geojson", "csv", "gpx", "shp", "shx", "dbf", "prj", "cpg"];

/// Three areas of the demo world (a box, a circle, a box) times three date ranges: nine image
/// queries and three sequence queries.
const MIX_JOB: &str = r#"
name = "faulty"
[[areas]]
name = "montana"
bbox = [-113.98937, 46.85699, -113.98002, 46.86501]
[[areas]]
name = "uw"
closeto = [-122.3079, 47.6537]
radius = 450
[[areas]]
name = "csu"
bbox = [-105.095, 40.566, -105.078, 40.579]
[[date_ranges]]
start = "2014-01-01"
end = "2016-03-28"
[[date_ranges]]
start = "2016-03-28"
end = "2017-03-28"
[[date_ranges]]
start = "2017-03-28"
end = "2022-01-01"
"#;

/// Two boxes of the demo world, images and sequences: about 20 requests with `--result-cap 300`.
const SMALL_JOB: &str = r#"
name = "faulty"
[[areas]]
name = "montana"
bbox = [-113.98937, 46.85699, -113.98002, 46.86501]
[[areas]]
name = "csu"
bbox = [-105.095, 40.566, -105.078, 40.579]
"#;

/// `mly-export run JOB --out OUT --api-url <the mock's URL for api> EXTRA...` with the mock's
/// credential for that API.
fn run_api(
    api: Api,
    server: &MockServer,
    config: &MockConfig,
    job: &Path,
    out: &Path,
    extra: &[&str],
) -> Output {
    let (url, credential) = match api {
        Api::V3 => (
            server.v3_url(),
            ("MAPILLARY_CLIENT_ID", config.client_id.as_str()),
        ),
        Api::V4 => (
            server.v4_url(),
            ("MAPILLARY_ACCESS_TOKEN", config.access_token.as_str()),
        ),
    };
    common::run_job(job, out, &url, credential, extra)
}

fn assert_success(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        common::stderr(output)
    );
}

/// The data files (and fingerprints) of an export folder.
fn data_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let files: BTreeMap<String, Vec<u8>> = snapshot(dir)
        .into_iter()
        .filter(|(name, _)| {
            name == "fingerprints.tsv"
                || DATA_EXTENSIONS
                    .iter()
                    .any(|ext| name.ends_with(&format!(".{ext}")))
        })
        .collect();
    // images, sequences, sequence_points: 3 x (1 + 5 + 1 + 1) files, plus fingerprints.tsv.
    assert_eq!(files.len(), 25, "{:?}", files.keys().collect::<Vec<_>>());
    files
}

fn assert_same_files(actual: &BTreeMap<String, Vec<u8>>, expected: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in expected {
        assert!(actual[name] == *bytes, "{name} differs");
    }
}

/// The export of `job` against a fault-free mock of the demo world.
fn clean_export(job: &Path, root: &Path, extra: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let (server, config) = common::start_mock(demo_world(), FaultConfig::default());
    let out = root.join("clean");
    let output = run_api(Api::V3, &server, &config, job, &out, extra);
    assert_success(&output);
    assert_eq!(server.stats().faults.values().sum::<u64>(), 0);
    data_files(&out.join("faulty"))
}

/// The issue's "Done means": 15% server errors, 5% truncated bodies and a 40 requests/s rate
/// limit give the same data files, byte for byte, as no faults.
#[test]
fn a_hostile_api_gives_the_same_bytes_as_a_clean_one() {
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "faulty.toml", MIX_JOB);
    // A small cap makes the client split: about a hundred requests, so faults are certain.
    let extra = ["--result-cap", "100", "--max-attempts", "10"];
    let expected = clean_export(&job, root.path(), &extra);

    let (server, config) = common::start_mock(
        demo_world(),
        FaultConfig {
            seed: 4,
            server_error_rate: 0.15,
            truncate_rate: 0.05,
            rate_limit_rps: Some(40.0),
            ..FaultConfig::default()
        },
    );
    let out = root.path().join("hostile");
    let output = run_api(Api::V3, &server, &config, &job, &out, &extra);
    assert_success(&output);
    let stats = server.stats();
    assert!(stats.requests >= 100, "{stats:?}");
    assert!(stats.faults_of(FaultKind::ServerError) >= 5, "{stats:?}");
    assert!(stats.faults_of(FaultKind::Truncate) >= 1, "{stats:?}");
    assert_same_files(&data_files(&out.join("faulty")), &expected);
    // The summary counts the retries the faults caused, and the rate-limit answers apart.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("faulty/manifest.json")).unwrap()).unwrap();
    let summary = &manifest["summary"];
    let limited = stats.faults_of(FaultKind::RateLimited);
    let faults: u64 = stats.faults.values().sum::<u64>() - limited;
    assert_eq!(summary["retries"].as_u64(), Some(faults), "{stats:?}");
    assert_eq!(summary["rate_limited"].as_u64(), Some(limited), "{stats:?}");
}

/// Runs the small job against a mock with one kind of fault and checks the export equals a
/// clean run's, and that the mock did inject that fault.
fn survives(kind: FaultKind, faults: FaultConfig, extra: &[&str]) {
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "faulty.toml", SMALL_JOB);
    let mut args = SMALL_ARGS.to_vec();
    args.extend_from_slice(extra);
    let expected = small_clean_export();
    let (server, config) = common::start_mock(demo_world(), faults);
    let out = root.path().join("faulty-run");
    let output = run_api(Api::V3, &server, &config, &job, &out, &args);
    assert_success(&output);
    let stats = server.stats();
    assert!(stats.faults_of(kind) > 0, "no {kind:?} injected: {stats:?}");
    assert_eq!(
        stats.faults.keys().collect::<Vec<_>>(),
        vec![&kind],
        "{stats:?}"
    );
    assert_same_files(&data_files(&out.join("faulty")), expected);
}

const SMALL_ARGS: [&str; 4] = ["--result-cap", "300", "--max-attempts", "20"];

/// The small job's export against a fault-free mock, made once for every test.
fn small_clean_export() -> &'static BTreeMap<String, Vec<u8>> {
    static EXPORT: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    EXPORT.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let job = common::write_job(root.path(), "faulty.toml", SMALL_JOB);
        clean_export(&job, root.path(), &SMALL_ARGS)
    })
}

/// Faults of one kind at 40% (seeded: the first 20 draws hold several).
fn only(f: impl FnOnce(&mut FaultConfig)) -> FaultConfig {
    let mut faults = FaultConfig {
        seed: 7,
        ..FaultConfig::default()
    };
    f(&mut faults);
    faults
}

/// Each fault kind alone: the run succeeds with the same data. The cases run side by side
/// (their time is mostly backoff), each against its own mock.
#[test]
fn each_fault_kind_alone_is_retried_to_the_same_data() {
    let cases: Vec<(FaultKind, FaultConfig, &[&str])> = vec![
        (
            FaultKind::ServerError,
            only(|f| f.server_error_rate = 0.4),
            &[],
        ),
        // Half of them with `Retry-After: 1`, half without.
        (
            FaultKind::TooManyRequests,
            only(|f| f.too_many_requests_rate = 0.4),
            &[],
        ),
        (
            FaultKind::RateLimited,
            only(|f| f.rate_limit_rps = Some(5.0)),
            &[],
        ),
        (FaultKind::Reset, only(|f| f.reset_rate = 0.4), &[]),
        (FaultKind::Truncate, only(|f| f.truncate_rate = 0.4), &[]),
        (FaultKind::CutJson, only(|f| f.cut_json_rate = 0.4), &[]),
        (FaultKind::NotJson, only(|f| f.not_json_rate = 0.4), &[]),
        (
            FaultKind::Stall,
            only(|f| {
                f.stall_rate = 0.4;
                f.stall = Duration::from_secs(3);
            }),
            &["--timeout-secs", "1"],
        ),
    ];
    small_clean_export();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .into_iter()
            .map(|(kind, faults, extra)| (kind, scope.spawn(move || survives(kind, faults, extra))))
            .collect();
        handles
            .into_iter()
            .filter_map(|(kind, handle)| handle.join().err().map(|_| format!("{kind:?}")))
            .collect()
    });
    assert!(failures.is_empty(), "failed with: {failures:?} (see above)");
}

/// Retries that run out: exit code 1, an error naming the query (client id redacted), the
/// attempts and the time; the previous export untouched and nothing half-written left.
#[test]
fn exhausted_retries_fail_loudly_and_keep_the_previous_export() {
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "faulty.toml", SMALL_JOB);
    let out = root.path().join("out");
    let (server, config) = common::start_mock(demo_world(), FaultConfig::default());
    assert_success(&run_api(Api::V3, &server, &config, &job, &out, &[]));
    let previous = snapshot(&out.join("faulty"));
    let before = entries(&out);
    assert_eq!(
        before,
        BTreeSet::from(["faulty".to_owned(), ".mly-cache".to_owned()])
    );

    let (failing, config) = common::start_mock(
        demo_world(),
        FaultConfig {
            server_error_rate: 1.0,
            ..FaultConfig::default()
        },
    );
    let output = run_api(
        Api::V3,
        &failing,
        &config,
        &job,
        &out,
        &["--max-attempts", "2"],
    );
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    let prefix = format!("GET {}/", failing.v3_url());
    let line = stderr
        .lines()
        .find(|l| l.contains(&prefix) && l.contains("failed after 2 attempts in "))
        .unwrap_or_else(|| panic!("no error naming the query:\n{stderr}"));
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains("client_id=***"), "{line}");
    assert!(!stderr.contains(&config.client_id), "{stderr}");
    // The time spent: "in <seconds>s", at least the one backoff between the two attempts.
    let seconds: f64 = line
        .split("failed after 2 attempts in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line}"));
    assert!(seconds >= 0.0, "{line}");
    // The cause: the server's error.
    assert!(line.contains("HTTP 50"), "{line}");
    // Four queries (two boxes, images and sequences), none tried more than twice.
    let requests = failing.stats().requests;
    assert!((2..=8).contains(&requests), "{requests} requests");

    assert_eq!(snapshot(&out.join("faulty")), previous);
    let after = entries(&out);
    assert!(
        after.iter().all(|n| !n.contains(".partial-")),
        "partial folder left: {after:?}"
    );
    assert_eq!(after, before);
}

/// A dense world and a mock that cuts every query at 500 items: the client must split
/// recursively (the dense core needs more than one level) and the export must still be exact.
/// `area` is the job's area line; `inside` the truth's test of an image.
fn cap_splitting_is_exact(area: &str, inside: &dyn Fn(&mock_api::MockImage) -> bool) {
    let world = Arc::new(World::dense(DENSE_CENTER, 4000, 11));
    let config = MockConfig {
        world: world.clone(),
        result_cap: 500,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config.clone(), 0).unwrap();
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(
        root.path(),
        "dense.toml",
        &format!(
            "name = \"faulty\"\nresources = [\"images\"]\nformats = [\"geojson\"]\n\
             [[areas]]\n{area}\n"
        ),
    );
    let out = root.path().join("out");
    let output = run_api(
        Api::V3,
        &server,
        &config,
        &job,
        &out,
        &["--result-cap", "500"],
    );
    assert_success(&output);

    let truth: BTreeSet<String> = world
        .images()
        .filter(|i| inside(i))
        .map(|i| i.key.clone())
        .collect();
    // The area holds several times the cap: one query cannot return it.
    assert!(truth.len() > 4 * 500, "{}", truth.len());
    let exported = common::geojson_features(&out.join("faulty/images.geojson"), "key");
    assert_eq!(exported.len(), truth.len());
    assert!(exported.keys().cloned().collect::<BTreeSet<_>>() == truth);

    // The area is one cell: more than one split means a quadrant was split again.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("faulty/manifest.json")).unwrap()).unwrap();
    let splits = manifest["summary"]["splits"].as_u64().unwrap();
    assert!(splits > 1, "splits: {splits}");
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains(&format!("retries, {splits} splits)")),
        "{stderr}"
    );
    // Each split replaced a query by four.
    assert_eq!(
        server.stats().requests_to("/v3/images"),
        1 + 4 * splits,
        "one page per leaf (at most 500 items, under per_page)"
    );
}

const DENSE_CENTER: [f64; 2] = [-111.05, 45.66];

#[test]
fn a_box_over_the_result_cap_is_split_until_exact() {
    let bbox = [-111.062, 45.652, -111.036, 45.671];
    cap_splitting_is_exact(
        &format!(
            "bbox = [{}, {}, {}, {}]",
            bbox[0], bbox[1], bbox[2], bbox[3]
        ),
        &|i| bbox[0] <= i.lon && i.lon <= bbox[2] && bbox[1] <= i.lat && i.lat <= bbox[3],
    );
}

#[test]
fn a_circle_over_the_result_cap_is_split_until_exact() {
    let (lon, lat, radius) = (-111.0485, 45.6612, 300.0);
    cap_splitting_is_exact(
        &format!("closeto = [{lon}, {lat}]\nradius = {radius}"),
        &|i| haversine_m([lon, lat], [i.lon, i.lat]) <= radius,
    );
}

/// The client-side rate limit keeps a run under the API's quota: against a mock that answers
/// 429 beyond 5 requests a second, an unlimited run is throttled, a run limited to 4 a second
/// never is, and both export the same data.
#[test]
fn requests_per_second_keeps_the_run_under_the_quota() {
    let quota = FaultConfig {
        rate_limit_rps: Some(5.0),
        ..FaultConfig::default()
    };
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "faulty.toml", SMALL_JOB);
    let expected = small_clean_export();

    let (server, config) = common::start_mock(demo_world(), quota.clone());
    let out = root.path().join("unlimited");
    assert_success(&run_api(Api::V3, &server, &config, &job, &out, &SMALL_ARGS));
    let unlimited = server.stats();
    assert!(unlimited.requests > 10, "{unlimited:?}");
    assert!(
        unlimited.faults_of(FaultKind::RateLimited) > 0,
        "the quota never bit: {unlimited:?}"
    );
    assert_same_files(&data_files(&out.join("faulty")), expected);

    let (server, config) = common::start_mock(demo_world(), quota);
    let out = root.path().join("limited");
    let mut args = SMALL_ARGS.to_vec();
    args.extend_from_slice(&["--requests-per-second", "4"]);
    assert_success(&run_api(Api::V3, &server, &config, &job, &out, &args));
    let limited = server.stats();
    assert_eq!(limited.faults_of(FaultKind::RateLimited), 0, "{limited:?}");
    assert_same_files(&data_files(&out.join("faulty")), expected);
}

/// The mock world of the rate-limit runs: over 2,000 images in one v4 cell, in few sequences.
const RATE_LIMIT_CENTER: [f64; 2] = [-113.985, 46.861];

/// A v4 job over more than 0.01 square degrees (two cells; the world lies in the first one).
fn rate_limit_job(dir: &Path, extra: &str) -> (std::path::PathBuf, [f64; 4]) {
    let [lon, lat] = RATE_LIMIT_CENTER;
    let bbox = [lon - 0.03, lat - 0.045, lon + 0.09, lat + 0.045];
    let toml = format!(
        "name = \"quota\"\napi = \"v4\"\n{extra}\n[[areas]]\nbbox = [{}, {}, {}, {}]\n",
        bbox[0], bbox[1], bbox[2], bbox[3]
    );
    (common::write_job(dir, "quota.toml", &toml), bbox)
}

/// Every request after the first `after` refused for `secs` seconds, answered as `answer` says.
fn quota_outage(answer: RateLimitAnswer, after: u64, secs: u64) -> FaultConfig {
    FaultConfig {
        rate_limit_answer: answer,
        outage: Some(Outage {
            after_requests: after,
            duration: Duration::from_secs(secs),
        }),
        ..FaultConfig::default()
    }
}

/// Issue 13's "Done means": a mock that allows 2 requests a second, answers code 4 without
/// `Retry-After` beyond that (HTTP 400, as the live API also does), and refuses every request
/// for 30 seconds in the middle of the run. The v4 export of a dense area still ends with
/// exit 0 and exactly the world's images, sequences and points; the manifest reports the
/// rate-limit answers and the waiting; the progress lines show it.
#[test]
fn a_v4_export_waits_out_rate_limits_and_an_outage_to_the_exact_data() {
    use common::truth::{TestArea, V4, assert_images_equal, assert_sequences_equal};
    let world = Arc::new(World::dense(RATE_LIMIT_CENTER, 2200, 13));
    let (server, config) = common::start_mock(
        world.clone(),
        FaultConfig {
            rate_limit_rps: Some(2.0),
            ..quota_outage(RateLimitAnswer::Live400, 8, 30)
        },
    );
    let root = tempfile::tempdir().unwrap();
    let (job, bbox) = rate_limit_job(root.path(), "");
    let out = root.path().join("out");
    let output = run_api(Api::V4, &server, &config, &job, &out, &[]);
    assert_success(&output);

    let dir = out.join("quota");
    let areas = [TestArea::Bbox(bbox)];
    let images = common::truth::truth_images(&world, &areas, |_| true);
    let sequences = common::truth::truth_sequences(&world, &areas, |_| true);
    assert!(
        images.len() > 2000,
        "{} images: under the v4 limit",
        images.len()
    );
    assert_images_equal(&dir, &images, V4);
    assert_sequences_equal(&dir, &sequences, V4);

    let stats = server.stats();
    let outage = stats.faults_of(FaultKind::Outage);
    let limited = stats.faults_of(FaultKind::RateLimited);
    assert!(outage > 0 && limited > 0, "{stats:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let summary = &manifest["summary"];
    assert!(summary["splits"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(
        summary["rate_limited"].as_u64(),
        Some(outage + limited),
        "{summary}"
    );
    assert_eq!(summary["retries"].as_u64(), Some(0), "{summary}");
    assert_eq!(
        summary["requests"].as_u64(),
        Some(stats.requests),
        "{summary}"
    );
    // The outage alone is 30 s of refusals: the run waited at least that long in pauses.
    let waited = summary["rate_limit_wait_seconds"].as_f64().unwrap();
    assert!(waited >= 29.0, "{summary}");
    let stderr = common::stderr(&output);
    assert!(stderr.contains("fetch: rate limited: waiting "), "{stderr}");
    assert!(stderr.contains(" req/s ("), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{:<16} {} rate-limit answers, ",
            "rate limits",
            outage + limited
        )),
        "{stderr}"
    );
}

/// A quota used up for longer than the run may wait: exit 1 with the quota named and the
/// limit that applied; `max_rate_limit_wait_secs` sets it and `--max-rate-limit-wait-secs`
/// wins; `-v` logs every pause with the pace.
#[test]
fn the_rate_limit_wait_has_a_limit_the_job_sets_and_the_flag_overrides() {
    let world = Arc::new(World::dense(RATE_LIMIT_CENTER, 300, 13));
    let outage = quota_outage(RateLimitAnswer::Live429, 0, 600);
    let root = tempfile::tempdir().unwrap();
    let (job, _) = rate_limit_job(root.path(), "max_rate_limit_wait_secs = 2");
    for (extra, limit) in [
        (&["-v"][..], "2 s"),
        (&["-v", "--max-rate-limit-wait-secs", "4"], "4 s"),
    ] {
        let (server, config) = common::start_mock(world.clone(), outage.clone());
        let out = root.path().join("out");
        let started = std::time::Instant::now();
        let output = run_api(Api::V4, &server, &config, &job, &out, extra);
        let stderr = common::stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        for part in [
            "request quota is used up",
            "HTTP 429: Application request limit reached",
            &format!("would pass max_rate_limit_wait_secs ({limit})"),
            "rate limited: waiting 0.5 s, pace now ",
        ] {
            assert!(stderr.contains(part), "{part:?} missing:\n{stderr}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{stderr}");
        assert!(!out.join("quota").exists(), "no export is written");
    }
}
