//! Where accepted records go: the caller's [`RecordSink`], whose errors stop the transform.

use model::{Image, MapFeature, Sequence};

use crate::TransformError;

/// One accepted record, handed to the caller's sink.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// An image point.
    Image(Image),
    /// A sequence line (explode it for the per-vertex layer).
    Sequence(Sequence),
    /// A v4 map feature.
    MapFeature(MapFeature),
}

/// Receives every accepted record, in input order. An error stops the work at once (no later
/// record is parsed or checked) and is handed back to the caller, as ripgrep's `Sink` does.
///
/// A closure `FnMut(Record)` is a sink that never fails.
pub trait RecordSink {
    /// What stops the work; a page that cannot be read at all stops it too, as this type.
    type Error: From<TransformError>;

    /// Takes one accepted record.
    fn record(&mut self, record: Record) -> Result<(), Self::Error>;
}

impl<F: FnMut(Record)> RecordSink for F {
    type Error = TransformError;

    fn record(&mut self, record: Record) -> Result<(), TransformError> {
        self(record);
        Ok(())
    }
}
