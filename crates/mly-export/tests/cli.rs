//! End to end, issue 7 (the person running it) and issue 8's job-name and `--out` rules: the
//! real `mly-export` binary, its exit codes, its stderr, `check`, `-q`, colours, and the safety
//! of the output folder and of CSV text cells.
//!
//! - Exit codes: 0 success; 2 bad usage, unknown subcommand, bad job file, missing token (the
//!   message names the variable and suggests `--mock`; nothing is requested); 1 a failed run;
//!   `--help` documents them.
//! - A bad job file reports every problem at once as `FILE:LINE:COLUMN: KEY: message`, at the
//!   place computed here from the file's text; no panic text, ever.
//! - `check` prints each query with its filters, the tool's own filters and, for v4, the cells
//!   (each under 0.01 square degrees, tiling the box), with no token and no `--api-url`.
//! - `-q` prints only the summary; without a terminal no ANSI escape reaches stderr; on a
//!   terminal (a pty from `script`) `NO_COLOR` turns colours off.
//! - Paths: a job `name` with `..` or `/` is refused (2); `<out>/<name>` that is a symlink or a
//!   folder without `manifest.json` is refused (1) and left untouched; other files in `--out`
//!   survive runs.
//! - CSV: the demo world's username `=HYPERLINK(1)` is written `'=HYPERLINK(1)`, raw with
//!   `--csv-raw-text`; keys (which may start with `-`) are never altered.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mock_api::{MockConfig, MockServer, World};

fn job(name: &str) -> PathBuf {
    common::workspace().join("jobs").join(name)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the binary; nothing it prints may ever be a panic.
fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = common::run(args, env);
    let stderr = common::stderr(&output);
    assert!(
        !stderr.contains("panicked"),
        "panic text in stderr:\n{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("panicked"),
        "panic text in stdout"
    );
    output
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// A 127.0.0.1 port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn help_documents_the_exit_codes() {
    let output = cli(&["--help"], &[]);
    assert_eq!(code(&output), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Exit codes"), "{help}");
    for (code, words) in [
        ("0", "success"),
        ("1", "failed"),
        ("2", "bad usage or a bad job file"),
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(code) && l.contains(words)),
            "exit code {code} not documented:\n{help}"
        );
    }
    for var in ["MAPILLARY_CLIENT_ID", "MAPILLARY_ACCESS_TOKEN"] {
        assert!(help.contains(var), "{help}");
    }
}

#[test]
fn bad_usage_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = job("demo.toml");
    let out = tmp.path().join("out");
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["run"],
        vec!["run", p(&demo), "--no-such-flag"],
        vec![
            "run",
            p(&demo),
            "--mock",
            "--concurrency",
            "0",
            "--out",
            p(&out),
        ],
        vec![
            "run",
            p(&demo),
            "--mock",
            "--timeout-secs",
            "0",
            "--out",
            p(&out),
        ],
        vec![
            "run",
            p(&demo),
            "--mock",
            "--api-url",
            "http://127.0.0.1:1/v3",
        ],
        vec!["check"],
        vec!["convert", p(&demo)],
        // An output folder whose name cannot be an export's.
        vec!["convert", p(&demo), "--out", "."],
        vec!["-q", "-v", "check", p(&demo)],
    ];
    for args in cases {
        let output = cli(&args, &[]);
        assert_eq!(
            code(&output),
            Some(2),
            "{args:?}: {}",
            common::stderr(&output)
        );
        assert!(!common::stderr(&output).is_empty(), "{args:?}: silent");
    }
    assert!(!out.exists(), "a refused command wrote {out:?}");
    let output = cli(&["frobnicate"], &[]);
    assert!(common::stderr(&output).contains("frobnicate"));
}

