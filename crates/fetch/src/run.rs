//! Running a plan: cells in parallel, each cell's chain in order, splits, the page cache.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use model::{Api, Area};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::cache::{CachedPage, PageCache, PageRef};
use crate::http::{Http, V3User, parse_users, validate};
use crate::plan::{Cell, Endpoint, SplitRule, V4_IMAGE_FIELDS};
use crate::{Event, FetchConfig, FetchError, Plan, QueryResource, Reporter};

/// Events waiting for the reporter at most; tasks wait when it falls behind.
const EVENT_BUFFER: usize = 1024;

/// What a run produced: page files in the page cache, in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// Image pages: plan order, then quadrant order (SW, SE, NW, NE) of split cells, then page
    /// order. Pages of a split cell are not listed, only those of its leaves.
    pub images: Vec<PageRef>,
    /// Sequence pages in groups. v3: one group per page. v4 [`fetch`]: one group per page of
    /// images (take their `sequence` ids for [`fetch_v4_sequences`]). [`fetch_v4_sequences`]: one
    /// group per sequence id (sorted) holding that sequence's pages.
    pub sequences: Vec<Vec<PageRef>>,
    /// v4 map feature pages, in the order of [`Fetched::images`].
    pub map_features: Vec<PageRef>,
    /// Counters.
    pub stats: FetchStats,
    /// Things the user should know that did not stop the run (unknown usernames...).
    pub warnings: Vec<String>,
    /// v3: the keys the job's usernames resolved to.
    pub resolved_userkeys: Vec<String>,
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchStats {
    /// HTTP requests sent (retries and rate-limited ones included).
    pub requests: u64,
    /// Attempts that failed with a fault (5xx, timeout, broken body...) and were retried.
    pub retries: u64,
    /// Rate-limit answers (v4 code 4, HTTP 429): each request was sent again after the pause.
    pub rate_limited: u64,
    /// Time the run paused for rate limits (wall time: every request waits the same pause).
    pub rate_limit_wait: Duration,
    /// Cells replaced by their quadrants.
    pub splits: u64,
    /// Pages stored or reused.
    pub pages: u64,
    /// Pages reused from the page cache.
    pub pages_from_cache: u64,
    /// Response bytes received.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Shared by every task of a run.
struct Run {
    api: Api,
    base_url: Url,
    token: crate::Secret,
    http: Http,
    /// Cells walked at once.
    concurrency: usize,
    cache: PageCache,
    events: mpsc::Sender<Event>,
    splits: AtomicU64,
    pages: AtomicU64,
    pages_from_cache: AtomicU64,
}

/// A cell's result.
enum Outcome {
    /// Its pages.
    Pages(Vec<PageRef>),
    /// It was split: these cells replace it.
    Split(Box<[Cell; 4]>),
}

/// Where a cell's pages go in the output: the plan position, then quadrant indices.
type OrderKey = Vec<usize>;

/// Runs a plan: every cell's `Link` (v3) or `paging.next` (v4) chain to its end, splitting
/// cells that reach the cap. Pages already in `config.cache_dir` are reused.
pub async fn fetch(
    config: &FetchConfig,
    plan: &Plan,
    reporter: &dyn Reporter,
    cancel: &CancellationToken,
) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let (run, mut events) = Run::start(config)?;
    let run = Arc::new(run);
    reporter.on_event(&Event::Planned {
        cells: plan.cells(),
    });
    let mut fetched = Fetched::default();
    let mut usernames: Vec<String> = plan
        .queries
        .iter()
        .flat_map(|q| q.usernames.iter().cloned())
        .collect();
    usernames.sort();
    usernames.dedup();
    let users = if plan.api == Api::V3 && !usernames.is_empty() {
        let lookup = run.resolve_users(&usernames);
        let users = drive_one(lookup, &mut events, reporter, cancel).await?;
        for username in &usernames {
            if !users.iter().any(|u| &u.username == username) {
                fetched
                    .warnings
                    .push(format!("unknown Mapillary username {username:?}"));
            }
        }
        let mut keys: Vec<String> = users.iter().map(|u| u.key.clone()).collect();
        keys.dedup();
        fetched.resolved_userkeys = keys;
        users
    } else {
        Vec::new()
    };

    let mut query_userkeys = Vec::with_capacity(plan.queries.len());
    for query in &plan.queries {
        let mut keys = query.userkeys.clone();
        for user in users
            .iter()
            .filter(|u| query.usernames.contains(&u.username))
        {
            if !keys.contains(&user.key) {
                keys.push(user.key.clone());
            }
        }
        if !query.usernames.is_empty() && keys.is_empty() {
            // Dropping the filter would broaden the query: it matches nothing instead.
            fetched.warnings.push(format!(
                "{}: none of its usernames exist; skipped",
                query.label()
            ));
            query_userkeys.push(None);
        } else {
            query_userkeys.push(Some(keys));
        }
    }
    for (query, _) in plan
        .queries
        .iter()
        .zip(&query_userkeys)
        .filter(|(_, keys)| keys.is_some())
    {
        reporter.on_event(&Event::QueryPlanned {
            query: query.query().clone(),
            cells: query.cell_count(),
        });
    }
    let cells = plan
        .queries
        .iter()
        .zip(&query_userkeys)
        .enumerate()
        .filter_map(|(q, (query, keys))| keys.as_ref().map(|keys| (q, query.cells(keys))))
        .flat_map(|(q, cells)| cells.enumerate().map(move |(c, cell)| (vec![q, c], cell)));
    let leaves = drive(&run, cells, &mut events, reporter, cancel).await?;
    for (_, cell, pages) in leaves {
        match cell.resource {
            QueryResource::Images => fetched.images.extend(pages),
            QueryResource::MapFeatures => fetched.map_features.extend(pages),
            QueryResource::Sequences => {
                fetched.sequences.extend(pages.into_iter().map(|p| vec![p]))
            }
        }
    }
    fetched.stats = run.stats(started);
    Ok(fetched)
}

