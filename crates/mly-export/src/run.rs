//! The `run` pipeline: fetch every page into the job's cache, then stream the pages, in a
//! deterministic order, through the transform into every writer; commit atomically.
//!
//! The pipeline runs on the caller's thread, outside the async runtime: only the fetches are
//! futures (driven with [`Handle::block_on`], their requests on the runtime's workers). Reading
//! pages, parsing, the writers' bounded channels and the final fsync of the whole tree block
//! this thread alone, never a worker that the built-in mock server or a fetch needs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use fetch::{FetchConfig, PageRef, Secret};
use model::{Api, Resource};
use tokio_util::sync::CancellationToken;
use transform::Transformer;
use write::{ExportDir, MapPage, Preview, WriteOptions};

use crate::changes::{self, Fingerprints};
use crate::job::Job;
use crate::lock::{self, Held, JobLock};
use crate::pipeline::{Pipeline, PipelineError, Taps};
use crate::plan;
use crate::progress::Progress;
use crate::report::{self, RunSummary};

/// How to run (flags; the job file says what to export).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `--out`.
    pub out: PathBuf,
    /// `--api-url` (or the built-in mock's).
    pub api_url: Option<url::Url>,
    /// `--concurrency`.
    pub concurrency: std::num::NonZeroUsize,
    /// `--max-attempts` (wins over the job's `max_attempts`).
    pub max_attempts: Option<std::num::NonZeroU32>,
    /// `--requests-per-second` (wins over the job's `requests_per_second`).
    pub requests_per_second: Option<f64>,
    /// `--timeout` per request.
    pub request_timeout: Option<Duration>,
    /// `--max-rate-limit-wait-secs` (wins over the job's `max_rate_limit_wait_secs`).
    pub max_rate_limit_wait: Option<Duration>,
    /// `--fresh`: ignore pages cached by an interrupted run.
    pub fresh: bool,
    /// `--result-cap`: the v3 server's cap per query.
    pub result_cap: usize,
    /// `--v4-limit`: the v4 `limit` per bbox request.
    pub v4_limit: usize,
    /// Writer options (`--csv-raw-text`).
    pub write: WriteOptions,
    /// `--no-wait`: fail at once when another run holds the job's lock, instead of waiting.
    pub no_wait: bool,
}

/// How often a run waiting for the job's lock tries again (and checks for Ctrl+C).
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Fetching failed (the error names the query, attempts and time; the token is redacted).
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    /// A page could not be understood.
    #[error("{}: {source}", page.display())]
    Transform {
        /// The cached page's file.
        page: PathBuf,
        /// The cause.
        #[source]
        source: transform::TransformError,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] write::WriteError),
    /// Ctrl+C.
    #[error("interrupted; the pages fetched so far are kept and the next run resumes")]
    Cancelled,
    /// `--no-wait`, and another run of this job holds its lock.
    #[error("{}", describe_held(.0))]
    Locked(Held),
    /// The job's lock file could not be created or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn describe_held(held: &Held) -> String {
    let pid = held
        .pid
        .map_or(String::new(), |pid| format!(" (pid {pid})"));
    format!(
        "another mly-export run{pid} is running this job: it holds {}; try again when it \
         ends, or leave out --no-wait to wait for it",
        held.path.display()
    )
}

/// The default API base of each API.
pub fn default_api_url(api: Api) -> url::Url {
    let base = match api {
        Api::V3 => "https://a.mapillary.com/v3",
        Api::V4 => "https://graph.mapillary.com",
    };
    url::Url::parse(base).unwrap_or_else(|_| unreachable!("constant URL"))
}

