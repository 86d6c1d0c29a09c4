//! Running plans: a [`Session`] is one fetch run (one HTTP client, one pace, one set of
//! counters) that walks a plan's cells, then (v4) the sequences the images named, as cells of
//! the same run.
//!
//! Modules: `state` (what every task shares), `scheduler` (cells in parallel, splits, events),
//! `walk` (one cell's chain), `resume` (stored pages reused), `links` (next-link rewriting),
//! `users` (v3 username lookup and per-query user filters).

mod links;
mod resume;
mod scheduler;
mod state;
mod users;
mod walk;

use std::sync::Arc;
use std::time::Instant;

use model::Api;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::scheduler::{drive, drive_one};
pub use self::state::FetchStats;
use self::state::Run;
use crate::cache::PageRef;
use crate::plan::{Cell, Endpoint, SplitRule, V4_IMAGE_FIELDS};
use crate::{Event, FetchConfig, FetchError, Plan, QueryResource, Reporter};

/// What a plan's fetch produced: page files in the page cache, in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// Image pages: plan order, then quadrant order (SW, SE, NW, NE) of split cells, then page
    /// order. Pages of a split cell are not listed, only those of its leaves.
    pub images: Vec<PageRef>,
    /// Pages of sequences queries, one group per page: v3 `/sequences` pages; v4, the image
    /// pages of the query's area (take their `sequence` ids to
    /// [`Session::fetch_v4_sequences`]).
    pub sequences: Vec<Vec<PageRef>>,
    /// v4 map feature pages, in the order of [`Fetched::images`].
    pub map_features: Vec<PageRef>,
    /// The session's counters when this fetch returned (earlier fetches of the session
    /// included); [`Session::stats`] gives them later.
    pub stats: FetchStats,
    /// Things the user should know that did not stop the run (unknown usernames...).
    pub warnings: Vec<String>,
    /// v3: the keys the job's usernames resolved to.
    pub resolved_userkeys: Vec<String>,
}

/// One fetch run: every request it makes shares one HTTP client, one pace (and rate-limit
/// waiting budget), one concurrency bound and one set of counters, and its events go to the
/// reporter of the call that is running. A v4 export fetches its plan, reads the image pages,
/// then hands the session the sequence ids they named:
///
/// ```no_run
/// # async fn demo(config: fetch::FetchConfig, plan: fetch::Plan, ids: Vec<String>)
/// # -> Result<(), fetch::FetchError> {
/// use fetch::{NoReporter, Session};
/// use tokio_util::sync::CancellationToken;
///
/// let cancel = CancellationToken::new();
/// let mut session = Session::start(&config)?;
/// let fetched = session.fetch(&plan, &NoReporter, &cancel).await?;
/// // ... the transform reads `fetched.images` and names the sequences it accepted ...
/// let sequences = session.fetch_v4_sequences(&ids, &NoReporter, &cancel).await?;
/// let total = session.stats(); // requests, rate limits and waits of both
/// # Ok(()) }
/// ```
pub struct Session {
    run: Arc<Run>,
    events: mpsc::Receiver<Event>,
    started: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("api", &self.run.api)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Checks the configuration, builds the HTTP client and opens the page cache.
    pub fn start(config: &FetchConfig) -> Result<Session, FetchError> {
        let (run, events) = Run::start(config)?;
        Ok(Session {
            run: Arc::new(run),
            events,
            started: Instant::now(),
        })
    }

    /// Runs a plan: every cell's `Link` (v3) or `paging.next` (v4) chain to its end, splitting
    /// cells that reach the cap. Pages already in the cache are reused.
    pub async fn fetch(
        &mut self,
        plan: &Plan,
        reporter: &dyn Reporter,
        cancel: &CancellationToken,
    ) -> Result<Fetched, FetchError> {
        reporter.on_event(&Event::Planned {
            cells: plan.cells(),
        });
        let mut fetched = Fetched::default();
        let usernames = users::usernames(&plan.queries);
        let (looked_up, users) = if plan.api == Api::V3 && !usernames.is_empty() {
            let lookup = self.run.resolve_users(&usernames);
            let users = drive_one(lookup, &mut self.events, reporter, cancel).await?;
            (usernames, users)
        } else {
            (Vec::new(), Vec::new())
        };
        let filters = users::user_filters(&plan.queries, &looked_up, &users);
        fetched.warnings = filters.warnings;
        fetched.resolved_userkeys = filters.resolved_userkeys;
        let queries = plan.queries.iter().zip(&filters.per_query);
        for (query, _) in queries.clone().filter(|(_, keys)| keys.is_some()) {
            reporter.on_event(&Event::QueryPlanned {
                query: query.query().clone(),
                cells: query.cell_count(),
            });
        }
        let cells = queries
            .enumerate()
            .filter_map(|(q, (query, keys))| keys.as_ref().map(|keys| (q, query.cells(keys))))
            .flat_map(|(q, cells)| cells.enumerate().map(move |(c, cell)| (vec![q, c], cell)));
        let leaves = drive(&self.run, cells, &mut self.events, reporter, cancel).await?;
        for (_, cell, pages) in leaves {
            match cell.resource {
                QueryResource::Images => fetched.images.extend(pages),
                QueryResource::MapFeatures => fetched.map_features.extend(pages),
                QueryResource::Sequences => {
                    fetched.sequences.extend(pages.into_iter().map(|p| vec![p]))
                }
            }
        }
        fetched.stats = self.stats();
        Ok(fetched)
    }

    /// v4: fetches every image of each sequence (`/images?sequence_id=`), following
    /// `paging.next`, as cells of this session. Returns one group per distinct id, sorted by
    /// id, holding that sequence's pages.
    pub async fn fetch_v4_sequences(
        &mut self,
        sequence_ids: &[String],
        reporter: &dyn Reporter,
        cancel: &CancellationToken,
    ) -> Result<Vec<Vec<PageRef>>, FetchError> {
        let mut ids = sequence_ids.to_vec();
        ids.sort();
        ids.dedup();
        reporter.on_event(&Event::Planned { cells: ids.len() });
        // One query for progress: thousands of sequences are one bar, not thousands.
        let query: Arc<str> = Arc::from("sequences");
        reporter.on_event(&Event::QueryPlanned {
            query: query.clone(),
            cells: ids.len(),
        });
        let limit = self.run.v4_limit.to_string();
        let cells = ids.into_iter().enumerate().map(|(i, id)| {
            let cell = Cell {
                label: format!("sequence {id}"),
                query: query.clone(),
                resource: QueryResource::Sequences,
                endpoint: Endpoint::V4Images,
                area: None,
                params: vec![
                    ("sequence_id", id),
                    ("fields", V4_IMAGE_FIELDS.to_owned()),
                    ("limit", limit.clone()),
                ],
                split: SplitRule::Never,
            };
            (vec![i], cell)
        });
        let leaves = drive(&self.run, cells, &mut self.events, reporter, cancel).await?;
        Ok(leaves.into_iter().map(|(_, _, pages)| pages).collect())
    }

    /// The session's counters so far: every fetch it made, one total.
    pub fn stats(&self) -> FetchStats {
        self.run.stats(self.started)
    }
}

/// Runs a plan in a session of its own ([`Session::fetch`]): for a fetch that needs nothing
/// more.
pub async fn fetch(
    config: &FetchConfig,
    plan: &Plan,
    reporter: &dyn Reporter,
    cancel: &CancellationToken,
) -> Result<Fetched, FetchError> {
    Session::start(config)?.fetch(plan, reporter, cancel).await
}
