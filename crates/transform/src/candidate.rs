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

/// Where a record was: its source (a file's path, or `v3 page N`) and its 0-based index there.
/// Reports name a record without a key by it.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// The file or page.
    pub source: &'a str,
    /// The 0-based index of the element in the source, when it has one (a v4 sequence built
    /// from several pages has none).
    pub index: Option<u64>,
}

/// Why a position cannot be used, if it cannot.
pub(crate) fn position_problem([lon, lat]: model::Position) -> Option<String> {
    let valid = lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat);
    (!valid).then(|| format!("position [{lon}, {lat}] is outside lon -180..180, lat -90..90"))
}
