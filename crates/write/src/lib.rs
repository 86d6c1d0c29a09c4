//! Streaming writers for mly-export's output formats, and the export folder they write into.
//!
//! Every format implements [`FeatureSink`]: `begin` with the layer's declared
//! [`model::Schema`], `write` one [`model::Feature`] at a time, `finish` to flush. Memory does
//! not grow with the number of features. A [`LayerWriter`] runs one sink per requested format,
//! each on its own thread fed by a bounded channel, so the formats of a layer are written in
//! parallel. An [`ExportDir`] is the temporary folder they all write into; `commit` adds
//! `manifest.json` and swaps it atomically with the previous export of the same name.
//!
//! Beside the data: [`Preview`] draws `preview.svg`, and [`MapPage`] writes `index.html`, an
//! interactive Leaflet map of the export, with `map-data.js` and the bundled Leaflet.
//!
//! Formats: RFC 7946 GeoJSON (one feature per line), GPX 1.1 (extensions in
//! [`GPX_EXTENSION_NAMESPACE`]), RFC 4180 CSV (`lon`/`lat` or `WKT` columns, formula guard),
//! Esri Shapefile, and OGC GeoPackage 1.2 (one `<name>.gpkg` with a table per layer, shared by
//! the layers of an [`ExportDir`]: use [`ExportDir::layer_writer`]).
//!
//! ```
//! use model::{Format, Image, Resource};
//! use write::{ExportDir, LayerWriter, WriteOptions};
//!
//! let out = tempfile::tempdir()?;
//! let export = ExportDir::create(out.path(), "demo")?;
//! let formats = [Format::GeoJson, Format::Csv];
//! let mut images =
//!     LayerWriter::new(export.path(), Resource::Images, &formats, &WriteOptions::default())?;
//! images.write(Image::new("hYZH6voFh0VpQ-G3iz1TOQ", -122.3092632, 47.6523645).to_feature())?;
//! images.write(Image::new("G_SIwxNcioYeutZuA8Rurw", 16.432976, 7.249027).to_feature())?;
//! let summary = images.finish()?;
//! assert_eq!(summary.features, 2);
//! assert_eq!(summary.outputs[1].features, 2);
//!
//! let folder = export.commit(&serde_json::json!({ "layers": [summary] }))?;
//! assert!(folder.join("images.geojson").is_file());
//! assert_eq!(std::fs::read_to_string(folder.join("images.csv"))?.lines().count(), 3);
//! assert!(write::read_previous_manifest(out.path(), "demo")?.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod export;
mod formats;
mod layer;
mod manifest;
mod map_page;
mod preview;
mod sink;
mod writeback;

pub use export::ExportDir;
pub use formats::{GPX_EXTENSION_NAMESPACE, open_sink};
pub use layer::{LayerIssue, LayerSummary, LayerWriter, MAX_LISTED_ISSUES};
pub use manifest::read_previous_manifest;
pub use map_page::{MAP_DATA_FILE, MAX_MAP_POSITIONS, MapPage};
pub use preview::Preview;
pub use sink::{FeatureSink, Replacement, SinkSummary, Truncation, WriteOptions, Written};

use std::path::PathBuf;

use model::{Format, Resource};

/// Everything that can go wrong while writing an export.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// An I/O error on a named file.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An export name that is not 1-64 characters of `A-Z a-z 0-9 _ -`.
    #[error("export name {name:?} must be 1-64 characters of A-Z, a-z, 0-9, _ and -")]
    BadName {
        /// The name given.
        name: String,
    },
    /// The export's place is taken by something that is not a previous export.
    #[error(
        "{path} exists but is not an mly-export output folder (a folder with manifest.json); \
         refusing to replace it"
    )]
    NotAnExport {
        /// The existing path.
        path: PathBuf,
    },
    /// A manifest that cannot be written or read back as JSON.
    #[error("manifest {path}: {source}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A sink used out of order (`write` before `begin`, `begin` twice).
    #[error("{path}: {problem}")]
    SinkOrder {
        /// The sink's file.
        path: PathBuf,
        /// What was called out of order.
        problem: &'static str,
    },
    /// An SQLite error on a GeoPackage file.
    #[error("cannot write GeoPackage {path}: {source}")]
    GeoPackage {
        /// The `.gpkg` file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A format's writer thread panicked.
    #[error("the {} writer panicked", .format.as_str())]
    WriterPanicked {
        /// The format.
        format: Format,
    },
    /// A layer used after one of its formats already failed (that error was returned first).
    #[error("the {} layer stopped after an earlier write error", .resource.stem())]
    LayerStopped {
        /// The layer.
        resource: Resource,
    },
}
