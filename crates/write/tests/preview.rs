//! The preview: well-formed SVG with one element per drawn feature kind, bounded output for any
//! number of points, an escaped title, and a PNG rendering by `rsvg-convert`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use model::{Area, Image, Resource, Sequence, SequencePoint};
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use write::Preview;

/// Parses an SVG (failing on malformed XML) and counts its elements by `class`; also returns
/// the root element's attributes.
fn classes(svg: &str) -> (BTreeMap<String, usize>, BTreeMap<String, String>) {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut counts = BTreeMap::new();
    let mut root = None;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                let attributes: BTreeMap<String, String> = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let key = a.key.as_ref().to_owned();
                        let value = a.normalized_value(XmlVersion::Explicit1_0).unwrap();
                        (key, value.into_owned())
                    })
                    .collect();
                if let Some(class) = attributes.get("class") {
                    *counts.entry(class.clone()).or_insert(0) += 1;
                }
                if root.is_none() {
                    assert_eq!(e.name().as_ref(), "svg");
                    root = Some(attributes);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (counts, root.unwrap())
}

fn count(counts: &BTreeMap<String, usize>, class: &str) -> usize {
    counts.get(class).copied().unwrap_or(0)
}

/// A preview of the real fixtures in a box and a circle around them, plus one far image.
fn demo() -> Preview {
    let areas = [
        Area::Bbox([-108.5640, 39.0650, -108.5600, 39.0658]),
        Area::Closeto {
            center: [-108.5615, 39.0640],
            radius_m: 60.0,
        },
    ];
    let mut preview = Preview::new(&areas);
    let sequence = common::real_sequence();
    preview.add(Resource::Sequences, &sequence.to_feature());
    for point in sequence.explode() {
        preview.add(Resource::SequencePoints, &point.to_feature());
    }
    for (i, [lon, lat]) in [
        [-108.5612, 39.0636],
        [-108.5625, 39.0646],
        [-108.5590, 39.0661],
    ]
    .into_iter()
    .enumerate()
    {
        let image = Image::new(format!("img{i}"), lon, lat);
        preview.add(Resource::Images, &image.to_feature());
    }
    preview
}

#[test]
fn the_svg_draws_each_feature_once_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    demo().write(dir.path(), "demo").unwrap();
    let svg = std::fs::read_to_string(dir.path().join("preview.svg")).unwrap();
    let (counts, root) = classes(&svg);
    assert_eq!(root["xmlns"], "http://www.w3.org/2000/svg");
    assert_eq!(root["version"], "1.1");
    assert_eq!(count(&counts, "area"), 2);
    assert_eq!(count(&counts, "sequence"), 1);
    assert_eq!(count(&counts, "sequence-point"), 5);
    assert_eq!(count(&counts, "image"), 3);
    assert_eq!(count(&counts, "sequence-cell"), 0);
    for part in ["legend", "scale-bar", "north-arrow"] {
        assert_eq!(count(&counts, part), 1, "{part}");
    }
    // The sequence keeps its five vertices (each a few metres apart: pixels apart here).
    let polyline = svg
        .lines()
        .find(|l| l.starts_with("<polyline class=\"sequence\""))
        .unwrap();
    assert_eq!(polyline.matches(',').count(), 5, "{polyline}");
    // The area spans ~350 m: a 100 m bar (1, 2 or 5 x 10^n) fits near 120 px.
    assert!(
        svg.contains(">100 m</text>") || svg.contains(">50 m</text>"),
        "{svg}"
    );
}

#[test]
fn output_stays_bounded_for_200k_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut preview = Preview::new(&[Area::Bbox([5.0, 45.0, 6.0, 46.0])]);
    // A deterministic scatter (xorshift) over a region wider than the area, to force coarsening.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..200_000 {
        let p = [4.0 + 3.0 * next(), 44.0 + 3.0 * next()];
        preview.add(
            Resource::Images,
            &Image::new(format!("i{i}"), p[0], p[1]).to_feature(),
        );
        let point = SequencePoint {
            seq_key: "s".into(),
            idx: i,
            image_key: None,
            ca: None,
            lon: p[1] - 40.0,
            lat: p[0] + 40.0,
        };
        preview.add(Resource::SequencePoints, &point.to_feature());
    }
    // 3,000 lines of 100 vertices: past the vertex budget, the rest is binned.
    for s in 0..3_000 {
        let start = [4.0 + 3.0 * next(), 44.0 + 3.0 * next()];
        let line = Sequence {
            key: format!("s{s}"),
            coordinates: (0..100)
                .map(|v| [start[0] + f64::from(v) * 1e-3, start[1]])
                .collect(),
            ..Sequence::default()
        };
        preview.add(Resource::Sequences, &line.to_feature());
    }
    preview.write(dir.path(), "big").unwrap();
    let svg = std::fs::read_to_string(dir.path().join("preview.svg")).unwrap();
    eprintln!(
        "preview.svg of 200k + 200k points, 3k lines: {} bytes",
        svg.len()
    );
    assert!(svg.len() < 12_000_000, "{} bytes", svg.len());
    let (counts, _) = classes(&svg);
    let dots = 267 * 200;
    assert!(count(&counts, "image") <= dots && count(&counts, "image") > 10_000);
    assert!(count(&counts, "sequence-point") <= dots);
    assert!(count(&counts, "sequence") < 3_000 && count(&counts, "sequence") > 100);
    assert!(count(&counts, "sequence-cell") > 0);
}

#[test]
fn an_empty_preview_is_still_a_map() {
    let dir = tempfile::tempdir().unwrap();
    Preview::new(&[])
        .write(dir.path(), "job \"<x>\" & y")
        .unwrap();
    let svg = std::fs::read_to_string(dir.path().join("preview.svg")).unwrap();
    assert!(svg.contains("<title>job &quot;&lt;x&gt;&quot; &amp; y</title>"));
    let (counts, _) = classes(&svg);
    assert_eq!(count(&counts, "image") + count(&counts, "sequence"), 0);
    assert_eq!(count(&counts, "scale-bar"), 1);
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

/// Renders `svg` to `png` with rsvg-convert and returns the PNG's width and height.
fn render(svg: &Path, png: &Path) -> (u32, u32) {
    let status = Command::new("rsvg-convert")
        .arg("-o")
        .arg(png)
        .arg(svg)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn rsvg_convert_renders_the_preview() {
    if !common::require_tool("rsvg-convert") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    demo().write(dir.path(), "demo").unwrap();
    let png = dir.path().join("preview.png");
    assert_eq!(render(&dir.path().join("preview.svg"), &png), (1040, 650));
    // MLY_PREVIEW_PNG=<path> keeps the rendering for a human look.
    if let Some(keep) = std::env::var_os("MLY_PREVIEW_PNG") {
        std::fs::copy(&png, keep).unwrap();
    }
}
