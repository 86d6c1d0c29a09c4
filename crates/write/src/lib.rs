//! Streaming writers for mly-export's output formats.
//!
//! (Overview and example to be written.)

mod preview;
mod shapefile;
mod sink;

pub use preview::Preview;
pub use sink::{FeatureSink, SinkSummary, Truncation, Written};

/// Everything that can go wrong while writing an export.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// An I/O error on a named file.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
