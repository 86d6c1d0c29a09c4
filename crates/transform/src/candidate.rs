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

/// One input record parsed and normalised, not yet checked: what a page reader (or a parsing
/// thread) makes of one element before [`crate::Transformer::transform_one`] rejects, dedupes
/// and filters it. Parsing needs no transformer, so it may run on any thread.
#[derive(Debug)]
pub struct Candidate(pub(crate) Parsed);

/// What a [`Candidate`] holds.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A v3 feature or a GeoJSON file's feature (a Point image or a LineString sequence).
    V3(Result<crate::v3::V3Record, Reject>),
    /// A v4 `/images` entity.
    V4Image(Result<Normal<model::Image>, Reject>),
    /// A v4 `/map_features` entity.
    MapFeature(Result<crate::transformer::ParsedMapFeature, Reject>),
}

impl Candidate {
    /// Exactly one element of a FeatureCollection (v3 page or GeoJSON file): a Point is an
    /// image, a LineString a sequence.
    pub fn v3_feature(bytes: &[u8]) -> Candidate {
        Candidate(Parsed::V3(crate::v3::feature(bytes)))
    }

    /// One item of a v4 `/images` page's `data`.
    pub fn v4_image(item: &str) -> Candidate {
        Candidate(Parsed::V4Image(crate::v4::image(item)))
    }

    /// One item of a v4 `/map_features` page's `data`.
    pub fn v4_map_feature(item: &str) -> Candidate {
        Candidate(Parsed::MapFeature(crate::transformer::parse_map_feature(
            item,
        )))
    }
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
