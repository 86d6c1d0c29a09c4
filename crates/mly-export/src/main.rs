//! `mly-export`: export Mapillary images and sequences to GeoJSON, Shapefile, GPX and CSV.

/// Features are built on the reading thread and freed on the writer threads; glibc's malloc
/// serialises such cross-thread frees on one lock (measured: a third of `convert`'s time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use mly_export::convert::{ConvertOptions, convert};
use mly_export::job::{self, Job};
use mly_export::progress::{Progress, Verbosity};
use mly_export::run::{RunError, RunOptions, fetch_config, run_job};
use mly_export::{mock, plan};
use model::{Api, Format};
use tokio_util::sync::CancellationToken;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the run failed (network, API, output); the previous export is untouched
  2    bad usage or a bad job file (nothing was fetched)
  130  interrupted (Ctrl+C); rerun the same command to resume

Tokens come from the environment, never from job files:
  MAPILLARY_CLIENT_ID     v3 client id
  MAPILLARY_ACCESS_TOKEN  v4 token (MLY|...)";

#[derive(Parser)]
#[command(
    name = "mly-export",
    version,
    about = "Export Mapillary images and sequences to GeoJSON, Shapefile, GPX and CSV",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Print only errors and the final summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log every request, page, split and retry (no progress bars).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch and export the jobs' data.
    Run(RunArgs),
    /// Validate job files and print their query plans (no network).
    Check {
        /// Job files.
        #[arg(required = true)]
        jobs: Vec<PathBuf>,
    },
    /// Convert saved API responses (GeoJSON FeatureCollections) to every format, offline.
    Convert(ConvertArgs),
    /// Serve the built-in mock Mapillary API (v3 and v4) until stopped.
    MockApi(mock::MockArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Job files.
    #[arg(required = true)]
    jobs: Vec<PathBuf>,
    /// Output folder; each job writes <out>/<name>/.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// API base URL (v3 includes /v3, e.g. http://127.0.0.1:8080/v3).
    #[arg(long, conflicts_with = "mock")]
    api_url: Option<url::Url>,
    /// Requests in flight at once.
    #[arg(long, default_value = "8")]
    concurrency: NonZeroUsize,
    /// Start the built-in mock API on 127.0.0.1 and use it (no token needed).
    #[arg(long)]
    mock: bool,
    /// Ignore pages cached by an interrupted run and start over.
    #[arg(long)]
    fresh: bool,
    /// Attempts per request before the run fails (default 6; overrides the job's max_attempts).
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Client-side request rate limit (overrides the job's requests_per_second).
    #[arg(long)]
    requests_per_second: Option<f64>,
    /// Timeout per request, in seconds.
    #[arg(long, default_value = "60")]
    timeout_secs: f64,
    /// Write free-text CSV cells as they are, without the spreadsheet formula guard.
    #[arg(long)]
    csv_raw_text: bool,
    /// v3 result cap per query of the server (10,000 for Mapillary); a query that returns
    /// this many items is split. For v3-compatible servers with another cap.
    #[arg(long, default_value = "10000", value_parser = clap::value_parser!(u64).range(1..))]
    result_cap: u64,
    /// v4 `limit` per bbox request (at most the server's maximum, 2,000 for Mapillary); a
    /// cell that returns this many images is split.
    #[arg(long, default_value = "2000", value_parser = clap::value_parser!(u64).range(1..=2000))]
    v4_limit: u64,
}

#[derive(Args)]
struct ConvertArgs {
    /// GeoJSON files saved from the API (images, sequences or both).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Formats, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "geojson,shapefile,gpx,csv", value_parser = parse_format)]
    formats: Vec<Format>,
    /// Write free-text CSV cells as they are, without the spreadsheet formula guard.
    #[arg(long)]
    csv_raw_text: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s)
        .ok_or_else(|| format!("unknown format {s:?}; expected geojson, shapefile, gpx or csv"))
}

