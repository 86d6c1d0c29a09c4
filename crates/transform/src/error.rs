//! The one error type of the crate: what makes a whole page or file unusable. A bad feature is
//! not an error: it is reported in [`crate::TransformReport::rejected`] and skipped.

use std::path::PathBuf;

/// Why a page or a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The input is not JSON (or ends inside a value).
    #[error("{source_name}: not valid JSON at line {line}, column {column}: {message}")]
    NotJson {
        /// The file path, or `v3 page N` / `v4 page N`.
        source_name: String,
        /// 1-based line.
        line: u64,
        /// 1-based byte column.
        column: u64,
        /// What the parser expected.
        message: String,
    },
    /// The input is JSON but neither a GeoJSON FeatureCollection nor a single Feature.
    #[error("{source_name}: not a GeoJSON FeatureCollection ({found})")]
    NotFeatureCollection {
        /// The file path or page name.
        source_name: String,
        /// What was found instead.
        found: String,
    },
    /// The input is JSON but not a v4 `{"data": [...]}` response.
    #[error("{source_name}: not a v4 API response ({found})")]
    NotV4Response {
        /// The page name.
        source_name: String,
        /// What was found instead.
        found: String,
    },
    /// One feature is larger than the cap: refused rather than buffered.
    #[error("{source_name}: feature {index} is larger than {limit_bytes} bytes")]
    FeatureTooLarge {
        /// The file path or page name.
        source_name: String,
        /// 0-based index in `features`.
        index: u64,
        /// The cap.
        limit_bytes: usize,
    },
    /// The page is an API error body (v3 `{"message"}`, v4 `{"error": {...}}`).
    #[error("{source_name}: the API answered with an error{}: {message}", code.map(|c| format!(" (code {c})")).unwrap_or_default())]
    ApiError {
        /// The file path or page name.
        source_name: String,
        /// The API's message.
        message: String,
        /// The v4 error code (4: rate limit, 190: bad token, 100: bad field).
        code: Option<i64>,
    },
    /// Reading the input failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
