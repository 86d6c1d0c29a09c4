//! The one entry point: pages and files in, checked, deduplicated and filtered records out.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use model::{Image, Position, Resource, Sequence};

use crate::candidate::{Normal, Reject};
use crate::scan::{self, FeatureHandler, Source};
use crate::seen::SeenKeys;
use crate::v3::{self, V3Record};
use crate::{TransformConfig, TransformError, TransformReport, v4};

mod map_features;

/// One accepted record, handed to the caller's sink.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// An image point.
    Image(Image),
    /// A sequence line (explode it for the per-vertex layer).
    Sequence(Sequence),
}

/// Turns API pages and GeoJSON files into records. Every record goes through the same steps:
/// reject (invalid), dedupe (by key, first occurrence wins), filter, accept; the
/// [`TransformReport`] counts each outcome.
#[derive(Debug)]
pub struct Transformer {
    config: TransformConfig,
    seen_images: SeenKeys,
    seen_sequences: SeenKeys,
    seen_map_features: SeenKeys,
    /// The sequence ids v4 images named, each with copies of those images when
    /// [`TransformConfig::sequences_from_images`] is set (else no images).
    sequences: BTreeMap<String, Vec<Normal<Image>>>,
    report: TransformReport,
    /// Pages read so far, to name them in reports.
    pages: u64,
}

impl Transformer {
    /// A transformer applying `config`'s filters.
    pub fn new(config: TransformConfig) -> Transformer {
        Transformer {
            config,
            seen_images: SeenKeys::default(),
            seen_sequences: SeenKeys::default(),
            seen_map_features: SeenKeys::default(),
            sequences: BTreeMap::new(),
            report: TransformReport::default(),
            pages: 0,
        }
    }

    /// Reads a saved v3 page (a FeatureCollection, or a single Feature): Points become images,
    /// LineStrings sequences. Bad features are reported and skipped.
    pub fn v3_page(
        &mut self,
        body: &[u8],
        sink: &mut dyn FnMut(Record),
    ) -> Result<(), TransformError> {
        let name = self.next_page_name("v3 page");
        let source = Source {
            name: &name,
            path: Path::new(&name),
        };
        self.features(body, &source, Some(body.len()), sink)
    }

