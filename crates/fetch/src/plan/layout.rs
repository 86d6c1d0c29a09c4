//! How a query's area is laid out in cells: one, or a grid of equal boxes. Pure.

use model::{Area, Bbox};

/// How a query's area is laid out in cells.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Layout {
    /// One cell for the whole area.
    Single(Area),
    /// `columns * rows` equal boxes, row by row from the south-west corner.
    Grid {
        bbox: Bbox,
        columns: usize,
        rows: usize,
    },
}

impl Layout {
    /// A grid of equal cells each at most `max_area` square degrees, as square as possible.
    pub(crate) fn grid(bbox: Bbox, max_area: f64) -> Layout {
        let side = max_area.sqrt();
        let count = |extent: f64| {
            if side.is_finite() && side > 0.0 {
                // The epsilon keeps 0.15 / 0.05 = 3.0000000000000004 at 3 columns; the cast
                // saturates, and a grid that large is the caller's choice.
                ((extent / side - 1e-9).ceil() as usize).max(1)
            } else {
                1
            }
        };
        Layout::Grid {
            bbox,
            columns: count(bbox[2] - bbox[0]),
            rows: count(bbox[3] - bbox[1]),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Layout::Single(_) => 1,
            Layout::Grid { columns, rows, .. } => columns.saturating_mul(*rows),
        }
    }

    pub(crate) fn area(&self, index: usize) -> Area {
        match *self {
            Layout::Single(area) => area,
            Layout::Grid {
                bbox,
                columns,
                rows,
            } => {
                let (column, row) = (index % columns, index / columns);
                let width = (bbox[2] - bbox[0]) / columns as f64;
                let height = (bbox[3] - bbox[1]) / rows as f64;
                // The last column and row end exactly on the area's edge despite rounding.
                let edge = |start: f64, step: f64, i: usize, n: usize, end: f64| {
                    if i == n { end } else { start + step * i as f64 }
                };
                Area::Bbox([
                    edge(bbox[0], width, column, columns, bbox[2]),
                    edge(bbox[1], height, row, rows, bbox[3]),
                    edge(bbox[0], width, column + 1, columns, bbox[2]),
                    edge(bbox[1], height, row + 1, rows, bbox[3]),
                ])
            }
        }
    }
}
