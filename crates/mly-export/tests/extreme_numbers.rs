//! Issue 14, "bad input must never panic": every numeric job key and every numeric flag of
//! `run` and `mock-api`, fed extreme values (0, negative, tiny, huge, inf, NaN, integers past
//! 64 bits), through the real binary. A value outside the documented range (README) is bad
//! usage: exit 2 with the key or flag named, no panic text, nothing written. A value inside it
//! is accepted, and a run at every flag's documented bounds ends without a panic.
#![allow(clippy::unwrap_used)]

mod common;

use std::ops::RangeInclusive;
use std::path::Path;
use std::process::Output;

use mly_export::job;
use mly_export::limits::{self, Span};
use proptest::prelude::*;

/// Extreme numbers as text: fixed corner cases, then any float (every magnitude and sign) and
/// any 64-bit integer.
fn extreme() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "0",
            "-0",
            "-1",
            "0.5",
            "nan",
            "inf",
            "-inf",
            "1e-30",
            "5e-324",
            "1e20",
            "1e308",
            "1e400",
            "18446744073709551616",
            "-9223372036854775808",
            "9223372036854775807",
        ])
        .prop_map(str::to_owned),
        any::<f64>().prop_map(|x| format!("{x:e}")),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// `x` as a TOML value (TOML spells NaN and infinity in lower case).
fn toml_number(text: &str) -> String {
    match text {
        "NaN" => "nan".into(),
        "-NaN" => "-nan".into(),
        other => other.to_owned(),
    }
}

fn no_panic(output: &Output) -> Result<String, TestCaseError> {
    let stderr = common::stderr(output);
    prop_assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    prop_assert_ne!(output.status.code(), Some(101), "{}", stderr);
    Ok(stderr)
}

