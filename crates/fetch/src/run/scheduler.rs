//! The scheduler: cells walked at most the session's concurrency at a time, split cells' quadrants
//! first, every event forwarded to the reporter on the caller's task, leaves in output order.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::state::Run;
use super::walk::Outcome;
use crate::cache::PageRef;
use crate::plan::Cell;
use crate::{Event, FetchError, Reporter};

/// Where a cell's pages go in the output: its position in the call, then quadrant indices.
pub(super) type OrderKey = Vec<usize>;

/// Runs cells, at most the run's concurrency at a time, until all are done, one fails or
/// `cancel` fires. Returns the leaves in output order.
pub(super) async fn drive(
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
pub(super) async fn drive_one<T>(
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
