//! The shared data model of mly-export.
//!
//! Every stage speaks these types: `fetch` knows which [`Resource`] it downloads, `transform` turns
//! API records into [`Image`], [`Sequence`] and [`SequencePoint`], and `write` streams [`Feature`]s
//! into every [`Format`] following a [`Schema`] that is declared here, up front, once per resource.
//! A schema never comes from the first record.
//!
//! ```
//! use model::{Image, Resource, Schema, Value};
//!
//! let image = Image::new("hYZH6voFh0VpQ-G3iz1TOQ", -122.3092632, 47.6523645);
//! let feature = image.to_feature();
//! let schema = Schema::of(Resource::Images);
//! assert_eq!(feature.values.len(), schema.fields.len());
//! assert_eq!(feature.values[schema.name_field], Value::Text(image.key.clone()));
//! ```

mod area;
mod map_feature;
mod record;
mod schema;
mod time;

pub use area::{
    Area, Bbox, DateRange, EARTH_RADIUS_M, bbox_contains, bearing_deg, haversine_m, quadrants,
};
pub use map_feature::MapFeature;
pub use record::{Image, Sequence, SequencePoint};
pub use schema::{
    COORDINATE_PROPERTIES, Feature, Field, FieldKind, Geometry, GeometryType, Position, Schema,
    Value,
};
pub use time::{format_epoch_ms, is_xsd_date_time, parse_date_or_timestamp_ms, parse_timestamp_ms};

use serde::{Deserialize, Serialize};

/// Which Mapillary API a job talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `https://a.mapillary.com/v3`, the seed's API (retired by Mapillary in 2021).
    #[default]
    V3,
    /// `https://graph.mapillary.com`, the live API.
    V4,
}

impl Api {
    /// The job-file spelling: `v3` or `v4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::V3 => "v3",
            Api::V4 => "v4",
        }
    }
}

/// One output layer. Its [`Resource::stem`] is the fixed file name (`images.shp`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Image points.
    Images,
    /// Sequence lines.
    Sequences,
    /// One point per sequence vertex, exploded from `coordinateProperties`.
    SequencePoints,
    /// Map features (traffic signs, point objects; v4 only).
    MapFeatures,
}

impl Resource {
    /// All resources in output order.
    pub const ALL: [Resource; 4] = [
        Resource::Images,
        Resource::Sequences,
        Resource::SequencePoints,
        Resource::MapFeatures,
    ];

    /// The file stem, also the spelling in job files and manifests.
    pub fn stem(self) -> &'static str {
        match self {
            Resource::Images => "images",
            Resource::Sequences => "sequences",
            Resource::SequencePoints => "sequence_points",
            Resource::MapFeatures => "map_features",
        }
    }

    /// Parses the spelling of [`Resource::stem`].
    pub fn parse(stem: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.stem() == stem)
    }
}

/// One output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 7946 GeoJSON FeatureCollection (`.geojson`).
    GeoJson,
    /// Esri Shapefile (`.shp .shx .dbf .prj .cpg`).
    Shapefile,
    /// GPX 1.1 (`.gpx`).
    Gpx,
    /// UTF-8 CSV with a header row (`.csv`).
    Csv,
    /// OGC GeoPackage 1.2 (`<name>.gpkg`): one SQLite file, one table per layer.
    #[serde(rename = "gpkg")]
    GeoPackage,
}

impl Format {
    /// All formats, in the order they are listed in manifests.
    pub const ALL: [Format; 5] = [
        Format::GeoJson,
        Format::Shapefile,
        Format::Gpx,
        Format::Csv,
        Format::GeoPackage,
    ];

    /// The formats of a job that names none (and of `convert` without `--formats`): the four
    /// file-per-layer formats. GeoPackage is asked for by name, so that existing scheduled jobs
    /// keep writing the files they always wrote.
    pub const DEFAULT: [Format; 4] = [Format::GeoJson, Format::Shapefile, Format::Gpx, Format::Csv];

    /// The job-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::GeoJson => "geojson",
            Format::Shapefile => "shapefile",
            Format::Gpx => "gpx",
            Format::Csv => "csv",
            Format::GeoPackage => "gpkg",
        }
    }

    /// Parses the job-file spelling.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}
