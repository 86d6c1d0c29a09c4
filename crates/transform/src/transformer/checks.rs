//! The steps every record goes through: reject, dedupe, filter, accept.

use model::{Image, Position, Resource, Sequence};

use super::Transformer;
use crate::Rejection;
use crate::candidate::{At, Normal, Reject, position_problem};

impl Transformer {
    pub(super) fn reject(&mut self, reject: Reject, at: At<'_>) {
        let Reject {
            resource,
            key,
            reason,
        } = reject;
        self.report.counts_mut(resource).received += 1;
        self.report.reject(resource, || Rejection {
            resource,
            key: key.filter(|k| !k.is_empty()),
            source: at.source.to_owned(),
            index: at.index,
            reason,
        });
    }

    /// Rejects a record that has a key (an empty one counts as none).
    pub(super) fn reject_keyed(
        &mut self,
        resource: Resource,
        key: String,
        reason: String,
        at: At<'_>,
    ) {
        let key = Some(key);
        self.reject(
            Reject {
                resource,
                key,
                reason,
            },
            at,
        );
    }

    /// `lookat`: whether the v4 lookat filter applies (v3 trusts the API's own rule).
    pub(super) fn take_image(
        &mut self,
        image: Normal<Image>,
        at: At<'_>,
        lookat: bool,
    ) -> Option<Image> {
        if let Some(reason) = image_problem(&image.record) {
            self.reject_keyed(Resource::Images, image.record.key, reason, at);
            return None;
        }
        let filtered_by = self.image_filter(&image, lookat);
        self.dedupe_and_filter(Resource::Images, image, |i| &i.key, filtered_by)
    }

    /// A v4 image: as any image, with `lookat`; and an image that passes every other filter
    /// names its sequence (`lookat` does not apply to sequences), with a copy of itself when
    /// sequences are built from the images.
    pub(super) fn take_v4_image(&mut self, image: Normal<Image>, at: At<'_>) -> Option<Image> {
        let sequence_id = (image_problem(&image.record).is_none()
            && self.image_filter(&image, false).is_none())
        .then(|| image.record.sequence_key.clone())
        .flatten();
        let copy =
            (sequence_id.is_some() && self.config.sequences_from_images).then(|| image.clone());
        let accepted = self.take_image(image, at, true);
        if let Some(id) = sequence_id {
            self.sequences.entry(id).or_default().extend(copy);
        }
        accepted
    }

    pub(super) fn take_sequence(
        &mut self,
        mut sequence: Normal<Sequence>,
        at: At<'_>,
    ) -> Option<Sequence> {
        let s = &sequence.record;
        if let Some(reason) = sequence_problem(s, self.config.max_vertices) {
            self.reject_keyed(Resource::Sequences, sequence.record.key, reason, at);
            return None;
        }
        if !s.vertex_properties_match() {
            let message = format!(
                "coordinateProperties has {} cas and {} image_keys for {} vertices (missing ones are null)",
                s.cas.len(),
                s.image_keys.len(),
                s.coordinates.len()
            );
            sequence.warnings.push(message);
        }
        let filtered_by = self.sequence_filter(&sequence);
        self.dedupe_and_filter(Resource::Sequences, sequence, |s| &s.key, filtered_by)
    }

    /// The common tail: a seen key is a duplicate (whether or not it was filtered the first
    /// time), then the filter verdict, then acceptance with the record's warnings.
    pub(super) fn dedupe_and_filter<T>(
        &mut self,
        resource: Resource,
        candidate: Normal<T>,
        key_of: fn(&T) -> &String,
        filtered_by: Option<&'static str>,
    ) -> Option<T> {
        let key = key_of(&candidate.record);
        let seen = match resource {
            Resource::Sequences => &mut self.seen_sequences,
            Resource::MapFeatures => &mut self.seen_map_features,
            Resource::Images | Resource::SequencePoints => &mut self.seen_images,
        };
        let counts = self.report.counts_mut(resource);
        counts.received += 1;
        if !seen.insert(key) {
            counts.duplicates += 1;
            return None;
        }
        if let Some(reason) = filtered_by {
            *counts.filtered.entry(reason).or_default() += 1;
            return None;
        }
        counts.accepted += 1;
        for message in candidate.warnings {
            self.report.warn(resource, key, message);
        }
        Some(candidate.record)
    }

    fn image_filter(&self, image: &Normal<Image>, lookat: bool) -> Option<&'static str> {
        let i = &image.record;
        let config = &self.config;
        if !config.areas.is_empty() && !config.areas.iter().any(|a| a.contains(i.lon, i.lat)) {
            Some("outside area")
        } else if !self.user_passes(i.username.as_deref(), i.user_key.as_deref()) {
            Some("user")
        } else if !self.date_passes(image.captured_ms) {
            Some("date")
        } else if !self.pano_passes(i.pano) {
            Some("pano")
        } else if lookat
            && config
                .lookat
                .is_some_and(|l| !looks_at(i, l.target, l.tolerance_deg))
        {
            Some("lookat")
        } else {
            None
        }
    }

    fn sequence_filter(&self, sequence: &Normal<Sequence>) -> Option<&'static str> {
        let s = &sequence.record;
        if !self.user_passes(sequence.username.as_deref(), s.user_key.as_deref()) {
            Some("user")
        } else if !self.date_passes(sequence.captured_ms) {
            Some("date")
        } else if !self.pano_passes(s.pano) {
            Some("pano")
        } else {
            None
        }
    }

    fn user_passes(&self, username: Option<&str>, user_key: Option<&str>) -> bool {
        let (names, keys) = (&self.config.usernames, &self.config.userkeys);
        // Mapillary usernames are matched without regard to ASCII case, as the API does.
        (names.is_empty() && keys.is_empty())
            || username.is_some_and(|u| names.iter().any(|n| n.eq_ignore_ascii_case(u)))
            || user_key.is_some_and(|k| keys.iter().any(|x| x == k))
    }

    fn date_passes(&self, captured_ms: Option<i64>) -> bool {
        let ranges = &self.config.date_ranges;
        ranges.is_empty() || captured_ms.is_some_and(|t| ranges.iter().any(|r| r.contains(t)))
    }

    fn pano_passes(&self, pano: Option<bool>) -> bool {
        self.config
            .pano
            .is_none_or(|wanted| pano.unwrap_or(false) == wanted)
    }
}

/// A panorama sees everything; otherwise the camera angle must point at the target.
fn looks_at(image: &Image, target: Position, tolerance_deg: f64) -> bool {
    image.pano == Some(true)
        || image.ca.is_some_and(|ca| {
            let bearing = model::bearing_deg([image.lon, image.lat], target);
            let difference = (bearing - ca).rem_euclid(360.0);
            difference.min(360.0 - difference) <= tolerance_deg
        })
}

pub(super) fn image_problem(image: &Image) -> Option<String> {
    if image.key.is_empty() {
        return Some("missing or empty key".into());
    }
    position_problem([image.lon, image.lat])
}

fn sequence_problem(sequence: &Sequence, max_vertices: usize) -> Option<String> {
    let vertices = sequence.coordinates.len();
    if sequence.key.is_empty() {
        Some("missing or empty key".into())
    } else if vertices == 0 {
        Some("a line without vertices".into())
    } else if vertices > max_vertices {
        Some(format!(
            "{vertices} vertices, more than max_vertices ({max_vertices})"
        ))
    } else {
        sequence
            .coordinates
            .iter()
            .enumerate()
            .find_map(|(i, &p)| position_problem(p).map(|r| format!("vertex {i}: {r}")))
    }
}
