//! Esri Shapefile, hand-written and streamed: `.shp .shx .dbf .prj .cpg` per part.
//!
//! Layout per the ESRI Shapefile Technical Description (1998): a 100-byte header (file code
//! 9994 and file length in 16-bit words big-endian; version 1000, shape type and bounding box
//! little-endian), then records numbered from 1 (big-endian record header, little-endian
//! content). Point layers are shape type 1, line layers PolyLine (3) with one part; a one-vertex
//! line is written with its position twice ([`line_positions`]: a part needs two points), a line
//! whose vertices share one position as it is (GDAL reads both as zero-length lines). Headers are
//! written as placeholders and rewritten at the end of each part, when the record count and
//! bounding box are known. Before a `.shp` or `.dbf` would pass the part limit the part is
//! closed and `<stem>_2`, `<stem>_3`, ... begun, each a complete shapefile.
//!
//! The `.dbf` header carries the day of writing (dBASE's last-update date), so the same data
//! written on another day differs in the `.dbf`'s bytes 1 to 3 and nowhere else.

mod dbf;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use model::{Feature, Format, Geometry, GeometryType, Schema};

use crate::WriteError;
use crate::sink::{
    FeatureSink, OutputFile, SinkSummary, WriteOptions, Written, line_positions, unfit_reason,
};
use dbf::DbfTable;

/// WGS 84 as GDAL writes it (the 145 bytes ArcGIS and QGIS both recognise).
const PRJ_WGS84: &str = "GEOGCS[\"GCS_WGS_1984\",DATUM[\"D_WGS_1984\",SPHEROID[\"WGS_1984\",6378137.0,298.257223563]],PRIMEM[\"Greenwich\",0.0],UNIT[\"Degree\",0.0174532925199433]]";
/// The `.cpg` that tells ArcGIS the `.dbf` text is UTF-8 (it assumes the Windows code page).
const CPG_UTF8: &str = "UTF-8";
const HEADER_BYTES: u64 = 100;
const RECORD_HEADER_BYTES: u64 = 8;
/// The header's file length counts 16-bit words in a signed 32-bit integer.
const SHP_MAX_BYTES: u64 = i32::MAX as u64 * 2;
const SHAPE_POINT: i32 = 1;
const SHAPE_POLYLINE: i32 = 3;

/// Why a line cannot be written; also the manifest's reason.
const TOO_MANY_POINTS: &str = "more vertices than a shapefile record can hold";

/// Streams one layer into a shapefile, split into numbered parts at the size limit.
pub(crate) struct ShapefileSink {
    dir: PathBuf,
    stem: String,
    max_part_bytes: u64,
    /// Set by `begin`.
    layer: Option<Layer>,
    /// Files of closed parts, with their sizes.
    files: Vec<(PathBuf, u64)>,
    features: u64,
}

/// What `begin` learns from the schema, and the open part.
struct Layer {
    schema: &'static Schema,
    shape_type: i32,
    table: DbfTable,
    date: [u8; 3],
    part: Part,
    part_number: u32,
    /// Reused for every record, so writing allocates nothing per feature.
    shp_record: Vec<u8>,
    dbf_record: Vec<u8>,
}

/// One numbered part: a complete shapefile of its own.
struct Part {
    stem: String,
    shp: OutputFile,
    shx: OutputFile,
    dbf: OutputFile,
    shp_bytes: u64,
    dbf_bytes: u64,
    records: u32,
    /// `[xmin, ymin, xmax, ymax]` of the records so far.
    bbox: Option<[f64; 4]>,
}

impl ShapefileSink {
    /// A sink that writes `<dir>/<stem>.shp` and its sidecars once [`FeatureSink::begin`] has
    /// the schema, then `<stem>_2.*`, ... whenever a `.shp` or `.dbf` would pass
    /// [`WriteOptions::shapefile_max_part_bytes`].
    pub(crate) fn new(
        dir: &Path,
        stem: &str,
        options: &WriteOptions,
    ) -> Result<ShapefileSink, WriteError> {
        Ok(ShapefileSink {
            dir: dir.to_owned(),
            stem: stem.to_owned(),
            max_part_bytes: options.shapefile_max_part_bytes.min(SHP_MAX_BYTES),
            layer: None,
            files: Vec::new(),
            features: 0,
        })
    }

    fn out_of_order(&self, problem: &'static str) -> WriteError {
        WriteError::SinkOrder {
            path: self.dir.join(format!("{}.shp", self.stem)),
            problem,
        }
    }
}

/// The file stem of part `number`: the first part keeps the plain name.
fn part_stem(stem: &str, number: u32) -> String {
    if number == 1 {
        stem.to_owned()
    } else {
        format!("{stem}_{number}")
    }
}

