//! The v4 `/map_features` endpoint, as strict as the documented field list allows.

use serde::Serialize;

use super::context::Context;
use crate::error::RequestError;
use crate::geo::bbox_contains;
use crate::http::Response;
use crate::params::Params;

/// The documented map feature fields; `id` always comes back.
const FIELDS: [&str; 7] = [
    "id",
    "geometry",
    "object_value",
    "object_type",
    "first_seen_at",
    "last_seen_at",
    "images",
];

/// The parameters `/map_features` accepts; anything else is refused.
const PARAMETERS: [&str; 5] = ["bbox", "fields", "object_values", "limit", "access_token"];

/// One map feature as v4 returns it: `id`, then the requested fields that have a value.
#[derive(Serialize)]
struct Entry<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    geometry: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<Connection<'a>>,
}

#[derive(Serialize)]
struct Point {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

/// A timestamp in either form the API is seen to send.
#[derive(Serialize)]
#[serde(untagged)]
enum Time {
    Ms(i64),
    Text(String),
}

#[derive(Serialize)]
struct Connection<'a> {
    data: Vec<IdEntry<'a>>,
}

#[derive(Serialize)]
struct IdEntry<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct Page<'a> {
    data: Vec<Entry<'a>>,
}

fn time(ms: Option<i64>, iso: bool, index: usize) -> Option<Time> {
    let ms = ms?;
    if !iso {
        return Some(Time::Ms(ms));
    }
    let t = jiff::Timestamp::from_millisecond(ms).ok()?;
    // Both ISO forms: RFC 3339 with `Z`, and the Graph API's `+0000`.
    Some(Time::Text(if index.is_multiple_of(2) {
        format!("{t:.3}")
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
    }))
}

/// `GET /map_features`.
pub(crate) fn map_features(ctx: &Context, params: &Params) -> Result<Response, RequestError> {
    if let Some(param) = params.names().find(|n| !PARAMETERS.contains(n)) {
        return Err(RequestError::UnknownParameter {
            param: param.to_owned(),
        });
    }
    let mut selected = [false; FIELDS.len()];
    for field in params.list("fields").unwrap_or_default() {
        let idx = FIELDS.iter().position(|f| *f == field).ok_or_else(|| {
            RequestError::NonexistingField {
                field: field.to_owned(),
                node: "MapFeature",
            }
        })?;
        selected[idx] = true;
    }
    let max_limit = ctx.config.v4_max_limit;
    // Stricter than /images: a limit above the maximum is refused, not served as the maximum.
    let limit = params
        .count(
            "limit",
            max_limit,
            "expected a whole number from 1 to the maximum",
        )?
        .unwrap_or(max_limit);
    let bbox = params
        .bbox("bbox")?
        .ok_or(RequestError::MissingParameter { param: "bbox" })?;
    let area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]);
    if area >= ctx.config.v4_max_bbox_area {
        return Err(RequestError::BboxTooLarge {
            area,
            max: ctx.config.v4_max_bbox_area,
        });
    }
    let values = params.list("object_values");
    let [_, geometry, value, kind, first, last, images] = selected;
    let data = ctx
        .world
        .map_features
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            bbox_contains(bbox, f.lon, f.lat)
                && values
                    .as_ref()
                    .is_none_or(|v| v.contains(&f.object_value.as_str()))
        })
        .take(limit)
        .map(|(index, f)| Entry {
            id: &f.id,
            geometry: geometry.then_some(Point {
                kind: "Point",
                coordinates: [f.lon, f.lat],
            }),
            object_value: value.then_some(f.object_value.as_str()),
            object_type: kind.then_some(f.object_type.as_deref()).flatten(),
            first_seen_at: first
                .then(|| time(f.first_seen_at_ms, f.iso_times, index))
                .flatten(),
            last_seen_at: last
                .then(|| time(f.last_seen_at_ms, f.iso_times, index + 1))
                .flatten(),
            images: images.then(|| Connection {
                data: f.image_keys.iter().map(|id| IdEntry { id }).collect(),
            }),
        })
        .collect();
    Ok(Response::json(200, &Page { data }))
}
