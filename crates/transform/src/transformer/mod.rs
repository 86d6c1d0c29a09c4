//! The one entry point: pages and files in, checked, deduplicated and filtered records out.
//!
//! Every reader parses its input into [`Candidate`]s and hands each to
//! [`Transformer::transform_one`] (reject → dedupe → filter → accept); `checks` holds those
//! steps, `geojson_file` the two-thread reader of large files, `map_features` the map features'
//! parsing and filters, `v4_sequences` the assembly of v4 sequences from their images.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use model::Image;

use crate::candidate::{At, Normal, Reject};
use crate::scan::{self, FeatureHandler, Halt, Source};
use crate::seen::SeenKeys;
use crate::sink::{Record, RecordSink};
use crate::v3::{self, V3Record};
use crate::{TransformConfig, TransformReport, v4};

mod checks;
mod geojson_file;
mod map_features;
mod v4_sequences;

use map_features::ParsedMapFeature;

/// One input record parsed and normalised, not yet checked: what a page reader (or a parsing
/// thread) makes of one element before [`Transformer::transform_one`] rejects, dedupes
/// and filters it. Parsing needs no transformer, so it may run on any thread.
#[derive(Debug)]
pub struct Candidate(Parsed);

/// What a [`Candidate`] holds.
#[derive(Debug)]
enum Parsed {
    /// A v3 feature or a GeoJSON file's feature (a Point image or a LineString sequence).
    V3(Result<V3Record, Reject>),
    /// A v4 `/images` entity.
    V4Image(Result<Normal<Image>, Reject>),
    /// A v4 `/map_features` entity.
    MapFeature(Result<ParsedMapFeature, Reject>),
}

impl Candidate {
    /// Exactly one element of a FeatureCollection (v3 page or GeoJSON file): a Point is an
    /// image, a LineString a sequence.
    pub fn v3_feature(bytes: &[u8]) -> Candidate {
        Candidate(Parsed::V3(v3::feature(bytes)))
    }

    /// [`Candidate::v3_feature`] of text known to be UTF-8 (faster).
    pub(crate) fn v3_feature_text(text: &str) -> Candidate {
        Candidate(Parsed::V3(v3::feature_text(text)))
    }

    /// One item of a v4 `/images` page's `data`.
    pub fn v4_image(item: &str) -> Candidate {
        Candidate(Parsed::V4Image(v4::image(item)))
    }

    /// One item of a v4 `/map_features` page's `data`.
    pub fn v4_map_feature(item: &str) -> Candidate {
        Candidate(Parsed::MapFeature(map_features::parse_map_feature(item)))
    }
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

