//! GPX 1.1, valid against the topografix schema, streamed and hand-written (plain escaping is
//! all this output needs, and it avoids an XML writer's per-event overhead).
//!
//! Point layers: one `<wpt lat lon>` per feature holding `<time>` (the schema's time field, when
//! it is a valid `xsd:dateTime`), `<name>` (the schema's name field), `<link>` and `<type>`
//! (the schema's link and type fields, when it has them), then `<extensions>` with every other
//! non-null field as `<mly:FIELD>` in [`GPX_EXTENSION_NAMESPACE`]. Line layers: one `<trk>` per
//! feature with `<name>`, `<link>`, `<extensions>` and one `<trkseg>` with one `<trkpt>` per real
//! vertex (a one-image sequence is a one-point segment, which GPX allows: nothing is padded here,
//! each point is an image); each `<trkpt>` carries the vertex's `image_key` and `ca` from the
//! feature's `coordinateProperties` when it has them.
//!
//! Longitude 180 is written as -180 (the same meridian: the schema's range is [-180, 180)).
//! Positions outside [-180, 180] × [-90, 90] cannot be valid GPX: such a feature is rejected.
//! Characters XML 1.0 does not allow (control characters other than TAB, LF, CR; U+FFFE, U+FFFF)
//! become U+FFFD and the feature is reported as [`Written::Replaced`].

use std::io::{self, Write};
use std::path::Path;

use model::{Feature, Format, Geometry, Schema, Value};

use crate::WriteError;
use crate::sink::{FeatureSink, OutputFile, Replacement, SinkSummary, Written};

/// The XML namespace of the `mly:` extension elements in GPX output.
pub const GPX_EXTENSION_NAMESPACE: &str = "urn:mly-export:gpx:1";

/// Streams a `.gpx` file.
pub(crate) struct GpxSink {
    file: OutputFile,
    schema: Option<&'static Schema>,
    features: u64,
    /// Replacements of the feature being written.
    replaced: Vec<Replacement>,
}

impl GpxSink {
    /// Creates `<dir>/<stem>.gpx`.
    pub(crate) fn create(dir: &Path, stem: &str) -> Result<GpxSink, WriteError> {
        Ok(GpxSink {
            file: OutputFile::create(dir, stem, "gpx")?,
            schema: None,
            features: 0,
            replaced: Vec::new(),
        })
    }

    fn write_feature(&mut self, schema: &Schema, feature: &Feature) -> io::Result<()> {
        let mut x = Xml {
            w: &mut self.file.out,
            replaced: &mut self.replaced,
        };
        let name = &feature.values[schema.name_field];
        match &feature.geometry {
            Geometry::Point(position) => {
                x.open_with_position("wpt", *position)?;
                let time = schema.time_field.filter(|&t| {
                    feature.values[t]
                        .as_text()
                        .is_some_and(model::is_xsd_date_time)
                });
                if let Some(t) = time {
                    x.element("time", schema.fields[t].name, &feature.values[t], "")?;
                }
                x.element("name", schema.fields[schema.name_field].name, name, "")?;
                x.link(schema, &feature.values)?;
                x.kind(schema, &feature.values)?;
                x.extensions(schema, &feature.values, time)?;
                x.w.write_all(b"</wpt>\n")
            }
            Geometry::LineString(line) => {
                x.w.write_all(b"<trk>")?;
                x.element("name", schema.fields[schema.name_field].name, name, "")?;
                x.link(schema, &feature.values)?;
                x.kind(schema, &feature.values)?;
                x.extensions(schema, &feature.values, None)?;
                x.w.write_all(b"<trkseg>\n")?;
                let vertex = VertexProperties::of(feature);
                for (i, position) in line.iter().enumerate() {
                    x.open_with_position("trkpt", *position)?;
                    let image_key = vertex.image_key(i);
                    let ca = vertex.ca(i);
                    if image_key.is_some() || ca.is_some() {
                        x.w.write_all(b"<extensions>")?;
                        if let Some(key) = image_key {
                            x.w.write_all(b"<mly:image_key>")?;
                            x.text("image_key", key)?;
                            x.w.write_all(b"</mly:image_key>")?;
                        }
                        if let Some(ca) = ca {
                            write!(x.w, "<mly:ca>{ca}</mly:ca>")?;
                        }
                        x.w.write_all(b"</extensions>")?;
                    }
                    x.w.write_all(b"</trkpt>\n")?;
                }
                x.w.write_all(b"</trkseg></trk>\n")
            }
        }
    }
}

