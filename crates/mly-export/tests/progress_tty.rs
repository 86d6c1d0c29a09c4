//! Progress on a terminal, issue 14 ("Resources are bounded"): the real binary runs a job of
//! 1,000 cells against the mock API with its stderr on a pseudo-terminal, and a terminal
//! emulator (vt100) reads the screen while it runs. However many cells, the process keeps a
//! bounded number of threads (no ticking thread per cell) and the screen a bounded number of
//! lines (a bar per query and the total with an ETA; finished cells leave the screen).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mock_api::{CLIENT_ID, FaultConfig};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// The emulated terminal: tall enough that a bar per cell could not hide behind its height.
const ROWS: u16 = 200;
const COLUMNS: u16 = 160;
/// More than this many threads means a thread per cell (the binary's own need is a few dozen
/// at most: runtime workers, blocking pool, one writer per format).
const MAX_THREADS: usize = 64;
/// The total, one bar per query with a cell in flight, the layers being written, the summary.
const MAX_SCREEN_LINES: usize = 40;

/// A pseudo-terminal of `ROWS` × `COLUMNS`: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let size = Winsize {
        ws_row: ROWS,
        ws_col: COLUMNS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    tcsetwinsize(&master, size).unwrap();
    (master, slave.into())
}

/// The run under watch; killed if the test fails first.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screen_lines(screen: &vt100::Screen) -> Vec<String> {
    screen
        .rows(0, COLUMNS)
        .map(|row| row.trim_end().to_owned())
        .filter(|row| !row.is_empty())
        .collect()
}

#[test]
fn a_thousand_cells_keep_threads_and_screen_lines_bounded() {
    let faults = FaultConfig {
        // Each request takes a while, so the run is watched for seconds, not milliseconds.
        latency: Duration::from_millis(15),
        ..FaultConfig::default()
    };
    let (server, _) = common::start_mock(common::demo_world(), faults);
    let tmp = tempfile::tempdir().unwrap();
    // 2.0 × 1.25 degrees in cells of at most 0.0025 square degrees: 40 × 25 = 1,000 cells.
    let job = common::write_job(
        tmp.path(),
        "wide.toml",
        r#"name = "wide"
api = "v3"
resources = ["images"]
formats = ["geojson"]

[[areas]]
name = "wide"
bbox = [-114.5, 46.0, -112.5, 47.25]
"#,
    );
    let plan = common::run(&["check", job.to_str().unwrap()], &[]);
    assert_eq!(plan.status.code(), Some(0), "{}", common::stderr(&plan));
    let plan_text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan_text.contains("cell 1000/1000"), "{plan_text}");

    let (master, slave) = pty();
    let child = Command::new(common::bin())
        .args(["run", job.to_str().unwrap(), "--out"])
        .arg(tmp.path().join("out"))
        .args(["--api-url", &server.v3_url()])
        .env_remove("MAPILLARY_ACCESS_TOKEN")
        .env_remove("MLY_LOG")
        .env_remove("NO_COLOR")
        .env("MAPILLARY_CLIENT_ID", CLIENT_ID)
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut run = Run(child);

    let size = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    let parser = Arc::new(Mutex::new(vt100::Parser::new(size(ROWS), size(COLUMNS), 0)));
    let reader = {
        let parser = parser.clone();
        let mut master = std::fs::File::from(master);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            // Ends with EIO once the child (the last holder of the slave) is gone.
            while let Ok(n) = master.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                parser.lock().unwrap().process(&buffer[..n]);
            }
        })
    };

    let tasks = format!("/proc/{}/task", run.0.id());
    let (mut max_threads, mut max_lines, mut samples) = (0, 0, 0);
    let (mut saw_query_bar, mut saw_eta) = (false, false);
    let (mut busiest, mut fetching) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the run did not end");
        if let Ok(entries) = std::fs::read_dir(&tasks) {
            max_threads = max_threads.max(entries.count());
        }
        let lines = screen_lines(parser.lock().unwrap().screen());
        // Checked while it runs: a thread or a line per cell fails here, long before the end.
        assert!(
            max_threads <= MAX_THREADS,
            "{max_threads} threads for 1,000 cells"
        );
        assert!(
            lines.len() <= MAX_SCREEN_LINES,
            "{} lines on screen:\n{}",
            lines.len(),
            lines.join("\n")
        );
        if !saw_query_bar && lines.iter().any(|l| l.contains("wide/images")) {
            saw_query_bar = true;
            fetching = lines.clone();
        }
        saw_eta |= lines.iter().any(|l| l.contains("ETA"));
        if lines.len() > max_lines {
            max_lines = lines.len();
            busiest = lines;
        }
        samples += 1;
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    let screen = screen_lines(parser.lock().unwrap().screen());
    assert!(status.success(), "{status}: {}", screen.join("\n"));

    // The run was watched while it fetched, and drew what the README promises.
    assert!(samples >= 20, "only {samples} samples");
    assert!(
        saw_query_bar,
        "no bar for the query:\n{}",
        busiest.join("\n")
    );
    assert!(saw_eta, "no ETA on the total:\n{}", busiest.join("\n"));
    assert!(max_threads > 0 && max_lines > 0);
    eprintln!(
        "{samples} samples: at most {max_threads} threads, {max_lines} lines on screen; \
         while fetching:\n{}",
        fetching.join("\n")
    );
    // Every cell was fetched (a cell with imagery may follow a next page).
    assert!(server.stats().requests_to("/v3/images") >= 1000);
}