#[test]
fn a_missing_token_exits_2_naming_the_variable_without_a_request() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (job_file, url, var) in [
        ("demo.toml", server.v3_url(), "MAPILLARY_CLIENT_ID"),
        ("ngo-region.toml", server.v4_url(), "MAPILLARY_ACCESS_TOKEN"),
    ] {
        let out = tmp.path().join(job_file);
        for env in [vec![], vec![(var, "  ")]] {
            let output = cli(
                &[
                    "run",
                    p(&job(job_file)),
                    "--api-url",
                    &url,
                    "--out",
                    p(&out),
                ],
                &env,
            );
            let stderr = common::stderr(&output);
            assert_eq!(code(&output), Some(2), "{stderr}");
            assert!(stderr.contains(var), "{stderr}");
            assert!(stderr.contains("--mock"), "{stderr}");
            assert!(!out.exists());
        }
    }
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn a_failed_run_exits_1_and_writes_no_export() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let url = format!("http://127.0.0.1:{}/v3", closed_port());
    let output = cli(
        &[
            "run",
            p(&job("uw-closeto.toml")),
            "--api-url",
            &url,
            "--max-attempts",
            "1",
            "--timeout-secs",
            "5",
            "--out",
            p(&out),
        ],
        &[("MAPILLARY_CLIENT_ID", "cli-test-client")],
    );
    let stderr = common::stderr(&output);
    assert_eq!(code(&output), Some(1), "{stderr}");
    assert!(stderr.contains("uw-closeto"), "{stderr}");
    assert!(stderr.contains("failed after 1 attempt"), "{stderr}");
    assert!(
        !stderr.contains("cli-test-client"),
        "the client id leaked:\n{stderr}"
    );
    assert!(!out.join("uw-closeto").exists());
}

// ---------------------------------------------------------------------------------------------
// Job file errors

/// One expected problem: the line's text, the text the column points at, the key, and words of
/// the message.
struct Expected {
    line: &'static str,
    at: &'static str,
    key: &'static str,
    says: &'static str,
}

const BAD_JOB: &str = r#"# every kind of problem at once
name = "../etc/x"
api = "v3"
resources = ["images", "photos"]
formats = ["geojson", "kml"]
colour = "red"
access_token = "abc"
usernames = ["MLY|123|abc"]

[[areas]]
name = "reversed"
bbox = [10, 0, 5, 1]

[[areas]]
name = "polar"
bbox = [0, 95, 1, 89]

[[areas]]
name = "both"
bbox = [0, 0, 1, 1]
closeto = [0.5, 0.5]

[[areas]]
name = "flat"
closeto = [1, 2]
radius = 0

[[areas]]
name = "inside-out"
closeto = [1, 2]
radius = -50

[[date_ranges]]
start = "2017-01-01"
end = "2016-01-01"
"#;

const BAD_JOB_PROBLEMS: [Expected; 12] = [
    Expected {
        line: r#"name = "../etc/x""#,
        at: r#""../"#,
        key: "name",
        says: "not a valid name",
    },
    Expected {
        line: r#"resources = ["images", "photos"]"#,
        at: r#""photos""#,
        key: "resources",
        says: "unknown resource",
    },
    Expected {
        line: r#"formats = ["geojson", "kml"]"#,
        at: r#""kml""#,
        key: "formats",
        says: "unknown format",
    },
    Expected {
        line: r#"colour = "red""#,
        at: "colour",
        key: "colour",
        says: "unknown key",
    },
    Expected {
        line: r#"access_token = "abc""#,
        at: "access_token",
        key: "access_token",
        says: "MAPILLARY_ACCESS_TOKEN",
    },
    Expected {
        line: r#"usernames = ["MLY|123|abc"]"#,
        at: r#""MLY"#,
        key: "usernames",
        says: "token",
    },
    Expected {
        line: "bbox = [10, 0, 5, 1]",
        at: "[",
        key: "areas[1].bbox",
        says: "minx (10) must be less than maxx (5)",
    },
    Expected {
        line: "bbox = [0, 95, 1, 89]",
        at: "[",
        key: "areas[2].bbox",
        says: "latitude 95 is out of range",
    },
    Expected {
        line: "closeto = [0.5, 0.5]",
        at: "[",
        key: "areas[3].closeto",
        says: "not both",
    },
    Expected {
        line: "radius = 0",
        at: "0",
        key: "areas[4].radius",
        says: "out of range; expected 0.01 to 10000000 metres",
    },
    Expected {
        line: "radius = -50",
        at: "-50",
        key: "areas[5].radius",
        says: "out of range; expected 0.01 to 10000000 metres",
    },
    Expected {
        line: r#"end = "2016-01-01""#,
        at: r#""2016"#,
        key: "date_ranges[1].end",
        says: "must be after start",
    },
];

