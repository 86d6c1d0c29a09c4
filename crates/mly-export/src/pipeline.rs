//! The one way from records to files, shared by `run` and `convert`: each accepted record
//! becomes its layer's features (a sequence also its points, first), which pass the taps
//! (preview, map page, change-report fingerprints; `run` only) and go to the layer's writers.
//! `run` and `convert` only feed it records, through [`RecordSink`].

use model::{Feature, Format, Resource};
use transform::{Record, RecordSink, TransformError};
use write::{ExportDir, LayerSummary, LayerWriter, MapPage, Preview, WriteError, WriteOptions};

use crate::changes::Fingerprints;
use crate::progress::{LayerProgress, Progress};

/// Where every written feature of a `run` also goes.
pub struct Taps {
    /// `preview.svg`.
    pub preview: Preview,
    /// The map page's data.
    pub map: MapPage,
    /// The change report's fingerprints.
    pub fingerprints: Fingerprints,
}

/// Why the records stopped flowing.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A page or file could not be read at all.
    #[error(transparent)]
    Transform(#[from] TransformError),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// One layer's writers and, in a `run`, its progress line.
struct Layer<'p> {
    writer: LayerWriter,
    progress: Option<LayerProgress<'p>>,
}

/// The layers being written and the taps. Layers are opened in groups (`open`) and finished
/// together (`close`); their summaries come out in the order they were opened.
pub struct Pipeline<'a> {
    export: &'a ExportDir,
    formats: &'a [Format],
    options: &'a WriteOptions,
    progress: Option<&'a Progress>,
    taps: Option<&'a mut Taps>,
    open: Vec<Layer<'a>>,
    finished: Vec<LayerSummary>,
}

impl<'a> Pipeline<'a> {
    /// Writes into `export` in `formats`; `progress` and `taps` are a `run`'s.
    pub fn new(
        export: &'a ExportDir,
        formats: &'a [Format],
        options: &'a WriteOptions,
        progress: Option<&'a Progress>,
        taps: Option<&'a mut Taps>,
    ) -> Pipeline<'a> {
        Pipeline {
            export,
            formats,
            options,
            progress,
            taps,
            open: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// Opens the layers of `resources`. A record whose layer is not open is not written (a
    /// `run` reads each resource's pages with only its own layers open).
    pub fn open(&mut self, resources: &[Resource]) -> Result<(), WriteError> {
        for &resource in resources {
            let writer = self
                .export
                .layer_writer(resource, self.formats, self.options)?;
            let progress = self.progress.map(|p| p.layer(resource));
            self.open.push(Layer { writer, progress });
        }
        Ok(())
    }

    /// Finishes the open layers.
    pub fn close(&mut self) -> Result<(), WriteError> {
        for layer in std::mem::take(&mut self.open) {
            self.finished.push(layer.writer.finish()?);
            if let Some(progress) = layer.progress {
                progress.finish();
            }
        }
        Ok(())
    }

    /// Finishes the open layers; every layer's summary.
    pub fn finish(mut self) -> Result<Vec<LayerSummary>, WriteError> {
        self.close()?;
        Ok(self.finished)
    }

    fn emit(&mut self, resource: Resource, feature: Feature) -> Result<(), WriteError> {
        let Some(layer) = self
            .open
            .iter_mut()
            .find(|l| l.writer.resource() == resource)
        else {
            return Ok(());
        };
        if let Some(taps) = self.taps.as_deref_mut() {
            taps.preview.add(resource, &feature);
            taps.map.add(resource, &feature)?;
            taps.fingerprints.add(resource, &feature);
        }
        layer.writer.write(feature)?;
        if let Some(progress) = &mut layer.progress {
            progress.inc();
        }
        Ok(())
    }
}

impl RecordSink for Pipeline<'_> {
    type Error = PipelineError;

    fn record(&mut self, record: Record) -> Result<(), PipelineError> {
        match record {
            Record::Image(image) => self.emit(Resource::Images, image.into_feature())?,
            Record::Sequence(sequence) => {
                // Points first: then the line can be handed over without a copy.
                for point in sequence.explode() {
                    self.emit(Resource::SequencePoints, point.into_feature())?;
                }
                self.emit(Resource::Sequences, sequence.into_feature())?;
            }
            Record::MapFeature(feature) => {
                self.emit(Resource::MapFeatures, feature.into_feature())?;
            }
        }
        Ok(())
    }
}
