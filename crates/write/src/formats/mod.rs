//! The formats, each a [`FeatureSink`], and the factory that opens one by [`Format`].

mod csv;
mod geojson;
pub(crate) mod gpkg;
mod gpx;
mod shapefile;

use std::path::Path;

use model::{Format, Resource};

pub use gpx::GPX_EXTENSION_NAMESPACE;

use crate::WriteError;
use crate::sink::{FeatureSink, WriteOptions};

/// Opens the sink of `format` for `resource`'s layer: it creates `<dir>/<stem>.<ext>` (a
/// shapefile: its set of files; a GeoPackage: `<stem>.gpkg` holding this one layer, where
/// [`crate::ExportDir::layer_writer`] puts every layer of an export in one `<name>.gpkg`).
/// Call [`FeatureSink::begin`] with `Schema::of(resource)` next.
pub fn open_sink(
    format: Format,
    dir: &Path,
    resource: Resource,
    options: &WriteOptions,
) -> Result<Box<dyn FeatureSink>, WriteError> {
    let stem = resource.stem();
    Ok(match format {
        Format::GeoJson => Box::new(geojson::GeoJsonSink::create(dir, stem)?),
        Format::Csv => Box::new(csv::CsvSink::create(dir, stem, options)?),
        Format::Gpx => Box::new(gpx::GpxSink::create(dir, stem)?),
        Format::Shapefile => Box::new(shapefile::ShapefileSink::new(dir, stem, options)?),
        Format::GeoPackage => Box::new(gpkg::GpkgSink::new(
            gpkg::GeoPackage::create(dir, stem)?,
            resource,
        )),
    })
}