/// (line, column) of `at` in the line of `text` that equals `line`, 1-based, in characters.
fn place(text: &str, line: &str, at: &str) -> (usize, usize) {
    let (index, found) = text
        .lines()
        .enumerate()
        .find(|(_, l)| *l == line)
        .unwrap_or_else(|| panic!("no line {line:?}"));
    let byte = found.find(at).unwrap();
    (index + 1, found[..byte].chars().count() + 1)
}

/// The `FILE:LINE:COLUMN: KEY: message` lines of `file` in `stderr`.
fn problems(stderr: &str, file: &Path) -> BTreeMap<(usize, usize, String), Vec<String>> {
    let prefix = format!("{}:", file.display());
    let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(l), Some(c), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(l), Ok(c)) = (l.parse::<usize>(), c.parse::<usize>()) else {
            continue;
        };
        let (key, message) = rest
            .strip_prefix(' ')
            .and_then(|r| r.split_once(": "))
            .unwrap_or_else(|| panic!("not `KEY: message`: {line}"));
        out.entry((l, c, key.to_owned()))
            .or_default()
            .push(message.to_owned());
    }
    out
}

#[test]
fn a_bad_job_file_reports_every_problem_with_file_line_column_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = common::write_job(tmp.path(), "bad.toml", BAD_JOB);
    let empty = common::write_job(tmp.path(), "empty.toml", "name = \"a/b\"\nareas = []\n");
    let good = job("demo.toml");
    let out = tmp.path().join("out");
    for command in ["check", "run"] {
        let mut args = vec![command, p(&good), p(&bad), p(&empty)];
        if command == "run" {
            args.extend(["--mock", "--out", p(&out)]);
        }
        let output = cli(&args, &[]);
        let stderr = common::stderr(&output);
        assert_eq!(code(&output), Some(2), "{command}: {stderr}");
        assert!(!out.exists(), "a bad job file let `run` write");

        let got = problems(&stderr, &bad);
        let mut want = BTreeSet::new();
        for e in &BAD_JOB_PROBLEMS {
            let (line, column) = place(BAD_JOB, e.line, e.at);
            let messages = got
                .get(&(line, column, e.key.to_owned()))
                .unwrap_or_else(|| {
                    panic!("{}:{line}:{column}: {} missing:\n{stderr}", p(&bad), e.key)
                });
            assert!(
                messages.iter().any(|m| m.contains(e.says)),
                "{}: {messages:?} should say {:?}",
                e.key,
                e.says
            );
            want.insert((line, column, e.key.to_owned()));
        }
        assert_eq!(
            got.keys().cloned().collect::<BTreeSet<_>>(),
            want,
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("{}: 12 problems", p(&bad))),
            "{stderr}"
        );

        let got = problems(&stderr, &empty);
        let name = place("name = \"a/b\"\nareas = []\n", "name = \"a/b\"", "\"");
        let areas = place("name = \"a/b\"\nareas = []\n", "areas = []", "[");
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            [
                (name.0, name.1, "name".to_owned()),
                (areas.0, areas.1, "areas".to_owned())
            ],
            "{stderr}"
        );
        assert!(got[&(areas.0, areas.1, "areas".to_owned())][0].contains("empty"));
        // The good job is not blamed, and a caret shows each place.
        assert!(!stderr.contains(p(&good)), "{stderr}");
        assert!(
            stderr.contains("    | bbox = [10, 0, 5, 1]\n    |        ^"),
            "{stderr}"
        );
    }
}

