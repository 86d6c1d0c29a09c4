//! Progress reporting: the library pushes [`Event`]s, the CLI draws them.

use std::sync::Arc;
use std::time::Duration;

/// Receives progress events from every fetch task (so it must be cheap and thread-safe).
pub trait Reporter: Send + Sync {
    /// Called once per event.
    fn on_event(&self, event: &Event);

    /// A line for people that is not a counter (a wait, a change of pace); shown above the bars
    /// on a terminal, as a log line elsewhere. Ignored unless implemented.
    fn message(&self, _text: &str) {}
}

/// A progress event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The run starts with this many cells.
    Planned {
        /// Initial cells (splits add more).
        cells: usize,
    },
    /// One query of the run starts with this many cells (sent before its first cell; a query
    /// skipped for unknown users never is).
    QueryPlanned {
        /// The query's label (every cell event of the query carries it).
        query: Arc<str>,
        /// Its initial cells (splits add more).
        cells: usize,
    },
    /// A cell's first request is about to go out (or its first page comes from the cache).
    CellStarted {
        /// The query the cell belongs to.
        query: Arc<str>,
        /// The cell.
        label: String,
    },
    /// A page is stored.
    Page {
        /// The query the cell belongs to.
        query: Arc<str>,
        /// The cell.
        label: String,
        /// Page index in the cell's chain, from 0.
        page: u32,
        /// Items on the page.
        items: usize,
        /// Reused from the page cache instead of fetched.
        from_cache: bool,
    },
    /// A cell is complete.
    CellFinished {
        /// The query the cell belongs to.
        query: Arc<str>,
        /// The cell.
        label: String,
        /// Its pages.
        pages: u32,
        /// Items over all its pages.
        items: usize,
    },
    /// A cell reached the result cap (or the v4 limit) and is replaced by its quadrants.
    Split {
        /// The query the cell belongs to.
        query: Arc<str>,
        /// The cell.
        label: String,
        /// Why, for humans.
        reason: String,
    },
    /// The API's rate limit answered: every request pauses for `wait`, then they go at the
    /// new pace. Not a fault: no attempt is used up.
    RateLimited {
        /// The request, redacted.
        url: String,
        /// The pause before any request leaves again.
        wait: Duration,
        /// The pace after the pause, requests per second.
        requests_per_second: f64,
        /// Time the run has paused for rate limits, this pause included.
        waited: Duration,
        /// How long it may pause in total before it fails.
        max_wait: Duration,
        /// The API's answer.
        cause: String,
    },
    /// A request failed and will be retried.
    Retry {
        /// The query the request belongs to.
        query: Arc<str>,
        /// The request, redacted.
        url: String,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// Attempts allowed.
        max_attempts: u32,
        /// Wait before the next attempt.
        delay: Duration,
        /// What failed.
        cause: String,
    },
}

/// A [`Reporter`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {
    fn on_event(&self, _event: &Event) {}
}
