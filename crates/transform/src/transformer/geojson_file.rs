//! A large GeoJSON file on three threads and the caller's: one delimits the features (string-
//! and escape-aware bracket matching, see `brackets.rs`) into chunks, two parse the chunks, and
//! the caller's thread checks and hands on the records, in input order.
//!
//! Why: one thread that parsed and checked read a 400,000-image file at about half the speed of
//! the Shapefile writer behind it, with the second core half idle. Parsing is most of the work
//! and each feature parses on its own, so chunks go round-robin to the parsers and come back in
//! the same round, which keeps the order without any reordering buffer. Every channel is
//! bounded: memory stays at a few chunks per thread whatever the file's size.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::Candidate;
use super::Transformer;
use crate::TransformError;
use crate::candidate::At;
use crate::scan::{self, FeatureHandler, Halt, Source};
use crate::sink::RecordSink;

/// Bytes of features per chunk (a chunk ends after the feature that passes it).
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks queued per parsing thread, each way.
const CHUNKS_IN_FLIGHT: usize = 2;
/// Parsing threads.
const PARSERS: usize = 2;

/// Consecutive features of the file: their bytes end to end.
struct Chunk {
    /// The 0-based index of the first feature.
    first_index: u64,
    bytes: Vec<u8>,
    /// Where each feature ends in `bytes`.
    ends: Vec<usize>,
}

impl Chunk {
    fn new(first_index: u64) -> Chunk {
        Chunk {
            first_index,
            bytes: Vec::with_capacity(CHUNK_BYTES + (CHUNK_BYTES >> 2)),
            ends: Vec::new(),
        }
    }
}

/// The delimiting thread's handler: copies each feature into the current chunk and sends full
/// chunks to the parsers in turn.
struct Delimiter {
    chunk: Chunk,
    parsers: Vec<SyncSender<Chunk>>,
    sent: usize,
}

impl Delimiter {
    /// Sends the current chunk to the next parser; false when the parsers have stopped.
    fn send(&mut self, next_index: u64) -> bool {
        let chunk = std::mem::replace(&mut self.chunk, Chunk::new(next_index));
        let parser = &self.parsers[self.sent % self.parsers.len()];
        self.sent += 1;
        parser.send(chunk).is_ok()
    }
}

impl FeatureHandler for Delimiter {
    fn prefix(&mut self, _: &[u8], _: u64) -> Option<(usize, Halt)> {
        // Always delimited exactly: the parsers need each feature's own bytes.
        None
    }

    fn whole(&mut self, bytes: &[u8], index: u64) -> Halt {
        self.chunk.bytes.extend_from_slice(bytes);
        self.chunk.ends.push(self.chunk.bytes.len());
        if self.chunk.bytes.len() < CHUNK_BYTES || self.send(index + 1) {
            Halt::Continue
        } else {
            Halt::Stop
        }
    }
}

/// Parses chunks until the delimiter is done or the reader stops listening.
fn parse_chunks(chunks: Receiver<Chunk>, parsed: SyncSender<(u64, Vec<Candidate>)>) {
    for chunk in chunks {
        // One UTF-8 check of the whole chunk instead of one per string; a chunk that fails
        // it is parsed feature by feature from bytes, for the parser's own error.
        let text = std::str::from_utf8(&chunk.bytes).ok();
        let mut start = 0;
        let candidates = chunk
            .ends
            .iter()
            .map(|&end| {
                // A feature's bounds are on characters unless the chunk holds invalid
                // elements; `get` then says no and the bytes are parsed as they are.
                let candidate = match text.and_then(|text| text.get(start..end)) {
                    Some(feature) => Candidate::v3_feature_text(feature),
                    None => Candidate::v3_feature(&chunk.bytes[start..end]),
                };
                start = end;
                candidate
            })
            .collect();
        if parsed.send((chunk.first_index, candidates)).is_err() {
            return;
        }
    }
}

/// A named thread (names show in `top -H` and profiles); the system may be out of threads.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: String,
    path: &Path,
    work: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, TransformError> {
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, work)
        .map_err(|source| TransformError::Io {
            path: path.to_owned(),
            source,
        })
}

pub(super) fn read<R: Read + Send, S: RecordSink + ?Sized>(
    transformer: &mut Transformer,
    reader: R,
    path: &Path,
    sink: &mut S,
) -> Result<(), S::Error> {
    let name = path.display().to_string();
    let source = Source { name: &name, path };
    std::thread::scope(|scope| {
        let mut to_parsers = Vec::with_capacity(PARSERS);
        let mut from_parsers = Vec::with_capacity(PARSERS);
        for n in 0..PARSERS {
            let (chunks, chunk_receiver) = sync_channel(CHUNKS_IN_FLIGHT);
            let (parsed_sender, parsed) = sync_channel(CHUNKS_IN_FLIGHT);
            spawn(scope, format!("geojson-parse-{n}"), path, move || {
                parse_chunks(chunk_receiver, parsed_sender);
            })?;
            to_parsers.push(chunks);
            from_parsers.push(parsed);
        }
        let source = &source;
        let delimiter = spawn(scope, "geojson-delimit".into(), path, move || {
            let mut delimiter = Delimiter {
                chunk: Chunk::new(0),
                parsers: to_parsers,
                sent: 0,
            };
            let walked = scan::walk_features(reader, source, None, &mut delimiter);
            // The features before a problem are still delivered.
            if !delimiter.chunk.ends.is_empty() {
                delimiter.send(0);
            }
            walked
        })?;
        // Chunk n went to parser n % PARSERS, which answers in order: taking the parsers in
        // turn restores the file's order. The first parser with nothing more ends the file.
        let mut stopped = None;
        'chunks: for turn in 0.. {
            let Ok((first_index, candidates)) = from_parsers[turn % PARSERS].recv() else {
                break;
            };
            for (offset, candidate) in candidates.into_iter().enumerate() {
                let at = At {
                    source: &name,
                    index: Some(first_index + offset as u64),
                };
                if let Err(error) = transformer.transform_one(candidate, at, sink) {
                    stopped = Some(error);
                    break 'chunks;
                }
            }
        }
        // Hanging up stops the parsers, whose hanging up stops the delimiter.
        drop(from_parsers);
        let walked = delimiter
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match stopped {
            Some(error) => Err(error),
            None => walked.map_err(S::Error::from),
        }
    })
}