/// v4: fetches every image of each sequence (`/images?sequence_id=`), following `paging.next`.
/// `Fetched::sequences` gets one group per distinct id, sorted by id.
pub async fn fetch_v4_sequences(
    config: &FetchConfig,
    sequence_ids: &[String],
    reporter: &dyn Reporter,
    cancel: &CancellationToken,
) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let (run, mut events) = Run::start(config)?;
    let run = Arc::new(run);
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
                ("limit", config.v4_limit.to_string()),
            ],
            split: SplitRule::Never,
        };
        (vec![i], cell)
    });
    let leaves = drive(&run, cells, &mut events, reporter, cancel).await?;
    Ok(Fetched {
        sequences: leaves.into_iter().map(|(_, _, pages)| pages).collect(),
        stats: run.stats(started),
        ..Fetched::default()
    })
}

/// Runs cells, at most the run's concurrency at a time, until all are done, one fails or
/// `cancel` fires. Returns the leaves in output order.
async fn drive(
    run: &Arc<Run>,
    mut cells: impl Iterator<Item = (OrderKey, Cell)>,
    events: &mut mpsc::Receiver<Event>,
    reporter: &dyn Reporter,
    cancel: &CancellationToken,
) -> Result<Vec<(OrderKey, Cell, Vec<PageRef>)>, FetchError> {
    let mut tasks = JoinSet::new();
    let mut splits: VecDeque<(OrderKey, Cell)> = VecDeque::new();
    let mut leaves = Vec::new();
    loop {
        while tasks.len() < run.concurrency && !cancel.is_cancelled() {
            let Some((key, cell)) = splits.pop_front().or_else(|| cells.next()) else {
                break;
            };
            let run = run.clone();
            tasks.spawn(async move {
                let outcome = run.walk(&cell).await;
                (key, cell, outcome)
            });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                tasks.abort_all();
                return Err(FetchError::Cancelled);
            }
            Some(event) = events.recv() => reporter.on_event(&event),
            Some(joined) = tasks.join_next() => {
                let (key, cell, outcome) = match joined {
                    Ok(done) => done,
                    Err(e) => match e.try_into_panic() {
                        Ok(panic) => std::panic::resume_unwind(panic),
                        // Only abort_all cancels tasks, and it is followed by a return.
                        Err(_) => return Err(FetchError::Cancelled),
                    },
                };
                match outcome? {
                    Outcome::Pages(pages) => leaves.push((key, cell, pages)),
                    Outcome::Split(children) => {
                        for (i, child) in children.into_iter().enumerate() {
                            let mut child_key = key.clone();
                            child_key.push(i);
                            splits.push_back((child_key, child));
                        }
                    }
                }
            }
        }
    }
    if cancel.is_cancelled() {
        return Err(FetchError::Cancelled);
    }
    while let Ok(event) = events.try_recv() {
        reporter.on_event(&event);
    }
    leaves.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(leaves)
}

/// Runs one future while forwarding its events, until it ends or `cancel` fires.
async fn drive_one<T>(
    work: impl Future<Output = Result<T, FetchError>>,
    events: &mut mpsc::Receiver<Event>,
    reporter: &dyn Reporter,
    cancel: &CancellationToken,
) -> Result<T, FetchError> {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(FetchError::Cancelled),
            Some(event) = events.recv() => reporter.on_event(&event),
            result = &mut work => {
                while let Ok(event) = events.try_recv() {
                    reporter.on_event(&event);
                }
                return result;
            }
        }
    }
}

