//! What a valid job is: the types `super::parse` returns.

use std::num::NonZeroU32;
use std::path::PathBuf;

use model::{Api, Area, DateRange, Format};

use super::map_features::MapFeatureKeys;

/// A validated job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The file it came from.
    pub source: PathBuf,
    /// `name`: the output folder's name.
    pub name: String,
    /// `api`.
    pub api: Api,
    /// `resources` contains `images`.
    pub images: bool,
    /// `resources` contains `sequences` (sequence points come with them).
    pub sequences: bool,
    /// `resources` contains `map_features` (v4 only).
    pub map_features: bool,
    /// `object_values`, `object_types`.
    pub map_feature_keys: MapFeatureKeys,
    /// `formats`, in the order of [`Format::ALL`] ([`Format::DEFAULT`] when the job names none).
    pub formats: Vec<Format>,
    /// `usernames`.
    pub usernames: Vec<String>,
    /// `userkeys`.
    pub userkeys: Vec<String>,
    /// `[[areas]]`.
    pub areas: Vec<JobArea>,
    /// `[[date_ranges]]`.
    pub date_ranges: Vec<JobDateRange>,
    /// `lookat = [lon, lat]`.
    pub lookat: Option<[f64; 2]>,
    /// `lookat_tolerance` in degrees (default 30).
    pub lookat_tolerance_deg: f64,
    /// `pano`: `true` panoramas only, `false` none.
    pub pano: Option<bool>,
    /// `whole_sequences` (v4): fetch each sequence's images whole (`true`, the default), or
    /// build each sequence from the images already fetched inside the areas (`false`).
    pub whole_sequences: bool,
    /// `max_attempts` per request (the `--max-attempts` flag wins).
    pub max_attempts: Option<NonZeroU32>,
    /// `requests_per_second` (the `--requests-per-second` flag wins).
    pub requests_per_second: Option<f64>,
    /// `max_rate_limit_wait_secs` (the `--max-rate-limit-wait-secs` flag wins).
    pub max_rate_limit_wait: Option<std::time::Duration>,
}

/// One `[[areas]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct JobArea {
    /// `name` (default `area-N`, counting from 1).
    pub name: String,
    /// The box or circle.
    pub area: Area,
}

/// One `[[date_ranges]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDateRange {
    /// `start <= captured_at < end`.
    pub range: DateRange,
    /// `start..end` as written, for plans and labels.
    pub label: String,
}

/// The default `lookat_tolerance`.
pub const DEFAULT_LOOKAT_TOLERANCE_DEG: f64 = 30.0;
