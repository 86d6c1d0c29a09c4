//! Planning: queries become cells, each one request chain. Pure, no I/O.

mod cell;
mod layout;
mod map_features;
mod query;

use std::sync::Arc;

use model::{Api, Area, Bbox, format_epoch_ms};

pub(crate) use cell::{Cell, Endpoint, SplitRule, V4_IMAGE_FIELDS};
use layout::Layout;
pub(crate) use query::PlannedQuery;

use crate::{FetchConfig, Query, QueryResource};

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
            (_, QueryResource::MapFeatures) => vec![map_features::plan(config, query)],
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

    use crate::Secret;

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
}
