//! GeoPackage geometry binary (GeoPackage 1.2, clause 2.1.3): the `GP` header with an
//! `[minx, maxx, miny, maxy]` envelope, little-endian, then standard WKB. And the `ST_*` SQL
//! functions the R-tree's triggers and its bulk fill call, read from that header.

use std::borrow::Cow;

use model::{Geometry, Position};
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};

use crate::sink::line_positions;

/// The one spatial reference system of every layer: WGS 84 lon/lat.
pub(crate) const SRS_ID: i32 = 4326;

/// Flags: bit 0 little-endian, bits 1-3 envelope kind 1 (`[minx, maxx, miny, maxy]`).
const FLAGS_ENVELOPE_XY: u8 = 0b0000_0011;
/// Flags: little-endian, no envelope, bit 4 set: an empty geometry.
const FLAGS_EMPTY: u8 = 0b0001_0001;
const WKB_POINT: u32 = 1;
const WKB_LINESTRING: u32 = 2;
/// `GP`, version, flags, srs_id.
const HEADER_BYTES: usize = 8;

/// A bounding box, grown one position at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Extent {
    pub(crate) min_x: f64,
    pub(crate) min_y: f64,
    pub(crate) max_x: f64,
    pub(crate) max_y: f64,
}

impl Extent {
    fn of(positions: &[Position]) -> Option<Extent> {
        let (first, rest) = positions.split_first()?;
        let mut extent = Extent {
            min_x: first[0],
            min_y: first[1],
            max_x: first[0],
            max_y: first[1],
        };
        for [x, y] in rest {
            extent.min_x = extent.min_x.min(*x);
            extent.min_y = extent.min_y.min(*y);
            extent.max_x = extent.max_x.max(*x);
            extent.max_y = extent.max_y.max(*y);
        }
        Some(extent)
    }

    /// The box holding both.
    pub(crate) fn union(self, other: Extent) -> Extent {
        Extent {
            min_x: self.min_x.min(other.min_x),
            min_y: self.min_y.min(other.min_y),
            max_x: self.max_x.max(other.max_x),
            max_y: self.max_y.max(other.max_y),
        }
    }
}

/// Encodes `geometry` into `out` (cleared first) and returns its extent (`None`: empty line).
pub(crate) fn encode(geometry: &Geometry, out: &mut Vec<u8>) -> Option<Extent> {
    out.clear();
    let (kind, positions) = match geometry {
        Geometry::Point(p) => (WKB_POINT, Cow::Borrowed(std::slice::from_ref(p))),
        // As in every other format: a one-image sequence is a zero-length line.
        Geometry::LineString(line) => (WKB_LINESTRING, line_positions(line)),
    };
    let extent = Extent::of(&positions);
    out.extend_from_slice(b"GP");
    out.push(0);
    out.push(if extent.is_some() {
        FLAGS_ENVELOPE_XY
    } else {
        FLAGS_EMPTY
    });
    out.extend_from_slice(&SRS_ID.to_le_bytes());
    if let Some(e) = extent {
        for v in [e.min_x, e.max_x, e.min_y, e.max_y] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.push(1);
    out.extend_from_slice(&kind.to_le_bytes());
    if kind == WKB_LINESTRING {
        // The transform rejects lines over 100,000 vertices: a u32 holds any there can be.
        let count = u32::try_from(positions.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
    }
    for [x, y] in positions.iter() {
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
    }
    extent
}

/// What the `ST_*` functions read from a geometry blob.
enum Header {
    /// Flagged empty.
    Empty,
    /// The envelope `[minx, maxx, miny, maxy]`.
    Envelope([f64; 4]),
}

/// Reads a blob's header: its envelope, or from the WKB of a point or line without one.
/// `None` for anything that is not a little- or big-endian GeoPackage 2D geometry.
fn read_header(blob: &[u8]) -> Option<Header> {
    if blob.len() < HEADER_BYTES || &blob[..2] != b"GP" {
        return None;
    }
    let flags = blob[3];
    if flags & 0b1_0000 != 0 {
        return Some(Header::Empty);
    }
    let little = flags & 1 == 1;
    let f64_at = |at: usize| -> Option<f64> {
        let bytes: [u8; 8] = blob.get(at..at + 8)?.try_into().ok()?;
        Some(if little {
            f64::from_le_bytes(bytes)
        } else {
            f64::from_be_bytes(bytes)
        })
    };
    let envelope_doubles = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 4,
        2 | 3 => 6,
        4 => 8,
        _ => return None,
    };
    if envelope_doubles > 0 {
        let at = |i: usize| f64_at(HEADER_BYTES + 8 * i);
        return Some(Header::Envelope([at(0)?, at(1)?, at(2)?, at(3)?]));
    }
    envelope_from_wkb(&blob[HEADER_BYTES..])
}

/// The envelope of a 2D WKB point or line string (the only types these layers hold).
fn envelope_from_wkb(wkb: &[u8]) -> Option<Header> {
    let little = *wkb.first()? == 1;
    let u32_at = |at: usize| -> Option<u32> {
        let bytes: [u8; 4] = wkb.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    };
    let f64_at = |at: usize| -> Option<f64> {
        let bytes: [u8; 8] = wkb.get(at..at + 8)?.try_into().ok()?;
        Some(if little {
            f64::from_le_bytes(bytes)
        } else {
            f64::from_be_bytes(bytes)
        })
    };
    let (count, start) = match u32_at(1)? {
        WKB_POINT => (1, 5),
        WKB_LINESTRING => (u32_at(5)? as usize, 9),
        _ => return None,
    };
    let positions = (0..count)
        .map(|i| Some([f64_at(start + 16 * i)?, f64_at(start + 16 * i + 8)?]))
        .collect::<Option<Vec<Position>>>()?;
    // A point written as NaN, NaN is WKB's empty point.
    let positions: Vec<Position> = positions.into_iter().filter(|p| !p[0].is_nan()).collect();
    Some(match Extent::of(&positions) {
        Some(e) => Header::Envelope([e.min_x, e.max_x, e.min_y, e.max_y]),
        None => Header::Empty,
    })
}

/// Registers `ST_MinX`, `ST_MaxX`, `ST_MinY`, `ST_MaxY` and `ST_IsEmpty` (the functions of
/// the GeoPackage R-tree extension's triggers, which every GeoPackage reader provides) on our
/// own connection, for the R-tree's bulk fill.
pub(crate) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for (name, index) in [
        ("ST_MinX", 0),
        ("ST_MaxX", 1),
        ("ST_MinY", 2),
        ("ST_MaxY", 3),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(match header_arg(ctx)? {
                Some(Header::Envelope(e)) => Some(e[index]),
                Some(Header::Empty) | None => None,
            })
        })?;
    }
    conn.create_scalar_function("ST_IsEmpty", 1, flags, |ctx| {
        Ok(match header_arg(ctx)? {
            Some(Header::Empty) => Some(1),
            Some(Header::Envelope(_)) => Some(0),
            None => None,
        })
    })
}

