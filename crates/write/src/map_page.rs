//! `index.html`: an interactive map of the export, drawn by the bundled Leaflet from
//! `map-data.js` beside it, above the run's summary table.
//!
//! The page opens from disk (`file://`) with no server: its data is a script that assigns
//! `window.MLY_MAP_DATA` (a page opened from disk may not `fetch()` its neighbours), and Leaflet
//! is written beside it from the binary. With a network it adds OpenStreetMap tiles; without
//! one the data still draws.
//!
//! Features are spooled to disk as they come (one compact line each), so memory stays bounded:
//! past [`MAX_MAP_POSITIONS`] drawn positions (a point is one, a line one per vertex) the page
//! draws a deterministic sample, the features whose key ([`model::Feature::id`]) hashes lowest.
//! Only the hashes and vertex counts of the kept features stay in memory (at most
//! [`MAX_MAP_POSITIONS`] entries); the cut-off is known at the end, when `map-data.js` is written
//! from the spools.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use model::{Area, Feature, Geometry, GeometryType, Position, Resource, Schema, Value};

use crate::WriteError;
use crate::preview::{area_ring, escape, write_file};

/// The most positions the page draws; past it, a sample (see the module docs).
pub const MAX_MAP_POSITIONS: u64 = 200_000;

/// The page's data file, loaded with `<script src>`.
pub const MAP_DATA_FILE: &str = "map-data.js";

/// Leaflet, written beside the page under `leaflet/` (see `assets/leaflet/SOURCES.md`).
const LEAFLET_FILES: [(&str, &[u8]); 5] = [
    (
        "leaflet/leaflet.js",
        include_bytes!("../assets/leaflet/leaflet.js"),
    ),
    (
        "leaflet/leaflet.css",
        include_bytes!("../assets/leaflet/leaflet.css"),
    ),
    (
        "leaflet/LICENSE",
        include_bytes!("../assets/leaflet/LICENSE"),
    ),
    (
        "leaflet/images/layers.png",
        include_bytes!("../assets/leaflet/images/layers.png"),
    ),
    (
        "leaflet/images/layers-2x.png",
        include_bytes!("../assets/leaflet/images/layers-2x.png"),
    ),
];

/// The page's own script and style, inlined into `index.html`.
const PAGE_SCRIPT: &str = include_str!("../assets/map-page.js");
const PAGE_STYLE: &str = include_str!("../assets/map-page.css");

/// Collects an export's features for `index.html` and writes the page, its data and Leaflet.
#[derive(Debug)]
pub struct MapPage {
    dir: PathBuf,
    areas: Vec<(String, Area)>,
    /// One spool per layer, in [`Resource`] order.
    layers: BTreeMap<Resource, Spool>,
    sample: Sample,
    /// The line being built, reused.
    line: String,
}

/// One layer's features on disk: `<hash as 16 hex digits> <JSON array>` per line.
#[derive(Debug)]
struct Spool {
    path: PathBuf,
    out: BufWriter<File>,
    /// Features added, drawable or not.
    total: u64,
}

/// The lowest-hash features whose positions fit in [`MAX_MAP_POSITIONS`].
#[derive(Debug, Default)]
struct Sample {
    /// Positions per hash of the features kept so far.
    kept: BTreeMap<u64, u64>,
    positions: u64,
    /// Features hashing at or above this are out of the sample.
    cut_off: Option<u64>,
}

impl Sample {
    fn admits(&self, hash: u64) -> bool {
        self.cut_off.is_none_or(|cut| hash < cut)
    }

    fn add(&mut self, hash: u64, positions: u64) {
        *self.kept.entry(hash).or_default() += positions;
        self.positions += positions;
        while self.positions > MAX_MAP_POSITIONS {
            let Some((highest, dropped)) = self.kept.pop_last() else {
                break;
            };
            self.positions -= dropped;
            self.cut_off = Some(highest);
        }
    }
}

