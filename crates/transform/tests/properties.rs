//! Properties: dedupe does not depend on page order, sequences survive explode/regroup, and no
//! input makes a parser panic or hang.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use model::Sequence;
use proptest::prelude::*;
use transform::{Record, TransformConfig, Transformer};

fn image_feature(key: &str, lon: f64, lat: f64) -> String {
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},"properties":{{"key":"{key}"}}}}"#
    )
}

fn collection(features: &[String]) -> Vec<u8> {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
    .into_bytes()
}

/// Pages of image features; keys come from a small alphabet so pages overlap.
fn pages() -> impl Strategy<Value = Vec<Vec<(u8, f64, f64)>>> {
    let image = (0_u8..20, -180.0..180.0_f64, -90.0..90.0_f64);
    prop::collection::vec(prop::collection::vec(image, 0..8), 0..6)
}

fn accepted_keys(pages: &[Vec<(u8, f64, f64)>]) -> (BTreeSet<String>, u64) {
    let mut t = Transformer::new(TransformConfig::default());
    let mut keys = BTreeSet::new();
    for page in pages {
        let features: Vec<_> = page
            .iter()
            .map(|&(k, lon, lat)| image_feature(&format!("k{k}"), lon, lat))
            .collect();
        t.v3_page(&collection(&features), &mut |r| {
            if let Record::Image(i) = r {
                assert!(keys.insert(i.key), "a key was accepted twice");
            }
        })
        .unwrap();
    }
    (keys, t.report().images.duplicates)
}

fn sequence() -> impl Strategy<Value = Sequence> {
    let vertex = (
        -180.0..180.0_f64,
        -90.0..90.0_f64,
        prop::option::of(0.0..360.0_f64),
        prop::option::of("[a-zA-Z0-9_-]{1,22}"),
    );
    ("[a-zA-Z0-9_-]{1,22}", prop::collection::vec(vertex, 1..40)).prop_map(|(key, vertices)| {
        let mut s = Sequence {
            key,
            ..Sequence::default()
        };
        for (lon, lat, ca, image_key) in vertices {
            s.coordinates.push([lon, lat]);
            s.cas.push(ca);
            s.image_keys.push(image_key);
        }
        s
    })
}

fn sequence_feature(s: &Sequence) -> String {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": s.coordinates},
        "properties": {
            "key": s.key,
            "coordinateProperties": {"cas": s.cas, "image_keys": s.image_keys},
        },
    })
    .to_string()
}

const VALID: &str = r#"{"type": "FeatureCollection", "bbox": [0, 0, 1, 1], "features": [
  {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0.5, 0.5]},
   "properties": {"key": "a\"}", "ca": 1.5, "captured_at": "2016-01-17T13:05:47.540Z"}},
  {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
   "properties": {"key": "s", "coordinateProperties": {"cas": [1, null], "image_keys": ["a", "b"]}}}
]}"#;