    /// Streams a GeoJSON FeatureCollection of any size from `reader` (`convert`). `source`
    /// names the file in reports and errors. A bad feature is reported as
    /// `<source>#<feature index>` and skipped; input that is not a FeatureCollection (or a
    /// single Feature) is an error, after the features before the problem were delivered.
    ///
    /// Scanning and parsing run on a thread of their own, a bounded channel ahead of the
    /// checks and `sink`: a large file is read at the speed of the slower of the two.
    pub fn read_geojson<R: Read + Send>(
        &mut self,
        reader: R,
        source: &Path,
        sink: &mut dyn FnMut(Record),
    ) -> Result<(), TransformError> {
        let name = source.display().to_string();
        let source = Source {
            name: &name,
            path: source,
        };
        std::thread::scope(|scope| {
            let (batches, parsed) = std::sync::mpsc::sync_channel(PARSED_BATCHES);
            let scanner = scope.spawn(move || {
                let mut parser = Parser {
                    batch: Vec::with_capacity(PARSED_BATCH),
                    batches,
                };
                let walked = scan::walk_features(reader, &source, None, &mut parser);
                parser.send();
                walked
            });
            for batch in parsed {
                for (index, record) in batch {
                    let fallback = || format!("{name}#{index}");
                    self.v3_record(record, &fallback, sink);
                }
            }
            scanner
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Reads a v4 `/images` page (`{"data": [...]}`). An `{"error": ...}` body is
    /// [`TransformError::ApiError`].
    pub fn v4_images_page(
        &mut self,
        body: &[u8],
        sink: &mut dyn FnMut(Record),
    ) -> Result<(), TransformError> {
        let name = self.next_page_name("v4 page");
        for (index, item) in v4::page_items(body, &name)?.into_iter().enumerate() {
            let fallback = || format!("{name}#{index}");
            let image = match v4::image(item) {
                Ok(image) => image,
                Err(reject) => {
                    self.reject(reject, &fallback);
                    continue;
                }
            };
            // `lookat` is an image filter and does not apply to sequences: an image that
            // passes every other filter names its sequence even when lookat leaves it out.
            let sequence_id = (image_problem(&image.record).is_none()
                && self.image_filter(&image, false).is_none())
            .then(|| image.record.sequence_key.clone())
            .flatten();
            let copy =
                (sequence_id.is_some() && self.config.sequences_from_images).then(|| image.clone());
            if let Some(image) = self.take_image(image, &fallback, true) {
                sink(Record::Image(image));
            }
            if let Some(id) = sequence_id {
                self.sequences.entry(id).or_default().extend(copy);
            }
        }
        Ok(())
    }

    /// Assembles one sequence from all pages of its images (`/images?sequence_id=`). Images
    /// that cannot be placed (no id, no position) are left out with a warning.
    pub fn v4_sequence(
        &mut self,
        pages: &[Vec<u8>],
        sink: &mut dyn FnMut(Record),
    ) -> Result<(), TransformError> {
        let name = self.next_page_name("v4 sequence pages from");
        let mut images = Vec::new();
        let mut dropped = Vec::new();
        for (page, body) in pages.iter().enumerate() {
            for (index, item) in v4::page_items(body, &name)?.into_iter().enumerate() {
                let problem = match v4::image(item) {
                    Ok(image) => match image_problem(&image.record) {
                        None => {
                            images.push(image);
                            continue;
                        }
                        Some(reason) => reason,
                    },
                    Err(reject) => reject.reason,
                };
                dropped.push(format!("image #{index} of page {page} left out: {problem}"));
            }
        }
        self.assemble_v4_sequence(images, dropped, &name, sink);
        Ok(())
    }

    /// Builds every sequence the v4 images named from the copies of their images kept while
    /// reading them ([`TransformConfig::sequences_from_images`]): lines through the images
    /// inside the areas, with no request per sequence.
    pub fn v4_sequences_from_images(&mut self, sink: &mut dyn FnMut(Record)) {
        for (id, images) in std::mem::take(&mut self.sequences) {
            let name = format!("v4 sequence {id} from its images");
            self.assemble_v4_sequence(images, Vec::new(), &name, sink);
        }
    }

    /// The common tail of both ways to a v4 sequence: `dropped` are warnings about images
    /// left out, `name` names the sequence in a rejection without a key.
    fn assemble_v4_sequence(
        &mut self,
        images: Vec<Normal<Image>>,
        dropped: Vec<String>,
        name: &str,
        sink: &mut dyn FnMut(Record),
    ) {
        let fallback = || name.to_owned();
        let Some(mut sequence) = v4::sequence(images) else {
            let reason = "no usable images".to_owned();
            self.reject(
                Reject {
                    resource: Resource::Sequences,
                    key: None,
                    reason,
                },
                &fallback,
            );
            return;
        };
        sequence.warnings.extend(dropped);
        if let Some(sequence) = self.take_sequence(sequence, &fallback) {
            sink(Record::Sequence(sequence));
        }
    }

    /// The sequence ids of the v4 images that passed every filter but `lookat` so far, sorted:
    /// the sequences to fetch (`lookat` does not apply to sequences).
    pub fn accepted_sequence_ids(&self) -> impl Iterator<Item = &str> {
        self.sequences.keys().map(String::as_str)
    }

    /// What happened so far.
    pub fn report(&self) -> &TransformReport {
        &self.report
    }

    fn next_page_name(&mut self, kind: &str) -> String {
        self.pages += 1;
        format!("{kind} {}", self.pages)
    }

    fn features<R: Read>(
        &mut self,
        reader: R,
        source: &Source<'_>,
        size_hint: Option<usize>,
        sink: &mut dyn FnMut(Record),
    ) -> Result<(), TransformError> {
        let mut handler = V3Features {
            transformer: self,
            source_name: source.name,
            sink,
        };
        scan::walk_features(reader, source, size_hint, &mut handler)
    }

    fn v3_record(
        &mut self,
        parsed: Result<V3Record, Reject>,
        fallback: &dyn Fn() -> String,
        sink: &mut dyn FnMut(Record),
    ) {
        let record = match parsed {
            Ok(V3Record::Image(image)) => {
                self.take_image(image, fallback, false).map(Record::Image)
            }
            Ok(V3Record::Sequence(sequence)) => {
                self.take_sequence(sequence, fallback).map(Record::Sequence)
            }
            Err(reject) => {
                self.reject(reject, fallback);
                None
            }
        };
        if let Some(record) = record {
            sink(record);
        }
    }

    fn reject(&mut self, reject: Reject, fallback: &dyn Fn() -> String) {
        let at = fallback();
        let id = reject
            .key
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| at.clone());
        self.report.counts_mut(reject.resource).received += 1;
        self.report.reject(reject.resource, id, at, reject.reason);
    }

    /// Rejects a record that has a key (an empty one counts as none).
    fn reject_keyed(
        &mut self,
        resource: Resource,
        key: String,
        reason: String,
        fallback: &dyn Fn() -> String,
    ) {
        let key = Some(key);
        self.reject(
            Reject {
                resource,
                key,
                reason,
            },
            fallback,
        );
    }

    /// `lookat`: whether the v4 lookat filter applies (v3 trusts the API's own rule).
    fn take_image(
        &mut self,
        image: Normal<Image>,
        fallback: &dyn Fn() -> String,
        lookat: bool,
    ) -> Option<Image> {
        if let Some(reason) = image_problem(&image.record) {
            self.reject_keyed(Resource::Images, image.record.key, reason, fallback);
            return None;
        }
        let filtered_by = self.image_filter(&image, lookat);
        self.dedupe_and_filter(Resource::Images, image, |i| &i.key, filtered_by)
    }

    fn take_sequence(
        &mut self,
        mut sequence: Normal<Sequence>,
        fallback: &dyn Fn() -> String,
    ) -> Option<Sequence> {
        let s = &sequence.record;
        if let Some(reason) = sequence_problem(s, self.config.max_vertices) {
            self.reject_keyed(Resource::Sequences, sequence.record.key, reason, fallback);
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
    fn dedupe_and_filter<T>(
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

/// The elements of one v3 page or GeoJSON file, on their way into the transformer.
struct V3Features<'t, 's> {
    transformer: &'t mut Transformer,
    source_name: &'s str,
    sink: &'s mut dyn FnMut(Record),
}

/// Features parsed per message from the scanning thread of [`Transformer::read_geojson`].
const PARSED_BATCH: usize = 512;
/// Messages in flight: bounds the memory between the two threads.
const PARSED_BATCHES: usize = 8;

type Parsed = (u64, Result<V3Record, Reject>);

/// The scanning thread's handler: parses features, leaves the checks to the reading thread.
struct Parser {
    batch: Vec<Parsed>,
    batches: std::sync::mpsc::SyncSender<Vec<Parsed>>,
}

impl Parser {
    fn push(&mut self, parsed: Parsed) {
        self.batch.push(parsed);
        if self.batch.len() == PARSED_BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(PARSED_BATCH));
        // The receiver outlives the scanning thread (both live in one scope).
        let _ = self.batches.send(batch);
    }
}

impl FeatureHandler for Parser {
    fn prefix(&mut self, bytes: &[u8], index: u64) -> Option<usize> {
        let (parsed, used) = v3::feature_prefix(bytes)?;
        self.push((index, parsed));
        Some(used)
    }

    fn whole(&mut self, bytes: &[u8], index: u64) {
        self.push((index, v3::feature(bytes)));
    }
}

impl FeatureHandler for V3Features<'_, '_> {
    fn prefix(&mut self, bytes: &[u8], index: u64) -> Option<usize> {
        let (parsed, used) = v3::feature_prefix(bytes)?;
        let fallback = || format!("{}#{index}", self.source_name);
        self.transformer.v3_record(parsed, &fallback, self.sink);
        Some(used)
    }

    fn whole(&mut self, bytes: &[u8], index: u64) {
        let fallback = || format!("{}#{index}", self.source_name);
        self.transformer
            .v3_record(v3::feature(bytes), &fallback, self.sink);
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

fn image_problem(image: &Image) -> Option<String> {
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

pub(crate) fn position_problem([lon, lat]: Position) -> Option<String> {
    let valid = lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat);
    (!valid).then(|| format!("position [{lon}, {lat}] is outside lon -180..180, lat -90..90"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LookAt;
    use model::{Area, DateRange};

    fn point(key: &str, lon: f64, lat: f64, properties: &str) -> String {
        format!(
            r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},
            "properties":{{"key":"{key}"{properties}}}}}"#
        )
    }

    fn page(features: &[String]) -> Vec<u8> {
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        )
        .into_bytes()
    }

    fn v3_keys(transformer: &mut Transformer, body: &[u8]) -> Vec<String> {
        let mut keys = Vec::new();
        transformer
            .v3_page(body, &mut |record| match record {
                Record::Image(i) => keys.push(i.key),
                Record::Sequence(s) => keys.push(s.key),
            })
            .unwrap();
        keys
    }

    fn filtered(counts: &crate::Counts, reason: &str) -> u64 {
        counts.filtered.get(reason).copied().unwrap_or(0)
    }

    #[test]
    fn rejects_then_dedupes_then_filters() {
        let config = TransformConfig {
            areas: vec![Area::Bbox([0.0, 0.0, 10.0, 10.0])],
            ..TransformConfig::default()
        };
        let mut t = Transformer::new(config);
        let body = page(&[
            point("a", 1.0, 1.0, ""),
            point("far", 20.0, 1.0, ""),
            point("far", 20.0, 1.0, ""),
            point("a", 2.0, 2.0, ""),
            point("", 1.0, 1.0, ""),
            point("bad", 200.0, 1.0, ""),
        ]);
        assert_eq!(v3_keys(&mut t, &body), ["a"]);
        let report = t.report();
        let images = &report.images;
        assert_eq!(images.received, 6);
        assert_eq!(images.rejected, 2);
        // The second "far" is a duplicate, not a second filtered record.
        assert_eq!(images.duplicates, 2);
        assert_eq!(filtered(images, "outside area"), 1);
        assert_eq!(images.accepted, 1);
        assert_eq!(report.rejected_total, 2);
        assert_eq!(report.rejected[0].id, "v3 page 1#4");
        assert_eq!(report.rejected[1].id, "bad");
    }

    #[test]
    fn user_date_and_pano_filters() {
        let config = TransformConfig {
            usernames: vec!["Alice".into()],
            userkeys: vec!["k-bob".into()],
            date_ranges: vec![DateRange {
                start_ms: 1_000,
                end_ms: 2_000,
            }],
            pano: Some(false),
            ..TransformConfig::default()
        };
        let mut t = Transformer::new(config);
        let in_range = r#","captured_at":"1970-01-01T00:00:01.500Z""#;
        let body = page(&[
            point(
                "ok-name",
                0.0,
                0.0,
                &format!(r#","username":"alice"{in_range}"#),
            ),
            point(
                "ok-key",
                0.0,
                0.0,
                &format!(r#","user_key":"k-bob"{in_range}"#),
            ),
            point(
                "other-user",
                0.0,
                0.0,
                &format!(r#","username":"carol"{in_range}"#),
            ),
            point(
                "too-late",
                0.0,
                0.0,
                r#","username":"alice","captured_at":"1970-01-01T00:00:02Z""#,
            ),
            point("no-date", 0.0, 0.0, r#","username":"alice""#),
            point(
                "pano",
                0.0,
                0.0,
                &format!(r#","username":"alice","pano":true{in_range}"#),
            ),
        ]);
        assert_eq!(v3_keys(&mut t, &body), ["ok-name", "ok-key"]);
        let images = &t.report().images;
        assert_eq!(filtered(images, "user"), 1);
        assert_eq!(filtered(images, "date"), 2);
        assert_eq!(filtered(images, "pano"), 1);
        assert_eq!(images.accepted, 2);
    }

    #[test]
    fn v4_lookat_keeps_panoramas_and_images_facing_the_target() {
        let config = TransformConfig {
            api: model::Api::V4,
            lookat: Some(LookAt {
                target: [0.0, 1.0],
                tolerance_deg: 30.0,
            }),
            ..TransformConfig::default()
        };
        let mut t = Transformer::new(config);
        let image = |id: &str, extra: &str| {
            format!(
                r#"{{"id":"{id}","sequence":"s-{id}","geometry":{{"type":"Point","coordinates":[0,0]}}{extra}}}"#
            )
        };
        let body = format!(
            r#"{{"data":[{},{},{},{},{}]}}"#,
            image("north", r#","compass_angle":350"#),
            image("south", r#","compass_angle":180"#),
            image("pano", r#","is_pano":true"#),
            image("no-angle", ""),
            image("north", r#","compass_angle":10"#),
        );
        let mut keys = Vec::new();
        t.v4_images_page(body.as_bytes(), &mut |r| {
            if let Record::Image(i) = r {
                keys.push(i.key);
            }
        })
        .unwrap();
        assert_eq!(keys, ["north", "pano"]);
        assert_eq!(filtered(&t.report().images, "lookat"), 2);
        assert_eq!(t.report().images.duplicates, 1);
        // lookat does not apply to sequences: every image's sequence is fetched.
        let ids: Vec<_> = t.accepted_sequence_ids().collect();
        assert_eq!(ids, ["s-no-angle", "s-north", "s-pano", "s-south"]);
    }

    #[test]
    fn sequences_check_vertices_users_and_warn_on_mismatch() {
        let config = TransformConfig {
            userkeys: vec!["u".into()],
            max_vertices: 3,
            ..TransformConfig::default()
        };
        let mut t = Transformer::new(config);
        let line = |key: &str, n: usize, properties: &str| {
            let coordinates = vec!["[1,1]"; n].join(",");
            format!(
                r#"{{"type":"Feature","geometry":{{"type":"LineString","coordinates":[{coordinates}]}},
                "properties":{{"key":"{key}"{properties}}}}}"#
            )
        };
        let body = page(&[
            line(
                "ok",
                3,
                r#","user_key":"u","coordinateProperties":{"cas":[1,2],"image_keys":["a","b","c"]}"#,
            ),
            line("long", 4, r#","user_key":"u""#),
            line("other", 2, r#","user_key":"x""#),
            line("empty", 0, r#","user_key":"u""#),
        ]);
        assert_eq!(v3_keys(&mut t, &body), ["ok"]);
        let report = t.report();
        assert_eq!(report.sequences.received, 4);
        assert_eq!(report.sequences.rejected, 2);
        assert_eq!(filtered(&report.sequences, "user"), 1);
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].id, "ok");
        assert_eq!(report.warnings[0].resource, Resource::Sequences);
        assert_eq!(report.images.received, 0);
    }

    #[test]
    fn v4_sequences_match_usernames_through_their_images() {
        let config = TransformConfig {
            api: model::Api::V4,
            usernames: vec!["Alice".into()],
            ..TransformConfig::default()
        };
        let mut t = Transformer::new(config);
        let page = |seq: &str, user: &str| {
            format!(
                r#"{{"data":[{{"id":"{seq}-1","sequence":"{seq}","captured_at":1,"creator":{{"id":"k-{user}","username":"{user}"}},"geometry":{{"type":"Point","coordinates":[1,0]}}}}]}}"#
            )
            .into_bytes()
        };
        let mut keys = Vec::new();
        for (seq, user) in [("s-alice", "alice"), ("s-bob", "bob")] {
            t.v4_sequence(&[page(seq, user)], &mut |r| {
                if let Record::Sequence(s) = r {
                    keys.push(s.key);
                }
            })
            .unwrap();
        }
        assert_eq!(keys, ["s-alice"]);
        assert_eq!(filtered(&t.report().sequences, "user"), 1);
    }

    #[test]
    fn v4_sequence_leaves_out_unplaceable_images() {
        let mut t = Transformer::new(TransformConfig::default());
        let pages = vec![
            br#"{"data":[{"id":"2","sequence":"s","captured_at":2,"geometry":{"type":"Point","coordinates":[2,0]}},
                        {"id":"x","sequence":"s","captured_at":3}]}"#
                .to_vec(),
            br#"{"data":[{"id":"1","sequence":"s","captured_at":1,"creator":{"id":"u"},"geometry":{"type":"Point","coordinates":[1,0]}}]}"#
                .to_vec(),
        ];
        let mut sequences = Vec::new();
        t.v4_sequence(&pages, &mut |r| {
            if let Record::Sequence(s) = r {
                sequences.push(s);
            }
        })
        .unwrap();
        assert_eq!(sequences.len(), 1);
        let s = &sequences[0];
        assert_eq!(s.image_keys, vec![Some("1".into()), Some("2".into())]);
        assert_eq!(s.user_key.as_deref(), Some("u"));
        assert_eq!(t.report().warnings_total, 1);
        t.v4_sequence(&[br#"{"data":[]}"#.to_vec()], &mut |_| {})
            .unwrap();
        assert_eq!(t.report().sequences.rejected, 1);
        let error = t.v4_sequence(
            &[br#"{"error":{"message":"limit","code":4}}"#.to_vec()],
            &mut |_| {},
        );
        assert!(matches!(
            error,
            Err(TransformError::ApiError { code: Some(4), .. })
        ));
    }

    #[test]
    fn v4_sequences_from_images_are_lines_through_the_images_in_the_areas() {
        let config = TransformConfig {
            api: model::Api::V4,
            areas: vec![model::Area::Bbox([0.0, 0.0, 10.0, 10.0])],
            lookat: Some(crate::LookAt {
                target: [5.0, 90.0],
                tolerance_deg: 1.0,
            }),
            sequences_from_images: true,
            ..TransformConfig::default()
        };
        let mut t = Transformer::new(config);
        let image = |id: &str, seq: &str, time: i64, lon: f64| {
            format!(
                r#"{{"id":"{id}","sequence":"{seq}","captured_at":{time},"compass_angle":180,"creator":{{"id":"u"}},"geometry":{{"type":"Point","coordinates":[{lon},1]}}}}"#
            )
        };
        // Out of order, one image twice (overlapping cells), one outside the areas; every
        // image faces away from the lookat target, so no image is exported, yet the
        // sequences are (lookat does not apply to them).
        let pages = [
            vec![
                image("3", "s", 30, 3.0),
                image("1", "s", 10, 1.0),
                image("9", "t", 5, 9.0),
            ],
            vec![
                image("1", "s", 10, 1.0),
                image("2", "s", 20, 2.0),
                image("x", "s", 15, 11.0),
            ],
        ];
        for items in pages {
            let body = format!(r#"{{"data":[{}]}}"#, items.join(","));
            t.v4_images_page(body.as_bytes(), &mut |_| {
                panic!("lookat leaves every image out")
            })
            .unwrap();
        }
        let mut sequences = Vec::new();
        t.v4_sequences_from_images(&mut |r| {
            if let Record::Sequence(s) = r {
                sequences.push(s);
            }
        });
        let lines: Vec<_> = sequences
            .iter()
            .map(|s| (s.key.as_str(), s.image_keys.clone(), s.coordinates.clone()))
            .collect();
        let some = |ids: &[&str]| {
            ids.iter()
                .map(|id| Some((*id).to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lines,
            [
                (
                    "s",
                    some(&["1", "2", "3"]),
                    vec![[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
                ),
                ("t", some(&["9"]), vec![[9.0, 1.0]]),
            ]
        );
        assert_eq!(t.report().sequences.accepted, 2);
        // Taken once: a second call builds nothing.
        t.v4_sequences_from_images(&mut |_| panic!("already built"));
    }

    #[test]
    fn lists_are_capped_but_totals_are_exact() {
        let mut t = Transformer::new(TransformConfig::default());
        let body = page(&vec![point("", 0.0, 0.0, ""); crate::MAX_LISTED + 5]);
        assert!(v3_keys(&mut t, &body).is_empty());
        let report = t.report();
        assert_eq!(report.rejected.len(), crate::MAX_LISTED);
        assert_eq!(report.rejected_total, crate::MAX_LISTED as u64 + 5);
        assert_eq!(report.images.rejected, crate::MAX_LISTED as u64 + 5);
    }
}
