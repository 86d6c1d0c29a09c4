//! `[[areas]]`: names, boxes, circles and the coordinates in them.

use std::ops::Range;

use model::Area;
use toml::de::DeTable;

use super::checker::{Checker, Value};
use super::types::JobArea;
use crate::limits;

const AREA_KEYS: &[&str] = &["name", "bbox", "closeto", "radius"];

impl Checker<'_> {
    pub(super) fn areas(
        &mut self,
        table: &DeTable<'_>,
        span: Range<usize>,
    ) -> Option<Vec<JobArea>> {
        let Some(v) = table.get("areas") else {
            self.error(
                span.start..span.start,
                "areas",
                "missing; add at least one [[areas]] with `bbox = [minx, miny, maxx, maxy]` \
                 or `closeto = [lon, lat]`"
                    .into(),
            );
            return None;
        };
        let items = self.tables(v, "areas")?;
        if items.is_empty() {
            self.error(v.span(), "areas", "is empty; add at least one area".into());
            return None;
        }
        let mut areas: Vec<JobArea> = Vec::new();
        let mut ok = true;
        for (i, (item_span, item)) in items.into_iter().enumerate() {
            let key = format!("areas[{}]", i + 1);
            match self.area(&key, i, item_span.clone(), item) {
                Some(a) if areas.iter().any(|b| b.name == a.name) => {
                    self.error(
                        item_span,
                        &format!("{key}.name"),
                        format!(
                            "\"{}\" is used by an earlier area; names must differ",
                            a.name
                        ),
                    );
                    ok = false;
                }
                Some(a) => areas.push(a),
                None => ok = false,
            }
        }
        ok.then_some(areas)
    }

    pub(super) fn area(
        &mut self,
        key: &str,
        index: usize,
        span: Range<usize>,
        table: &DeTable<'_>,
    ) -> Option<JobArea> {
        self.unknown_keys(table, &format!("{key}."), AREA_KEYS);
        let name = match table.get("name") {
            None => Some(format!("area-{}", index + 1)),
            Some(v) => match self.string(v, &format!("{key}.name")) {
                Some(n)
                    if !n.is_empty()
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                {
                    Some(n.to_owned())
                }
                Some(n) => {
                    self.error(
                        v.span(),
                        &format!("{key}.name"),
                        format!("\"{n}\" is not valid; use letters, digits, - and _"),
                    );
                    None
                }
                None => None,
            },
        };
        let area = match (table.get("bbox"), table.get("closeto")) {
            (Some(_), Some(c)) => {
                self.error(
                    c.span(),
                    &format!("{key}.closeto"),
                    "an area has either `bbox` or `closeto`, not both; split it into two \
                     [[areas]]"
                        .into(),
                );
                None
            }
            (None, None) => {
                self.error(
                    span,
                    key,
                    "needs `bbox = [minx, miny, maxx, maxy]` or `closeto = [lon, lat]`".into(),
                );
                None
            }
            (Some(b), None) => {
                if let Some(r) = table.get("radius") {
                    self.error(
                        r.span(),
                        &format!("{key}.radius"),
                        "`radius` goes with `closeto`, not with `bbox`".into(),
                    );
                }
                self.bbox(b, &format!("{key}.bbox")).map(Area::Bbox)
            }
            (None, Some(c)) => {
                let center = self.position(c, &format!("{key}.closeto"));
                let radius_m = match table.get("radius") {
                    None => Some(100.0),
                    Some(r) => self.number_in(r, &format!("{key}.radius"), limits::RADIUS_M),
                };
                Some(Area::Closeto {
                    center: center?,
                    radius_m: radius_m?,
                })
            }
        };
        Some(JobArea {
            name: name?,
            area: area?,
        })
    }

    pub(super) fn bbox(&mut self, v: &Value<'_>, key: &str) -> Option<[f64; 4]> {
        let nums = self.numbers(v, key, 4, "[minx, miny, maxx, maxy]")?;
        let b = [nums[0], nums[1], nums[2], nums[3]];
        let mut ok = self.lon_lat(v, key, b[0], b[1]);
        ok &= self.lon_lat(v, key, b[2], b[3]);
        if ok && b[0] >= b[2] {
            self.error(
                v.span(),
                key,
                format!(
                    "minx ({}) must be less than maxx ({}); expected [minx, miny, maxx, maxy]",
                    b[0], b[2]
                ),
            );
            ok = false;
        }
        if ok && b[1] >= b[3] {
            self.error(
                v.span(),
                key,
                format!(
                    "miny ({}) must be less than maxy ({}); expected [minx, miny, maxx, maxy]",
                    b[1], b[3]
                ),
            );
            ok = false;
        }
        ok.then_some(b)
    }

    pub(super) fn position(&mut self, v: &Value<'_>, key: &str) -> Option<[f64; 2]> {
        let nums = self.numbers(v, key, 2, "[lon, lat]")?;
        self.lon_lat(v, key, nums[0], nums[1])
            .then_some([nums[0], nums[1]])
    }

    pub(super) fn lon_lat(&mut self, v: &Value<'_>, key: &str, lon: f64, lat: f64) -> bool {
        let mut ok = true;
        if !(-180.0..=180.0).contains(&lon) {
            self.error(
                v.span(),
                key,
                format!("longitude {lon} is out of range; expected -180 to 180 (lon comes first)"),
            );
            ok = false;
        }
        if !(-90.0..=90.0).contains(&lat) {
            self.error(
                v.span(),
                key,
                format!("latitude {lat} is out of range; expected -90 to 90 (lat comes second)"),
            );
            ok = false;
        }
        ok
    }
}