impl Part {
    /// Creates the part's five files, with placeholder headers for the three that grow.
    fn create(dir: &Path, stem: String, layer: &LayerHead<'_>) -> Result<Part, WriteError> {
        for (ext, text) in [("prj", PRJ_WGS84), ("cpg", CPG_UTF8)] {
            let path = dir.join(format!("{stem}.{ext}"));
            std::fs::write(&path, text).map_err(|source| WriteError::Io { path, source })?;
        }
        let mut part = Part {
            shp: OutputFile::create(dir, &stem, "shp")?,
            shx: OutputFile::create(dir, &stem, "shx")?,
            dbf: OutputFile::create(dir, &stem, "dbf")?,
            stem,
            shp_bytes: HEADER_BYTES,
            dbf_bytes: layer.table.header_bytes() as u64,
            records: 0,
            bbox: None,
        };
        part.write_headers(layer)?;
        Ok(part)
    }

    /// Writes the three headers at the current position (the start of each file).
    fn write_headers(&mut self, layer: &LayerHead<'_>) -> Result<(), WriteError> {
        let shx_bytes = HEADER_BYTES + RECORD_HEADER_BYTES * u64::from(self.records);
        let shp_header = main_header(layer.shape_type, self.shp_bytes, self.bbox);
        let shx_header = main_header(layer.shape_type, shx_bytes, self.bbox);
        let dbf_header = layer.table.header(self.records, layer.date);
        for (file, bytes) in [
            (&mut self.shp, &shp_header[..]),
            (&mut self.shx, &shx_header[..]),
            (&mut self.dbf, &dbf_header[..]),
        ] {
            file.out.write_all(bytes).map_err(|e| file.error(e))?;
        }
        Ok(())
    }

    /// Appends one record: `content` to the `.shp` (with its record header), its index entry to
    /// the `.shx` and `row` to the `.dbf`.
    fn append(&mut self, content: &[u8], bbox: [f64; 4], row: &[u8]) -> Result<(), WriteError> {
        self.records += 1;
        let offset_words = (self.shp_bytes / 2) as u32;
        let length_words = (content.len() / 2) as u32;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&self.records.to_be_bytes());
        head[4..].copy_from_slice(&length_words.to_be_bytes());
        let mut index = [0u8; 8];
        index[..4].copy_from_slice(&offset_words.to_be_bytes());
        index[4..].copy_from_slice(&length_words.to_be_bytes());
        let shp = &mut self.shp;
        shp.out
            .write_all(&head)
            .and_then(|()| shp.out.write_all(content))
            .map_err(|e| shp.error(e))?;
        self.shx
            .out
            .write_all(&index)
            .map_err(|e| self.shx.error(e))?;
        self.dbf.out.write_all(row).map_err(|e| self.dbf.error(e))?;
        self.shp_bytes += RECORD_HEADER_BYTES + content.len() as u64;
        self.dbf_bytes += row.len() as u64;
        self.bbox = Some(match self.bbox {
            None => bbox,
            Some(b) => [
                b[0].min(bbox[0]),
                b[1].min(bbox[1]),
                b[2].max(bbox[2]),
                b[3].max(bbox[3]),
            ],
        });
        Ok(())
    }

    /// True when appending a record of these sizes would take the `.shp` or the `.dbf` (with
    /// its end-of-file byte) past `max_bytes`. An empty part always takes its first record.
    fn would_pass(&self, content_bytes: usize, row_bytes: usize, max_bytes: u64) -> bool {
        self.records > 0
            && (self.shp_bytes + RECORD_HEADER_BYTES + content_bytes as u64 > max_bytes
                || self.dbf_bytes + row_bytes as u64 + 1 > max_bytes)
    }

    /// Ends the `.dbf`, rewrites the headers with the final counts and closes the files.
    fn close(mut self, layer: &LayerHead<'_>) -> Result<Vec<(PathBuf, u64)>, WriteError> {
        self.dbf
            .out
            .write_all(&[dbf::END_OF_FILE])
            .map_err(|e| self.dbf.error(e))?;
        for file in [&mut self.shp, &mut self.shx, &mut self.dbf] {
            file.out
                .seek(SeekFrom::Start(0))
                .map_err(|e| file.error(e))?;
        }
        self.write_headers(layer)?;
        let mut files = Vec::with_capacity(5);
        for file in [self.shp, self.shx, self.dbf] {
            files.extend(file.finish(Format::Shapefile, 0)?.files);
        }
        for (ext, text) in [("prj", PRJ_WGS84), ("cpg", CPG_UTF8)] {
            files.push((
                PathBuf::from(format!("{}.{ext}", self.stem)),
                text.len() as u64,
            ));
        }
        Ok(files)
    }
}

/// The parts of [`Layer`] a part needs to write its headers (borrowed apart from the part).
struct LayerHead<'a> {
    shape_type: i32,
    table: &'a DbfTable,
    date: [u8; 3],
}

impl Layer {
    fn head(&self) -> LayerHead<'_> {
        LayerHead {
            shape_type: self.shape_type,
            table: &self.table,
            date: self.date,
        }
    }
}

