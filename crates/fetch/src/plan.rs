//! Planning: queries become cells, each one request chain. Pure, no I/O.

use std::sync::Arc;

use model::{Api, Area, Bbox, format_epoch_ms};
use sha2::{Digest, Sha256};
use url::Url;

use crate::{FetchConfig, Query, QueryResource, Secret};

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

    fn len(&self) -> usize {
        match self {
            Layout::Single(_) => 1,
            Layout::Grid { columns, rows, .. } => columns.saturating_mul(*rows),
        }
    }

    fn area(&self, index: usize) -> Area {
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

/// One query after planning: its cells are generated on demand, so a huge area costs no memory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedQuery {
    /// The cell template: everything but the area.
    pub(crate) template: Cell,
    pub(crate) layout: Layout,
    /// v3 usernames to resolve to userkeys before the first request.
    pub(crate) usernames: Vec<String>,
    /// v3 userkeys given by the job.
    pub(crate) userkeys: Vec<String>,
}

impl PlannedQuery {
    /// The initial cells, with the v3 user filter `userkeys` (if any) applied.
    pub(crate) fn cells<'a>(&'a self, userkeys: &'a [String]) -> impl Iterator<Item = Cell> + 'a {
        let count = self.layout.len();
        (0..count).map(move |index| {
            let mut cell = self.template.clone();
            if count > 1 {
                cell.label = format!("{} cell {}/{count}", cell.label, index + 1);
            }
            cell.area = Some(self.layout.area(index));
            if !userkeys.is_empty() {
                cell.params.push(("userkeys", userkeys.join(",")));
            }
            cell
        })
    }

    pub(crate) fn label(&self) -> &str {
        &self.template.label
    }

    /// True when both send the same requests (their labels aside): they would share every
    /// cell's cache key, and so its log.
    fn same_requests(&self, other: &PlannedQuery) -> bool {
        let unlabelled = |cell: &Cell| Cell {
            label: String::new(),
            query: Arc::from(""),
            ..cell.clone()
        };
        unlabelled(&self.template) == unlabelled(&other.template)
            && self.layout == other.layout
            && self.usernames == other.usernames
            && self.userkeys == other.userkeys
    }

    /// The query's label in progress events.
    pub(crate) fn query(&self) -> &Arc<str> {
        &self.template.query
    }

    /// The number of initial cells.
    pub(crate) fn cell_count(&self) -> usize {
        self.layout.len()
    }
}

/// The cells a run starts with (cap splitting adds more while it runs).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub(crate) api: Api,
    pub(crate) queries: Vec<PlannedQuery>,
}

impl Plan {
    /// The number of initial cells.
    pub fn cells(&self) -> usize {
        self.queries
            .iter()
            .map(PlannedQuery::cell_count)
            .fold(0, usize::saturating_add)
    }

    /// One line per initial cell: its label, endpoint and parameters (never the token).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::with_capacity(self.cells());
        for query in &self.queries {
            let mut userkeys = query.userkeys.clone();
            if !query.usernames.is_empty() {
                userkeys.push(format!("<users {}>", query.usernames.join(",")));
            }
            lines.extend(
                query
                    .cells(&userkeys)
                    .map(|cell| format!("{}: {}", cell.label, cell.describe())),
            );
        }
        lines
    }
}

/// Expands queries into cells (pure).
///
/// v3: a box larger than `v3_cell_max_area` becomes a grid of equal cells no larger than that,
/// so one large area walks many `Link` chains in parallel; a `closeto` query stays one cell.
/// v4: every area (a circle through its bounding box) becomes a grid of cells of at most
/// `v4_cell_max_area`; a query with usernames and no userkeys becomes one query per username.
///
/// Queries that send the same requests (two areas with the same geometry) are planned once,
/// labelled with every query's label (`a/images + b/images`): two chains on one cache log
/// would truncate each other's pages.
pub fn plan(config: &FetchConfig, queries: &[Query]) -> Plan {
    let mut planned: Vec<PlannedQuery> = Vec::new();
    let all = queries
        .iter()
        .flat_map(|query| match (config.api, query.resource) {
            (_, QueryResource::MapFeatures) => vec![crate::map_features::plan(config, query)],
            (Api::V3, _) => vec![plan_v3(config, query)],
            (Api::V4, _) => plan_v4(config, query),
        });
    for query in all {
        match planned.iter_mut().find(|p| p.same_requests(&query)) {
            Some(earlier) => {
                earlier.template.label = format!("{} + {}", earlier.label(), query.label());
            }
            None => planned.push(query),
        }
    }
    Plan {
        api: config.api,
        queries: planned,
    }
}

