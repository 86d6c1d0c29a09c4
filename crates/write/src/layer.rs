//! One layer written in several formats at once: one thread per format, fed by a bounded
//! channel of shared feature batches, so the formats run in parallel and memory stays bounded
//! (at most `CHANNEL_BATCHES + 2` batches per format in flight).

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use model::{Feature, Format, Resource, Schema};

use crate::WriteError;
use crate::formats::open_sink;
use crate::sink::{FeatureSink, SinkSummary, WriteOptions, Written};

/// Features per batch sent to the format threads.
const BATCH: usize = 512;
/// Batches a format thread may have queued before `write` waits for it. Every feature in
/// flight is held in memory: with 8 batches of 1,024, a 100,000-image convert peaked 8 MB
/// higher (31 MB against 23 MB, with the smaller write buffers of `sink.rs`), at the same speed.
const CHANNEL_BATCHES: usize = 2;
/// Issues kept in each list of a [`LayerSummary`]; the totals stay exact.
pub const MAX_LISTED_ISSUES: usize = 10_000;

/// One feature a format rejected, cut or altered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerIssue {
    /// The format concerned.
    pub format: Format,
    /// The feature's [`Feature::id`].
    pub id: String,
    /// What happened, for people.
    pub reason: String,
}

/// What a finished layer wrote, for the manifest and the run summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerSummary {
    /// The layer.
    pub resource: Resource,
    /// Features received by [`LayerWriter::write`].
    pub features: u64,
    /// One summary per format, in the order the formats were given.
    pub outputs: Vec<SinkSummary>,
    /// Features a format could not write (at most [`MAX_LISTED_ISSUES`]).
    pub rejected: Vec<LayerIssue>,
    /// Features written with values cut (DBF widths) or characters replaced (GPX), at most
    /// [`MAX_LISTED_ISSUES`].
    pub truncated: Vec<LayerIssue>,
    /// All rejections, listed or not.
    pub rejected_total: u64,
    /// All cut or altered features, listed or not.
    pub truncated_total: u64,
}

/// What one format thread returns.
struct FormatReport {
    summary: SinkSummary,
    rejected: Vec<LayerIssue>,
    truncated: Vec<LayerIssue>,
    rejected_total: u64,
    truncated_total: u64,
}

/// A running format thread.
struct Worker {
    format: Format,
    batches: SyncSender<Arc<Vec<Feature>>>,
    thread: JoinHandle<Result<FormatReport, WriteError>>,
}

/// Writes one layer to every requested format in parallel.
///
/// `write` returns an error once, the first one any format hit; after that the layer is stopped
/// and further calls answer [`WriteError::LayerStopped`].
pub struct LayerWriter {
    resource: Resource,
    workers: Vec<Worker>,
    batch: Vec<Feature>,
    features: u64,
    stopped: bool,
}

impl LayerWriter {
    /// Opens `resource`'s files in `dir` for every format (each format once) and starts one
    /// writer thread per format. A GeoPackage gets a file of its own, `<stem>.gpkg`; in an
    /// export folder, [`crate::ExportDir::layer_writer`] puts every layer in one `<name>.gpkg`.
    pub fn new(
        dir: &Path,
        resource: Resource,
        formats: &[Format],
        options: &WriteOptions,
    ) -> Result<LayerWriter, WriteError> {
        LayerWriter::start(dir, resource, formats, |format| {
            open_sink(format, dir, resource, options)
        })
    }

    /// Opens each format's sink with `open` (each format once), begins it, and starts its
    /// thread. `dir` is named by errors.
    pub(crate) fn start(
        dir: &Path,
        resource: Resource,
        formats: &[Format],
        mut open: impl FnMut(Format) -> Result<Box<dyn FeatureSink>, WriteError>,
    ) -> Result<LayerWriter, WriteError> {
        let schema = Schema::of(resource);
        let mut workers = Vec::with_capacity(formats.len());
        for (i, &format) in formats.iter().enumerate() {
            if formats[..i].contains(&format) {
                continue;
            }
            let mut sink = open(format)?;
            sink.begin(schema)?;
            let (batches, receiver) = sync_channel(CHANNEL_BATCHES);
            let thread = std::thread::Builder::new()
                .name(format!("write-{}-{}", resource.stem(), format.as_str()))
                .spawn(move || run_sink(format, sink, receiver))
                .map_err(|source| WriteError::Io {
                    path: dir.to_owned(),
                    source,
                })?;
            workers.push(Worker {
                format,
                batches,
                thread,
            });
        }
        Ok(LayerWriter {
            resource,
            workers,
            batch: Vec::with_capacity(BATCH),
            features: 0,
            stopped: false,
        })
    }

    /// The layer being written.
    pub fn resource(&self) -> Resource {
        self.resource
    }

