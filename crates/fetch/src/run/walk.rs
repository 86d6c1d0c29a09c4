//! One cell's chain: stored pages first, then the network, page by page, until the chain ends
//! or reaches its split rule (then the cell is replaced by its quadrants).

use std::sync::atomic::Ordering;

use model::Area;
use url::Url;

use super::links::{authorize, check_next, rebase};
use super::resume::Resume;
use super::state::Run;
use crate::cache::{CachedPage, PageRef};
use crate::plan::Cell;
use crate::{Event, FetchError};

/// A cell's result.
pub(super) enum Outcome {
    /// Its pages.
    Pages(Vec<PageRef>),
    /// It was split: these cells replace it.
    Split(Box<[Cell; 4]>),
}

impl Run {
    /// Walks one cell's chain: cached pages first, then the network.
    pub(super) async fn walk(&self, cell: &Cell) -> Result<Outcome, FetchError> {
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
        let mut resume = Resume::new(self.cache.load_chain(&key)?);
        let mut log = None;
        let mut items_total = 0;
        let mut page: u32 = 0;
        loop {
            let reused = match resume.next_stored() {
                Some(stored) => self.reuse(stored).await,
                None => None,
            };
            let (page_ref, items, next, from_cache) = match reused {
                Some((stored, next)) => {
                    resume.reused(&stored);
                    (stored.page, stored.items, next, true)
                }
                None => {
                    let kept_until = resume.leave();
                    let fetched = self.http.get(&url, cell.endpoint, &cell.query).await?;
                    let next = fetched
                        .next
                        .map(|next| check_next(self.api, &self.base_url, &self.token, &url, next))
                        .transpose()?;
                    let redacted_next = next.as_ref().map(|n| self.http.redact(n.as_str()));
                    let log = match &mut log {
                        Some(log) => log,
                        None => log.insert(self.cache.chain_log(&key, kept_until)?),
                    };
                    // A small append to a file already open: cheaper than a task hand-off.
                    let page_ref =
                        log.append(page, &fetched.body, fetched.items, redacted_next.as_deref())?;
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
            if let Some(cap) = cell.split.reached(items_total, items) {
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

    /// A stored page with its next URL (token re-inserted), when its body is still the one
    /// that validated on arrival (no parse: its CRC-32) and its link parses; otherwise it is
    /// fetched again.
    async fn reuse(&self, stored: CachedPage) -> Option<(CachedPage, Option<Url>)> {
        let (stored, intact) = tokio::task::spawn_blocking(move || {
            let intact = stored.is_intact();
            (stored, intact)
        })
        .await
        .ok()?;
        if !intact {
            return None;
        }
        let next = match &stored.next {
            None => None,
            Some(redacted_next) => Some(authorize(
                self.api,
                &self.token,
                rebase(&self.base_url, Url::parse(redacted_next).ok()?),
            )),
        };
        Some((stored, next))
    }
}
