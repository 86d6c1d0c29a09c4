//! Progress for people: indicatif bars on a terminal, sparse plain lines elsewhere (cron, CI),
//! nothing but errors and the summary with `--quiet`. Everything goes to stderr.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// The terminal's bars: the total on top, then one bar per query that has a cell running. No
/// bar ticks by itself but the total (one thread for the whole run, so its elapsed time and ETA
/// move while requests wait); the rest are redrawn when their events arrive.
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    queries: Mutex<HashMap<Arc<str>, QueryProgress>>,
}

/// One query's counts, and its bar while it has cells running or left.
#[derive(Default)]
struct QueryProgress {
    /// Initial cells plus four per split (or the cells started, when more).
    cells: u64,
    started: u64,
    /// Cells finished or replaced by their quadrants.
    done: u64,
    pages: u64,
    items: u64,
    splits: u64,
    retries: u64,
    bar: Option<ProgressBar>,
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
/// How often the total bar redraws itself between events.
const TOTAL_TICK: Duration = Duration::from_millis(500);

impl Progress {
    /// Bars only when stderr is a terminal and the verbosity is normal.
    pub fn new(verbosity: Verbosity) -> Progress {
        let bars = (verbosity == Verbosity::Normal && std::io::stderr().is_terminal())
            .then(|| Bars::new(ProgressDrawTarget::stderr()));
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
            if let Ok(mut queries) = bars.queries.lock() {
                for bar in queries.values_mut().filter_map(|q| q.bar.take()) {
                    bar.finish_and_clear();
                    bars.multi.remove(&bar);
                }
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

    /// One more cell is done (finished, or replaced by its quadrants).
    fn cell_done(&self) {
        self.totals.cells_done.fetch_add(1, Ordering::Relaxed);
        if let Some(bars) = &self.bars {
            bars.total.inc(1);
            bars.total.set_message(self.totals_message());
        }
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

impl Bars {
    fn new(target: ProgressDrawTarget) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {pos}/{len} cells  {msg}  ({elapsed}, ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        total.set_prefix("fetch");
        total.enable_steady_tick(TOTAL_TICK);
        Bars {
            multi,
            total,
            queries: Mutex::new(HashMap::new()),
        }
    }

    /// Updates `query`'s counts and redraws its bar: drawn from its first running cell on,
    /// removed once every cell is done, so finished queries (and cells) leave the screen and at
    /// most the queries with a cell in flight (a handful: `--concurrency` bounds them) are shown.
    fn query(&self, query: &Arc<str>, update: impl FnOnce(&mut QueryProgress)) {
        let Ok(mut queries) = self.queries.lock() else {
            return;
        };
        let progress = queries.entry(query.clone()).or_default();
        update(progress);
        progress.cells = progress.cells.max(progress.started);
        if progress.started == 0 {
            return;
        }
        if progress.done >= progress.cells {
            if let Some(bar) = progress.bar.take() {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
            queries.remove(query);
            return;
        }
        let bar = progress.bar.get_or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template("  {prefix} [{bar:20}] {pos}/{len} cells  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(query.to_string());
            bar
        });
        bar.set_length(progress.cells);
        bar.set_position(progress.done);
        bar.set_message(format!(
            "{} pages, {} features, {} splits, {} retries",
            progress.pages, progress.items, progress.splits, progress.retries
        ));
    }
}

impl fetch::Reporter for Progress {
    fn on_event(&self, event: &Event) {
        let t = &self.totals;
        let verbose = self.verbosity == Verbosity::Verbose;
        let bars = self.bars.as_ref();
        match event {
            Event::Planned { cells } => {
                t.cells.fetch_add(*cells as u64, Ordering::Relaxed);
                if let Some(bars) = bars {
                    bars.total.inc_length(*cells as u64);
                    bars.total.set_message(self.totals_message());
                }
            }
            Event::QueryPlanned { query, cells } => {
                if verbose {
                    tracing::info!("plan {query}: {cells} cells");
                }
                if let Some(bars) = bars {
                    bars.query(query, |q| q.cells += *cells as u64);
                }
            }
            Event::CellStarted { query, label } => {
                // Requests outside the plan (the users lookup) are cells too.
                let started = t.cells_started.fetch_add(1, Ordering::Relaxed) + 1;
                if started > t.cells.load(Ordering::Relaxed) {
                    t.cells.store(started, Ordering::Relaxed);
                    if let Some(bars) = bars {
                        bars.total.set_length(started);
                    }
                }
                if verbose {
                    tracing::info!("start {label}");
                }
                if let Some(bars) = bars {
                    bars.query(query, |q| q.started += 1);
                }
            }
            Event::Page {
                query,
                label,
                page,
                items,
                from_cache,
            } => {
                t.pages.fetch_add(1, Ordering::Relaxed);
                t.items.fetch_add(*items as u64, Ordering::Relaxed);
                if verbose {
                    let cached = if *from_cache { " (cached)" } else { "" };
                    tracing::info!("{label}: page {page}, {items} items{cached}");
                }
                if let Some(bars) = bars {
                    bars.total.set_message(self.totals_message());
                    bars.query(query, |q| {
                        q.pages += 1;
                        q.items += *items as u64;
                    });
                }
            }
            Event::CellFinished {
                query,
                label,
                pages,
                items,
            } => {
                if verbose {
                    tracing::info!("done {label}: {pages} pages, {items} items");
                }
                self.cell_done();
                if let Some(bars) = bars {
                    bars.query(query, |q| q.done += 1);
                }
            }
            Event::Split {
                query,
                label,
                reason,
            } => {
                t.splits.fetch_add(1, Ordering::Relaxed);
                // Each split adds four cells and is done itself (replaced by them).
                t.cells.fetch_add(4, Ordering::Relaxed);
                if let Some(bars) = bars {
                    bars.total.inc_length(4);
                }
                if verbose {
                    tracing::info!("split {label}: {reason}");
                }
                self.cell_done();
                if let Some(bars) = bars {
                    bars.query(query, |q| {
                        q.splits += 1;
                        q.cells += 4;
                        q.done += 1;
                    });
                }
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
                query,
                url,
                attempt,
                max_attempts,
                delay,
                cause,
            } => {
                t.retries.fetch_add(1, Ordering::Relaxed);
                if verbose {
                    tracing::warn!(
                        "retry {attempt}/{max_attempts} in {:.1}s: {url}: {cause}",
                        delay.as_secs_f64()
                    );
                }
                if let Some(bars) = bars {
                    bars.query(query, |q| q.retries += 1);
                }
            }
        }
        self.plain_tick(false);
    }

    fn message(&self, text: &str) {
        self.line(text);
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

#[cfg(test)]
mod tests {
    use super::*;
    use fetch::Reporter;

    fn hidden() -> Progress {
        Progress {
            verbosity: Verbosity::Normal,
            bars: Some(Bars::new(ProgressDrawTarget::hidden())),
            totals: Totals::default(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    fn bars_shown(progress: &Progress) -> usize {
        let bars = progress.bars.as_ref().unwrap();
        let queries = bars.queries.lock().unwrap();
        queries.values().filter(|q| q.bar.is_some()).count()
    }

    #[test]
    fn a_query_bar_lives_while_its_cells_run_and_splits_keep_the_count() {
        let progress = hidden();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let event = |e: Event| progress.on_event(&e);
        event(Event::Planned { cells: 3 });
        event(Event::QueryPlanned {
            query: a.clone(),
            cells: 2,
        });
        event(Event::QueryPlanned {
            query: b.clone(),
            cells: 1,
        });
        assert_eq!(bars_shown(&progress), 0, "no bar before a cell starts");
        let started = |query: &Arc<str>, label: &str| Event::CellStarted {
            query: query.clone(),
            label: label.into(),
        };
        let finished = |query: &Arc<str>, label: &str| Event::CellFinished {
            query: query.clone(),
            label: label.into(),
            pages: 1,
            items: 5,
        };
        event(started(&a, "a 1"));
        event(started(&a, "a 2"));
        event(Event::Split {
            query: a.clone(),
            label: "a 1".into(),
            reason: "cap".into(),
        });
        event(finished(&a, "a 2"));
        assert_eq!(bars_shown(&progress), 1);
        for quadrant in ["SW", "SE", "NW", "NE"] {
            event(started(&a, quadrant));
            event(finished(&a, quadrant));
        }
        assert_eq!(bars_shown(&progress), 0, "a is done: its bar is gone");
        event(started(&b, "b"));
        assert_eq!(bars_shown(&progress), 1);
        event(finished(&b, "b"));
        assert_eq!(bars_shown(&progress), 0);
        let total = &progress.bars.as_ref().unwrap().total;
        // 3 cells + 4 quadrants; the split one is done too.
        assert_eq!((total.position(), total.length()), (7, Some(7)));
        assert_eq!(progress.totals.cells_done.load(Ordering::Relaxed), 7);
    }
}
