//! `preview.svg`: a static look at an export that opens in any image viewer (the interactive
//! map is `index.html`, see [`crate::MapPage`]).
//!
//! Memory stays bounded whatever the number of features: points are binned into geographic
//! cells (coarsened 2× whenever there are too many), sequence lines keep one vertex per cell
//! up to a vertex budget, after which further lines are binned like points. The drawing is an
//! equirectangular projection scaled by the cosine of the mean latitude, over the union of the
//! search areas and the data, with a legend, a scale bar and a north arrow. Every drawn feature
//! carries its kind as its class: `area`, `sequence`, `sequence-cell` (binned lines), `image`,
//! `sequence-point`, `map-feature`.

use std::collections::HashSet;
use std::f64::consts::PI;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use model::{Area, Bbox, EARTH_RADIUS_M, Feature, Geometry, Position, Resource};

use crate::WriteError;

/// The SVG's size in pixels, and the map's place in it.
const SVG_WIDTH: u32 = 1040;
const SVG_HEIGHT: u32 = 650;
const MAP_X: f64 = 10.0;
const MAP_Y: f64 = 36.0;
const MAP_WIDTH: f64 = 800.0;
const MAP_HEIGHT: f64 = 600.0;
/// Points are drawn as squares on a grid of this many pixels: at most 267 × 200 per kind.
const DOT_PX: f64 = 3.0;
/// Occupied cells a kind of point may hold before its cells are coarsened.
const MAX_CELLS: usize = 100_000;
/// Line vertices kept in total; later lines are binned.
const MAX_LINE_VERTICES: usize = 200_000;
/// The smallest extent drawn, in degrees (about 10 m), so a single point still has a map.
const MIN_EXTENT_DEG: f64 = 1e-4;
/// Metres per degree of a great circle.
const METRES_PER_DEG: f64 = EARTH_RADIUS_M * PI / 180.0;

/// Collects what an export holds and draws it as `preview.svg`.
#[derive(Debug, Clone)]
pub struct Preview {
    areas: Vec<Area>,
    /// `[min lon, min lat, max lon, max lat]` of everything added.
    data_extent: Option<Bbox>,
    images: Cells,
    sequence_points: Cells,
    map_features: Cells,
    /// Simplified sequence lines, within [`MAX_LINE_VERTICES`].
    lines: Vec<Vec<Position>>,
    line_vertices: usize,
    /// Vertices of the lines beyond the budget.
    line_cells: Cells,
    /// Features added per kind: images, sequences, sequence points, map features.
    counts: [u64; 4],
}

/// Occupied geographic cells of a square grid aligned on (0, 0).
#[derive(Debug, Clone)]
struct Cells {
    cell_deg: f64,
    occupied: HashSet<(i64, i64)>,
}

impl Cells {
    fn new(cell_deg: f64) -> Cells {
        Cells {
            cell_deg,
            occupied: HashSet::new(),
        }
    }

    fn key(&self, [lon, lat]: Position) -> (i64, i64) {
        (
            (lon / self.cell_deg).floor() as i64,
            (lat / self.cell_deg).floor() as i64,
        )
    }

    fn add(&mut self, position: Position) {
        self.occupied.insert(self.key(position));
        if self.occupied.len() > MAX_CELLS {
            // Down to half the budget, so coarsening happens rarely, not on every insert.
            while self.occupied.len() > MAX_CELLS / 2 {
                self.cell_deg *= 2.0;
                self.occupied = self
                    .occupied
                    .drain()
                    .map(|(x, y)| (x.div_euclid(2), y.div_euclid(2)))
                    .collect();
            }
        }
    }

    fn centres(&self) -> impl Iterator<Item = Position> + '_ {
        self.occupied.iter().map(|&(x, y)| {
            [
                (x as f64 + 0.5) * self.cell_deg,
                (y as f64 + 0.5) * self.cell_deg,
            ]
        })
    }
}

