//! What to fetch ([`Query`]) and how ([`FetchConfig`]).

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use model::{Api, Area, DateRange};
use url::Url;

use crate::Secret;

/// How the client talks to the API. [`FetchConfig::new`] fills in the defaults documented on
/// each field.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Which API `base_url` serves.
    pub api: Api,
    /// v3: `https://a.mapillary.com/v3`; v4: `https://graph.mapillary.com`.
    pub base_url: Url,
    /// v3 client id or v4 access token.
    pub token: Secret,
    /// Requests in flight at most (8).
    pub concurrency: NonZeroUsize,
    /// Attempts per request, the first included (6).
    pub max_attempts: NonZeroU32,
    /// A client-side request rate limit shared by every task (none): the most the pace may
    /// reach, whatever the API allows.
    pub requests_per_second: Option<f64>,
    /// Timeout of one whole request, body included (60 s).
    pub request_timeout: Duration,
    /// First retry delay bound; it doubles per attempt (500 ms).
    pub backoff_initial: Duration,
    /// Largest retry delay, also the cap on a fault's `Retry-After` (30 s). Rate-limit pauses
    /// grow the same way, from `backoff_initial` to `backoff_max`, unless the API sends a
    /// `Retry-After` (honoured as given).
    pub backoff_max: Duration,
    /// How long a run may wait in total for the API's rate limit before it fails (900 s).
    /// Rate-limit answers do not use up `max_attempts`.
    pub max_rate_limit_wait: Duration,
    /// v3 `per_page` (1000, the API's maximum).
    pub per_page: u32,
    /// v3 items per query beyond which the API truncates (10,000).
    pub result_cap: usize,
    /// v3 cells are at most this many square degrees (0.0025).
    pub v3_cell_max_area: f64,
    /// v4 `limit` (2000, the API's maximum).
    pub v4_limit: usize,
    /// v4 cells are at most this many square degrees (0.0099: the API wants under 0.01).
    pub v4_cell_max_area: f64,
    /// Largest response body accepted (64 MiB: a full v3 page is about 0.5 MB, a v4 one 1 MB).
    pub max_body_bytes: u64,
    /// The page cache of this job (created 0700).
    pub cache_dir: PathBuf,
}

impl FetchConfig {
    /// A configuration with every default.
    pub fn new(api: Api, base_url: Url, token: Secret, cache_dir: PathBuf) -> FetchConfig {
        FetchConfig {
            api,
            base_url,
            token,
            concurrency: NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN),
            max_attempts: NonZeroU32::new(6).unwrap_or(NonZeroU32::MIN),
            requests_per_second: None,
            request_timeout: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            per_page: 1000,
            result_cap: 10_000,
            v3_cell_max_area: 0.0025,
            v4_limit: 2000,
            v4_cell_max_area: 0.0099,
            max_rate_limit_wait: Duration::from_secs(900),
            max_body_bytes: 64 << 20,
            cache_dir,
        }
    }
}

/// What a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryResource {
    /// Image points (v3 `/images`; v4 `/images`).
    Images,
    /// Sequences (v3 `/sequences`; v4: image pages whose `sequence` ids the caller then passes
    /// to [`crate::Session::fetch_v4_sequences`]).
    Sequences,
    /// v4 `/map_features` (traffic signs and point objects).
    MapFeatures,
}

/// One search: an area with the job's filters. The API applies what it supports; the transform
/// stage re-applies every filter anyway.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// A name for progress and plan lines (the job's area name, resource, date range).
    pub label: String,
    /// Images or sequences.
    pub resource: QueryResource,
    /// Where.
    pub area: Area,
    /// When (images only).
    pub date_range: Option<DateRange>,
    /// Users by name (v3: resolved to keys once per run; v4: `creator_username`).
    pub usernames: Vec<String>,
    /// Users by key.
    pub userkeys: Vec<String>,
    /// Panoramas only (`true`) or no panoramas (`false`).
    pub pano: Option<bool>,
    /// v3 `lookat=[lon, lat]`: images looking at this point.
    pub lookat: Option<[f64; 2]>,
    /// v4 map features: `object_values` (empty: every value).
    pub object_values: Vec<String>,
}

impl Query {
    /// A query with no filters besides its area.
    pub fn new(label: impl Into<String>, resource: QueryResource, area: Area) -> Query {
        Query {
            label: label.into(),
            resource,
            area,
            date_range: None,
            usernames: Vec::new(),
            userkeys: Vec::new(),
            pano: None,
            lookat: None,
            object_values: Vec::new(),
        }
    }
}