impl Run {
    fn start(config: &FetchConfig) -> Result<(Run, mpsc::Receiver<Event>), FetchError> {
        check_config(config)?;
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        let run = Run {
            api: config.api,
            base_url: config.base_url.clone(),
            token: config.token.clone(),
            http: Http::new(config, events.clone())?,
            concurrency: config.concurrency.get(),
            cache: PageCache::open(&config.cache_dir)?,
            events,
            splits: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            pages_from_cache: AtomicU64::new(0),
        };
        Ok((run, receiver))
    }

    fn stats(&self, started: Instant) -> FetchStats {
        let counters = &self.http.counters;
        FetchStats {
            requests: counters.requests.load(Ordering::Relaxed),
            retries: counters.retries.load(Ordering::Relaxed),
            rate_limited: counters.rate_limited.load(Ordering::Relaxed),
            rate_limit_wait: Duration::from_millis(
                counters.rate_limit_wait_ms.load(Ordering::Relaxed),
            ),
            splits: self.splits.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            pages_from_cache: self.pages_from_cache.load(Ordering::Relaxed),
            bytes: counters.bytes.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        }
    }

    async fn emit(&self, event: Event) {
        // The receiver lives as long as the run; a send fails only once the run is over.
        let _ = self.events.send(event).await;
    }

