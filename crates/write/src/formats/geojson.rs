//! RFC 7946 GeoJSON: one FeatureCollection, one feature per line, streamed. A `LineString` has
//! two or more positions (RFC 7946 3.1.4): a one-position line is written with its position twice
//! ([`line_positions`]); its `coordinateProperties` keep one entry per real vertex.
//!
//! Bytes are written straight to the buffer (strings and numbers through serde_json's escaper
//! and shortest round-trip float formatting); no JSON tree is built per feature.

use std::io::{self, Write};
use std::path::Path;

use model::{Feature, Format, Geometry, Schema, Value};
use serde::Serialize;

use crate::WriteError;
use crate::sink::{FeatureSink, OutputFile, SinkSummary, Written, line_positions};

/// Streams a `.geojson` FeatureCollection.
pub(crate) struct GeoJsonSink {
    file: OutputFile,
    schema: Option<&'static Schema>,
    /// `"name":` of every declared field, escaped once.
    keys: Vec<Vec<u8>>,
    features: u64,
}

impl GeoJsonSink {
    /// Creates `<dir>/<stem>.geojson`.
    pub(crate) fn create(dir: &Path, stem: &str) -> Result<GeoJsonSink, WriteError> {
        Ok(GeoJsonSink {
            file: OutputFile::create(dir, stem, "geojson")?,
            schema: None,
            keys: Vec::new(),
            features: 0,
        })
    }

    fn write_feature(&mut self, schema: &Schema, feature: &Feature) -> io::Result<()> {
        let w = &mut self.file.out;
        w.write_all(if self.features == 0 { b"\n" } else { b",\n" })?;
        w.write_all(br#"{"type":"Feature","geometry":"#)?;
        write_geometry(w, &feature.geometry)?;
        w.write_all(br#","properties":{"#)?;
        let mut first = true;
        for (key, value) in self.keys.iter().zip(&feature.values) {
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            w.write_all(key)?;
            write_value(w, value)?;
        }
        for (name, value) in &feature.extra {
            // A declared field wins over an extra property of the same name: one key, once.
            if schema.field_index(name).is_some() {
                continue;
            }
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            json(w, name)?;
            w.write_all(b":")?;
            json(w, value)?;
        }
        w.write_all(b"}}")
    }
}

impl FeatureSink for GeoJsonSink {
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError> {
        self.file.begin(&mut self.schema, schema)?;
        self.keys = schema
            .fields
            .iter()
            .map(|field| {
                let mut key = Vec::with_capacity(field.name.len() + 3);
                json(&mut key, field.name)?;
                key.push(b':');
                Ok(key)
            })
            .collect::<io::Result<_>>()
            .map_err(|e| self.file.error(e))?;
        self.file
            .out
            .write_all(br#"{"type":"FeatureCollection","features":["#)
            .map_err(|e| self.file.error(e))
    }

    fn write(&mut self, feature: &Feature) -> Result<Written, WriteError> {
        let schema = match self.file.admit(self.schema, feature)? {
            Ok(schema) => schema,
            Err(rejected) => return Ok(rejected),
        };
        self.write_feature(schema, feature)
            .map_err(|e| self.file.error(e))?;
        self.features += 1;
        Ok(Written::Complete)
    }

    fn finish(mut self: Box<Self>) -> Result<SinkSummary, WriteError> {
        self.file.before_finish(self.schema)?;
        self.file
            .out
            .write_all(b"\n]}\n")
            .map_err(|e| self.file.error(e))?;
        self.file.finish(Format::GeoJson, self.features)
    }
}

/// Serialises one value with serde_json (escaping, shortest round-trip floats).
fn json<T: Serialize + ?Sized>(w: &mut impl Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(w, value).map_err(io::Error::from)
}

fn write_position(w: &mut impl Write, [lon, lat]: [f64; 2]) -> io::Result<()> {
    w.write_all(b"[")?;
    json(w, &lon)?;
    w.write_all(b",")?;
    json(w, &lat)?;
    w.write_all(b"]")
}

fn write_geometry(w: &mut impl Write, geometry: &Geometry) -> io::Result<()> {
    match geometry {
        Geometry::Point(p) => {
            w.write_all(br#"{"type":"Point","coordinates":"#)?;
            write_position(w, *p)?;
        }
        Geometry::LineString(line) => {
            w.write_all(br#"{"type":"LineString","coordinates":["#)?;
            for (i, p) in line_positions(line).iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write_position(w, *p)?;
            }
            w.write_all(b"]")?;
        }
    }
    w.write_all(b"}")
}

fn write_value(w: &mut impl Write, value: &Value) -> io::Result<()> {
    match value {
        Value::Null => w.write_all(b"null"),
        Value::Text(s) => json(w, s.as_str()),
        Value::Int(i) => json(w, i),
        Value::Float(f) if f.is_finite() => json(w, f),
        Value::Float(_) => w.write_all(b"null"),
        Value::Bool(true) => w.write_all(b"true"),
        Value::Bool(false) => w.write_all(b"false"),
    }
}