#[test]
fn an_unreadable_job_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.toml");
    let output = cli(&["check", p(&missing)], &[]);
    let stderr = common::stderr(&output);
    assert_eq!(code(&output), Some(2));
    assert!(
        stderr.contains(&format!("{}: cannot read the job file", p(&missing))),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_prints_queries_filters_and_v4_cells_without_network() {
    let output = cli(&["check", p(&job("montana-campus.toml"))], &[]);
    assert_eq!(code(&output), Some(0), "{}", common::stderr(&output));
    let plan = String::from_utf8_lossy(&output.stdout).into_owned();
    // Each query with its filters: area, resource, date range, users.
    for text in [
        "campus/images/2016-03-28..2017-03-28",
        "campus/sequences",
        "start_time=2016-03-28",
        "end_time=2017-03-28",
        "chrisbeddow",
        "bbox=-113.9893770218955,46.8569923487781,-113.9800214767456,46.86501800079085",
    ] {
        assert!(plan.contains(text), "{text} not in the plan:\n{plan}");
    }
    // The filters the tool applies itself.
    let own = plan
        .split("filters applied by the tool")
        .nth(1)
        .unwrap_or_else(|| panic!("no tool filters:\n{plan}"));
    assert!(own.contains("dedupe"), "{plan}");
    assert!(own.contains("sequences: date ranges"), "{plan}");
    assert!(own.contains("sequences: users"), "{plan}");

    // v4: a 0.3° x 0.3° box needs at least 9 cells under 0.01 square degrees.
    let tmp = tempfile::tempdir().unwrap();
    let bbox = [-114.2, 46.7, -113.9, 47.0];
    let v4 = common::write_job(
        tmp.path(),
        "v4.toml",
        &format!(
            "name = \"v4-cells\"\napi = \"v4\"\nusernames = [\"gyllen\"]\npano = false\n\
             [[areas]]\nname = \"big\"\nbbox = [{}, {}, {}, {}]\n",
            bbox[0], bbox[1], bbox[2], bbox[3]
        ),
    );
    let output = cli(&["check", p(&v4)], &[]);
    assert_eq!(code(&output), Some(0), "{}", common::stderr(&output));
    let plan = String::from_utf8_lossy(&output.stdout).into_owned();
    let count_line = plan
        .lines()
        .find(|l| l.contains("initial requests (cells):"))
        .unwrap_or_else(|| panic!("no cell count:\n{plan}"));
    let count: usize = count_line
        .split("(cells):")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cells: Vec<[f64; 4]> = plan
        .lines()
        .filter_map(|l| l.split("GET /images?bbox=").nth(1))
        .map(|rest| {
            let b: Vec<f64> = rest
                .split('&')
                .next()
                .unwrap()
                .split(',')
                .map(|x| x.parse().unwrap())
                .collect();
            [b[0], b[1], b[2], b[3]]
        })
        .collect();
    assert_eq!(cells.len(), count, "{plan}");
    assert!(count >= 9, "{plan}");
    let mut total = 0.0;
    for c in &cells {
        let area = (c[2] - c[0]) * (c[3] - c[1]);
        assert!(
            area > 0.0 && area < 0.01,
            "cell {c:?} is {area} square degrees"
        );
        assert!(c[0] >= bbox[0] && c[1] >= bbox[1] && c[2] <= bbox[2] && c[3] <= bbox[3]);
        total += area;
    }
    let job_area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]);
    assert!(
        (total - job_area).abs() < 1e-9,
        "cells cover {total}, the box {job_area}"
    );
    for text in ["creator_username=gyllen", "is_pano=false", "sequence_id"] {
        assert!(plan.contains(text), "{text} not in the plan:\n{plan}");
    }
}

// ---------------------------------------------------------------------------------------------
// What is printed

#[test]
fn quiet_prints_only_the_summary_and_no_escape_codes_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let demo = job("demo.toml");
    let normal = cli(&["run", p(&demo), "--mock", "--out", p(&out)], &[]);
    assert_eq!(code(&normal), Some(0), "{}", common::stderr(&normal));
    let quiet = cli(&["-q", "run", p(&demo), "--mock", "--out", p(&out)], &[]);
    assert_eq!(code(&quiet), Some(0), "{}", common::stderr(&quiet));
    let (normal, quiet) = (common::stderr(&normal), common::stderr(&quiet));
    for text in [&normal, &quiet] {
        assert!(
            !text.contains('\u{1b}'),
            "an escape code without a terminal:\n{text:?}"
        );
    }
    assert!(normal.contains("using the built-in mock API"), "{normal}");
    let lines: Vec<&str> = quiet.lines().collect();
    assert!(lines[0].starts_with("demo: export complete"), "{quiet}");
    assert!(lines[1..].iter().all(|l| l.starts_with("  ")), "{quiet}");
    for resource in [
        "images",
        "sequences",
        "sequence_points",
        "requests",
        "output",
    ] {
        assert!(
            lines.iter().any(|l| l.trim_start().starts_with(resource)),
            "{resource} not in the summary:\n{quiet}"
        );
    }
    assert!(quiet.contains(p(&out.join("demo"))), "{quiet}");
    // The summary is the normal run's summary too.
    let summary_start = normal.find("demo: export complete").unwrap();
    assert_eq!(
        normal[summary_start..].lines().count(),
        lines.len(),
        "{normal}\n---\n{quiet}"
    );
}