    /// v3: one `/users` request for every (sorted, distinct) username of the plan.
    async fn resolve_users(&self, usernames: &[String]) -> Result<Vec<V3User>, FetchError> {
        let cell = Cell {
            label: "users".to_owned(),
            query: Arc::from("users"),
            resource: QueryResource::Images,
            endpoint: Endpoint::V3Users,
            area: None,
            params: vec![("usernames", usernames.join(","))],
            split: SplitRule::Never,
        };
        let Outcome::Pages(pages) = self.walk(&cell).await? else {
            return Ok(Vec::new());
        };
        let mut users = Vec::new();
        for page in pages {
            let body = page.read().map_err(|source| FetchError::Cache {
                path: page.path.clone(),
                source,
            })?;
            users.extend(parse_users(&body).map_err(|e| FetchError::Cache {
                path: page.path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?);
        }
        Ok(users)
    }

    /// Walks one cell's chain: cached pages first, then the network.
    async fn walk(&self, cell: &Cell) -> Result<Outcome, FetchError> {
        let key = cell.cache_key(self.api);
        if self.cache.is_split(&key) {
            return self.split(cell, 0, "split on an earlier run").await;
        }
        self.emit(Event::CellStarted {
            query: cell.query.clone(),
            label: cell.label.clone(),
        })
        .await;
        let mut url = cell.url(self.api, &self.base_url, &self.token);
        let mut pages = Vec::new();
        // The pages an interrupted run stored; the chain goes on from the first one missing.
        let mut cached = self.cache.load_chain(&key)?.into_iter();
        let mut log = None;
        let mut kept_until = 0;
        let mut items_total = 0;
        let mut page: u32 = 0;
        loop {
            let reused = match cached.next() {
                Some(stored) => self.reuse(stored, cell.endpoint).await,
                None => None,
            };
            let (page_ref, items, next, from_cache) = match reused {
                Some((stored, items, next)) => {
                    kept_until = stored.end;
                    (stored.page, items, next, true)
                }
                None => {
                    // Nothing after a missing page is trusted: the log continues from here.
                    cached = Vec::new().into_iter();
                    let fetched = self.http.get(&url, cell.endpoint, &cell.query).await?;
                    let next = fetched
                        .next
                        .map(|next| self.check_next(&url, next))
                        .transpose()?;
                    let redacted_next = next.as_ref().map(|n| self.http.redact(n.as_str()));
                    let log = match &mut log {
                        Some(log) => log,
                        None => log.insert(self.cache.chain_log(&key, kept_until)?),
                    };
                    // A small append to a file already open: cheaper than a task hand-off.
                    let page_ref = log.append(page, &fetched.body, redacted_next.as_deref())?;
                    (page_ref, fetched.items, next, false)
                }
            };
            self.pages.fetch_add(1, Ordering::Relaxed);
            if from_cache {
                self.pages_from_cache.fetch_add(1, Ordering::Relaxed);
            }
            self.emit(Event::Page {
                query: cell.query.clone(),
                label: cell.label.clone(),
                page,
                items,
                from_cache,
            })
            .await;
            items_total += items;
            pages.push(page_ref);
            let reached = match cell.split {
                SplitRule::Never => None,
                SplitRule::ChainReaches(cap) => (items_total >= cap).then_some(cap),
                SplitRule::PageReaches(limit) => (items >= limit).then_some(limit),
            };
            if let Some(cap) = reached {
                self.cache.mark_split(&key)?;
                return self
                    .split(
                        cell,
                        items_total,
                        &format!("{items_total} items reach the cap of {cap}"),
                    )
                    .await;
            }
            let Some(next) = next else {
                break;
            };
            url = next;
            page += 1;
        }
        self.emit(Event::CellFinished {
            query: cell.query.clone(),
            label: cell.label.clone(),
            pages: page + 1,
            items: items_total,
        })
        .await;
        Ok(Outcome::Pages(pages))
    }

    async fn split(&self, cell: &Cell, items: usize, reason: &str) -> Result<Outcome, FetchError> {
        let children = cell
            .quadrants()
            .ok_or_else(|| FetchError::CapUnsplittable {
                label: cell.label.clone(),
                bbox: cell.area.map_or([0.0; 4], |a: Area| a.bounding_box()),
                items,
            })?;
        self.splits.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(cell = %cell.label, reason, "splitting");
        self.emit(Event::Split {
            query: cell.query.clone(),
            label: cell.label.clone(),
            reason: reason.to_owned(),
        })
        .await;
        Ok(Outcome::Split(Box::new(children)))
    }

    /// A stored page with its item count and next URL (token re-inserted), when its body
    /// still validates and its link parses; otherwise it is fetched again.
    async fn reuse(
        &self,
        stored: CachedPage,
        endpoint: Endpoint,
    ) -> Option<(CachedPage, usize, Option<Url>)> {
        let page = stored.page.clone();
        let body = tokio::task::spawn_blocking(move || page.read())
            .await
            .ok()?
            .ok()?;
        let (items, _) = validate(endpoint, &body).ok()?;
        let next = match &stored.next {
            None => None,
            Some(redacted_next) => {
                Some(self.authorize(self.rebase(Url::parse(redacted_next).ok()?)))
            }
        };
        Some((stored, items, next))
    }

    /// A cached next link on today's API origin: it was checked against the origin of the run
    /// that stored it, and the same API may now answer elsewhere (`--mock` picks a new port).
    fn rebase(&self, mut url: Url) -> Url {
        let base = &self.base_url;
        // Setting the parts of one valid http(s) URL onto another cannot fail.
        let _ = url.set_scheme(base.scheme());
        let _ = url.set_host(base.host_str());
        let _ = url.set_port(base.port());
        url
    }

    /// Refuses a next link away from the API host (it would carry the token elsewhere) and
    /// makes sure it authenticates.
    fn check_next(&self, from: &Url, next: Url) -> Result<Url, FetchError> {
        let base = &self.base_url;
        let same_origin = next.scheme() == base.scheme()
            && next.host_str() == base.host_str()
            && next.port_or_known_default() == base.port_or_known_default();
        if !same_origin {
            return Err(FetchError::ForeignNextLink {
                url: self.http.redact(from.as_str()),
                next: self.http.redact(next.as_str()),
                base: self.http.redact(base.as_str()),
            });
        }
        Ok(self.authorize(next))
    }

    /// v3: `client_id` set to the token (a cached link holds `***`); v4: no `access_token`
    /// (the header carries it).
    fn authorize(&self, url: Url) -> Url {
        let (param, token) = match self.api {
            Api::V3 => ("client_id", Some(self.token.expose())),
            Api::V4 => ("access_token", None),
        };
        let current: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let present: Vec<&str> = current
            .iter()
            .filter(|(k, _)| k == param)
            .map(|(_, v)| v.as_str())
            .collect();
        if present == token.into_iter().collect::<Vec<_>>() {
            // Already right: keep the server's URL byte for byte.
            return url;
        }
        let mut url = url;
        {
            let mut query = url.query_pairs_mut();
            query.clear();
            for (k, v) in current.iter().filter(|(k, _)| k != param) {
                query.append_pair(k, v);
            }
            if let Some(token) = token {
                query.append_pair(param, token);
            }
        }
        url
    }
}

fn check_config(config: &FetchConfig) -> Result<(), FetchError> {
    let invalid = |field, reason: &str| {
        Err(FetchError::InvalidConfig {
            field,
            reason: reason.to_owned(),
        })
    };
    if !matches!(config.base_url.scheme(), "http" | "https") {
        return invalid("base_url", "must be an http or https URL");
    }
    if config
        .requests_per_second
        .is_some_and(|rps| !(rps.is_finite() && rps > 0.0))
    {
        return invalid("requests_per_second", "must be a positive number");
    }
    for (field, area) in [
        ("v3_cell_max_area", config.v3_cell_max_area),
        ("v4_cell_max_area", config.v4_cell_max_area),
    ] {
        if !(area.is_finite() && area > 0.0) {
            return invalid(field, "must be a positive number of square degrees");
        }
    }
    if config.result_cap == 0 || config.v4_limit == 0 || config.per_page == 0 {
        return invalid("result_cap, v4_limit, per_page", "must be positive");
    }
    Ok(())
}