impl Preview {
    /// An empty preview of an export searched in `areas`.
    pub fn new(areas: &[Area]) -> Preview {
        // Start finer than a pixel of the areas' map; data far outside coarsens it.
        let cell_deg = union(areas.iter().map(Area::bounding_box)).map_or(1e-5, |b| {
            ((b[2] - b[0]).max(b[3] - b[1]) / 4000.0).max(1e-7)
        });
        Preview {
            areas: areas.to_vec(),
            data_extent: None,
            images: Cells::new(cell_deg),
            sequence_points: Cells::new(cell_deg),
            map_features: Cells::new(cell_deg),
            lines: Vec::new(),
            line_vertices: 0,
            line_cells: Cells::new(cell_deg),
            counts: [0; 4],
        }
    }

    /// Adds one feature of `resource`'s layer. Non-finite positions are ignored.
    pub fn add(&mut self, resource: Resource, feature: &Feature) {
        let kind = match resource {
            Resource::Images => 0,
            Resource::Sequences => 1,
            Resource::SequencePoints => 2,
            Resource::MapFeatures => 3,
        };
        self.counts[kind] += 1;
        let positions: &[Position] = match &feature.geometry {
            Geometry::Point(p) => std::slice::from_ref(p),
            Geometry::LineString(line) => line,
        };
        let finite = |p: &&Position| p.iter().all(|c| c.is_finite());
        for &[x, y] in positions.iter().filter(finite) {
            self.data_extent = union(self.data_extent.into_iter().chain([[x, y, x, y]]));
        }
        match (&feature.geometry, resource) {
            (Geometry::LineString(line), _) => self.add_line(line),
            (Geometry::Point(p), Resource::SequencePoints) if finite(&p) => {
                self.sequence_points.add(*p);
            }
            (Geometry::Point(p), Resource::MapFeatures) if finite(&p) => {
                self.map_features.add(*p);
            }
            (Geometry::Point(p), _) if finite(&p) => self.images.add(*p),
            (Geometry::Point(_), _) => {}
        }
    }

    /// Keeps a line with one vertex per cell (and its last vertex), or bins it once the vertex
    /// budget is spent.
    fn add_line(&mut self, line: &[Position]) {
        let finite = line.iter().filter(|p| p.iter().all(|c| c.is_finite()));
        if self.line_vertices >= MAX_LINE_VERTICES {
            finite.for_each(|&p| self.line_cells.add(p));
            return;
        }
        let mut kept: Vec<Position> = Vec::new();
        let mut last_cell = None;
        let mut last = None;
        for &p in finite {
            let cell = self.line_cells.key(p);
            if last_cell != Some(cell) {
                kept.push(p);
                last_cell = Some(cell);
            }
            last = Some(p);
        }
        if let Some(end) = last.filter(|end| kept.last() != Some(end)) {
            kept.push(end);
        }
        if self.line_vertices + kept.len() > MAX_LINE_VERTICES {
            // Over budget: this line and every later one are binned.
            self.line_vertices = MAX_LINE_VERTICES;
            kept.iter().for_each(|&p| self.line_cells.add(p));
        } else if !kept.is_empty() {
            self.line_vertices += kept.len();
            self.lines.push(kept);
        }
    }

    /// Writes `<dir>/preview.svg`, titled `title`. Everything is escaped; nothing is fetched
    /// from the network.
    pub fn write(&self, dir: &Path, title: &str) -> Result<(), WriteError> {
        write_file(&dir.join("preview.svg"), |out| self.write_svg(out, title))
    }