/// Runs `mly-export ARGS` on a pseudo-terminal (util-linux `script`), returning what it showed.
fn on_a_terminal(args: &[&str], no_color: bool) -> String {
    let quoted: Vec<String> = std::iter::once(p(&common::bin()))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &quoted.join(" "), "/dev/null"])
        .env_remove("MAPILLARY_CLIENT_ID")
        .env_remove("MAPILLARY_ACCESS_TOKEN")
        .env_remove("MLY_LOG")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn no_color_turns_colours_off_on_a_terminal() {
    if !common::require_tool("script") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let uw = job("uw-closeto.toml");
    let args = ["-v", "run", p(&uw), "--mock", "--out", p(&out)];
    let coloured = on_a_terminal(&args, false);
    assert!(coloured.contains("export complete"), "{coloured}");
    assert!(
        coloured.contains("\u{1b}["),
        "no colours on a terminal, so this test proves nothing:\n{coloured:?}"
    );
    let plain = on_a_terminal(&args, true);
    assert!(plain.contains("export complete"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "NO_COLOR ignored:\n{plain:?}");
}

// ---------------------------------------------------------------------------------------------
// Paths (issue 8)

#[test]
fn job_names_with_dot_dot_or_slash_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for name in ["..", "../escape", "a/b", "/abs", "a\\b", ".", ""] {
        let file = common::write_job(
            tmp.path(),
            "named.toml",
            &format!("name = {name:?}\n[[areas]]\nbbox = [0, 0, 1, 1]\n"),
        );
        let output = cli(&["run", p(&file), "--mock", "--out", p(&out)], &[]);
        let stderr = common::stderr(&output);
        assert_eq!(code(&output), Some(2), "{name:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:1:8: name:", p(&file))),
            "{stderr}"
        );
    }
    assert!(!out.exists());
    assert_eq!(
        file_names(tmp.path()),
        BTreeSet::from(["named.toml".to_owned()])
    );
}

#[test]
fn out_name_that_is_a_symlink_or_not_an_export_is_refused_and_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let uw = job("uw-closeto.toml");
    let run_into = |out: &Path| cli(&["run", p(&uw), "--mock", "--out", p(out)], &[]);

    // <out>/<name> is the user's own folder.
    let out = dir.join("mine");
    std::fs::create_dir_all(out.join("uw-closeto/photos")).unwrap();
    std::fs::write(out.join("uw-closeto/photos/a.jpg"), "jpeg").unwrap();
    std::fs::write(out.join("uw-closeto/notes.txt"), "notes").unwrap();
    let output = run_into(&out);
    let stderr = common::stderr(&output);
    assert_eq!(code(&output), Some(1), "{stderr}");
    assert!(stderr.contains("not an mly-export"), "{stderr}");
    assert_eq!(
        common::files_below(&out.join("uw-closeto")),
        [
            out.join("uw-closeto/notes.txt"),
            out.join("uw-closeto/photos/a.jpg")
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("uw-closeto/notes.txt")).unwrap(),
        "notes"
    );

    // <out>/<name> is a symlink: to a folder elsewhere, and to a real export.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("precious.txt"), "p").unwrap();
    let real = dir.join("real");
    assert_eq!(code(&run_into(&real)), Some(0));
    let real_files = file_names(&real.join("uw-closeto"));
    assert!(real_files.contains("manifest.json"));
    for (folder, target) in [
        ("to-elsewhere", &elsewhere),
        ("to-export", &real.join("uw-closeto")),
    ] {
        let out = dir.join(folder);
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(target, out.join("uw-closeto")).unwrap();
        let output = run_into(&out);
        assert_eq!(
            code(&output),
            Some(1),
            "{folder}: {}",
            common::stderr(&output)
        );
        let link = std::fs::symlink_metadata(out.join("uw-closeto")).unwrap();
        assert!(link.is_symlink(), "{folder}: the symlink was replaced");
    }
    assert_eq!(
        file_names(&elsewhere),
        BTreeSet::from(["precious.txt".to_owned()])
    );
    assert_eq!(file_names(&real.join("uw-closeto")), real_files);
}

