//! What the transform keeps: the job's filters.

use model::{Api, Area, DateRange};

/// The client-side filters of one export. The default (v3, no filter) keeps every valid record:
/// that is what `convert` uses.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformConfig {
    /// Which API the pages come from.
    pub api: Api,
    /// Images must lie in at least one area; empty means no area filter.
    pub areas: Vec<Area>,
    /// Images whose `username` is listed pass the user filter.
    pub usernames: Vec<String>,
    /// Images and sequences whose `user_key` is listed pass the user filter (the job's keys
    /// plus the keys fetch resolved for `usernames`: sequences carry only a key).
    pub userkeys: Vec<String>,
    /// `captured_at` must fall in one of these; empty means no date filter.
    pub date_ranges: Vec<DateRange>,
    /// Keep only panoramas (`Some(true)`) or only non-panoramas (`Some(false)`).
    pub pano: Option<bool>,
    /// v4 images must look at a point (v3 leaves this to the API).
    pub lookat: Option<LookAt>,
    /// Sequences with more vertices are rejected.
    pub max_vertices: usize,
    /// Map features must have one of these `object_value`s; empty means every value.
    pub object_values: Vec<String>,
    /// Map features must have one of these `object_type`s; empty means every type.
    pub object_types: Vec<String>,
    /// v4: keep each accepted image's copy by sequence, so that sequences can be built from the
    /// images already read ([`crate::Transformer::v4_sequences_from_images`]) instead of being
    /// fetched whole.
    pub sequences_from_images: bool,
}

impl Default for TransformConfig {
    fn default() -> TransformConfig {
        TransformConfig {
            api: Api::V3,
            areas: Vec::new(),
            usernames: Vec::new(),
            userkeys: Vec::new(),
            date_ranges: Vec::new(),
            pano: None,
            lookat: None,
            max_vertices: 100_000,
            object_values: Vec::new(),
            object_types: Vec::new(),
            sequences_from_images: false,
        }
    }
}

/// The v4 `lookat` filter: an image is kept when it is a panorama or its camera angle points at
/// `target` within `tolerance_deg`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookAt {
    /// `[lon, lat]` of the point to look at.
    pub target: [f64; 2],
    /// The largest accepted difference between `ca` and the bearing to the target, in degrees.
    pub tolerance_deg: f64,
}