/// The fetch configuration of a job run.
pub fn fetch_config(job: &Job, token: Secret, options: &RunOptions) -> FetchConfig {
    let base = options
        .api_url
        .clone()
        .unwrap_or_else(|| default_api_url(job.api));
    let cache_dir = options.out.join(".mly-cache").join(&job.name);
    let mut config = FetchConfig::new(job.api, base, token, cache_dir);
    config.concurrency = options.concurrency;
    if let Some(n) = options.max_attempts.or(job.max_attempts) {
        config.max_attempts = n;
    }
    config.requests_per_second = options.requests_per_second.or(job.requests_per_second);
    config.result_cap = options.result_cap;
    config.v4_limit = options.v4_limit;
    if let Some(t) = options.request_timeout {
        config.request_timeout = t;
    }
    if let Some(wait) = options.max_rate_limit_wait.or(job.max_rate_limit_wait) {
        config.max_rate_limit_wait = wait;
    }
    config
}

/// Runs one job end to end, on this thread (not from inside the runtime: see the module
/// notes); `runtime` drives the fetches. On any error the previous export is left untouched.
pub fn run_job(
    job: &Job,
    token: Secret,
    options: &RunOptions,
    progress: &Progress,
    cancel: &CancellationToken,
    runtime: &Handle,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let started_at = jiff::Timestamp::now();
    // Before anything touches the export folder or the page cache: one run per job.
    let _lock = lock_job(job, options, progress, cancel)?;
    // Refuse a bad destination before any request is made.
    let export = ExportDir::create(&options.out, &job.name)?;
    let config = fetch_config(job, token, options);
    if options.fresh {
        fetch::remove_cache(&config.cache_dir)?;
    }
    let plan = fetch::plan(&config, &plan::queries(job));
    // One fetch run for the whole job: the plan now, the v4 sequences the images name later.
    let mut session = fetch::Session::start(&config)?;
    let fetched = runtime.block_on(session.fetch(&plan, progress, cancel))?;
    let mut transformer = Transformer::new(plan::transform_config(job, &fetched.resolved_userkeys));
    let mut taps = Taps {
        preview: Preview::new(&job.areas.iter().map(|a| a.area).collect::<Vec<_>>()),
        map: map_page(&export, job)?,
        fingerprints: Fingerprints::default(),
    };
    let mut pipeline = Pipeline::new(
        &export,
        &job.formats,
        &options.write,
        Some(progress),
        Some(&mut taps),
    );

    if job.images {
        pipeline.open(&[Resource::Images])?;
        for page in &fetched.images {
            check_cancel(cancel)?;
            let body = read_page(page)?;
            let parsed = match job.api {
                Api::V3 => transformer.v3_page(&body, &mut pipeline),
                Api::V4 => transformer.v4_images_page(&body, &mut pipeline),
            };
            parsed.map_err(|e| at_page(e, &page.path))?;
        }
        pipeline.close()?;
    }

    let warnings = fetched.warnings.clone();
    if job.sequences {
        let groups = match job.api {
            Api::V3 => fetched.sequences,
            // Built from the images already read, after this loop: no request per sequence.
            Api::V4 if !job.whole_sequences => Vec::new(),
            Api::V4 => {
                let ids: Vec<String> = transformer
                    .accepted_sequence_ids()
                    .map(str::to_owned)
                    .collect();
                runtime.block_on(session.fetch_v4_sequences(&ids, progress, cancel))?
            }
        };
        pipeline.open(&[Resource::Sequences, Resource::SequencePoints])?;
        for group in &groups {
            check_cancel(cancel)?;
            let bodies = group.iter().map(read_page).collect::<Result<Vec<_>, _>>()?;
            let parsed = match job.api {
                Api::V3 => bodies
                    .iter()
                    .try_for_each(|body| transformer.v3_page(body, &mut pipeline)),
                Api::V4 => transformer.v4_sequence(&bodies, &mut pipeline),
            };
            let first = group
                .first()
                .map(|p| p.path.as_path())
                .unwrap_or(Path::new(""));
            parsed.map_err(|e| at_page(e, first))?;
        }
        if job.api == Api::V4 && !job.whole_sequences {
            transformer
                .v4_sequences_from_images(&mut pipeline)
                .map_err(|e| at_page(e, &config.cache_dir))?;
        }
        pipeline.close()?;
    }
    if job.map_features {
        pipeline.open(&[Resource::MapFeatures])?;
        for page in &fetched.map_features {
            check_cancel(cancel)?;
            let body = read_page(page)?;
            transformer
                .v4_map_features_page(&body, &mut pipeline)
                .map_err(|e| at_page(e, &page.path))?;
        }
    }
    let mut layers = pipeline.finish()?;
    check_cancel(cancel)?;
    export.update_sizes(&mut layers)?;

    let previous = changes::read_previous(&options.out, &job.name)?;
    let diff = previous
        .as_ref()
        .map(|previous| changes::diff(previous, &taps.fingerprints));
    changes::write_files(export.path(), &taps.fingerprints, diff.as_ref())?;
    let summary = RunSummary::new(
        job,
        layers,
        transformer.into_report(),
        &session.stats(),
        warnings,
        diff,
        started.elapsed(),
        options.out.join(&job.name),
    );
    let title = format!("mly-export: {}", job.name);
    taps.preview.write(export.path(), &title)?;
    taps.map.finish(&title, &summary.table_rows())?;
    let manifest = report::manifest(job, &summary, started_at);
    export.commit(&manifest)?;
    // A completed run starts fresh next time: a refresh must see new data.
    fetch::remove_cache(&config.cache_dir)?;
    Ok(summary)
}

