//! The streaming writer contract every format implements, the options they share, and the
//! buffered output file the text formats write through.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use model::{Feature, Format, Geometry, GeometryType, Position, Schema};

use crate::WriteError;
use crate::writeback::Writeback;

/// A streaming writer for one layer in one format: `begin` once with the declared schema,
/// `write` each feature in order, then `finish` to flush and learn what was written.
///
/// Memory must not grow with the number of features. `finish` returns every error; dropping a
/// sink without `finish` leaves an incomplete file that the export folder discards.
pub trait FeatureSink: Send {
    /// Starts the layer. Called exactly once, before any `write`.
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError>;

    /// Writes one feature. A feature this format cannot represent (a position outside GPX's
    /// range, a line without positions) is not an error: it is returned as
    /// [`Written::Rejected`] and the sink goes on.
    fn write(&mut self, feature: &model::Feature) -> Result<Written, WriteError>;

    /// Flushes and closes the files.
    fn finish(self: Box<Self>) -> Result<SinkSummary, WriteError>;
}

/// What became of one feature in one format.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Written in full.
    Complete,
    /// Written, but these fields were cut to fit (DBF text over its width, cut on a UTF-8
    /// character boundary).
    Truncated(Vec<Truncation>),
    /// Written, but characters the format cannot hold were replaced by U+FFFD (GPX: control
    /// characters that XML 1.0 forbids). Lengths are unchanged in characters.
    Replaced(Vec<Replacement>),
    /// Not written, with the reason.
    Rejected(String),
}

/// One cut value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Truncation {
    /// The field's name (schema name, not the DBF name).
    pub field: &'static str,
    /// The value's length in bytes before the cut.
    pub original_bytes: usize,
    /// Its length after.
    pub kept_bytes: usize,
}

/// One value with replaced characters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replacement {
    /// The field's name (or `image_key`/`ca` for per-vertex GPX values).
    pub field: &'static str,
    /// How many characters became U+FFFD.
    pub chars: usize,
}

/// What a finished sink wrote.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct SinkSummary {
    /// The format.
    pub format: Option<Format>,
    /// Every file written, relative to the export folder, with its size in bytes.
    pub files: Vec<(PathBuf, u64)>,
    /// Features written (complete, truncated or replaced).
    pub features: u64,
}

/// Settings shared by every sink of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Write free-text CSV cells exactly as they are. By default a text cell starting with
    /// `=`, `+`, `-`, `@`, TAB or CR gets a leading `'` so spreadsheets do not run it as a formula.
    pub csv_raw_text: bool,
    /// A `.shp` or `.dbf` part is closed and the next numbered part begun before passing this.
    pub shapefile_max_part_bytes: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            csv_raw_text: false,
            shapefile_max_part_bytes: 2_000_000_000,
        }
    }
}

/// Large enough that a write system call moves a good chunk of features at once. Every
/// output file has one, and each is resident once data flows: with 1 MiB, all four formats from
/// 1,000,000 images peaked at 48 MB instead of 43 MB, in the same time (2.45-2.47 s both).
const BUFFER_BYTES: usize = 256 << 10;

/// One buffered output file of a text format, with the path its errors name.
pub(crate) struct OutputFile {
    path: PathBuf,
    /// The buffered file; write with `write_all` and map errors with [`OutputFile::error`].
    pub(crate) out: BufWriter<Writeback>,
}

impl OutputFile {
    /// Creates (or truncates) `<dir>/<stem>.<ext>`.
    pub(crate) fn create(dir: &Path, stem: &str, ext: &str) -> Result<OutputFile, WriteError> {
        let path = dir.join(format!("{stem}.{ext}"));
        match File::create(&path) {
            Ok(file) => Ok(OutputFile {
                out: BufWriter::with_capacity(BUFFER_BYTES, Writeback::new(file)),
                path,
            }),
            Err(source) => Err(WriteError::Io { path, source }),
        }
    }

    /// The error of an I/O failure on this file.
    pub(crate) fn error(&self, source: io::Error) -> WriteError {
        WriteError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores `begin`'s schema in `slot`; a second `begin` is an error.
    pub(crate) fn begin(
        &self,
        slot: &mut Option<&'static Schema>,
        schema: &'static Schema,
    ) -> Result<(), WriteError> {
        check_begin(&self.path, slot, schema)
    }

    /// See [`admit`].
    pub(crate) fn admit(
        &self,
        begun: Option<&'static Schema>,
        feature: &Feature,
    ) -> Result<Result<&'static Schema, Written>, WriteError> {
        admit(&self.path, begun, feature)
    }

