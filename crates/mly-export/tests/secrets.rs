//! Issue 8, secrets: the v3 client id and the v4 token appear in no byte the tool writes or
//! prints (export, page cache, temporary folders, stdout, stderr), whether the run succeeds,
//! fails, is interrupted or killed, with `-v` or without; the page cache is owner-only.
#![allow(clippy::unwrap_used)]

mod common;

use common::wait_for;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mock_api::{FaultConfig, MockConfig, MockServer, World};

const CLIENT_ID: &str = "SECRET-v3-abc123";
const TOKEN: &str = "MLY|SECRET|v4";
/// Every spelling a secret could take in a URL or a log line.
const FORBIDDEN: [&str; 5] = [
    CLIENT_ID,
    TOKEN,
    "MLY%7CSECRET%7Cv4",
    "MLY%7cSECRET%7cv4",
    "SECRET",
];
const NAME: &str = "secret";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Api {
    V3,
    V4,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// Runs to the end.
    Success,
    /// Every request fails with a 5xx.
    Failure,
    /// SIGINT half way.
    Interrupt,
    /// SIGKILL while the export is being written (a temporary folder is left).
    Kill,
}

fn job(api: Api) -> String {
    let api = match api {
        Api::V3 => "v3",
        Api::V4 => "v4",
    };
    format!(
        "name = \"{NAME}\"\napi = \"{api}\"\n[[areas]]\n\
         bbox = [-113.98937, 46.85699, -113.98002, 46.86501]\n"
    )
}

fn server(world: Arc<World>, ending: Ending) -> MockServer {
    let mut faults = FaultConfig::default();
    match ending {
        Ending::Success => {}
        Ending::Failure => faults.server_error_rate = 1.0,
        Ending::Interrupt | Ending::Kill => faults.latency = Duration::from_millis(50),
    }
    let config = MockConfig {
        world,
        client_id: CLIENT_ID.to_owned(),
        access_token: TOKEN.to_owned(),
        faults,
        ..MockConfig::default()
    };
    MockServer::start_blocking(config, 0).unwrap()
}

/// Every file below `dir` with its bytes (a symlink: its target).
fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
                out.push((path, Vec::new()));
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((path, target.to_string_lossy().as_bytes().to_vec()));
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in FORBIDDEN {
        assert!(!text.contains(secret), "{what} holds {secret:?}");
    }
}

/// The job's page cache is 0700 and holds only 0600 files.
fn assert_private_cache(out: &Path) {
    let cache = out.join(".mly-cache").join(NAME);
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700, "{}", cache.display());
    let mut files = 0;
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files > 0, "an empty cache");
}

fn partial_files(out: &Path) -> usize {
    std::fs::read_dir(out).map_or(0, |entries| {
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!(".{NAME}.partial-"))
            })
            .map(|p| std::fs::read_dir(p).map_or(0, |e| e.count()))
            .sum()
    })
}

/// One run; checks everything it printed and wrote.
fn scenario(world: Arc<World>, api: Api, ending: Ending, verbose: bool) {
    let root = tempfile::tempdir().unwrap();
    let job = common::write_job(root.path(), "secret.toml", &job(api));
    let out = root.path().join("out");
    let server = server(world, ending);
    let (url, var) = match api {
        Api::V3 => (server.v3_url(), "MAPILLARY_CLIENT_ID"),
        Api::V4 => (server.v4_url(), "MAPILLARY_ACCESS_TOKEN"),
    };
    let secret = match api {
        Api::V3 => CLIENT_ID,
        Api::V4 => TOKEN,
    };
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args([
            "--api-url",
            &url,
            "--max-attempts",
            "2",
            "--concurrency",
            "2",
        ])
        .env_remove("MAPILLARY_CLIENT_ID")
        .env_remove("MAPILLARY_ACCESS_TOKEN")
        .env_remove("MLY_LOG")
        .env("NO_COLOR", "1")
        .env(var, secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if verbose {
        cmd.arg("-v");
    }
    let mut child = cmd.spawn().unwrap();
    // Read the pipes while the child runs so that it never blocks on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).unwrap();
        buf
    });
    let stderr = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).unwrap();
        buf
    });
    let mut leftovers = Vec::new();
    match ending {
        Ending::Success | Ending::Failure => {}
        Ending::Interrupt => {
            // Once a page is cached, so that there is a cache to check.
            let cache = out.join(".mly-cache").join(NAME);
            let running = wait_for(&mut child, "the run under way", || {
                std::fs::read_dir(&cache).is_ok_and(|mut e| e.next().is_some())
            });
            assert!(
                running,
                "{api:?}: the run ended before it could be interrupted"
            );
            let sent = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
        Ending::Kill => {
            let running = wait_for(&mut child, "a partial folder", || partial_files(&out) > 0);
            assert!(running, "{api:?}: the run ended before it could be killed");
            // The temporary folder as it is while the run writes, and after the kill.
            leftovers = all_bytes(&out);
            child.kill().unwrap();
        }
    }
    let status = child.wait().unwrap();
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    let text = String::from_utf8_lossy(&stderr).into_owned();
    let what = format!("{api:?} {ending:?} verbose={verbose}");
    let expected_code = match ending {
        Ending::Success => Some(0),
        Ending::Failure => Some(1),
        Ending::Interrupt => Some(130),
        Ending::Kill => None,
    };
    assert_eq!(status.code(), expected_code, "{what}: stderr:\n{text}");

    assert_clean(&format!("{what}: stdout"), &stdout);
    assert_clean(&format!("{what}: stderr"), &stderr);
    leftovers.extend(all_bytes(&out));
    assert!(!leftovers.is_empty());
    for (path, bytes) in &leftovers {
        let name = path.strip_prefix(root.path()).unwrap();
        assert_clean(
            &format!("{what}: the name {}", name.display()),
            name.to_string_lossy().as_bytes(),
        );
        assert_clean(&format!("{what}: {}", path.display()), bytes);
    }
    if api == Api::V3 && ending == Ending::Failure {
        // The failing query's URL was printed, redacted.
        assert!(text.contains("client_id=***"), "{what}: stderr:\n{text}");
    }
    match ending {
        Ending::Success => {
            assert!(out.join(NAME).join("manifest.json").is_file());
            assert!(!out.join(".mly-cache").join(NAME).exists());
        }
        Ending::Interrupt | Ending::Kill => assert_private_cache(&out),
        Ending::Failure => {}
    }
}

