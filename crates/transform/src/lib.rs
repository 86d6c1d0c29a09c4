//! Turns Mapillary API pages and GeoJSON files into [`model`] records.
//!
//! A [`Transformer`] reads v3 pages (FeatureCollections; Points are images, LineStrings are
//! sequences), v4 `{"data": [...]}` pages, all image pages of one v4 sequence, or a user's
//! GeoJSON file of any size, streamed. Every record goes through the same steps, counted in the
//! [`TransformReport`]:
//!
//! 1. **reject**: no key, no or the wrong geometry, a position off the globe, too many vertices;
//!    listed with the key (or `<source>#<feature index>`) and the reason, then skipped;
//! 2. **dedupe**: by key per resource, the first occurrence wins;
//! 3. **filter**: the job's areas (images), users, date ranges, pano and v4 lookat, re-applied
//!    whatever the API already did;
//! 4. **accept**: handed to the caller's sink, with any warnings (an unparseable `captured_at`
//!    kept verbatim, per-vertex arrays that disagree with the line) reported.
//!
//! Times become ISO 8601 UTC with milliseconds. No I/O happens beyond the reader it is given.
//!
//! ```
//! use transform::{Record, TransformConfig, Transformer};
//!
//! let page = br#"{"type": "FeatureCollection", "features": [
//!     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [16.43, 7.24]},
//!      "properties": {"key": "a", "captured_at": "2016-03-14T14:44:53.86+01:00"}},
//!     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [16.43, 7.24]},
//!      "properties": {"key": "a"}},
//!     {"type": "Feature", "geometry": null, "properties": {"key": "b"}}]}"#;
//! let mut transformer = Transformer::new(TransformConfig::default());
//! let mut images = Vec::new();
//! transformer.v3_page(page, &mut |record| {
//!     if let Record::Image(image) = record {
//!         images.push(image);
//!     }
//! })?;
//! assert_eq!(images.len(), 1);
//! assert_eq!(images[0].captured_at.as_deref(), Some("2016-03-14T13:44:53.860Z"));
//! let report = transformer.report();
//! assert_eq!((report.images.duplicates, report.rejected[0].id()), (1, "b".to_owned()));
//! # Ok::<(), transform::TransformError>(())
//! ```

mod brackets;
mod candidate;
mod config;
mod error;
mod json;
mod link;
mod report;
mod scan;
mod seen;
mod sink;
mod transformer;
mod v3;
mod v4;

pub use candidate::At;
pub use config::{LookAt, TransformConfig};
pub use error::TransformError;
pub use report::{Counts, MAX_LISTED, Rejection, TransformReport, Warning};
pub use sink::{Record, RecordSink};
pub use transformer::{Candidate, Transformer};
