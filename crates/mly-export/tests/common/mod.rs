//! Shared helpers of the end-to-end tests: run the real binary against the real mock API.
#![allow(dead_code, clippy::unwrap_used)]

pub mod truth;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mock_api::{FaultConfig, MockConfig, MockServer, World};

/// The `mly-export` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mly-export"))
}

/// The workspace root (for `jobs/`, `README.md`, the fixtures of other crates).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `mly-export ARGS` with a clean token environment plus `env`; never inherits a real token.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("MAPILLARY_CLIENT_ID")
        .env_remove("MAPILLARY_ACCESS_TOKEN")
        .env_remove("MLY_LOG")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs [`command`] to its end.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().unwrap()
}

/// `make export`'s command into a fresh folder; returns the export folder.
pub fn export_demo(tmp: &Path) -> PathBuf {
    let job = workspace().join("jobs/demo.toml");
    let output = run(
        &[
            "run",
            job.to_str().unwrap(),
            "--mock",
            "--out",
            tmp.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    tmp.join("demo")
}

/// A mock API on 127.0.0.1 serving `world` with `faults`, and its configuration.
pub fn start_mock(world: Arc<World>, faults: FaultConfig) -> (MockServer, MockConfig) {
    let config = MockConfig {
        world,
        faults,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config.clone(), 0).unwrap();
    (server, config)
}

/// The project's job files (`jobs/*.toml`), sorted.
pub fn job_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// `mly-export run JOB --out OUT --api-url URL EXTRA...` with `credential` (variable, value)
/// as the only token in the environment.
pub fn run_job(
    job: &Path,
    out: &Path,
    url: &str,
    credential: (&str, &str),
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--api-url",
        url,
    ];
    args.extend_from_slice(extra);
    run(&args, &[credential])
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes a job file into `dir` and returns its path.
pub fn write_job(dir: &Path, file: &str, toml: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, toml).unwrap();
    path
}

/// True when an external tool is on PATH. When it is not: with `MLY_REQUIRE_INTEROP=1` the test
/// fails; otherwise a loud SKIPPED line goes to stderr and the caller returns early.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("MLY_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "{name} is required (MLY_REQUIRE_INTEROP=1) but not installed"
        );
        eprintln!("SKIPPED: {name} not found (set MLY_REQUIRE_INTEROP=1 to require it)");
    }
    found
}

/// A GeoJSON output's features, keyed by `properties[key_field]`.
pub fn geojson_features(path: &Path, key_field: &str) -> BTreeMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let key = match &f["properties"][key_field] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key, f.clone())
        })
        .collect()
}

/// Every regular file below `dir` (recursively).
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The demo world, generated once per test binary.
pub fn demo_world() -> Arc<World> {
    static WORLD: OnceLock<Arc<World>> = OnceLock::new();
    WORLD.get_or_init(|| Arc::new(World::demo())).clone()
}

/// Every file below `dir` by relative name, with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_below(dir)
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The names in `out` (export folders, the cache, leftovers).
pub fn entries(out: &Path) -> BTreeSet<String> {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Polls `done` until it holds or the child exits; true when it held while the child ran.
pub fn wait_for(child: &mut Child, what: &str, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if done() {
            return child.try_wait().unwrap().is_none();
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