/// Takes the job's lock; while another run holds it, says so once and waits (Ctrl+C still
/// stops the wait), or with `--no-wait` fails at once.
fn lock_job(
    job: &Job,
    options: &RunOptions,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<JobLock, RunError> {
    let mut told = false;
    loop {
        match lock::try_lock(&options.out, &job.name) {
            Ok(Ok(lock)) => return Ok(lock),
            Ok(Err(held)) if options.no_wait => return Err(RunError::Locked(held)),
            Ok(Err(held)) if !told => {
                let pid = held
                    .pid
                    .map_or(String::new(), |pid| format!(" (pid {pid})"));
                progress.line(&format!(
                    "{}: waiting for another mly-export run{pid} of this job to end (it holds {})",
                    job.name,
                    held.path.display()
                ));
                told = true;
            }
            Ok(Err(_)) => {}
            Err(source) => {
                return Err(RunError::Lock {
                    path: lock::lock_path(&options.out, &job.name),
                    source,
                });
            }
        }
        check_cancel(cancel)?;
        std::thread::sleep(LOCK_RETRY);
    }
}

/// The map page of a job's export: its areas, and a layer per resource it writes.
fn map_page(export: &ExportDir, job: &Job) -> Result<MapPage, RunError> {
    let areas: Vec<_> = job.areas.iter().map(|a| (a.name.clone(), a.area)).collect();
    let resources = Resource::ALL
        .into_iter()
        .filter(|r| match r {
            Resource::Images => job.images,
            Resource::Sequences | Resource::SequencePoints => job.sequences,
            Resource::MapFeatures => job.map_features,
        })
        .collect::<Vec<_>>();
    Ok(MapPage::create(export.path(), &areas, &resources)?)
}

/// A page's error with the page named: the transform's, or the writers'.
fn at_page(error: PipelineError, page: &Path) -> RunError {
    match error {
        PipelineError::Transform(source) => RunError::Transform {
            page: page.to_owned(),
            source,
        },
        PipelineError::Write(error) => RunError::Write(error),
    }
}

fn check_cancel(cancel: &CancellationToken) -> Result<(), RunError> {
    if cancel.is_cancelled() {
        Err(RunError::Cancelled)
    } else {
        Ok(())
    }
}

fn read_page(page: &PageRef) -> Result<Vec<u8>, RunError> {
    page.read().map_err(|source| {
        RunError::Write(write::WriteError::Io {
            path: page.path.clone(),
            source,
        })
    })
}
