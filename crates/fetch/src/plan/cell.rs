//! A cell: one request chain (its endpoint, area, parameters and split rule), its canonical
//! form, cache key, first URL and quadrants. Pure.

use std::sync::Arc;

use model::{Api, Area, Bbox};
use sha2::{Digest, Sha256};
use url::Url;

use crate::{QueryResource, Secret};

/// The fields every v4 image request asks for (only `id` comes back unless listed). Image node
/// fields only: a search parameter such as `organization_id` is no field, and the API refuses
/// the whole request for it (HTTP 400, code 100).
pub(crate) const V4_IMAGE_FIELDS: &str = "id,geometry,captured_at,compass_angle,sequence,creator,\
    make,model,is_pano,computed_geometry,computed_compass_angle";

/// Cells narrower and lower than twice this cannot be split further.
const MIN_CELL_SIDE_DEG: f64 = 1e-6;

/// An API endpoint and the shape of its 200 bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// v3 `/images`: a FeatureCollection.
    V3Images,
    /// v3 `/sequences`: a FeatureCollection.
    V3Sequences,
    /// v3 `/users`: a JSON array.
    V3Users,
    /// v4 `/images`: `{"data": [...], "paging": {"next"}}`.
    V4Images,
    /// v4 `/map_features`: `{"data": [...]}`, like `/images`.
    V4MapFeatures,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::V3Images | Endpoint::V4Images => "images",
            Endpoint::V3Sequences => "sequences",
            Endpoint::V3Users => "users",
            Endpoint::V4MapFeatures => "map_features",
        }
    }
}

/// When a cell is replaced by its quadrants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitRule {
    /// Never (paging follows `next` to the end).
    Never,
    /// v3: when the chain's items reach the result cap.
    ChainReaches(usize),
    /// v4 bbox search: when one page holds the limit (it does not paginate).
    PageReaches(usize),
}

impl SplitRule {
    /// The cap a chain reached after a page of `page_items` (`chain_items` so far, that page
    /// included), if it did: then its cell is replaced by its quadrants.
    pub(crate) fn reached(self, chain_items: usize, page_items: usize) -> Option<usize> {
        match self {
            SplitRule::Never => None,
            SplitRule::ChainReaches(cap) => (chain_items >= cap).then_some(cap),
            SplitRule::PageReaches(limit) => (page_items >= limit).then_some(limit),
        }
    }
}

/// One request chain: the first request, then its next links.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    /// For progress lines.
    pub(crate) label: String,
    /// The label of the query it belongs to (its split cells too), for per-query progress.
    pub(crate) query: Arc<str>,
    pub(crate) resource: QueryResource,
    pub(crate) endpoint: Endpoint,
    /// Sent as `bbox` (or v3 `closeto` + `radius`); `None` for non-spatial requests.
    pub(crate) area: Option<Area>,
    /// Every other parameter, no token.
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) split: SplitRule,
}

impl Cell {
    /// The first request's parameters, sorted by name (then value): the canonical form.
    pub(crate) fn sorted_params(&self) -> Vec<(&'static str, String)> {
        let mut params = self.params.clone();
        match self.area {
            Some(Area::Bbox(b)) => params.push(("bbox", format_bbox(b))),
            Some(Area::Closeto { center, radius_m }) => {
                params.push(("closeto", format!("{},{}", center[0], center[1])));
                params.push(("radius", radius_m.to_string()));
            }
            None => {}
        }
        params.sort();
        params
    }

    /// `GET /images?a=1&b=2`, no token: the canonical request.
    pub(crate) fn describe(&self) -> String {
        let query: Vec<String> = self
            .sorted_params()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("GET /{}?{}", self.endpoint.path(), query.join("&"))
    }

    /// The cache key: a hash of the API and the canonical request.
    pub(crate) fn cache_key(&self, api: Api) -> String {
        let digest = Sha256::digest(format!("{} {}", api.as_str(), self.describe()));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first request's URL, with the v3 `client_id`.
    pub(crate) fn url(&self, api: Api, base: &Url, token: &Secret) -> Url {
        let mut url = base.clone();
        let path = format!(
            "{}/{}",
            base.path().trim_end_matches('/'),
            self.endpoint.path()
        );
        url.set_path(&path);
        url.set_fragment(None);
        {
            let mut query = url.query_pairs_mut();
            query.clear();
            for (k, v) in self.sorted_params() {
                query.append_pair(k, &v);
            }
            if api == Api::V3 {
                query.append_pair("client_id", token.expose());
            }
        }
        url
    }

    /// The four quadrant cells (SW, SE, NW, NE), or `None` at the minimum cell side.
    pub(crate) fn quadrants(&self) -> Option<[Cell; 4]> {
        let b = self.area?.bounding_box();
        if (b[2] - b[0]).max(b[3] - b[1]) < 2.0 * MIN_CELL_SIDE_DEG {
            return None;
        }
        let names = ["SW", "SE", "NW", "NE"];
        let quadrants = model::quadrants(b);
        Some(std::array::from_fn(|i| Cell {
            label: format!("{} {}", self.label, names[i]),
            area: Some(Area::Bbox(quadrants[i])),
            ..self.clone()
        }))
    }
}

fn format_bbox(b: Bbox) -> String {
    format!("{},{},{},{}", b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_splits_on_the_chains_total_v4_on_one_full_page() {
        assert_eq!(SplitRule::Never.reached(usize::MAX, usize::MAX), None);
        let v3 = SplitRule::ChainReaches(10_000);
        assert_eq!(v3.reached(9_999, 1_000), None);
        assert_eq!(v3.reached(10_000, 1_000), Some(10_000));
        assert_eq!(v3.reached(10_500, 500), Some(10_000));
        let v4 = SplitRule::PageReaches(2000);
        assert_eq!(v4.reached(10_000, 1999), None, "chain totals do not count");
        assert_eq!(v4.reached(2000, 2000), Some(2000));
    }

    #[test]
    fn quadrants_stop_at_the_minimum_side() {
        let cell = Cell {
            label: "c".into(),
            query: "c".into(),
            resource: QueryResource::Images,
            endpoint: Endpoint::V3Images,
            area: Some(Area::Bbox([0.0, 0.0, 1.0, 1.0])),
            params: Vec::new(),
            split: SplitRule::ChainReaches(10),
        };
        let quadrants = cell.quadrants().unwrap();
        assert_eq!(quadrants[3].label, "c NE");
        assert_eq!(quadrants[3].area, Some(Area::Bbox([0.5, 0.5, 1.0, 1.0])));
        let tiny = Cell {
            area: Some(Area::Bbox([0.0, 0.0, 1.5e-6, 1.5e-6])),
            ..cell
        };
        assert!(tiny.quadrants().is_none());
    }
}