    /// The synchronous core every reader calls, once per record: rejects an invalid
    /// candidate, drops a key already seen, applies the filters, and hands an accepted record
    /// to `sink`. `at` names the record in the report when it has no key.
    pub fn transform_one<S: RecordSink + ?Sized>(
        &mut self,
        candidate: Candidate,
        at: At<'_>,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let record = match candidate.0 {
            Parsed::V3(Ok(V3Record::Image(image))) => {
                self.take_image(image, at, false).map(Record::Image)
            }
            Parsed::V3(Ok(V3Record::Sequence(sequence))) => {
                self.take_sequence(sequence, at).map(Record::Sequence)
            }
            Parsed::V4Image(Ok(image)) => self.take_v4_image(image, at).map(Record::Image),
            Parsed::MapFeature(Ok(feature)) => {
                self.take_map_feature(feature, at).map(Record::MapFeature)
            }
            Parsed::V3(Err(reject))
            | Parsed::V4Image(Err(reject))
            | Parsed::MapFeature(Err(reject)) => {
                self.reject(reject, at);
                None
            }
        };
        match record {
            Some(record) => sink.record(record),
            None => Ok(()),
        }
    }

    /// Reads a saved v3 page (a FeatureCollection, or a single Feature): Points become images,
    /// LineStrings sequences. Bad features are reported and skipped.
    pub fn v3_page<S: RecordSink + ?Sized>(
        &mut self,
        body: &[u8],
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let name = self.next_page_name("v3 page");
        let source = Source {
            name: &name,
            path: Path::new(&name),
        };
        let mut handler = V3Features {
            transformer: self,
            source_name: &name,
            sink,
            stopped: None,
        };
        let walked = scan::walk_features(body, &source, Some(body.len()), &mut handler);
        match handler.stopped {
            Some(error) => Err(error),
            None => walked.map_err(S::Error::from),
        }
    }

    /// Streams a GeoJSON FeatureCollection of any size from `reader` (`convert`). `source`
    /// names the file in reports and errors. A bad feature is reported as
    /// `<source>#<feature index>` and skipped; input that is not a FeatureCollection (or a
    /// single Feature) is an error, after the features before the problem were delivered.
    ///
    /// The file is delimited into features on one thread and parsed on two more, ahead of
    /// the checks and `sink` on this one; records reach `sink` in input order.
    pub fn read_geojson<R: Read + Send, S: RecordSink + ?Sized>(
        &mut self,
        reader: R,
        source: &Path,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        geojson_file::read(self, reader, source, sink)
    }

    /// Reads a v4 `/images` page (`{"data": [...]}`). An `{"error": ...}` body is
    /// [`crate::TransformError::ApiError`].
    pub fn v4_images_page<S: RecordSink + ?Sized>(
        &mut self,
        body: &[u8],
        sink: &mut S,
    ) -> Result<(), S::Error> {
        self.v4_data_page("v4 page", body, Candidate::v4_image, sink)
    }

    /// Reads a v4 `/map_features` page (`{"data": [...]}`). Map features are deduplicated by
    /// `id` and filtered by area, `object_values`, `object_types` and date ranges (seen during a
    /// range: first seen before its end, last seen at or after its start). An `{"error": ...}`
    /// body is [`crate::TransformError::ApiError`].
    pub fn v4_map_features_page<S: RecordSink + ?Sized>(
        &mut self,
        body: &[u8],
        sink: &mut S,
    ) -> Result<(), S::Error> {
        self.v4_data_page(
            "v4 map features page",
            body,
            Candidate::v4_map_feature,
            sink,
        )
    }

    /// Every item of a v4 `{"data": [...]}` page, parsed by `parse`, through the checks; the
    /// page is named `<kind> <N>` in reports.
    fn v4_data_page<S: RecordSink + ?Sized>(
        &mut self,
        kind: &str,
        body: &[u8],
        parse: fn(&str) -> Candidate,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let name = self.next_page_name(kind);
        for (index, item) in v4::page_items(body, &name)?.into_iter().enumerate() {
            let at = At {
                source: &name,
                index: Some(index as u64),
            };
            self.transform_one(parse(item.get()), at, sink)?;
        }
        Ok(())
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

    /// What happened, once the work is done (the key sets are freed with the transformer).
    pub fn into_report(self) -> TransformReport {
        self.report
    }

    fn next_page_name(&mut self, kind: &str) -> String {
        self.pages += 1;
        format!("{kind} {}", self.pages)
    }
}

/// The elements of one v3 page, parsed where they lie in the body and checked at once.
struct V3Features<'t, 's, S: RecordSink + ?Sized> {
    transformer: &'t mut Transformer,
    source_name: &'s str,
    sink: &'s mut S,
    /// What stopped the sink, which also ends the walk.
    stopped: Option<S::Error>,
}

impl<S: RecordSink + ?Sized> V3Features<'_, '_, S> {
    fn take(&mut self, parsed: Result<V3Record, Reject>, index: u64) -> Halt {
        let at = At {
            source: self.source_name,
            index: Some(index),
        };
        let candidate = Candidate(Parsed::V3(parsed));
        match self.transformer.transform_one(candidate, at, self.sink) {
            Ok(()) => Halt::Continue,
            Err(error) => {
                self.stopped = Some(error);
                Halt::Stop
            }
        }
    }
}

impl<S: RecordSink + ?Sized> FeatureHandler for V3Features<'_, '_, S> {
    fn prefix(&mut self, bytes: &[u8], index: u64) -> Option<(usize, Halt)> {
        let (parsed, used) = v3::feature_prefix(bytes)?;
        Some((used, self.take(parsed, index)))
    }

    fn whole(&mut self, bytes: &[u8], index: u64) -> Halt {
        self.take(v3::feature(bytes), index)
    }
}

#[cfg(test)]
mod tests;
