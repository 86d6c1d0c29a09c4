//! `mly-export`: export Mapillary images and sequences to GeoJSON, Shapefile, GPX and CSV.

/// Features are built on the reading thread and freed on the writer threads; glibc's malloc
/// serialises such cross-thread frees on one lock (measured: a third of `convert`'s time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::builder::{RangedU64ValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use mly_export::convert::{ConvertOptions, convert};
use mly_export::job::{self, Job};
use mly_export::progress::{Progress, Verbosity};
use mly_export::run::{RunError, RunOptions, fetch_config, run_job};
use mly_export::{limits, mock, plan};
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
        /// Output folder `run` writes to: a previous export there says what its run cost.
        #[arg(long, default_value = "out")]
        out: PathBuf,
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
    /// Requests in flight at once (1 to 1000).
    #[arg(long, default_value = "8", allow_hyphen_values = true,
          value_parser = RangedU64ValueParser::<usize>::new()
              .range(limits::CONCURRENCY)
              .try_map(NonZeroUsize::try_from))]
    concurrency: NonZeroUsize,
    /// Start the built-in mock API on 127.0.0.1 and use it (no token needed).
    #[arg(long)]
    mock: bool,
    /// Ignore pages cached by an interrupted run and start over.
    #[arg(long)]
    fresh: bool,
    /// When another run of the same job (same --out) is running, exit 1 at once instead of
    /// waiting for it to end.
    #[arg(long)]
    no_wait: bool,
    /// Attempts per request before the run fails (1 to 100, default 6; overrides the job's
    /// max_attempts).
    #[arg(long, allow_hyphen_values = true,
          value_parser = RangedU64ValueParser::<u32>::new()
              .range(limits::MAX_ATTEMPTS)
              .try_map(NonZeroU32::try_from))]
    max_attempts: Option<NonZeroU32>,
    /// Client-side request rate limit, 0.001 to 1000000 (overrides the job's
    /// requests_per_second).
    #[arg(long, allow_hyphen_values = true,
          value_parser = |s: &str| limits::REQUESTS_PER_SECOND.parse(s))]
    requests_per_second: Option<f64>,
    /// Longest total wait for the API's rate limit before the run fails, in seconds, 0 to
    /// 86400 (default 900; overrides the job's max_rate_limit_wait_secs).
    #[arg(long, allow_hyphen_values = true, value_parser = |s: &str| limits::MAX_RATE_LIMIT_WAIT_SECS.parse(s).map(Duration::from_secs_f64))]
    max_rate_limit_wait_secs: Option<Duration>,
    /// Timeout per request, in seconds (0.001 to 86400).
    #[arg(long, default_value = "60", allow_hyphen_values = true,
          value_parser = |s: &str| limits::TIMEOUT_SECS.parse(s))]
    timeout_secs: f64,
    /// Write free-text CSV cells as they are, without the spreadsheet formula guard.
    #[arg(long)]
    csv_raw_text: bool,
    /// v3 result cap per query of the server (10,000 for Mapillary); a query that returns
    /// this many items is split. For v3-compatible servers with another cap.
    #[arg(long, default_value = "10000", allow_hyphen_values = true,
          value_parser = RangedU64ValueParser::<usize>::new().range(limits::RESULT_CAP))]
    result_cap: usize,
    /// v4 `limit` per bbox request (at most the server's maximum, 2,000 for Mapillary); a
    /// cell that returns this many images is split.
    #[arg(long, default_value = "2000", allow_hyphen_values = true,
          value_parser = RangedU64ValueParser::<usize>::new().range(limits::V4_LIMIT))]
    v4_limit: usize,
}

#[derive(Args)]
struct ConvertArgs {
    /// GeoJSON files saved from the API (images, sequences or both).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Formats, comma separated: geojson, shapefile, gpx, csv, gpkg.
    #[arg(long, value_delimiter = ',', default_value = "geojson,shapefile,gpx,csv", value_parser = parse_format)]
    formats: Vec<Format>,
    /// Write free-text CSV cells as they are, without the spreadsheet formula guard.
    #[arg(long)]
    csv_raw_text: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| {
        format!("unknown format {s:?}; expected geojson, shapefile, gpx, csv or gpkg")
    })
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
        Command::Check { jobs, out } => {
            let Some(jobs) = load_jobs(&jobs) else {
                return Ok(ExitCode::from(2));
            };
            for job in &jobs {
                let options = default_run_options();
                let config = fetch_config(job, fetch::Secret::new(String::new()), &options);
                print!("{}", plan::describe(job, &config));
                if let Some(line) = plan::last_run(job, &out) {
                    println!("{line}");
                }
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
        max_rate_limit_wait: None,
        fresh: false,
        result_cap: 10_000,
        v4_limit: 2000,
        write: write::WriteOptions::default(),
        no_wait: false,
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
    let cancel = CancellationToken::new();
    runtime.spawn(ctrl_c(cancel.clone()));
    let mock = if args.mock {
        Some(
            runtime
                .block_on(mock_api::MockServer::start(
                    mock_api::MockConfig::default(),
                    0,
                ))
                .context("cannot start the built-in mock API")?,
        )
    } else {
        None
    };
    // The jobs run on this thread, outside the runtime: its workers serve the mock and the
    // fetches and never wait behind the pipeline's file I/O (see `run::run_job`).
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
            max_rate_limit_wait: args.max_rate_limit_wait_secs,
            fresh: args.fresh,
            result_cap: args.result_cap,
            v4_limit: args.v4_limit,
            write: write::WriteOptions {
                csv_raw_text: args.csv_raw_text,
                ..write::WriteOptions::default()
            },
            no_wait: args.no_wait,
        };
        if let Some(server) = &mock {
            progress.line(&format!(
                "{}: using the built-in mock API at {}",
                job.name,
                server.addr()
            ));
        }
        let result = run_job(job, token, &options, &progress, &cancel, runtime.handle());
        progress.finish();
        match result {
            Ok(summary) => {
                eprintln!("{summary}");
                for warning in summary.warnings().take(5) {
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
}

async fn ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\ninterrupted: stopping (press Ctrl+C again to quit at once)");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    }
}