impl MapPage {
    /// A map of an export written into `dir`, searched in `areas` (name, area), with a layer for
    /// each of `resources` (shown even when it stays empty).
    pub fn create(
        dir: &Path,
        areas: &[(String, Area)],
        resources: &[Resource],
    ) -> Result<MapPage, WriteError> {
        let mut page = MapPage {
            dir: dir.to_owned(),
            areas: areas.to_vec(),
            layers: BTreeMap::new(),
            sample: Sample::default(),
            line: String::new(),
        };
        for &resource in resources {
            page.spool(resource)?;
        }
        Ok(page)
    }

    fn spool(&mut self, resource: Resource) -> Result<&mut Spool, WriteError> {
        match self.layers.entry(resource) {
            Entry::Occupied(spool) => Ok(spool.into_mut()),
            Entry::Vacant(slot) => {
                let path = self.dir.join(format!(".map-spool-{}", resource.stem()));
                let file = File::create(&path).map_err(|source| WriteError::Io {
                    path: path.clone(),
                    source,
                })?;
                Ok(slot.insert(Spool {
                    path,
                    out: BufWriter::with_capacity(1 << 16, file),
                    total: 0,
                }))
            }
        }
    }

    /// Adds one feature of `resource`'s layer. Non-finite positions are not drawn.
    pub fn add(&mut self, resource: Resource, feature: &Feature) -> Result<(), WriteError> {
        self.spool(resource)?.total += 1;
        let hash = key_hash(&feature.id);
        if !self.sample.admits(hash) {
            return Ok(());
        }
        let positions: &[Position] = match &feature.geometry {
            Geometry::Point(p) => std::slice::from_ref(p),
            Geometry::LineString(line) => line,
        };
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(line, "{hash:016x} [[");
        let mut drawn = 0;
        for p in positions.iter().filter(|p| p.iter().all(|c| c.is_finite())) {
            if drawn > 0 {
                line.push(',');
            }
            push_coordinate(&mut line, p[0]);
            line.push(',');
            push_coordinate(&mut line, p[1]);
            drawn += 1;
        }
        line.push(']');
        push_values(&mut line, &feature.values);
        line.push_str("]\n");
        let result = if drawn == 0 {
            Ok(())
        } else {
            self.sample.add(hash, drawn);
            let spool = self.spool(resource)?;
            spool
                .out
                .write_all(line.as_bytes())
                .map_err(|source| WriteError::Io {
                    path: spool.path.clone(),
                    source,
                })
        };
        self.line = line;
        result
    }

    /// Writes `index.html` (titled `title`, above a table of `summary_rows`: label, value),
    /// `map-data.js` and Leaflet into the folder, and deletes the spools.
    pub fn finish(self, title: &str, summary_rows: &[(String, String)]) -> Result<(), WriteError> {
        for (name, bytes) in LEAFLET_FILES {
            let path = self.dir.join(name);
            let parent = path.parent().unwrap_or(&self.dir);
            std::fs::create_dir_all(parent)
                .and_then(|()| std::fs::write(&path, bytes))
                .map_err(|source| WriteError::Io { path, source })?;
        }
        let mut layers = Vec::new();
        for (resource, mut spool) in self.layers {
            spool.out.flush().map_err(|source| WriteError::Io {
                path: spool.path.clone(),
                source,
            })?;
            layers.push((resource, spool.path, spool.total));
        }
        let data_path = self.dir.join(MAP_DATA_FILE);
        let mut sampled = false;
        write_file(&data_path, |out| {
            sampled = write_data(out, &self.areas, &layers, &self.sample)?;
            Ok(())
        })?;
        for (_, path, _) in &layers {
            std::fs::remove_file(path).map_err(|source| WriteError::Io {
                path: path.clone(),
                source,
            })?;
        }
        write_file(&self.dir.join("index.html"), |out| {
            write_html(out, title, summary_rows)
        })
    }
}

