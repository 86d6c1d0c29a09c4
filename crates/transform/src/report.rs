//! What the transform saw: exact counts per resource plus capped lists of rejections and warnings.

use std::collections::BTreeMap;

use model::Resource;
use serde::Serialize;

/// At most this many rejections and warnings are listed; the totals stay exact.
pub const MAX_LISTED: usize = 10_000;

/// The transform's account of an export, for the summary and `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TransformReport {
    /// Image counts.
    pub images: Counts,
    /// Sequence counts.
    pub sequences: Counts,
    /// Map feature counts.
    pub map_features: Counts,
    /// Skipped records (the first [`MAX_LISTED`]).
    pub rejected: Vec<Rejection>,
    /// Every skipped record.
    pub rejected_total: u64,
    /// Records kept despite a problem (the first [`MAX_LISTED`]).
    pub warnings: Vec<Warning>,
    /// Every warning.
    pub warnings_total: u64,
}

/// One resource's counts: `received = rejected + duplicates + sum(filtered) + accepted`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Records read from the pages, whatever became of them.
    pub received: u64,
    /// Records skipped as invalid (listed in [`TransformReport::rejected`]).
    pub rejected: u64,
    /// Records whose key was already seen (the first occurrence wins).
    pub duplicates: u64,
    /// Records removed by a client-side filter, by reason (`outside area`, `user`, `date`,
    /// `pano`, `lookat`; map features: `object value`, `object type`).
    pub filtered: BTreeMap<&'static str, u64>,
    /// Records handed on to the writers.
    pub accepted: u64,
}

/// A record that was skipped because it is invalid. In `manifest.json` it is
/// `{"resource", "id", "at", "reason"}`: `id` is [`Rejection::id`], `at` [`Rejection::at`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// What the record would have been.
    pub resource: Resource,
    /// Its key, when it had a non-empty one.
    pub key: Option<String>,
    /// The file or page it was in (a path, or `v3 page N`).
    pub source: String,
    /// Its 0-based index there, when it has one.
    pub index: Option<u64>,
    /// Why it was skipped.
    pub reason: String,
}

impl Rejection {
    /// Where it was: `<source>#<index>`, or the source alone.
    pub fn at(&self) -> String {
        match self.index {
            Some(index) => format!("{}#{index}", self.source),
            None => self.source.clone(),
        }
    }

    /// Its key, or [`Rejection::at`] when it had none.
    pub fn id(&self) -> String {
        self.key.clone().unwrap_or_else(|| self.at())
    }
}

impl Serialize for Rejection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Rejection", 4)?;
        out.serialize_field("resource", &self.resource)?;
        out.serialize_field("id", &self.id())?;
        out.serialize_field("at", &self.at())?;
        out.serialize_field("reason", &self.reason)?;
        out.end()
    }
}

/// A record that was kept although something about it is off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// The record's resource.
    pub resource: Resource,
    /// Its key.
    pub id: String,
    /// What is off.
    pub message: String,
}

impl TransformReport {
    pub(crate) fn counts_mut(&mut self, resource: Resource) -> &mut Counts {
        match resource {
            Resource::Sequences => &mut self.sequences,
            Resource::MapFeatures => &mut self.map_features,
            // Sequence points are exploded by the writers' caller: never counted here.
            Resource::Images | Resource::SequencePoints => &mut self.images,
        }
    }

    /// Counts a rejection; `rejection` makes the listed entry, only while the list has room.
    pub(crate) fn reject(&mut self, resource: Resource, rejection: impl FnOnce() -> Rejection) {
        self.counts_mut(resource).rejected += 1;
        self.rejected_total += 1;
        if self.rejected.len() < MAX_LISTED {
            self.rejected.push(rejection());
        }
    }

    pub(crate) fn warn(&mut self, resource: Resource, id: &str, message: String) {
        self.warnings_total += 1;
        if self.warnings.len() < MAX_LISTED {
            self.warnings.push(Warning {
                resource,
                id: id.to_owned(),
                message,
            });
        }
    }
}