fn plan_v3(config: &FetchConfig, query: &Query) -> PlannedQuery {
    let mut params = vec![("per_page", config.per_page.to_string())];
    let endpoint = match query.resource {
        QueryResource::Images => {
            if let Some(range) = query.date_range {
                params.push(("start_time", format_epoch_ms(range.start_ms)));
                params.push(("end_time", format_epoch_ms(range.end_ms)));
            }
            if let Some(pano) = query.pano {
                params.push(("pano", pano.to_string()));
            }
            if let Some([lon, lat]) = query.lookat {
                params.push(("lookat", format!("{lon},{lat}")));
            }
            Endpoint::V3Images
        }
        // The API ignores every other filter on sequences; the transform enforces them. Map
        // features are v4 only: `plan` never hands them to this function.
        QueryResource::Sequences | QueryResource::MapFeatures => Endpoint::V3Sequences,
    };
    let layout = match query.area {
        Area::Bbox(b) if bbox_area(b) > config.v3_cell_max_area => {
            Layout::grid(b, config.v3_cell_max_area)
        }
        area => Layout::Single(area),
    };
    PlannedQuery {
        template: Cell {
            label: query.label.clone(),
            query: Arc::from(query.label.as_str()),
            resource: query.resource,
            endpoint,
            area: None,
            params,
            split: SplitRule::ChainReaches(config.result_cap),
        },
        layout,
        usernames: query.usernames.clone(),
        userkeys: query.userkeys.clone(),
    }
}

fn plan_v4(config: &FetchConfig, query: &Query) -> Vec<PlannedQuery> {
    let mut params = vec![
        ("fields", V4_IMAGE_FIELDS.to_owned()),
        ("limit", config.v4_limit.to_string()),
    ];
    // v4 has no sequence search: a sequences query fetches the area's images (for their
    // sequence ids), so only the area filter applies.
    if query.resource == QueryResource::Images {
        if let Some(range) = query.date_range {
            params.push(("start_captured_at", format_epoch_ms(range.start_ms)));
            params.push(("end_captured_at", format_epoch_ms(range.end_ms)));
        }
        if let Some(pano) = query.pano {
            params.push(("is_pano", pano.to_string()));
        }
    }
    let template = Cell {
        label: query.label.clone(),
        query: Arc::from(query.label.as_str()),
        resource: query.resource,
        endpoint: Endpoint::V4Images,
        area: None,
        params,
        split: SplitRule::PageReaches(config.v4_limit),
    };
    let layout = Layout::grid(query.area.bounding_box(), config.v4_cell_max_area);
    let planned = |template: Cell| PlannedQuery {
        template,
        layout: layout.clone(),
        usernames: Vec::new(),
        userkeys: Vec::new(),
    };
    if query.usernames.is_empty() || !query.userkeys.is_empty() {
        // With userkeys there is no server-side filter by key: the transform filters.
        return vec![planned(template)];
    }
    query
        .usernames
        .iter()
        .map(|username| {
            let mut cell = template.clone();
            cell.label = format!("{} user {username}", cell.label);
            cell.params.push(("creator_username", username.clone()));
            // A creator search pages with `paging.next`: nothing is cut, nothing to split.
            cell.split = SplitRule::Never;
            planned(cell)
        })
        .collect()
}

