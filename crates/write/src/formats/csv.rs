//! RFC 4180 CSV: UTF-8 without a BOM, a header row, `\r\n` line ends (the RFC's; every CSV
//! reader also takes them), quoting only where a cell needs it.
//!
//! Point layers get `lon`,`lat` columns right after [`Schema::coords_after`] (QGIS finds them by
//! name); line layers end with a `WKT` column: `LINESTRING (lon lat, lon lat, ...)`, a
//! one-vertex line with its position twice (a one-point LINESTRING is invalid WKT; see
//! [`line_positions`]). Numbers use Rust's shortest round-trip formatting (no exponent), booleans
//! `true`/`false`, nulls an empty cell.
//!
//! The `csv` crate does the quoting (only where a cell holds a quote, comma or line break).
//!
//! Formula guard: a free-text cell ([`FieldKind::Text`]) that starts with `=`, `+`, `-`, `@`, TAB
//! or CR is written with a leading `'` so spreadsheets show it instead of running it, unless
//! [`WriteOptions::csv_raw_text`]. Ids and keys ([`FieldKind::Id`]) are never altered.

use std::fmt::Write as _;
use std::io;
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
    out: csv::Writer<OutputFile>,
    schema: Option<&'static Schema>,
    columns: Vec<Column>,
    guard_formulas: bool,
    features: u64,
    /// A cell's text when it is not a borrowed string (numbers, guarded text, WKT).
    cell: String,
}

impl CsvSink {
    /// Creates `<dir>/<stem>.csv`.
    pub(crate) fn create(
        dir: &Path,
        stem: &str,
        options: &WriteOptions,
    ) -> Result<CsvSink, WriteError> {
        let file = OutputFile::create(dir, stem, "csv")?;
        Ok(CsvSink {
            out: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .quote_style(csv::QuoteStyle::Necessary)
                .from_writer(file),
            schema: None,
            columns: Vec::new(),
            guard_formulas: !options.csv_raw_text,
            features: 0,
            cell: String::new(),
        })
    }

    /// The error of a failed write on this file.
    fn error(&self, e: csv::Error) -> WriteError {
        let source = match e.into_kind() {
            csv::ErrorKind::Io(e) => e,
            other => io::Error::other(format!("{other:?}")),
        };
        self.out.get_ref().error(source)
    }

    fn write_header(&mut self, schema: &Schema) -> csv::Result<()> {
        let names = self.columns.iter().map(|column| match column {
            Column::Field(f) => schema.fields[*f].name,
            Column::Lon => "lon",
            Column::Lat => "lat",
            Column::Wkt => "WKT",
        });
        self.out.write_record(names)
    }

    fn write_row(&mut self, schema: &Schema, feature: &Feature) -> csv::Result<()> {
        for column in &self.columns {
            let cell = &mut self.cell;
            cell.clear();
            let text: &str = match (column, &feature.geometry) {
                (Column::Field(f), _) => {
                    let guard = self.guard_formulas && schema.fields[*f].kind == FieldKind::Text;
                    value_text(&feature.values[*f], guard, cell)
                }
                (Column::Lon, Geometry::Point([lon, _])) => {
                    let _ = write!(cell, "{lon}");
                    cell
                }
                (Column::Lat, Geometry::Point([_, lat])) => {
                    let _ = write!(cell, "{lat}");
                    cell
                }
                (Column::Wkt, Geometry::LineString(line)) => {
                    wkt(line, cell);
                    cell
                }
                // `unfit_reason` already rejected geometries of the wrong type.
                (Column::Lon | Column::Lat | Column::Wkt, _) => "",
            };
            self.out.write_field(text)?;
        }
        self.out.write_record(None::<&[u8]>)
    }
}

impl FeatureSink for CsvSink {
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError> {
        self.out.get_ref().begin(&mut self.schema, schema)?;
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
        self.write_header(schema).map_err(|e| self.error(e))
    }

    fn write(&mut self, feature: &Feature) -> Result<Written, WriteError> {
        let schema = match self.out.get_ref().admit(self.schema, feature)? {
            Ok(schema) => schema,
            Err(rejected) => return Ok(rejected),
        };
        self.write_row(schema, feature).map_err(|e| self.error(e))?;
        self.features += 1;
        Ok(Written::Complete)
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, WriteError> {
        self.out.get_ref().before_finish(self.schema)?;
        let file = self.out.into_inner().map_err(|e| {
            let source = io::Error::new(e.error().kind(), e.error().to_string());
            e.into_inner().get_ref().error(source)
        })?;
        file.finish(Format::Csv, self.features)
    }
}

/// A value's cell text: borrowed when it is text as it stands, else written into `cell`. Text
/// that starts like a formula gets the guard's `'` in front when `guard` is set.
fn value_text<'a>(value: &'a Value, guard: bool, cell: &'a mut String) -> &'a str {
    match value {
        Value::Null => "",
        Value::Text(s) => match s.as_bytes().first() {
            Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if guard => {
                cell.push('\'');
                cell.push_str(s);
                cell
            }
            _ => s,
        },
        Value::Int(i) => {
            let _ = write!(cell, "{i}");
            cell
        }
        Value::Float(f) if f.is_finite() => {
            let _ = write!(cell, "{f}");
            cell
        }
        Value::Float(_) => "",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
    }
}

/// `LINESTRING (lon lat, ...)` into `cell` (its commas get it quoted); `unfit_reason` already
/// rejected lines without positions.
fn wkt(line: &[[f64; 2]], cell: &mut String) {
    cell.push_str("LINESTRING (");
    for (i, [lon, lat]) in line_positions(line).iter().enumerate() {
        if i > 0 {
            cell.push_str(", ");
        }
        let _ = write!(cell, "{lon} {lat}");
    }
    cell.push(')');
}
