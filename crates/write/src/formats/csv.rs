//! RFC 4180 CSV: UTF-8 without a BOM, a header row, `\r\n` line ends (the RFC's; every CSV
//! reader also takes them), quoting only where a cell needs it.
//!
//! Point layers get `lon`,`lat` columns right after [`Schema::coords_after`] (QGIS finds them by
//! name); line layers end with a `WKT` column: `LINESTRING (lon lat, lon lat, ...)`, a
//! one-vertex line with its position twice (a one-point LINESTRING is invalid WKT; see
//! [`line_positions`]). Numbers use Rust's shortest round-trip formatting (no exponent), booleans
//! `true`/`false`, nulls an empty cell.
//!
//! Formula guard: a free-text cell ([`FieldKind::Text`]) that starts with `=`, `+`, `-`, `@`, TAB
//! or CR is written with a leading `'` so spreadsheets show it instead of running it, unless
//! [`WriteOptions::csv_raw_text`]. Ids and keys ([`FieldKind::Id`]) are never altered.

use std::io::{self, Write};
use std::path::Path;

use model::{Feature, FieldKind, Format, Geometry, GeometryType, Schema, Value};

use crate::WriteError;
use crate::sink::{FeatureSink, OutputFile, SinkSummary, WriteOptions, Written, line_positions};

/// One CSV column.
#[derive(Debug, Clone, Copy)]
enum Column {
    /// A declared field, by index.
    Field(usize),
    Lon,
    Lat,
    Wkt,
}

/// Streams a `.csv` file.
pub(crate) struct CsvSink {
    file: OutputFile,
    schema: Option<&'static Schema>,
    columns: Vec<Column>,
    guard_formulas: bool,
    features: u64,
}

impl CsvSink {
    /// Creates `<dir>/<stem>.csv`.
    pub(crate) fn create(
        dir: &Path,
        stem: &str,
        options: &WriteOptions,
    ) -> Result<CsvSink, WriteError> {
        Ok(CsvSink {
            file: OutputFile::create(dir, stem, "csv")?,
            schema: None,
            columns: Vec::new(),
            guard_formulas: !options.csv_raw_text,
            features: 0,
        })
    }

    fn write_header(&mut self, schema: &Schema) -> io::Result<()> {
        let w = &mut self.file.out;
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            let name = match column {
                Column::Field(f) => schema.fields[*f].name,
                Column::Lon => "lon",
                Column::Lat => "lat",
                Column::Wkt => "WKT",
            };
            write_text(w, name, false)?;
        }
        w.write_all(b"\r\n")
    }

    fn write_row(&mut self, schema: &Schema, feature: &Feature) -> io::Result<()> {
        let w = &mut self.file.out;
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            match (column, &feature.geometry) {
                (Column::Field(f), _) => {
                    let guard = self.guard_formulas && schema.fields[*f].kind == FieldKind::Text;
                    write_value(w, &feature.values[*f], guard)?;
                }
                (Column::Lon, Geometry::Point([lon, _])) => write!(w, "{lon}")?,
                (Column::Lat, Geometry::Point([_, lat])) => write!(w, "{lat}")?,
                (Column::Wkt, Geometry::LineString(line)) => write_wkt(w, line)?,
                // `unfit_reason` already rejected geometries of the wrong type.
                (Column::Lon | Column::Lat | Column::Wkt, _) => {}
            }
        }
        w.write_all(b"\r\n")
    }
}

impl FeatureSink for CsvSink {
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError> {
        self.file.begin(&mut self.schema, schema)?;
        let fields = (0..schema.fields.len()).map(Column::Field);
        self.columns = match (schema.geometry, schema.coords_after) {
            (GeometryType::Point, Some(after)) => {
                let mut columns: Vec<Column> = fields.collect();
                let at = (after + 1).min(columns.len());
                columns.splice(at..at, [Column::Lon, Column::Lat]);
                columns
            }
            (GeometryType::Point, None) => fields.chain([Column::Lon, Column::Lat]).collect(),
            (GeometryType::LineString, _) => fields.chain([Column::Wkt]).collect(),
        };
        self.write_header(schema).map_err(|e| self.file.error(e))
    }

    fn write(&mut self, feature: &Feature) -> Result<Written, WriteError> {
        let schema = match self.file.admit(self.schema, feature)? {
            Ok(schema) => schema,
            Err(rejected) => return Ok(rejected),
        };
        self.write_row(schema, feature)
            .map_err(|e| self.file.error(e))?;
        self.features += 1;
        Ok(Written::Complete)
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, WriteError> {
        self.file.before_finish(self.schema)?;
        self.file.finish(Format::Csv, self.features)
    }
}

fn write_value(w: &mut impl Write, value: &Value, guard: bool) -> io::Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::Text(s) => write_text(w, s, guard),
        Value::Int(i) => write!(w, "{i}"),
        Value::Float(f) if f.is_finite() => write!(w, "{f}"),
        Value::Float(_) => Ok(()),
        Value::Bool(true) => w.write_all(b"true"),
        Value::Bool(false) => w.write_all(b"false"),
    }
}

/// Writes a text cell, quoted when it holds a quote, comma or line break (RFC 4180), with the
/// formula guard's `'` in front when `guard` is set and the text starts like a formula.
fn write_text(w: &mut impl Write, text: &str, guard: bool) -> io::Result<()> {
    let prefix: &[u8] = match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if guard => b"'",
        _ => b"",
    };
    if !text
        .bytes()
        .any(|b| matches!(b, b'"' | b',' | b'\n' | b'\r'))
    {
        w.write_all(prefix)?;
        return w.write_all(text.as_bytes());
    }
    w.write_all(b"\"")?;
    w.write_all(prefix)?;
    for (i, part) in text.split('"').enumerate() {
        if i > 0 {
            w.write_all(b"\"\"")?;
        }
        w.write_all(part.as_bytes())?;
    }
    w.write_all(b"\"")
}

/// `"LINESTRING (lon lat, ...)"`, quoted for its commas; `unfit_reason` already rejected lines
/// without positions.
fn write_wkt(w: &mut impl Write, line: &[[f64; 2]]) -> io::Result<()> {
    w.write_all(b"\"LINESTRING (")?;
    for (i, [lon, lat]) in line_positions(line).iter().enumerate() {
        if i > 0 {
            w.write_all(b", ")?;
        }
        write!(w, "{lon} {lat}")?;
    }
    w.write_all(b")\"")
}