impl FeatureSink for GpxSink {
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError> {
        self.file.begin(&mut self.schema, schema)?;
        write!(
            self.file.out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <gpx version=\"1.1\" creator=\"mly-export\" \
             xmlns=\"http://www.topografix.com/GPX/1/1\" \
             xmlns:mly=\"{GPX_EXTENSION_NAMESPACE}\">\n"
        )
        .map_err(|e| self.file.error(e))
    }

    fn write(&mut self, feature: &Feature) -> Result<Written, WriteError> {
        let schema = match self.file.admit(self.schema, feature)? {
            Ok(schema) => schema,
            Err(rejected) => return Ok(rejected),
        };
        let positions: &[[f64; 2]] = match &feature.geometry {
            Geometry::Point(p) => std::slice::from_ref(p),
            Geometry::LineString(line) => line,
        };
        if let Some([lon, lat]) = positions
            .iter()
            .find(|[lon, lat]| lon.abs() > 180.0 || lat.abs() > 90.0)
        {
            return Ok(Written::Rejected(format!(
                "position ({lon}, {lat}) is outside the GPX range of longitude and latitude"
            )));
        }
        self.replaced.clear();
        self.write_feature(schema, feature)
            .map_err(|e| self.file.error(e))?;
        self.features += 1;
        Ok(if self.replaced.is_empty() {
            Written::Complete
        } else {
            Written::Replaced(std::mem::take(&mut self.replaced))
        })
    }

    fn finish(mut self: Box<Self>) -> Result<SinkSummary, WriteError> {
        self.file.before_finish(self.schema)?;
        self.file
            .out
            .write_all(b"</gpx>\n")
            .map_err(|e| self.file.error(e))?;
        self.file.finish(Format::Gpx, self.features)
    }
}

/// The output plus the replacements of the feature being written.
struct Xml<'a, W: Write> {
    w: &'a mut W,
    replaced: &'a mut Vec<Replacement>,
}