    fn write_svg(&self, out: &mut dyn Write, title: &str) -> io::Result<()> {
        let map = MapFrame::new(union(
            self.areas
                .iter()
                .map(Area::bounding_box)
                .chain(self.data_extent),
        ));
        write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{SVG_WIDTH}\" \
             height=\"{SVG_HEIGHT}\" viewBox=\"0 0 {SVG_WIDTH} {SVG_HEIGHT}\">\n<title>"
        )?;
        out.write_all(escape(title).as_bytes())?;
        out.write_all(
            b"</title>\n<style>\n\
              text{font-family:sans-serif;font-size:13px;fill:#222}\n\
              .frame{fill:#f7f7f2;stroke:#999}\n\
              .area,.key-area{fill:#d9534f;fill-opacity:0.06;stroke:#d9534f;stroke-width:1.5;stroke-dasharray:6 3}\n\
              .sequence,.key-sequence{fill:none;stroke:#2a7ab0;stroke-width:1.5;stroke-linecap:round;stroke-linejoin:round}\n\
              .sequence-cell{fill:#2a7ab0}\n\
              .image,.key-image{fill:#e08a00}\n\
              .sequence-point,.key-sequence-point{fill:#1b8a3a}\n\
              .map-feature,.key-map-feature{fill:#8e2dc5}\n\
              .scale-bar{fill:#222}\n\
              .north-arrow{fill:#222}\n\
              </style>\n",
        )?;
        write!(
            out,
            "<text x=\"{MAP_X}\" y=\"24\" font-size=\"16\">Preview: "
        )?;
        out.write_all(escape(title).as_bytes())?;
        writeln!(
            out,
            "</text>\n<rect class=\"frame\" x=\"{MAP_X}\" y=\"{MAP_Y}\" width=\"{MAP_WIDTH}\" height=\"{MAP_HEIGHT}\"/>"
        )?;
        for area in &self.areas {
            map.write_area(out, area)?;
        }
        for line in &self.lines {
            map.write_line(out, line)?;
        }
        map.write_cells(out, &self.line_cells, "sequence-cell")?;
        map.write_cells(out, &self.sequence_points, "sequence-point")?;
        map.write_cells(out, &self.images, "image")?;
        map.write_cells(out, &self.map_features, "map-feature")?;
        map.write_scale_bar(out)?;
        write_north_arrow(out)?;
        self.write_legend(out)?;
        out.write_all(b"</svg>\n")
    }

    fn write_legend(&self, out: &mut dyn Write) -> io::Result<()> {
        let x = MAP_X + MAP_WIDTH + 16.0;
        let [images, sequences, points, map_features] = self.counts;
        writeln!(out, "<g class=\"legend\">")?;
        writeln!(
            out,
            "<text x=\"{x}\" y=\"{}\" font-weight=\"bold\">Legend</text>",
            MAP_Y + 14.0
        )?;
        let rows: [(&str, String); 5] = [
            ("area", format!("search areas ({})", self.areas.len())),
            ("sequence", format!("sequences ({sequences})")),
            ("image", format!("images ({images})")),
            ("sequence-point", format!("sequence points ({points})")),
            ("map-feature", format!("map features ({map_features})")),
        ];
        for (i, (kind, label)) in rows.iter().enumerate() {
            let y = MAP_Y + 36.0 + 22.0 * i as f64;
            match *kind {
                "area" => writeln!(
                    out,
                    "<rect class=\"key-area\" x=\"{x}\" y=\"{}\" width=\"16\" height=\"10\"/>",
                    y - 9.0
                )?,
                "sequence" => writeln!(
                    out,
                    "<polyline class=\"key-sequence\" points=\"{x},{} {},{}\"/>",
                    y - 4.0,
                    x + 16.0,
                    y - 4.0
                )?,
                _ => writeln!(
                    out,
                    "<rect class=\"key-{kind}\" x=\"{}\" y=\"{}\" width=\"6\" height=\"6\"/>",
                    x + 5.0,
                    y - 7.0
                )?,
            }
            writeln!(out, "<text x=\"{}\" y=\"{y}\">{label}</text>", x + 24.0)?;
        }
        writeln!(out, "</g>")
    }
}

/// The projection of an extent onto the map rectangle.
struct MapFrame {
    /// `[min lon, min lat, max lon, max lat]` drawn, margin included.
    extent: Bbox,
    /// Longitude is scaled by the cosine of the mean latitude.
    lon_factor: f64,
    /// Pixels per (scaled) degree.
    scale: f64,
    /// Centring offsets inside the map rectangle.
    offset: [f64; 2],
}

