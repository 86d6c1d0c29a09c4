//! Planning v4 map feature queries: `/map_features` bbox cells, split at the limit like images.

use super::cell::{Cell, Endpoint, SplitRule};
use super::layout::Layout;
use super::query::PlannedQuery;
use crate::{FetchConfig, Query};

/// The fields every map feature request asks for (only `id` comes back unless listed); the
/// documented list but `images`, which the export has no column for.
pub(crate) const V4_MAP_FEATURE_FIELDS: &str =
    "id,geometry,object_value,object_type,first_seen_at,last_seen_at";

/// A map features query: the area's bbox cells, each with the fields, the limit and the job's
/// `object_values`. Dates, users and the rest do not apply on the server: the transform
/// filters. A bbox search does not paginate, so a cell that returns `limit` items is split.
pub(crate) fn plan(config: &FetchConfig, query: &Query) -> PlannedQuery {
    let mut params = vec![
        ("fields", V4_MAP_FEATURE_FIELDS.to_owned()),
        ("limit", config.v4_limit.to_string()),
    ];
    if !query.object_values.is_empty() {
        params.push(("object_values", query.object_values.join(",")));
    }
    PlannedQuery {
        template: Cell {
            label: query.label.clone(),
            query: query.label.as_str().into(),
            resource: query.resource,
            endpoint: Endpoint::V4MapFeatures,
            area: None,
            params,
            split: SplitRule::PageReaches(config.v4_limit),
        },
        layout: Layout::grid(query.area.bounding_box(), config.v4_cell_max_area),
        usernames: Vec::new(),
        userkeys: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use model::{Api, Area};

    use crate::{FetchConfig, Query, QueryResource, Secret};

    #[test]
    fn cells_carry_fields_limit_and_object_values_only() {
        let config = FetchConfig::new(
            Api::V4,
            "https://graph.mapillary.com".parse().unwrap(),
            Secret::new("MLY|secret".into()),
            "cache".into(),
        );
        let mut query = Query::new(
            "campus/map_features",
            QueryResource::MapFeatures,
            Area::Bbox([-111.2, 45.6, -111.0, 45.75]),
        );
        query.object_values = vec!["regulatory--stop--g1".into(), "object--bench".into()];
        query.usernames = vec!["ignored".into()];
        query.pano = Some(true);
        let plan = crate::plan(&config, &[query]);
        assert_eq!(plan.cells(), 6);
        let lines = plan.lines();
        assert_eq!(
            lines[0],
            "campus/map_features cell 1/6: GET /map_features?bbox=-111.2,45.6,-111.13333333333334,45.675&fields=id,geometry,object_value,object_type,first_seen_at,last_seen_at&limit=2000&object_values=regulatory--stop--g1,object--bench"
        );
    }
}