/// A numeric job key and a job text with `VALUE` in its place.
const JOB_KEYS: &[(&str, &str)] = &[
    (
        "requests_per_second",
        "name = \"x\"\nrequests_per_second = VALUE\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    ),
    (
        "max_attempts",
        "name = \"x\"\nmax_attempts = VALUE\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    ),
    (
        "lookat_tolerance",
        "name = \"x\"\nlookat = [0, 0]\nlookat_tolerance = VALUE\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    ),
    (
        "lookat",
        "name = \"x\"\nlookat = [VALUE, 0]\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    ),
    (
        "areas[1].radius",
        "name = \"x\"\n[[areas]]\ncloseto = [0, 0]\nradius = VALUE\n",
    ),
    (
        "areas[1].closeto",
        "name = \"x\"\n[[areas]]\ncloseto = [0, VALUE]\n",
    ),
    (
        "areas[1].bbox",
        "name = \"x\"\n[[areas]]\nbbox = [-1, -1, VALUE, 1]\n",
    ),
];

/// The job's value of `key` is inside its documented range (the loader accepted it).
fn accepted_in_range(job: &job::Job, key: &str) -> bool {
    match key {
        "requests_per_second" => job
            .requests_per_second
            .is_some_and(|r| limits::REQUESTS_PER_SECOND.contains(r)),
        "max_attempts" => job
            .max_attempts
            .is_some_and(|n| limits::MAX_ATTEMPTS.contains(&u64::from(n.get()))),
        "lookat_tolerance" => limits::LOOKAT_TOLERANCE_DEG.contains(job.lookat_tolerance_deg),
        "lookat" => job
            .lookat
            .is_some_and(|[lon, _]| (-180.0..=180.0).contains(&lon)),
        "areas[1].radius" => match job.areas[0].area {
            model::Area::Closeto { radius_m, .. } => limits::RADIUS_M.contains(radius_m),
            model::Area::Bbox(_) => false,
        },
        "areas[1].closeto" => {
            let b = job.areas[0].area.bounding_box();
            (-90.0..=90.0).contains(&b[1]) && (-90.0..=90.0).contains(&b[3])
        }
        "areas[1].bbox" => match job.areas[0].area {
            model::Area::Bbox(b) => b[2] > -1.0 && b[2] <= 180.0,
            model::Area::Closeto { .. } => false,
        },
        _ => false,
    }
}

/// How a numeric flag is checked.
#[derive(Debug, Clone)]
enum FlagRange {
    Whole(RangeInclusive<u64>),
    Real(Span),
}

impl FlagRange {
    fn accepts(&self, text: &str) -> bool {
        match self {
            // As clap's ranged parser reads a whole number: through i64, so `-0` is 0.
            FlagRange::Whole(range) => text
                .parse::<i64>()
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .is_some_and(|n| range.contains(&n)),
            FlagRange::Real(span) => text.parse::<f64>().is_ok_and(|x| span.contains(x)),
        }
    }
}

fn run_flags() -> Vec<(&'static str, FlagRange)> {
    vec![
        ("--concurrency", FlagRange::Whole(limits::CONCURRENCY)),
        ("--max-attempts", FlagRange::Whole(limits::MAX_ATTEMPTS)),
        (
            "--requests-per-second",
            FlagRange::Real(limits::REQUESTS_PER_SECOND),
        ),
        ("--timeout-secs", FlagRange::Real(limits::TIMEOUT_SECS)),
        (
            "--max-rate-limit-wait-secs",
            FlagRange::Real(limits::MAX_RATE_LIMIT_WAIT_SECS),
        ),
        ("--result-cap", FlagRange::Whole(limits::RESULT_CAP)),
        ("--v4-limit", FlagRange::Whole(limits::V4_LIMIT)),
    ]
}

fn mock_flags() -> Vec<(&'static str, FlagRange)> {
    let rate = FlagRange::Real(limits::MOCK_FAULT_RATE);
    vec![
        ("--port", FlagRange::Whole(0..=u64::from(u16::MAX))),
        ("--result-cap", FlagRange::Whole(limits::RESULT_CAP)),
        ("--fail-rate", rate.clone()),
        ("--too-many-requests-rate", rate.clone()),
        ("--truncate-rate", rate.clone()),
        ("--cut-json-rate", rate.clone()),
        ("--not-json-rate", rate.clone()),
        ("--reset-rate", rate.clone()),
        ("--stall-rate", rate),
        ("--stall-ms", FlagRange::Whole(limits::MOCK_DELAY_MS)),
        ("--latency-ms", FlagRange::Whole(limits::MOCK_DELAY_MS)),
        ("--rate-limit", FlagRange::Real(limits::REQUESTS_PER_SECOND)),
        ("--seed", FlagRange::Whole(0..=u64::MAX)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// The loader accepts a value only inside its range; otherwise it names the key, and
    /// `check` exits 2 with `KEY:` on stderr.
    #[test]
    fn every_numeric_job_key_refuses_extremes_by_name(
        which in 0..JOB_KEYS.len(),
        value in extreme(),
    ) {
        let (key, template) = JOB_KEYS[which];
        let text = template.replace("VALUE", &toml_number(&value));
        let tmp = tempfile::tempdir().unwrap();
        let path = common::write_job(tmp.path(), "x.toml", &text);
        let output = common::run(&["check", path.to_str().unwrap()], &[]);
        let stderr = no_panic(&output)?;
        match job::parse(Path::new("x.toml"), &text) {
            Ok(job) => {
                prop_assert!(accepted_in_range(&job, key), "{key} = {value} accepted: {job:?}");
                prop_assert_eq!(output.status.code(), Some(0), "{}", stderr);
            }
            Err(errors) => {
                prop_assert!(
                    errors.errors.iter().any(|e| e.key == key),
                    "{key} = {value}: {errors}"
                );
                prop_assert_eq!(output.status.code(), Some(2), "{}", stderr);
                let named = format!(": {key}: ");
                prop_assert!(stderr.contains(&named), "{stderr}");
            }
        }
    }

    /// `run` and `mock-api` refuse an out-of-range value of any numeric flag before doing
    /// anything: exit 2, the flag named, no output folder.
    #[test]
    fn every_numeric_flag_refuses_extremes_by_name(
        mock in any::<bool>(),
        which in 0usize..64,
        value in extreme(),
        joined in any::<bool>(),
    ) {
        let flags = if mock { mock_flags() } else { run_flags() };
        let (flag, range) = &flags[which % flags.len()];
        // An accepted value would start a run or a server: those are covered below.
        prop_assume!(!range.accepts(&value));
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let demo = common::workspace().join("jobs/demo.toml");
        let mut args: Vec<String> = if mock {
            vec!["mock-api".into()]
        } else {
            vec![
                "run".into(),
                demo.to_str().unwrap().into(),
                "--mock".into(),
                "--out".into(),
                out.to_str().unwrap().into(),
            ]
        };
        if joined {
            args.push(format!("{flag}={value}"));
        } else {
            args.push((*flag).into());
            args.push(value.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = common::run(&args, &[]);
        let stderr = no_panic(&output)?;
        prop_assert_eq!(output.status.code(), Some(2), "{} {}: {}", flag, value, stderr);
        prop_assert!(stderr.contains(flag), "{flag} not named: {stderr}");
        prop_assert!(!out.exists(), "{flag} {value}: output written");
    }
}

/// The cases, one by one.
#[test]
fn the_reported_panics_and_the_quiet_default_are_bad_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let demo = common::workspace().join("jobs/demo.toml");
    let demo = demo.to_str().unwrap();
    for (flag, value) in [
        ("--timeout-secs", "1e20"),
        ("--timeout-secs", "inf"),
        ("--requests-per-second", "1e-30"),
        ("--max-attempts", "0"),
        ("--concurrency", "18446744073709551615"),
    ] {
        let output = common::run(
            &[
                "run",
                demo,
                "--mock",
                "--out",
                out.to_str().unwrap(),
                flag,
                value,
            ],
            &[],
        );
        let stderr = common::stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert!(!out.exists(), "{flag} {value}");
    }
    let job = common::write_job(
        tmp.path(),
        "slow.toml",
        "name = \"slow\"\nrequests_per_second = 1e-30\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    );
    let output = common::run(
        &[
            "run",
            job.to_str().unwrap(),
            "--mock",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("slow.toml:2:23: requests_per_second: 1e-30 is out of range"));
    assert!(!out.exists());
}

/// Every flag at its documented bounds: the code holds them (one request, so the slowest
/// rate does not wait).
#[test]
fn runs_at_the_documented_bounds_end_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let job = common::write_job(
        tmp.path(),
        "one.toml",
        "name = \"one\"\nresources = [\"images\"]\nformats = [\"csv\"]\n[[areas]]\ncloseto = [-113.9805, 46.8610]\nradius = 50\n",
    );
    let job = job.to_str().unwrap();
    for bounds in [
        [
            "--concurrency=1000",
            "--max-attempts=100",
            "--requests-per-second=1000000",
            "--timeout-secs=86400",
            "--result-cap=1000000000",
            "--v4-limit=2000",
        ],
        [
            "--concurrency=1",
            "--max-attempts=1",
            "--requests-per-second=0.001",
            "--timeout-secs=5",
            "--result-cap=1000000000",
            "--v4-limit=1",
        ],
    ] {
        let out = tmp.path().join("out");
        let mut args = vec!["run", job, "--mock", "-q", "--out", out.to_str().unwrap()];
        args.extend(bounds);
        let output = common::run(&args, &[]);
        let stderr = common::stderr(&output);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(output.status.code(), Some(0), "{bounds:?}: {stderr}");
        assert!(out.join("one/images.csv").is_file());
    }
    // The shortest timeout: every request times out or not, but nothing panics.
    let out = tmp.path().join("short");
    let output = common::run(
        &[
            "run",
            job,
            "--mock",
            "-q",
            "--out",
            out.to_str().unwrap(),
            "--timeout-secs",
            "0.001",
            "--max-attempts",
            "1",
        ],
        &[],
    );
    let stderr = common::stderr(&output);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(output.status.code(), Some(0 | 1)), "{stderr}");
}