impl MapFrame {
    fn new(extent: Option<Bbox>) -> MapFrame {
        let [mut x0, mut y0, mut x1, mut y1] = extent.unwrap_or([-180.0, -80.0, 180.0, 80.0]);
        for (lo, hi) in [(&mut x0, &mut x1), (&mut y0, &mut y1)] {
            let grow = (MIN_EXTENT_DEG - (*hi - *lo)).max(0.0) / 2.0;
            let margin = (*hi - *lo + 2.0 * grow) * 0.05;
            *lo -= grow + margin;
            *hi += grow + margin;
        }
        let lon_factor = ((y0 + y1) / 2.0).to_radians().cos().max(0.01);
        let width = (x1 - x0) * lon_factor;
        let height = y1 - y0;
        let scale = (MAP_WIDTH / width).min(MAP_HEIGHT / height);
        MapFrame {
            extent: [x0, y0, x1, y1],
            lon_factor,
            scale,
            offset: [
                (MAP_WIDTH - width * scale) / 2.0,
                (MAP_HEIGHT - height * scale) / 2.0,
            ],
        }
    }

    /// Pixel position of `[lon, lat]`.
    fn project(&self, [lon, lat]: Position) -> [f64; 2] {
        [
            MAP_X + self.offset[0] + (lon - self.extent[0]) * self.lon_factor * self.scale,
            MAP_Y + self.offset[1] + (self.extent[3] - lat) * self.scale,
        ]
    }

    fn write_area(&self, out: &mut dyn Write, area: &Area) -> io::Result<()> {
        match *area {
            Area::Bbox(b) => {
                let [x0, y0] = self.project([b[0], b[3]]);
                let [x1, y1] = self.project([b[2], b[1]]);
                writeln!(
                    out,
                    "<rect class=\"area\" x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                    x1 - x0,
                    y1 - y0
                )
            }
            Area::Closeto { .. } => {
                out.write_all(b"<polygon class=\"area\" points=\"")?;
                for (step, &p) in area_ring(area).iter().enumerate() {
                    let [x, y] = self.project(p);
                    write!(out, "{}{x:.1},{y:.1}", if step == 0 { "" } else { " " })?;
                }
                out.write_all(b"\"/>\n")
            }
        }
    }

    fn write_line(&self, out: &mut dyn Write, line: &[Position]) -> io::Result<()> {
        out.write_all(b"<polyline class=\"sequence\" points=\"")?;
        let mut previous: Option<[f64; 2]> = None;
        let mut drawn = 0;
        for &p in line {
            let [x, y] = self.project(p);
            // Vertices within half a pixel of the previous one add nothing visible.
            if previous.is_some_and(|[px, py]| (x - px).abs() < 0.5 && (y - py).abs() < 0.5) {
                continue;
            }
            write!(out, "{}{x:.1},{y:.1}", if drawn == 0 { "" } else { " " })?;
            previous = Some([x, y]);
            drawn += 1;
        }
        // One visible vertex: repeat it so the round cap draws a dot.
        if let (1, Some([x, y])) = (drawn, previous) {
            write!(out, " {x:.1},{y:.1}")?;
        }
        out.write_all(b"\"/>\n")
    }

    /// Draws occupied cells as dots on the [`DOT_PX`] grid, each dot once, in row order.
    fn write_cells(&self, out: &mut dyn Write, cells: &Cells, class: &str) -> io::Result<()> {
        let columns = (MAP_WIDTH / DOT_PX).ceil() as usize;
        let rows = (MAP_HEIGHT / DOT_PX).ceil() as usize;
        let mut dots = vec![false; columns * rows];
        for p in cells.centres() {
            let [x, y] = self.project(p);
            let column = ((x - MAP_X) / DOT_PX).floor();
            let row = ((y - MAP_Y) / DOT_PX).floor();
            if column >= 0.0 && row >= 0.0 && (column as usize) < columns && (row as usize) < rows {
                dots[row as usize * columns + column as usize] = true;
            }
        }
        for (i, _) in dots.iter().enumerate().filter(|(_, on)| **on) {
            let x = MAP_X + (i % columns) as f64 * DOT_PX;
            let y = MAP_Y + (i / columns) as f64 * DOT_PX;
            writeln!(
                out,
                "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{DOT_PX}\" height=\"{DOT_PX}\"/>"
            )?;
        }
        Ok(())
    }