/// Writes `map-data.js`: the areas layer, then line layers, then point layers (drawn in that
/// order, points on top). Returns whether a sample was drawn.
fn write_data(
    out: &mut dyn Write,
    areas: &[(String, Area)],
    layers: &[(Resource, PathBuf, u64)],
    sample: &Sample,
) -> io::Result<bool> {
    let sampled = sample.cut_off.is_some();
    writeln!(
        out,
        "// mly-export map data for index.html: one array per feature, [flat lon,lat list, \
         values in the order of \"fields\"].\nwindow.MLY_MAP_DATA = {{\"limit\":{MAX_MAP_POSITIONS},\
         \"sampled\":{sampled},\"layers\":["
    )?;
    write!(
        out,
        "{{\"name\":\"areas\",\"geometry\":\"Polygon\",\"fields\":[\"name\",\"area\"],\
         \"total\":{n},\"drawn\":{n},\"features\":[",
        n = areas.len()
    )?;
    let mut line = String::new();
    for (i, (name, area)) in areas.iter().enumerate() {
        line.clear();
        line.push_str(if i == 0 { "\n[[" } else { ",\n[[" });
        for (j, p) in area_ring(area).iter().enumerate() {
            if j > 0 {
                line.push(',');
            }
            push_coordinate(&mut line, p[0]);
            line.push(',');
            push_coordinate(&mut line, p[1]);
        }
        line.push(']');
        push_values(
            &mut line,
            &[Value::Text(name.clone()), Value::Text(describe_area(area))],
        );
        line.push(']');
        out.write_all(line.as_bytes())?;
    }
    out.write_all(b"]}")?;
    let mut ordered: Vec<_> = layers.iter().collect();
    // Points on top, images topmost (what a click most likely wants).
    ordered.sort_by_key(|(resource, _, _)| {
        let is_point = Schema::of(*resource).geometry == GeometryType::Point;
        (is_point, std::cmp::Reverse(*resource))
    });
    for (resource, path, total) in ordered {
        write_layer(out, *resource, path, *total, sample)?;
    }
    out.write_all(b"\n]};\n")?;
    Ok(sampled)
}

/// One layer of `map-data.js` from its spool: the features the sample admits, and how many.
fn write_layer(
    out: &mut dyn Write,
    resource: Resource,
    spool: &Path,
    total: u64,
    sample: &Sample,
) -> io::Result<()> {
    let schema = Schema::of(resource);
    let geometry = match schema.geometry {
        GeometryType::Point => "Point",
        GeometryType::LineString => "LineString",
    };
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
    write!(
        out,
        ",\n{{\"name\":\"{}\",\"geometry\":\"{geometry}\",\"fields\":{},\"total\":{total},\
         \"features\":[",
        resource.stem(),
        serde_json::to_string(&names).map_err(io::Error::other)?
    )?;
    let mut drawn = 0u64;
    for line in BufReader::with_capacity(1 << 16, File::open(spool)?).lines() {
        let line = line?;
        let (hash, feature) = line
            .split_once(' ')
            .and_then(|(h, f)| Some((u64::from_str_radix(h, 16).ok()?, f)))
            .ok_or_else(|| io::Error::other(format!("{}: a bad spool line", spool.display())))?;
        if sample.admits(hash) {
            out.write_all(if drawn == 0 { b"\n" } else { b",\n" })?;
            out.write_all(feature.as_bytes())?;
            drawn += 1;
        }
    }
    write!(out, "],\"drawn\":{drawn}}}")
}

/// An area in words, for its popup.
fn describe_area(area: &Area) -> String {
    match *area {
        Area::Bbox([a, b, c, d]) => format!("bbox [{a}, {b}, {c}, {d}]"),
        Area::Closeto {
            center: [lon, lat],
            radius_m,
        } => format!("closeto [{lon}, {lat}], radius {radius_m} m"),
    }
}

