//! Progress for people: indicatif bars on a terminal, sparse plain lines elsewhere (cron, CI),
//! nothing but errors and the summary with `--quiet`. Everything goes to stderr.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fetch::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `--quiet`: errors and the final summary only.
    Quiet,
    /// The default.
    Normal,
    /// `-v`: a log line per event, no bars.
    Verbose,
}

/// The CLI's [`fetch::Reporter`].
pub struct Progress {
    verbosity: Verbosity,
    bars: Option<Bars>,
    totals: Totals,
    last_line: Mutex<Instant>,
}

struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    queries: Mutex<HashMap<String, (ProgressBar, QueryCounts)>>,
}

#[derive(Default, Clone, Copy)]
struct QueryCounts {
    pages: u64,
    items: u64,
    splits: u64,
    retries: u64,
}

#[derive(Default)]
struct Totals {
    cells: AtomicU64,
    cells_started: AtomicU64,
    cells_done: AtomicU64,
    pages: AtomicU64,
    items: AtomicU64,
    retries: AtomicU64,
    splits: AtomicU64,
}

/// How often plain (non-terminal) progress lines are printed.
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

impl Progress {
    /// Bars only when stderr is a terminal and the verbosity is normal.
    pub fn new(verbosity: Verbosity) -> Progress {
        let bars = (verbosity == Verbosity::Normal && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(0));
            total.set_style(
                ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {pos}/{len} cells  {msg} ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            total.set_prefix("fetch");
            Bars {
                multi,
                total,
                queries: Mutex::new(HashMap::new()),
            }
        });
        Progress {
            verbosity,
            bars,
            totals: Totals::default(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Prints a line without tearing the bars.
    pub fn line(&self, text: &str) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        match &self.bars {
            Some(bars) => bars.multi.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Clears the bars (before the summary).
    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            bars.total.finish_and_clear();
            for (bar, _) in bars
                .queries
                .lock()
                .map(|q| q.values().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                bar.finish_and_clear();
            }
        }
    }

    fn totals_message(&self) -> String {
        let t = &self.totals;
        format!(
            "{} pages, {} features, {} retries, {} splits",
            t.pages.load(Ordering::Relaxed),
            t.items.load(Ordering::Relaxed),
            t.retries.load(Ordering::Relaxed),
            t.splits.load(Ordering::Relaxed)
        )
    }

    fn plain_tick(&self, force: bool) {
        if self.verbosity != Verbosity::Normal || self.bars.is_some() {
            return;
        }
        let Ok(mut last) = self.last_line.lock() else {
            return;
        };
        if force || last.elapsed() >= PLAIN_INTERVAL {
            *last = Instant::now();
            eprintln!(
                "fetch: {}/{} cells, {}",
                self.totals.cells_done.load(Ordering::Relaxed),
                self.totals.cells.load(Ordering::Relaxed),
                self.totals_message()
            );
        }
    }

    fn query_bar(&self, cell_label: &str, update: impl FnOnce(&mut QueryCounts)) {
        let Some(bars) = &self.bars else { return };
        let query = query_of(cell_label);
        let Ok(mut queries) = bars.queries.lock() else {
            return;
        };
        let (bar, counts) = queries.entry(query.to_owned()).or_insert_with(|| {
            let bar = bars.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(query.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            (bar, QueryCounts::default())
        });
        update(counts);
        bar.set_message(format!(
            "{} pages, {} features, {} splits, {} retries",
            counts.pages, counts.items, counts.splits, counts.retries
        ));
    }
}

/// Seconds for people: tenths under 10 s unless whole (`0.5`, `2`, `20`).
fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs >= 10.0 || secs.fract() < 0.05 || secs.fract() > 0.95 {
        format!("{secs:.0}")
    } else {
        format!("{secs:.1}")
    }
}

/// The job query a cell belongs to: cells are labelled `<query label>` plus a cell suffix.
fn query_of(cell_label: &str) -> &str {
    cell_label
        .split_once(" #")
        .map_or(cell_label, |(query, _)| query)
}

impl fetch::Reporter for Progress {
    fn on_event(&self, event: &Event) {
        let t = &self.totals;
        match event {
            Event::Planned { cells } => {
                t.cells.fetch_add(*cells as u64, Ordering::Relaxed);
                if let Some(bars) = &self.bars {
                    bars.total.inc_length(*cells as u64);
                }
            }
            Event::CellStarted { label } => {
                // Requests outside the plan (the users lookup) are cells too.
                let started = t.cells_started.fetch_add(1, Ordering::Relaxed) + 1;
                if started > t.cells.load(Ordering::Relaxed) {
                    t.cells.store(started, Ordering::Relaxed);
                    if let Some(bars) = &self.bars {
                        bars.total.set_length(started);
                    }
                }
                if self.verbosity == Verbosity::Verbose {
                    tracing::info!("start {label}");
                }
                self.query_bar(label, |_| {});
            }
            Event::Page {
                label,
                page,
                items,
                from_cache,
            } => {
                t.pages.fetch_add(1, Ordering::Relaxed);
                t.items.fetch_add(*items as u64, Ordering::Relaxed);
                if self.verbosity == Verbosity::Verbose {
                    let cached = if *from_cache { " (cached)" } else { "" };
                    tracing::info!("{label}: page {page}, {items} items{cached}");
                }
                self.query_bar(label, |c| {
                    c.pages += 1;
                    c.items += *items as u64;
                });
            }
            Event::CellFinished {
                label,
                pages,
                items,
            } => {
                t.cells_done.fetch_add(1, Ordering::Relaxed);
                if self.verbosity == Verbosity::Verbose {
                    tracing::info!("done {label}: {pages} pages, {items} items");
                }
                if let Some(bars) = &self.bars {
                    bars.total.inc(1);
                    bars.total.set_message(self.totals_message());
                }
            }
            Event::Split { label, reason } => {
                t.splits.fetch_add(1, Ordering::Relaxed);
                // Each split adds four cells and finishes the split one.
                t.cells.fetch_add(4, Ordering::Relaxed);
                if let Some(bars) = &self.bars {
                    bars.total.inc_length(4);
                }
                if self.verbosity == Verbosity::Verbose {
                    tracing::info!("split {label}: {reason}");
                }
                self.query_bar(label, |c| c.splits += 1);
            }
            Event::RateLimited {
                url,
                wait,
                requests_per_second,
                waited,
                max_wait,
                cause,
            } => {
                let line = format!(
                    "rate limited: waiting {} s, pace now {requests_per_second:.1} req/s ({} of at most {} s waited; {cause})",
                    seconds(*wait),
                    seconds(*waited),
                    seconds(*max_wait)
                );
                match (&self.bars, self.verbosity) {
                    (_, Verbosity::Quiet) => {}
                    (_, Verbosity::Verbose) => tracing::warn!("{line}: {url}"),
                    (Some(bars), _) => bars.total.set_message(line),
                    // Cron and CI: a pause is worth a line of its own.
                    (None, _) => eprintln!("fetch: {line}"),
                }
            }
            Event::Retry {
                url,
                attempt,
                max_attempts,
                delay,
                cause,
            } => {
                t.retries.fetch_add(1, Ordering::Relaxed);
                if self.verbosity == Verbosity::Verbose {
                    tracing::warn!(
                        "retry {attempt}/{max_attempts} in {:.1}s: {url}: {cause}",
                        delay.as_secs_f64()
                    );
                }
            }
        }
        self.plain_tick(false);
    }
}

/// Progress of one layer's writers: a spinner on a terminal, one line when done elsewhere.
pub struct LayerProgress<'p> {
    progress: &'p Progress,
    resource: model::Resource,
    written: u64,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts reporting the writing of one layer.
    pub fn layer(&self, resource: model::Resource) -> LayerProgress<'_> {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {pos} features written")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(format!("write {}", resource.stem()));
            bar
        });
        LayerProgress {
            progress: self,
            resource,
            written: 0,
            bar,
        }
    }
}

impl LayerProgress<'_> {
    /// One more feature written.
    pub fn inc(&mut self) {
        self.written += 1;
        if self.written.is_multiple_of(1024)
            && let Some(bar) = &self.bar
        {
            bar.set_position(self.written);
        }
    }

    /// The layer is complete.
    pub fn finish(self) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.written);
                bar.finish();
            }
            None if self.progress.verbosity != Verbosity::Quiet => {
                eprintln!("write: {} {} features", self.resource.stem(), self.written)
            }
            None => {}
        }
    }
}