/// Runs every parser on `bytes`; returning at all (no panic, no hang) is the property, and
/// whatever is accepted must be valid.
fn parse_everywhere(bytes: &[u8]) {
    let mut t = Transformer::new(TransformConfig::default());
    let mut check = |r: Record| match r {
        Record::Image(i) => assert!(!i.key.is_empty() && i.lon.abs() <= 180.0),
        Record::Sequence(s) => assert!(!s.key.is_empty() && !s.coordinates.is_empty()),
        Record::MapFeature(m) => assert!(!m.id.is_empty() && m.lon.abs() <= 180.0),
    };
    let _ = t.read_geojson(bytes, Path::new("fuzz.geojson"), &mut check);
    let _ = t.v3_page(bytes, &mut check);
    let _ = t.v4_images_page(bytes, &mut check);
    let _ = t.v4_sequence(&[bytes.to_vec()], &mut check);
    let _ = t.v4_map_features_page(bytes, &mut check);
    let r = t.report();
    for counts in [&r.images, &r.sequences, &r.map_features] {
        let filtered: u64 = counts.filtered.values().sum();
        assert_eq!(
            counts.received,
            counts.rejected + counts.duplicates + filtered + counts.accepted
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dedupe_is_order_independent_and_idempotent(pages in pages(), seed in any::<u64>()) {
        let (keys, _) = accepted_keys(&pages);
        let mut shuffled = pages.clone();
        // A deterministic shuffle of whole pages and of features inside them.
        let mut state = seed;
        let mut next = || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (state >> 33) as usize };
        for i in (1..shuffled.len()).rev() { let j = next() % (i + 1); shuffled.swap(i, j); }
        for page in &mut shuffled { for i in (1..page.len()).rev() { let j = next() % (i + 1); page.swap(i, j); } }
        prop_assert_eq!(&accepted_keys(&shuffled).0, &keys);

        let total: usize = pages.iter().map(Vec::len).sum();
        let twice: Vec<_> = pages.iter().chain(pages.iter()).cloned().collect();
        let (again, duplicates) = accepted_keys(&twice);
        prop_assert_eq!(&again, &keys);
        prop_assert_eq!(duplicates as usize, 2 * total - keys.len());
    }

    #[test]
    fn explode_then_regroup_gives_back_the_sequence(sequences in prop::collection::vec(sequence(), 1..4)) {
        let features: Vec<_> = sequences.iter().map(sequence_feature).collect();
        let mut t = Transformer::new(TransformConfig::default());
        let mut points = Vec::new();
        t.v3_page(&collection(&features), &mut |r| {
            if let Record::Sequence(s) = r {
                points.extend(s.explode());
            }
        })
        .unwrap();
        // Regroup by key, ordered by idx: the original vertices and per-vertex properties.
        let mut groups: BTreeMap<String, Vec<model::SequencePoint>> = BTreeMap::new();
        for p in points {
            groups.entry(p.seq_key.clone()).or_default().push(p);
        }
        let mut seen = BTreeSet::new();
        for original in sequences.iter().filter(|s| seen.insert(s.key.clone())) {
            let mut group = groups.remove(&original.key).unwrap();
            group.sort_by_key(|p| p.idx);
            let coordinates: Vec<_> = group.iter().map(|p| [p.lon, p.lat]).collect();
            let cas: Vec<_> = group.iter().map(|p| p.ca).collect();
            let image_keys: Vec<_> = group.iter().map(|p| p.image_key.clone()).collect();
            prop_assert_eq!(&coordinates, &original.coordinates);
            prop_assert_eq!(&cas, &original.cas);
            prop_assert_eq!(&image_keys, &original.image_keys);
        }
        prop_assert!(groups.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everywhere(&bytes);
    }

    #[test]
    fn mutated_collections_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0_u8..3), 1..6),
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        parse_everywhere(&bytes);
    }

    #[test]
    fn json_structured_noise_never_panics(
        tokens in prop::collection::vec(
            prop::sample::select(vec!["{", "}", "[", "]", ",", ":", "\"features\"", "\"type\"",
                "\"Feature\"", "\"FeatureCollection\"", "\"data\"", "\"key\"", "\"geometry\"",
                "\"coordinates\"", "\"Point\"", "\"LineString\"", "1", "-0.5e3", "null", "\"\\\"\""]),
            0..60),
    ) {
        parse_everywhere(tokens.concat().as_bytes());
    }
}

#[test]
fn the_valid_sample_parses() {
    let mut t = Transformer::new(TransformConfig::default());
    let mut keys = Vec::new();
    t.read_geojson(VALID.as_bytes(), Path::new("valid"), &mut |r| match r {
        Record::Image(i) => keys.push(i.key),
        Record::Sequence(s) => keys.push(s.key),
        Record::MapFeature(m) => panic!("a GeoJSON file has no map features: {m:?}"),
    })
    .unwrap();
    assert_eq!(keys, ["a\"}", "s"]);
}