#[test]
fn no_secret_in_any_output_of_any_run() {
    let world = Arc::new(World::demo());
    let mut cases = Vec::new();
    for api in [Api::V3, Api::V4] {
        for ending in [
            Ending::Success,
            Ending::Failure,
            Ending::Interrupt,
            Ending::Kill,
        ] {
            for verbose in [false, true] {
                cases.push((api, ending, verbose));
            }
        }
    }
    // The cases are independent: run them side by side, a few at a time.
    let failures: Vec<String> = cases
        .chunks(4)
        .flat_map(|chunk| {
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|&(api, ending, verbose)| {
                        let world = world.clone();
                        let handle = scope.spawn(move || scenario(world, api, ending, verbose));
                        (format!("{api:?} {ending:?} verbose={verbose}"), handle)
                    })
                    .collect();
                handles
                    .into_iter()
                    .filter_map(|(case, handle)| handle.join().err().map(|_| case))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    assert!(failures.is_empty(), "failed: {failures:?} (see above)");
}

/// A hostile API on 127.0.0.1: its first answer is a page that echoes the credential in its
/// body, a header and a `Link` (and, v4, a `paging.next`); every later answer is a 400 whose
/// body quotes it (v4: the `Authorization` header it received, and `Bearer <token>`).
fn hostile_server(api: Api, secret: &'static str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorization = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                    authorization = line[line.len() - value.len()..].trim().to_owned();
                }
            }
            let encoded = secret.replace('|', "%7C");
            let link = format!(
                "<http://{addr}/v3/images?page=2&client_id={secret}&echo={secret}>; rel=\"next\""
            );
            let (status, body) = match (api, n) {
                (Api::V3, 0) => (
                    "200 OK",
                    format!(r#"{{"type":"FeatureCollection","features":[],"echo":"{secret}"}}"#),
                ),
                (Api::V4, 0) => (
                    "200 OK",
                    format!(
                        r#"{{"data":[],"echo":"{authorization}","paging":{{"next":"http://{addr}/images?after={encoded}&echo={secret}"}}}}"#
                    ),
                ),
                (Api::V3, _) => (
                    "400 Bad Request",
                    format!(r#"{{"message":"unknown application {secret}, client_id={secret}"}}"#),
                ),
                (Api::V4, _) => (
                    "400 Bad Request",
                    format!(
                        r#"{{"error":{{"message":"Unsupported request from Authorization: {authorization}; Bearer {secret}","type":"OAuthException","code":100,"is_transient":false,"fbtrace_id":"x"}}}}"#
                    ),
                ),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 x-echo: {secret} {authorization}\r\nlink: {link}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    match api {
        Api::V3 => format!("http://{addr}/v3"),
        Api::V4 => format!("http://{addr}"),
    }
}

/// Issue 14: a server that echoes the credential wherever it can (error bodies quoting
/// `OAuth`/`Bearer` with the token, headers, `Link`, `paging.next`, a page's body): the
/// credential reaches no output, log line (even at `MLY_LOG=trace`), cache file or error
/// message; the error still shows where it was, masked.
#[test]
fn a_server_echoing_the_credential_never_gets_it_printed_or_stored() {
    for (api, var, secret) in [
        (Api::V3, "MAPILLARY_CLIENT_ID", CLIENT_ID),
        (Api::V4, "MAPILLARY_ACCESS_TOKEN", TOKEN),
    ] {
        for log in ["info", "trace"] {
            let root = tempfile::tempdir().unwrap();
            let job = common::write_job(root.path(), "secret.toml", &job(api));
            let out = root.path().join("out");
            let url = hostile_server(api, secret);
            let output = Command::new(common::bin())
                .args(["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()])
                .args(["--api-url", &url, "--max-attempts", "1", "-v"])
                .env_remove("MAPILLARY_CLIENT_ID")
                .env_remove("MAPILLARY_ACCESS_TOKEN")
                .env("MLY_LOG", log)
                .env("NO_COLOR", "1")
                .env(var, secret)
                .output()
                .unwrap();
            let what = format!("{api:?} MLY_LOG={log}");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
            assert_clean(&format!("{what}: stdout"), &output.stdout);
            assert_clean(&format!("{what}: stderr"), &output.stderr);
            let expected = match api {
                Api::V3 => "unknown application ***, client_id=***",
                Api::V4 => "Unsupported request from Authorization: OAuth ***; Bearer ***",
            };
            assert!(stderr.contains(expected), "{what}: {stderr}");
            let files = all_bytes(&out);
            assert!(
                files
                    .iter()
                    .any(|(p, _)| p.to_string_lossy().contains(".mly-cache")),
                "{what}: the first page is cached"
            );
            for (path, bytes) in files {
                assert_clean(&format!("{what}: {}", path.display()), &bytes);
            }
        }
    }
}