fn main() -> ExitCode {
    mly_export::no_transparent_huge_pages();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    init_logging(verbosity);
    match dispatch(cli.command, verbosity) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbosity: Verbosity) {
    let level = match verbosity {
        Verbosity::Quiet => "error",
        Verbosity::Normal => "warn",
        Verbosity::Verbose => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MLY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .with_target(false)
        .without_time()
        .try_init();
}

fn dispatch(command: Command, verbosity: Verbosity) -> Result<ExitCode> {
    match command {
        Command::Check { jobs } => {
            let Some(jobs) = load_jobs(&jobs) else {
                return Ok(ExitCode::from(2));
            };
            for job in &jobs {
                let options = default_run_options();
                let config = fetch_config(job, fetch::Secret::new(String::new()), &options);
                print!("{}", plan::describe(job, &config));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run(args, verbosity),
        Command::Convert(args) => {
            let options = ConvertOptions {
                inputs: args.inputs,
                out: args.out,
                formats: args.formats,
                write: write::WriteOptions {
                    csv_raw_text: args.csv_raw_text,
                    ..write::WriteOptions::default()
                },
            };
            let summary = match convert(&options) {
                Ok(summary) => summary,
                // The output folder's name is part of the command line: bad usage.
                Err(e @ write::WriteError::BadName { .. }) => {
                    eprintln!("error: --out: {e}");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(anyhow::Error::new(e).context("convert failed")),
            };
            for problem in &summary.problems {
                eprintln!("input: {problem}");
            }
            if verbosity != Verbosity::Quiet || summary.problems_total > 0 {
                eprintln!("convert: done in {:.2} s", summary.seconds);
                for (resource, line) in &summary.resources {
                    eprintln!("  {:<16} {} exported", resource.stem(), line.exported);
                }
                eprintln!("  {:<16} {}", "output", summary.output.display());
            }
            if summary.problems_total > 0 {
                eprintln!(
                    "convert: {} input problem(s); the good features were written",
                    summary.problems_total
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::MockApi(args) => mock::serve(args),
    }
}

fn default_run_options() -> RunOptions {
    RunOptions {
        out: PathBuf::from("out"),
        api_url: None,
        concurrency: NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN),
        max_attempts: None,
        requests_per_second: None,
        request_timeout: None,
        fresh: false,
        result_cap: 10_000,
        v4_limit: 2000,
        write: write::WriteOptions::default(),
    }
}

/// Loads every job; on any error prints them all and returns `None`.
fn load_jobs(paths: &[PathBuf]) -> Option<Vec<Job>> {
    let mut jobs = Vec::new();
    let mut failed = false;
    for path in paths {
        match job::load(path) {
            Ok(job) => jobs.push(job),
            Err(errors) => {
                eprint!("{errors}");
                failed = true;
            }
        }
    }
    (!failed).then_some(jobs)
}

fn token_for(api: Api, mock: bool) -> Result<fetch::Secret> {
    if mock {
        return Ok(fetch::Secret::new(match api {
            Api::V3 => mock_api::CLIENT_ID.to_owned(),
            Api::V4 => mock_api::ACCESS_TOKEN.to_owned(),
        }));
    }
    let var = match api {
        Api::V3 => "MAPILLARY_CLIENT_ID",
        Api::V4 => "MAPILLARY_ACCESS_TOKEN",
    };
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(fetch::Secret::new(v.trim().to_owned())),
        _ => bail!(
            "{var} is not set: a {} job needs it (or use --mock to run against the built-in mock API)",
            api.as_str()
        ),
    }
}

fn run(args: RunArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let Some(jobs) = load_jobs(&args.jobs) else {
        return Ok(ExitCode::from(2));
    };
    if args.timeout_secs.is_nan() || args.timeout_secs <= 0.0 {
        eprintln!("error: --timeout-secs must be more than 0");
        return Ok(ExitCode::from(2));
    }
    let mut tokens = Vec::new();
    for job in &jobs {
        match token_for(job.api, args.mock) {
            Ok(t) => tokens.push(t),
            Err(e) => {
                eprintln!("error: {}: {e}", job.source.display());
                return Ok(ExitCode::from(2));
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let cancel = CancellationToken::new();
        spawn_ctrl_c(cancel.clone());
        let mock = if args.mock {
            Some(
                mock_api::MockServer::start(mock_api::MockConfig::default(), 0)
                    .await
                    .context("cannot start the built-in mock API")?,
            )
        } else {
            None
        };
        let mut code = ExitCode::SUCCESS;
        for (job, token) in jobs.iter().zip(tokens) {
            let api_url = match &mock {
                Some(server) => Some(url::Url::parse(&match job.api {
                    Api::V3 => server.v3_url(),
                    Api::V4 => server.v4_url(),
                })?),
                None => args.api_url.clone(),
            };
            // One set of bars per job: a job's lines end with it.
            let progress = Progress::new(verbosity);
            let options = RunOptions {
                out: args.out.clone(),
                api_url,
                concurrency: args.concurrency,
                max_attempts: args.max_attempts,
                requests_per_second: args.requests_per_second,
                request_timeout: Some(Duration::from_secs_f64(args.timeout_secs)),
                fresh: args.fresh,
                result_cap: args.result_cap as usize,
                v4_limit: args.v4_limit as usize,
                write: write::WriteOptions {
                    csv_raw_text: args.csv_raw_text,
                    ..write::WriteOptions::default()
                },
            };
            if let Some(server) = &mock {
                progress.line(&format!(
                    "{}: using the built-in mock API at {}",
                    job.name,
                    server.addr()
                ));
            }
            let result = run_job(job, token, &options, &progress, &cancel).await;
            progress.finish();
            match result {
                Ok(summary) => {
                    eprintln!("{summary}");
                    for warning in summary.warnings.iter().take(5) {
                        progress.line(&format!("  warning: {warning}"));
                    }
                }
                Err(RunError::Cancelled) | Err(RunError::Fetch(fetch::FetchError::Cancelled)) => {
                    eprintln!(
                        "{}: interrupted; nothing was replaced. Run the same command again to resume.",
                        job.name
                    );
                    return Ok(ExitCode::from(130));
                }
                Err(e) => {
                    eprintln!(
                        "error: {}: {e}\n  the previous export (if any) was left untouched",
                        job.name
                    );
                    code = ExitCode::from(1);
                }
            }
        }
        Ok(code)
    })
}

fn spawn_ctrl_c(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: stopping (press Ctrl+C again to quit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}