/// A coordinate rounded to 1e-7 degrees (about 1 cm), without trailing zeros.
fn push_coordinate(line: &mut String, value: f64) {
    let start = line.len();
    let _ = write!(line, "{value:.7}");
    let trimmed = line[start..]
        .trim_end_matches('0')
        .trim_end_matches('.')
        .len();
    line.truncate(start + trimmed);
    if &line[start..] == "-0" {
        line.truncate(start);
        line.push('0');
    }
}

/// `,v1,v2,...` as JSON, trailing nulls left out (the page reads a missing value as null).
fn push_values(line: &mut String, values: &[Value]) {
    let last = values
        .iter()
        .rposition(|v| !matches!(v, Value::Null))
        .map_or(0, |i| i + 1);
    for value in &values[..last] {
        line.push(',');
        match value {
            Value::Null => line.push_str("null"),
            Value::Text(text) => {
                line.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "null".into()));
            }
            Value::Int(n) => {
                let _ = write!(line, "{n}");
            }
            Value::Float(x) if x.is_finite() => {
                let _ = write!(line, "{x}");
            }
            Value::Float(_) => line.push_str("null"),
            Value::Bool(b) => {
                let _ = write!(line, "{b}");
            }
        }
    }
}

/// FNV-1a over the key's bytes, then the SplitMix64 finaliser so that keys differing in their
/// last characters (`seq/1`, `seq/2`) spread over the whole range. Stable across runs,
/// platforms and Rust versions (unlike `std`'s hasher), so the sample is always the same.
fn key_hash(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

fn write_html(out: &mut dyn Write, title: &str, rows: &[(String, String)]) -> io::Result<()> {
    let title = escape(title);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"leaflet/leaflet.css\">\n\
         <style>\n{PAGE_STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n\
         <div id=\"map\" aria-label=\"Map of the export\"></div>\n\
         <p id=\"map-status\">Loading the map…</p>\n<p id=\"map-note\" hidden></p>\n\
         <p>A static picture of the same data: <a href=\"preview.svg\">preview.svg</a>.</p>\n\
         <table>\n"
    )?;
    for (label, value) in rows {
        writeln!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        )?;
    }
    write!(
        out,
        "</table>\n<script src=\"leaflet/leaflet.js\"></script>\n\
         <script src=\"{MAP_DATA_FILE}\"></script>\n<script>\n{PAGE_SCRIPT}</script>\n\
         </body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_rounded_to_seven_decimals_without_trailing_zeros() {
        let mut line = String::new();
        for x in [-113.98937, 46.0, -0.000_000_01, 1.234_567_89, 0.5] {
            push_coordinate(&mut line, x);
            line.push(' ');
        }
        assert_eq!(line, "-113.98937 46 0 1.2345679 0.5 ");
    }

    #[test]
    fn trailing_nulls_are_left_out() {
        let mut line = String::new();
        push_values(
            &mut line,
            &[
                Value::Text("a\"b".into()),
                Value::Null,
                Value::Float(f64::NAN),
                Value::Int(3),
                Value::Null,
            ],
        );
        assert_eq!(line, r#","a\"b",null,null,3"#);
    }

    #[test]
    fn the_sample_keeps_the_lowest_hashes_within_the_limit() {
        let mut sample = Sample::default();
        for hash in (0..MAX_MAP_POSITIONS + 10).rev() {
            if sample.admits(hash) {
                sample.add(hash, 1);
            }
        }
        assert_eq!(sample.positions, MAX_MAP_POSITIONS);
        assert_eq!(sample.cut_off, Some(MAX_MAP_POSITIONS));
        assert!(sample.admits(MAX_MAP_POSITIONS - 1) && !sample.admits(MAX_MAP_POSITIONS));
    }

    #[test]
    fn key_hash_is_stable() {
        // Pinned: a change would change every sampled page.
        assert_eq!(key_hash(""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(key_hash("hYZH6voFh0VpQ-G3iz1TOQ"), 0x49bf_2ace_8a1b_5641);
        assert_ne!(key_hash("seq/1"), key_hash("seq/2"));
    }
}
