//! What every task of a session shares: the HTTP side (client, pace, counters), the page
//! cache, the event channel and the session's own counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use model::Api;
use tokio::sync::mpsc;
use url::Url;

use crate::cache::PageCache;
use crate::http::Http;
use crate::{Event, FetchConfig, FetchError, Secret};

/// Counters of a session (every plan and sequence fetch it made).
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

/// Events waiting for the reporter at most; tasks wait when it falls behind.
const EVENT_BUFFER: usize = 1024;

/// Shared by every task of a session.
pub(super) struct Run {
    pub(super) api: Api,
    pub(super) base_url: Url,
    pub(super) token: Secret,
    pub(super) http: Http,
    /// Cells walked at once.
    pub(super) concurrency: usize,
    pub(super) cache: PageCache,
    pub(super) v4_limit: usize,
    events: mpsc::Sender<Event>,
    pub(super) splits: AtomicU64,
    pub(super) pages: AtomicU64,
    pub(super) pages_from_cache: AtomicU64,
}

impl Run {
    /// Checks the configuration, builds the one HTTP client and opens the cache.
    pub(super) fn start(config: &FetchConfig) -> Result<(Run, mpsc::Receiver<Event>), FetchError> {
        check_config(config)?;
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        let run = Run {
            api: config.api,
            base_url: config.base_url.clone(),
            token: config.token.clone(),
            http: Http::new(config, events.clone())?,
            concurrency: config.concurrency.get(),
            cache: PageCache::open(&config.cache_dir)?,
            v4_limit: config.v4_limit,
            events,
            splits: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            pages_from_cache: AtomicU64::new(0),
        };
        Ok((run, receiver))
    }

    /// The counters so far; `elapsed` from `started`.
    pub(super) fn stats(&self, started: Instant) -> FetchStats {
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

    pub(super) async fn emit(&self, event: Event) {
        // The receiver lives as long as the session; a send fails only once it is over.
        let _ = self.events.send(event).await;
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