/// The header of the function's one argument; NULL or a non-geometry gives `None`.
fn header_arg(ctx: &Context<'_>) -> rusqlite::Result<Option<Header>> {
    Ok(match ctx.get_raw(0) {
        rusqlite::types::ValueRef::Blob(blob) => read_header(blob),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_has_the_header_an_envelope_and_wkb() {
        let mut out = Vec::new();
        let extent = encode(&Geometry::Point([-113.5, 46.25]), &mut out);
        assert_eq!(&out[..4], b"GP\x00\x03");
        assert_eq!(&out[4..8], &4326i32.to_le_bytes());
        assert_eq!(out.len(), 8 + 32 + 21);
        assert_eq!(&out[40..45], &[1, 1, 0, 0, 0]);
        let e = extent.unwrap();
        assert_eq!(
            (e.min_x, e.max_x, e.min_y, e.max_y),
            (-113.5, -113.5, 46.25, 46.25)
        );
        match read_header(&out) {
            Some(Header::Envelope(env)) => assert_eq!(env, [-113.5, -113.5, 46.25, 46.25]),
            _ => panic!("no envelope"),
        }
    }

    #[test]
    fn a_line_envelope_spans_its_vertices_and_an_empty_line_is_flagged() {
        let mut out = Vec::new();
        let line = Geometry::LineString(vec![[1.0, 5.0], [-2.0, 7.0], [3.0, 6.0]]);
        encode(&line, &mut out);
        assert_eq!(out.len(), 8 + 32 + 9 + 3 * 16);
        match read_header(&out) {
            Some(Header::Envelope(env)) => assert_eq!(env, [-2.0, 3.0, 5.0, 7.0]),
            _ => panic!("no envelope"),
        }
        assert_eq!(encode(&Geometry::LineString(Vec::new()), &mut out), None);
        assert_eq!(out[3], FLAGS_EMPTY);
        assert!(matches!(read_header(&out), Some(Header::Empty)));
    }

    #[test]
    fn the_envelope_is_read_from_wkb_when_the_header_has_none() {
        let mut blob = b"GP\x00\x01".to_vec();
        blob.extend_from_slice(&4326i32.to_le_bytes());
        blob.extend_from_slice(&[1, 2, 0, 0, 0, 2, 0, 0, 0]);
        for v in [4.0f64, 1.0, 2.0, 3.0] {
            blob.extend_from_slice(&v.to_le_bytes());
        }
        match read_header(&blob) {
            Some(Header::Envelope(env)) => assert_eq!(env, [2.0, 4.0, 1.0, 3.0]),
            _ => panic!("no envelope"),
        }
        assert!(read_header(b"XX\x00\x01\x00\x00\x00\x00").is_none());
    }
}