/// The 100-byte main header of a `.shp` or `.shx` of `file_bytes` bytes. An empty file's
/// bounding box is all zeros, as GDAL writes it.
fn main_header(shape_type: i32, file_bytes: u64, bbox: Option<[f64; 4]>) -> [u8; 100] {
    let mut h = [0u8; 100];
    h[0..4].copy_from_slice(&9994i32.to_be_bytes());
    h[24..28].copy_from_slice(&((file_bytes / 2) as u32).to_be_bytes());
    h[28..32].copy_from_slice(&1000i32.to_le_bytes());
    h[32..36].copy_from_slice(&shape_type.to_le_bytes());
    for (i, v) in bbox.unwrap_or_default().iter().enumerate() {
        h[36 + 8 * i..44 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    h
}

/// Encodes a shape's record content into `out`; returns its bounding box, or `None` for a line
/// with more points than a record's 32-bit counts hold (or none, which `unfit_reason` refuses
/// first).
fn encode_shape(geometry: &Geometry, out: &mut Vec<u8>) -> Option<[f64; 4]> {
    out.clear();
    match geometry {
        Geometry::Point([x, y]) => {
            out.extend_from_slice(&SHAPE_POINT.to_le_bytes());
            out.extend_from_slice(&x.to_le_bytes());
            out.extend_from_slice(&y.to_le_bytes());
            Some([*x, *y, *x, *y])
        }
        Geometry::LineString(line) => {
            let line = line_positions(line);
            let first = line.first()?;
            // The record's length, 24 + 8 * points 16-bit words, must fit its 32-bit field.
            let points = i32::try_from(line.len())
                .ok()
                .filter(|&n| n <= (i32::MAX - 24) / 8)?;
            let mut bbox = [first[0], first[1], first[0], first[1]];
            for &[x, y] in line.iter() {
                bbox = [
                    bbox[0].min(x),
                    bbox[1].min(y),
                    bbox[2].max(x),
                    bbox[3].max(y),
                ];
            }
            out.extend_from_slice(&SHAPE_POLYLINE.to_le_bytes());
            for v in bbox {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&1i32.to_le_bytes()); // parts
            out.extend_from_slice(&points.to_le_bytes());
            out.extend_from_slice(&0i32.to_le_bytes()); // the one part starts at point 0
            for &[x, y] in line.iter() {
                out.extend_from_slice(&x.to_le_bytes());
                out.extend_from_slice(&y.to_le_bytes());
            }
            Some(bbox)
        }
    }
}

impl FeatureSink for ShapefileSink {
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError> {
        if self.layer.is_some() {
            return Err(self.out_of_order("begin called twice"));
        }
        let shape_type = match schema.geometry {
            GeometryType::Point => SHAPE_POINT,
            GeometryType::LineString => SHAPE_POLYLINE,
        };
        let table = DbfTable::new(schema.fields);
        let head = LayerHead {
            shape_type,
            table: &table,
            date: dbf::today(),
        };
        let part = Part::create(&self.dir, part_stem(&self.stem, 1), &head)?;
        let date = head.date;
        self.layer = Some(Layer {
            schema,
            shape_type,
            dbf_record: Vec::with_capacity(table.record_bytes()),
            table,
            date,
            part,
            part_number: 1,
            shp_record: Vec::with_capacity(64),
        });
        Ok(())
    }

    fn write(&mut self, feature: &Feature) -> Result<Written, WriteError> {
        let Some(layer) = self.layer.as_mut() else {
            return Err(self.out_of_order("write called before begin"));
        };
        if let Some(reason) = unfit_reason(layer.schema, feature) {
            return Ok(Written::Rejected(reason));
        }
        let Some(bbox) = encode_shape(&feature.geometry, &mut layer.shp_record) else {
            return Ok(Written::Rejected(TOO_MANY_POINTS.to_owned()));
        };
        let cut = layer.table.encode(&feature.values, &mut layer.dbf_record);
        if layer.part.would_pass(
            layer.shp_record.len(),
            layer.dbf_record.len(),
            self.max_part_bytes,
        ) {
            layer.part_number += 1;
            let stem = part_stem(&self.stem, layer.part_number);
            let next = Part::create(&self.dir, stem, &layer.head())?;
            let full = std::mem::replace(&mut layer.part, next);
            self.files.extend(full.close(&layer.head())?);
        }
        layer
            .part
            .append(&layer.shp_record, bbox, &layer.dbf_record)?;
        self.features += 1;
        Ok(if cut.is_empty() {
            Written::Complete
        } else {
            Written::Truncated(cut)
        })
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, WriteError> {
        let Some(layer) = self.layer else {
            return Err(self.out_of_order("finish called before begin"));
        };
        let mut files = self.files;
        let head = LayerHead {
            shape_type: layer.shape_type,
            table: &layer.table,
            date: layer.date,
        };
        files.extend(layer.part.close(&head)?);
        Ok(SinkSummary {
            format: Some(Format::Shapefile),
            files,
            features: self.features,
        })
    }
}
