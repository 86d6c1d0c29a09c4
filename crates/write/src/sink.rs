//! The streaming writer contract every format implements.

use std::path::PathBuf;

use model::{Format, Schema};

use crate::WriteError;

/// A streaming writer for one layer in one format: `begin` once with the declared schema,
/// `write` each feature in order, then `finish` to flush and learn what was written.
///
/// Memory must not grow with the number of features. `finish` returns every error; dropping a
/// sink without `finish` leaves an incomplete file that the export folder discards.
pub trait FeatureSink: Send {
    /// Starts the layer. Called exactly once, before any `write`.
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError>;

    /// Writes one feature. A feature this format cannot represent (a polyline with fewer than
    /// two distinct positions in a shapefile) is not an error: it is returned as
    /// [`Written::Rejected`] and the sink goes on.
    fn write(&mut self, feature: &model::Feature) -> Result<Written, WriteError>;

    /// Flushes and closes the files.
    fn finish(self: Box<Self>) -> Result<SinkSummary, WriteError>;
}

/// What became of one feature in one format.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Written in full.
    Complete,
    /// Written, but these fields were cut to fit (DBF text over its width, cut on a UTF-8
    /// character boundary).
    Truncated(Vec<Truncation>),
    /// Not written, with the reason.
    Rejected(String),
}

/// One cut value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Truncation {
    /// The field's name (schema name, not the DBF name).
    pub field: &'static str,
    /// The value's length in bytes before the cut.
    pub original_bytes: usize,
    /// Its length after.
    pub kept_bytes: usize,
}

/// What a finished sink wrote.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct SinkSummary {
    /// The format.
    pub format: Option<Format>,
    /// Every file written, relative to the export folder, with its size in bytes.
    pub files: Vec<(PathBuf, u64)>,
    /// Features written (complete or truncated).
    pub features: u64,
}