    /// A bar of a round length (1, 2 or 5 × 10ⁿ m) near 120 px, bottom left of the map.
    fn write_scale_bar(&self, out: &mut dyn Write) -> io::Result<()> {
        let metres_per_px = METRES_PER_DEG / self.scale;
        let target = 120.0 * metres_per_px;
        let magnitude = 10f64.powf(target.log10().floor());
        let length = [5.0, 2.0, 1.0]
            .into_iter()
            .map(|m| m * magnitude)
            .find(|&l| l <= target)
            .unwrap_or(magnitude);
        let px = length / metres_per_px;
        let label = if length >= 1000.0 {
            format!("{} km", length / 1000.0)
        } else {
            format!("{length} m")
        };
        let (x, y) = (MAP_X + 12.0, MAP_Y + MAP_HEIGHT - 14.0);
        writeln!(
            out,
            "<g class=\"scale-bar\"><rect x=\"{x}\" y=\"{y}\" width=\"{px:.1}\" height=\"4\"/>\
             <text x=\"{x}\" y=\"{}\">{label}</text></g>",
            y - 4.0
        )
    }
}

fn write_north_arrow(out: &mut dyn Write) -> io::Result<()> {
    let (x, y) = (MAP_X + MAP_WIDTH - 24.0, MAP_Y + 14.0);
    writeln!(
        out,
        "<g class=\"north-arrow\"><polygon points=\"{x},{y} {},{} {x},{} {},{}\"/>\
         <text x=\"{}\" y=\"{}\">N</text></g>",
        x + 7.0,
        y + 20.0,
        y + 15.0,
        x - 7.0,
        y + 20.0,
        x - 4.5,
        y + 34.0
    )
}

/// The outline of an area: a closed ring of a box's corners, or 72 points around a circle.
pub(crate) fn area_ring(area: &Area) -> Vec<Position> {
    match *area {
        Area::Bbox([x0, y0, x1, y1]) => vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]],
        Area::Closeto { center, radius_m } => {
            let angular = (radius_m / EARTH_RADIUS_M).to_degrees();
            let lat_cos = center[1].to_radians().cos().max(0.01);
            (0..72)
                .map(|step| {
                    let t = f64::from(step) * 5.0_f64.to_radians();
                    [
                        center[0] + angular * t.sin() / lat_cos,
                        center[1] + angular * t.cos(),
                    ]
                })
                .collect()
        }
    }
}

/// Creates `path` and writes it through a buffer.
pub(crate) fn write_file(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let error = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::with_capacity(1 << 16, File::create(path).map_err(error)?);
    body(&mut out).map_err(error)?;
    out.flush().map_err(error)
}

/// Text for XML and HTML content and attributes: the five special characters as entities, and
/// the control characters XML 1.0 forbids as U+FFFD.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if c.is_control() => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The smallest box holding all `boxes`, if any.
fn union(boxes: impl IntoIterator<Item = Bbox>) -> Option<Bbox> {
    boxes.into_iter().reduce(|a, b| {
        [
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[2].max(b[2]),
            a[3].max(b[3]),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarsening_keeps_every_point_in_a_cell_that_holds_it() {
        let mut cells = Cells::new(1e-6);
        for i in 0..(MAX_CELLS as u32 + 1) {
            cells.add([f64::from(i) * 1e-5, 0.0]);
        }
        assert!(cells.occupied.len() <= MAX_CELLS / 2);
        assert!(cells.cell_deg > 1e-6);
        let last = [f64::from(MAX_CELLS as u32) * 1e-5, 0.0];
        assert!(cells.occupied.contains(&cells.key(last)));
    }

    #[test]
    fn escape_covers_markup_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"'\u{7}東"),
            "a&lt;b&gt;&amp;&quot;&#39;\u{FFFD}東"
        );
    }
}
