//! Quadrant splitting, the basis of result-cap splitting, covers a box exactly.
#![allow(clippy::unwrap_used)]

use model::{Bbox, bbox_contains, quadrants};
use proptest::prelude::*;

fn bbox() -> impl Strategy<Value = Bbox> {
    (
        -180.0..180.0f64,
        -90.0..90.0f64,
        1e-9..10.0f64,
        1e-9..10.0f64,
    )
        .prop_map(|(x, y, w, h)| [x, y, (x + w).min(180.0), (y + h).min(90.0)])
}

/// Splits `b` `depth` times into its quadrants, recursively: the leaves of a cap split.
fn leaves(b: Bbox, depth: u32) -> Vec<Bbox> {
    if depth == 0 {
        return vec![b];
    }
    quadrants(b)
        .into_iter()
        .flat_map(|q| leaves(q, depth - 1))
        .collect()
}

proptest! {
    /// No gap: every point of the box (edges included) lies in at least one leaf, however deep
    /// the split; and no leaf reaches outside the box.
    #[test]
    fn every_point_is_in_some_cell(b in bbox(), depth in 0u32..5, fx in 0.0..=1.0f64, fy in 0.0..=1.0f64) {
        let lon = b[0] + (b[2] - b[0]) * fx;
        let lat = b[1] + (b[3] - b[1]) * fy;
        let cells = leaves(b, depth);
        prop_assert!(cells.iter().any(|c| bbox_contains(*c, lon, lat)));
        for c in &cells {
            prop_assert!(c[0] >= b[0] && c[1] >= b[1] && c[2] <= b[2] && c[3] <= b[3]);
            prop_assert!(c[0] <= c[2] && c[1] <= c[3]);
        }
    }

    /// Points on shared edges are found by more than one cell; deduplication by key leaves
    /// exactly the points of the box, each once.
    #[test]
    fn the_deduplicated_union_is_the_box(b in bbox(), depth in 1u32..4, points in prop::collection::vec((0.0..=1.0f64, 0.0..=1.0f64), 1..50)) {
        let points: Vec<[f64; 2]> = points
            .into_iter()
            .map(|(fx, fy)| [b[0] + (b[2] - b[0]) * fx, b[1] + (b[3] - b[1]) * fy])
            .collect();
        let mut found = std::collections::BTreeSet::new();
        for cell in leaves(b, depth) {
            for (i, p) in points.iter().enumerate() {
                if bbox_contains(cell, p[0], p[1]) {
                    found.insert(i);
                }
            }
        }
        prop_assert_eq!(found.len(), points.len());
    }
}
