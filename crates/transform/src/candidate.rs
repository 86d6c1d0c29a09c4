//! A record between parsing and the checks.

use model::Resource;

/// A record on its way through the checks, with what the filters and warnings need.
#[derive(Debug, Clone)]
pub(crate) struct Normal<T> {
    pub record: T,
    /// `captured_at` in milliseconds, when there is one that parses.
    pub captured_ms: Option<i64>,
    /// Problems that do not stop the record; reported only if it is accepted.
    pub warnings: Vec<String>,
    /// The user's name when the record itself has no field for it: a v4 sequence takes it
    /// from its first image (`creator.username`), so that the job's `usernames` match it.
    pub username: Option<String>,
}

/// A record that cannot be used, and why.
#[derive(Debug)]
pub(crate) struct Reject {
    pub resource: Resource,
    /// The key, when the record had one.
    pub key: Option<String>,
    pub reason: String,
}