    /// Checks that `begin` ran (`begun` is its schema) before `finish`.
    pub(crate) fn before_finish(&self, begun: Option<&'static Schema>) -> Result<(), WriteError> {
        before_finish(&self.path, begun)
    }

    /// Flushes and closes the file and reports it.
    pub(crate) fn finish(self, format: Format, features: u64) -> Result<SinkSummary, WriteError> {
        let file = self.out.into_inner().map_err(|e| WriteError::Io {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        let bytes = file
            .get_ref()
            .metadata()
            .map_err(|source| WriteError::Io {
                path: self.path.clone(),
                source,
            })?
            .len();
        let name = self.path.file_name().map(PathBuf::from).unwrap_or_default();
        Ok(SinkSummary {
            format: Some(format),
            files: vec![(name, bytes)],
            features,
        })
    }
}

/// What the `csv` crate's writer writes through.
impl io::Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The error of a call out of order (`write` before `begin`, ...) on the sink of `path`.
fn out_of_order(path: &Path, problem: &'static str) -> WriteError {
    WriteError::SinkOrder {
        path: path.to_owned(),
        problem,
    }
}

/// Stores `begin`'s schema in `slot` for the sink of `path`; a second `begin` is an error.
pub(crate) fn check_begin(
    path: &Path,
    slot: &mut Option<&'static Schema>,
    schema: &'static Schema,
) -> Result<(), WriteError> {
    if slot.is_some() {
        return Err(out_of_order(path, "begin called twice"));
    }
    *slot = Some(schema);
    Ok(())
}

/// The schema a `write` of `feature` goes on with, or the [`Written::Rejected`] it ends with.
/// `begun` is the schema `begin` stored; none is an error.
pub(crate) fn admit(
    path: &Path,
    begun: Option<&'static Schema>,
    feature: &Feature,
) -> Result<Result<&'static Schema, Written>, WriteError> {
    let schema = begun.ok_or_else(|| out_of_order(path, "write called before begin"))?;
    Ok(match unfit_reason(schema, feature) {
        Some(reason) => Err(Written::Rejected(reason)),
        None => Ok(schema),
    })
}

/// Checks that `begin` ran (`begun` is its schema) before `finish`.
pub(crate) fn before_finish(path: &Path, begun: Option<&'static Schema>) -> Result<(), WriteError> {
    match begun {
        Some(_) => Ok(()),
        None => Err(out_of_order(path, "finish called before begin")),
    }
}

/// Why `feature` cannot be written to a layer of `schema` in any format, if it cannot: a value
/// count that differs from the schema's, the wrong geometry type, a line without positions, or a
/// non-finite coordinate.
pub(crate) fn unfit_reason(schema: &Schema, feature: &Feature) -> Option<String> {
    if feature.values.len() != schema.fields.len() {
        return Some(format!(
            "has {} values where the schema declares {}",
            feature.values.len(),
            schema.fields.len()
        ));
    }
    let positions: &[[f64; 2]] = match (&feature.geometry, schema.geometry) {
        (Geometry::Point(p), GeometryType::Point) => std::slice::from_ref(p),
        (Geometry::LineString(line), GeometryType::LineString) => line,
        (Geometry::Point(_), GeometryType::LineString) => {
            return Some("is a point in a line layer".to_owned());
        }
        (Geometry::LineString(_), GeometryType::Point) => {
            return Some("is a line in a point layer".to_owned());
        }
    };
    if positions.is_empty() {
        return Some("is a line without positions".to_owned());
    }
    if positions.iter().flatten().any(|c| !c.is_finite()) {
        return Some("has a non-finite coordinate".to_owned());
    }
    None
}

/// The positions a line is written with where the format's line needs at least two (GeoJSON
/// `LineString`, Shapefile PolyLine, WKT `LINESTRING`): its own, or its one position twice, so a
/// one-image sequence is a zero-length line in every format instead of an invalid or missing
/// one. Repeated positions are real data and stay as they are.
pub(crate) fn line_positions(line: &[Position]) -> Cow<'_, [Position]> {
    match line {
        [only] => Cow::Owned(vec![*only, *only]),
        _ => Cow::Borrowed(line),
    }
}