    /// Queues one feature for every format; waits when the format threads are behind.
    pub fn write(&mut self, feature: Feature) -> Result<(), WriteError> {
        if self.stopped {
            return Err(WriteError::LayerStopped {
                resource: self.resource,
            });
        }
        self.features += 1;
        self.batch.push(feature);
        if self.batch.len() >= BATCH {
            self.send_batch()?;
        }
        Ok(())
    }

    /// Sends the pending batch to every format; a closed channel means that thread stopped on
    /// an error, which is then collected and returned.
    fn send_batch(&mut self) -> Result<(), WriteError> {
        // Shared as it is: collecting into an `Arc<[Feature]>` would copy every feature.
        let batch = Arc::new(std::mem::replace(
            &mut self.batch,
            Vec::with_capacity(BATCH),
        ));
        let failed = self
            .workers
            .iter()
            .position(|worker| worker.batches.send(Arc::clone(&batch)).is_err());
        let Some(failed) = failed else {
            return Ok(());
        };
        self.stopped = true;
        let worker = self.workers.swap_remove(failed);
        match join(worker) {
            Err(error) => Err(error),
            // The thread dropped its channel only on error; answer something true regardless.
            Ok(_) => Err(WriteError::LayerStopped {
                resource: self.resource,
            }),
        }
    }

    /// Flushes the last batch, closes every file and waits for the threads. The first error of
    /// any format (in the order given) wins.
    pub fn finish(mut self) -> Result<LayerSummary, WriteError> {
        if self.stopped {
            return Err(WriteError::LayerStopped {
                resource: self.resource,
            });
        }
        let sent = if self.batch.is_empty() {
            Ok(())
        } else {
            self.send_batch()
        };
        sent?;
        let mut summary = LayerSummary {
            resource: self.resource,
            features: self.features,
            outputs: Vec::with_capacity(self.workers.len()),
            rejected: Vec::new(),
            truncated: Vec::new(),
            rejected_total: 0,
            truncated_total: 0,
        };
        let mut first_error = None;
        for worker in std::mem::take(&mut self.workers) {
            match join(worker) {
                Ok(report) => {
                    summary.outputs.push(report.summary);
                    extend_capped(&mut summary.rejected, report.rejected);
                    extend_capped(&mut summary.truncated, report.truncated);
                    summary.rejected_total += report.rejected_total;
                    summary.truncated_total += report.truncated_total;
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(summary),
        }
    }
}

/// Closes the worker's channel and waits for its report.
fn join(worker: Worker) -> Result<FormatReport, WriteError> {
    let Worker {
        format,
        batches,
        thread,
    } = worker;
    // The thread ends its loop only when its channel is closed.
    drop(batches);
    thread
        .join()
        .map_err(|_| WriteError::WriterPanicked { format })?
}

fn extend_capped(list: &mut Vec<LayerIssue>, more: Vec<LayerIssue>) {
    let room = MAX_LISTED_ISSUES.saturating_sub(list.len());
    list.extend(more.into_iter().take(room));
}

/// The body of a format thread: write every feature of every batch, then finish.
fn run_sink(
    format: Format,
    mut sink: Box<dyn FeatureSink>,
    batches: Receiver<Arc<Vec<Feature>>>,
) -> Result<FormatReport, WriteError> {
    let mut rejected = Vec::new();
    let mut truncated = Vec::new();
    let (mut rejected_total, mut truncated_total) = (0, 0);
    let note = |list: &mut Vec<LayerIssue>, total: &mut u64, id: &str, reason: String| {
        *total += 1;
        if list.len() < MAX_LISTED_ISSUES {
            list.push(LayerIssue {
                format,
                id: id.to_owned(),
                reason,
            });
        }
    };
    for batch in batches {
        for feature in batch.iter() {
            match sink.write(feature)? {
                Written::Complete => {}
                Written::Rejected(reason) => {
                    note(&mut rejected, &mut rejected_total, &feature.id, reason);
                }
                Written::Truncated(cuts) => {
                    let reason = cuts
                        .iter()
                        .map(|c| {
                            format!(
                                "{} cut from {} to {} bytes",
                                c.field, c.original_bytes, c.kept_bytes
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    note(&mut truncated, &mut truncated_total, &feature.id, reason);
                }
                Written::Replaced(replacements) => {
                    let reason = replacements
                        .iter()
                        .map(|r| {
                            format!(
                                "{}: {} character(s) not allowed in XML replaced by U+FFFD",
                                r.field, r.chars
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    note(&mut truncated, &mut truncated_total, &feature.id, reason);
                }
            }
        }
    }
    Ok(FormatReport {
        summary: sink.finish()?,
        rejected,
        truncated,
        rejected_total,
        truncated_total,
    })
}