#[test]
fn unrelated_files_in_out_survive_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("other-project")).unwrap();
    std::fs::write(out.join("README.txt"), "ours").unwrap();
    std::fs::write(out.join("other-project/data.csv"), "a,b\n").unwrap();
    let uw = job("uw-closeto.toml");
    for _ in 0..2 {
        let output = cli(&["run", p(&uw), "--mock", "--out", p(&out)], &[]);
        assert_eq!(code(&output), Some(0), "{}", common::stderr(&output));
    }
    assert_eq!(
        std::fs::read_to_string(out.join("README.txt")).unwrap(),
        "ours"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("other-project/data.csv")).unwrap(),
        "a,b\n"
    );
    assert!(out.join("uw-closeto/manifest.json").is_file());
    let top: BTreeSet<String> = file_names(&out)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        top,
        BTreeSet::from(["README.txt", "other-project", "uw-closeto"].map(String::from))
    );
}

// ---------------------------------------------------------------------------------------------
// CSV output safety (issue 8)

/// images.csv rows by key: username.
fn csv_usernames(path: &Path) -> BTreeMap<String, String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let key = headers.iter().position(|h| h == "key").unwrap();
    let user = headers.iter().position(|h| h == "username").unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[key].to_owned(), r[user].to_owned())
        })
        .collect()
}

#[test]
fn csv_guards_formula_usernames_and_never_alters_keys() {
    let world = World::demo();
    let tmp = tempfile::tempdir().unwrap();
    let demo = job("demo.toml");
    let guarded = tmp.path().join("guarded");
    let raw = tmp.path().join("raw");
    let output = cli(&["run", p(&demo), "--mock", "--out", p(&guarded)], &[]);
    assert_eq!(code(&output), Some(0), "{}", common::stderr(&output));
    let output = cli(
        &[
            "run",
            p(&demo),
            "--mock",
            "--out",
            p(&raw),
            "--csv-raw-text",
        ],
        &[],
    );
    assert_eq!(code(&output), Some(0), "{}", common::stderr(&output));
    let guarded = csv_usernames(&guarded.join("demo/images.csv"));
    let raw = csv_usernames(&raw.join("demo/images.csv"));
    let truth: BTreeMap<&str, &str> = world
        .images()
        .map(|i| (i.key.as_str(), i.username.as_str()))
        .collect();
    assert_eq!(
        guarded.keys().collect::<Vec<_>>(),
        raw.keys().collect::<Vec<_>>()
    );
    let mut formula_rows = 0;
    let mut risky_keys = 0;
    for (key, username) in &guarded {
        let want = truth
            .get(key.as_str())
            .unwrap_or_else(|| panic!("key {key:?} is not in the world: altered?"));
        assert_eq!(&raw[key], want, "raw {key}");
        if want.starts_with(['=', '+', '-', '@']) {
            assert_eq!(username, &format!("'{want}"), "guarded {key}");
            formula_rows += 1;
        } else {
            assert_eq!(username, want, "guarded {key}");
        }
        if key.starts_with(['-', '=', '+', '@']) {
            risky_keys += 1;
        }
    }
    assert!(
        formula_rows > 0,
        "no =HYPERLINK(1) image in the demo export"
    );
    assert!(guarded.values().any(|u| u == "'=HYPERLINK(1)"));
    assert!(raw.values().any(|u| u == "=HYPERLINK(1)"));
    assert!(
        risky_keys > 0,
        "no key starting with '-' in the demo export to check"
    );
}