fn bbox_area(b: Bbox) -> f64 {
    (b[2] - b[0]) * (b[3] - b[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::DateRange;

    fn config(api: Api) -> FetchConfig {
        let base = match api {
            Api::V3 => "https://a.mapillary.com/v3",
            Api::V4 => "https://graph.mapillary.com",
        };
        FetchConfig::new(
            api,
            base.parse().unwrap(),
            Secret::new("SECRET-TOKEN".into()),
            "cache".into(),
        )
    }

    fn all_cells(plan: &Plan) -> Vec<Cell> {
        plan.queries
            .iter()
            .flat_map(|q| q.cells(&[]).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn v3_small_bbox_is_one_cell_with_its_filters() {
        let mut query = Query::new(
            "seattle images",
            QueryResource::Images,
            Area::Bbox([-122.31, 47.65, -122.30, 47.66]),
        );
        query.date_range = Some(DateRange {
            start_ms: 1_459_123_200_000,
            end_ms: 1_459_209_600_000,
        });
        query.pano = Some(false);
        query.lookat = Some([-122.305, 47.655]);
        let plan = plan(&config(Api::V3), &[query]);
        assert_eq!(plan.cells(), 1);
        assert_eq!(
            plan.lines(),
            [
                "seattle images: GET /images?bbox=-122.31,47.65,-122.3,47.66&end_time=2016-03-29T00:00:00.000Z&lookat=-122.305,47.655&pano=false&per_page=1000&start_time=2016-03-28T00:00:00.000Z"
            ]
        );
    }

    #[test]
    fn v3_large_bbox_becomes_an_exact_grid() {
        let bbox = [-111.1, 45.6, -110.95, 45.7];
        let plan = plan(
            &config(Api::V3),
            &[Query::new(
                "bozeman",
                QueryResource::Images,
                Area::Bbox(bbox),
            )],
        );
        // 0.15 x 0.1 deg with cells of at most 0.05 x 0.05: 3 columns, 2 rows.
        assert_eq!(plan.cells(), 6);
        let cells = all_cells(&plan);
        let boxes: Vec<Bbox> = cells
            .iter()
            .map(|c| c.area.unwrap().bounding_box())
            .collect();
        for b in &boxes {
            assert!(bbox_area(*b) <= 0.0025 + 1e-12, "{b:?}");
        }
        assert_eq!(boxes[0][0], bbox[0]);
        assert_eq!(boxes[0][1], bbox[1]);
        assert_eq!(boxes[5][2], bbox[2]);
        assert_eq!(boxes[5][3], bbox[3]);
        let total: f64 = boxes.iter().map(|b| bbox_area(*b)).sum();
        assert!((total - bbox_area(bbox)).abs() < 1e-12);
        assert_eq!(cells[2].label, "bozeman cell 3/6");
    }

    #[test]
    fn v3_sequences_send_only_area_users_and_paging() {
        let mut query = Query::new(
            "s",
            QueryResource::Sequences,
            Area::Closeto {
                center: [16.43, 7.25],
                radius_m: 250.0,
            },
        );
        query.pano = Some(true);
        query.userkeys = vec!["k1".into()];
        query.usernames = vec!["maning".into()];
        let plan = plan(&config(Api::V3), &[query]);
        assert_eq!(
            plan.lines(),
            [
                "s: GET /sequences?closeto=16.43,7.25&per_page=1000&radius=250&userkeys=k1,<users maning>"
            ]
        );
    }

    #[test]
    fn v4_cells_stay_under_the_api_limit_and_users_fan_out() {
        let mut query = Query::new(
            "montana",
            QueryResource::Images,
            Area::Bbox([-111.2, 45.6, -111.0, 45.75]),
        );
        query.usernames = vec!["alice".into(), "bob".into()];
        query.pano = Some(true);
        let plan = plan(&config(Api::V4), &[query.clone()]);
        // 0.2 x 0.15 with sides of at most sqrt(0.0099): 3 x 2 cells, per username.
        assert_eq!(plan.cells(), 12);
        for cell in all_cells(&plan) {
            let b = cell.area.unwrap().bounding_box();
            assert!(bbox_area(b) < 0.01);
            assert_eq!(cell.split, SplitRule::Never);
        }
        let lines = plan.lines();
        assert!(lines[0].starts_with("montana user alice cell 1/6: GET /images?bbox="));
        assert!(lines[0].contains("&creator_username=alice&fields=id,geometry,"));
        assert!(lines[0].contains("&is_pano=true&limit=2000"));
        query.userkeys = vec!["key".into()];
        let plan = super::plan(&config(Api::V4), &[query]);
        assert_eq!(plan.cells(), 6);
        assert!(!plan.lines()[0].contains("creator_username"));
        assert_eq!(all_cells(&plan)[0].split, SplitRule::PageReaches(2000));
    }

    #[test]
    fn requests_never_carry_the_token_in_their_canonical_form() {
        let plan = plan(
            &config(Api::V3),
            &[Query::new(
                "q",
                QueryResource::Images,
                Area::Bbox([0.0, 0.0, 0.01, 0.01]),
            )],
        );
        let cell = all_cells(&plan).remove(0);
        let url = cell.url(
            Api::V3,
            &config(Api::V3).base_url,
            &Secret::new("SECRET-TOKEN".into()),
        );
        assert_eq!(
            url.as_str(),
            "https://a.mapillary.com/v3/images?bbox=0%2C0%2C0.01%2C0.01&per_page=1000&client_id=SECRET-TOKEN"
        );
        assert!(!cell.describe().contains("SECRET"));
        assert_eq!(cell.cache_key(Api::V3).len(), 64);
        assert_ne!(cell.cache_key(Api::V3), cell.cache_key(Api::V4));
    }

    #[test]
    fn queries_with_the_same_requests_are_planned_once_under_both_labels() {
        let campus = Area::Bbox([-113.98937, 46.85699, -113.98002, 46.86501]);
        let queries = [
            Query::new("a/images", QueryResource::Images, campus),
            Query::new("b/images", QueryResource::Images, campus),
            Query::new("a/sequences", QueryResource::Sequences, campus),
            Query::new("b/sequences", QueryResource::Sequences, campus),
        ];
        let plan = plan(&config(Api::V3), &queries);
        let lines = plan.lines();
        assert_eq!(plan.cells(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("a/images + b/images: GET /images?"));
        assert!(lines[1].starts_with("a/sequences + b/sequences: GET /sequences?"));
        let keys: Vec<String> = all_cells(&plan)
            .iter()
            .map(|c| c.cache_key(Api::V3))
            .collect();
        assert_ne!(keys[0], keys[1]);
        // v4 too, and another filter keeps queries apart.
        let mut other = Query::new("c/images", QueryResource::Images, campus);
        other.pano = Some(true);
        let plan = super::plan(
            &config(Api::V4),
            &[queries[0].clone(), queries[1].clone(), other],
        );
        assert_eq!(plan.queries.len(), 2);
        assert_eq!(plan.queries[0].label(), "a/images + b/images");
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