impl<W: Write> Xml<'_, W> {
    /// `<tag lat=".." lon="..">`, longitude 180 folded onto -180.
    fn open_with_position(&mut self, tag: &str, [lon, lat]: [f64; 2]) -> io::Result<()> {
        let lon = if lon == 180.0 { -180.0 } else { lon };
        write!(self.w, "<{tag} lat=\"{lat}\" lon=\"{lon}\">")
    }

    /// `<{prefix}{tag}>value</{prefix}{tag}>`, nothing for a null or non-finite value.
    fn element(
        &mut self,
        tag: &str,
        field: &'static str,
        value: &Value,
        prefix: &str,
    ) -> io::Result<()> {
        match value {
            Value::Null => return Ok(()),
            Value::Float(f) if !f.is_finite() => return Ok(()),
            _ => {}
        }
        write!(self.w, "<{prefix}{tag}>")?;
        match value {
            Value::Text(s) => self.text(field, s)?,
            Value::Int(i) => write!(self.w, "{i}")?,
            Value::Float(f) => write!(self.w, "{f}")?,
            Value::Bool(b) => write!(self.w, "{b}")?,
            Value::Null => {}
        }
        write!(self.w, "</{prefix}{tag}>")
    }

    /// `<link href><text></link>`: the schema's link field and its text field, when it has
    /// them and the link is not null (both then stay out of the extensions).
    fn link(&mut self, schema: &Schema, values: &[Value]) -> io::Result<()> {
        let Some(l) = schema.link_field else {
            return Ok(());
        };
        let Value::Text(href) = &values[l] else {
            return Ok(());
        };
        // Escaped like character data: `"` too, so it is safe in the attribute.
        self.w.write_all(b"<link href=\"")?;
        self.text(schema.fields[l].name, href)?;
        match schema.link_text_field {
            Some(t) => {
                self.w.write_all(b"\">")?;
                self.element("text", schema.fields[t].name, &values[t], "")?;
                self.w.write_all(b"</link>")
            }
            None => self.w.write_all(b"\"/>"),
        }
    }

    /// `<type>`: the schema's type field, when it has one (it then stays out of the
    /// extensions).
    fn kind(&mut self, schema: &Schema, values: &[Value]) -> io::Result<()> {
        match schema.type_field {
            Some(t) => self.element("type", schema.fields[t].name, &values[t], ""),
            None => Ok(()),
        }
    }

    /// `<extensions>` with every non-null field but the name, the type and the one written as
    /// `<time>`; nothing when that leaves none.
    fn extensions(
        &mut self,
        schema: &Schema,
        values: &[Value],
        time: Option<usize>,
    ) -> io::Result<()> {
        let shown = |i: usize| {
            i != schema.name_field
                && Some(i) != time
                && Some(i) != schema.type_field
                && !(schema.link_field.is_some_and(|l| values[l] != Value::Null)
                    && (Some(i) == schema.link_field || Some(i) == schema.link_text_field))
                && match &values[i] {
                    Value::Null => false,
                    Value::Float(f) => f.is_finite(),
                    _ => true,
                }
        };
        if !(0..values.len()).any(shown) {
            return Ok(());
        }
        self.w.write_all(b"<extensions>")?;
        for (i, field) in schema.fields.iter().enumerate() {
            if shown(i) {
                self.element(field.name, field.name, &values[i], "mly:")?;
            }
        }
        self.w.write_all(b"</extensions>")
    }

    /// Escaped character data; characters XML 1.0 forbids become U+FFFD and are counted.
    fn text(&mut self, field: &'static str, text: &str) -> io::Result<()> {
        let mut start = 0;
        let mut replaced = 0;
        for (i, c) in text.char_indices() {
            let escaped: &[u8] = match c {
                '&' => b"&amp;",
                '<' => b"&lt;",
                '>' => b"&gt;",
                '"' => b"&quot;",
                '\'' => b"&apos;",
                // A literal CR would be read back as LF (XML end-of-line handling).
                '\r' => b"&#xD;",
                '\t' | '\n' => continue,
                '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {
                    replaced += 1;
                    "\u{fffd}".as_bytes()
                }
                _ => continue,
            };
            self.w.write_all(&text.as_bytes()[start..i])?;
            self.w.write_all(escaped)?;
            start = i + c.len_utf8();
        }
        self.w.write_all(&text.as_bytes()[start..])?;
        if replaced > 0 {
            self.replaced.push(Replacement {
                field,
                chars: replaced,
            });
        }
        Ok(())
    }
}

/// A line feature's per-vertex `coordinateProperties` (`image_keys`, `cas`), when it has them.
struct VertexProperties<'a> {
    image_keys: &'a [serde_json::Value],
    cas: &'a [serde_json::Value],
}

impl<'a> VertexProperties<'a> {
    fn of(feature: &'a Feature) -> VertexProperties<'a> {
        let properties = feature
            .extra
            .iter()
            .find(|(name, _)| name == "coordinateProperties")
            .map(|(_, value)| value);
        let array = |key: &str| {
            properties
                .and_then(|p| p.get(key))
                .and_then(serde_json::Value::as_array)
                .map_or(&[][..], Vec::as_slice)
        };
        VertexProperties {
            image_keys: array("image_keys"),
            cas: array("cas"),
        }
    }

    fn image_key(&self, vertex: usize) -> Option<&'a str> {
        self.image_keys.get(vertex)?.as_str()
    }

    fn ca(&self, vertex: usize) -> Option<f64> {
        self.cas.get(vertex)?.as_f64().filter(|ca| ca.is_finite())
    }
}
