//! The v4 (Graph API) endpoints: `/images` with field selection and `/image_ids`.

use serde::Serialize;

use super::context::Context;
use super::v3::PointGeometry;
use crate::error::RequestError;
use crate::geo::bbox_contains;
use crate::http::{Request, Response};
use crate::params::Params;
use crate::world::MockImage;

/// The Image node's fields, the complete documented list (`detections` is a connection).
/// Any other name in `fields=` is refused as the API refuses it.
const DOCUMENTED_FIELDS: [&str; 29] = [
    "id",
    "altitude",
    "atomic_scale",
    "camera_parameters",
    "camera_type",
    "captured_at",
    "compass_angle",
    "computed_altitude",
    "computed_compass_angle",
    "computed_geometry",
    "computed_rotation",
    "creator",
    "exif_orientation",
    "geometry",
    "height",
    "is_pano",
    "make",
    "model",
    "thumb_256_url",
    "thumb_1024_url",
    "thumb_2048_url",
    "thumb_original_url",
    "merge_cc",
    "mesh",
    "quality_score",
    "sequence",
    "sfm_cluster",
    "width",
    "detections",
];

/// The documented fields the world models, besides `id` (always served). The others are
/// refused with their own message: the mock would have to invent their values.
const SERVED_FIELDS: [&str; 10] = [
    "geometry",
    "captured_at",
    "compass_angle",
    "sequence",
    "creator",
    "make",
    "model",
    "is_pano",
    "computed_geometry",
    "computed_compass_angle",
];

/// `/images` search parameters the mock serves: the documented ones but `camera_type` (which
/// the world does not model), the token and `after`, the cursor of the mock's own
/// `paging.next` URLs.
const IMAGES_PARAMETERS: [&str; 13] = [
    "bbox",
    "start_captured_at",
    "end_captured_at",
    "creator_username",
    "organization_id",
    "sequence_id",
    "is_pano",
    "make",
    "model",
    "limit",
    "fields",
    "access_token",
    "after",
];

/// Documented `/images` parameters the mock does not serve.
const UNSERVED_PARAMETERS: [&str; 1] = ["camera_type"];

/// `/image_ids` parameters.
const IMAGE_IDS_PARAMETERS: [&str; 2] = ["sequence_id", "access_token"];

/// One image as v4 returns it: `id`, then the requested fields that have a value.
#[derive(Serialize)]
struct ImageEntry<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    geometry: Option<PointGeometry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    captured_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compass_angle: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creator: Option<Creator<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    make: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_pano: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    computed_geometry: Option<PointGeometry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    computed_compass_angle: Option<f64>,
}

#[derive(Serialize)]
struct Creator<'a> {
    id: &'a str,
    username: &'a str,
}

#[derive(Serialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paging: Option<Paging>,
}

#[derive(Serialize)]
struct Paging {
    next: String,
}

#[derive(Serialize)]
struct IdEntry<'a> {
    id: &'a str,
}

/// Accepts `Authorization: OAuth <token>` (or `Bearer`) or `access_token=`.
pub(crate) fn check_token(
    ctx: &Context,
    request: &Request,
    params: &Params,
) -> Result<(), RequestError> {
    let from_header = request.header("authorization").and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("oauth") || scheme.eq_ignore_ascii_case("bearer"))
            .then(|| token.trim())
    });
    match from_header.or_else(|| params.get("access_token")) {
        Some(token) if token == ctx.config.access_token => Ok(()),
        _ => Err(RequestError::InvalidToken),
    }
}

/// Refuses every parameter outside `served` (naming the documented ones it does not serve).
fn check_parameters(
    params: &Params,
    served: &[&str],
    unserved: &[&str],
) -> Result<(), RequestError> {
    match params.names().find(|name| !served.contains(name)) {
        None => Ok(()),
        Some(name) if unserved.contains(&name) => Err(RequestError::UnservedParameter {
            param: name.to_owned(),
        }),
        Some(name) => Err(RequestError::UnknownParameter {
            param: name.to_owned(),
        }),
    }
}

/// Which optional fields a request selected.
fn selected_fields(params: &Params) -> Result<[bool; SERVED_FIELDS.len()], RequestError> {
    let mut selected = [false; SERVED_FIELDS.len()];
    for field in params.list("fields").unwrap_or_default() {
        if field == "id" {
            continue;
        }
        match SERVED_FIELDS.iter().position(|f| *f == field) {
            Some(idx) => selected[idx] = true,
            None if DOCUMENTED_FIELDS.contains(&field) => {
                return Err(RequestError::UnservedField {
                    field: field.to_owned(),
                });
            }
            None => {
                return Err(RequestError::UnknownField {
                    field: field.to_owned(),
                });
            }
        }
    }
    Ok(selected)
}

fn entry<'a>(image: &'a MockImage, selected: &[bool; SERVED_FIELDS.len()]) -> ImageEntry<'a> {
    let [
        geometry,
        captured_at,
        compass_angle,
        sequence,
        creator,
        make,
        model,
        is_pano,
        computed_geometry,
        computed_compass_angle,
    ] = *selected;
    ImageEntry {
        id: &image.key,
        geometry: geometry.then(|| PointGeometry::of(image)),
        captured_at: captured_at.then_some(image.captured_at_ms),
        compass_angle: compass_angle.then_some(image.ca).flatten(),
        sequence: sequence.then_some(image.sequence_key.as_str()),
        creator: creator.then_some(Creator {
            id: &image.user_key,
            username: &image.username,
        }),
        make: make.then_some(image.camera_make.as_deref()).flatten(),
        model: model.then_some(image.camera_model.as_deref()).flatten(),
        is_pano: is_pano.then_some(image.pano),
        computed_geometry: computed_geometry
            .then_some(image.computed_position.map(PointGeometry::at))
            .flatten(),
        computed_compass_angle: computed_compass_angle
            .then_some(image.computed_ca)
            .flatten(),
    }
}

/// `GET /images`.
pub(crate) fn images(ctx: &Context, params: &Params) -> Result<Response, RequestError> {
    check_parameters(params, &IMAGES_PARAMETERS, &UNSERVED_PARAMETERS)?;
    let selected = selected_fields(params)?;
    let max_limit = ctx.config.v4_max_limit;
    // A limit above the maximum is served as the maximum, as the Graph API does.
    let limit = params
        .count("limit", usize::MAX, "expected a positive whole number")?
        .unwrap_or(max_limit)
        .min(max_limit);
    let bbox = params.bbox("bbox")?;
    if let Some(b) = bbox {
        let area = (b[2] - b[0]) * (b[3] - b[1]);
        if area >= ctx.config.v4_max_bbox_area {
            return Err(RequestError::BboxTooLarge {
                area,
                max: ctx.config.v4_max_bbox_area,
            });
        }
    }
    let start = params.time_ms("start_captured_at")?;
    let end = params.time_ms("end_captured_at")?;
    let is_pano = params.boolean("is_pano")?;
    let creator = params.get("creator_username");
    let sequence_id = params.get("sequence_id");
    let organization = params.get("organization_id");
    let make = params.get("make");
    let model = params.get("model");
    if bbox.is_none() && creator.is_none() && sequence_id.is_none() {
        return Err(RequestError::MissingParameter {
            param: "one of bbox, sequence_id, creator_username",
        });
    }
    let equals =
        |wanted: Option<&str>, value: Option<&str>| wanted.is_none_or(|w| value == Some(w));
    let mut matches: Vec<&MockImage> = ctx
        .images_near(bbox)
        .filter(|i| {
            bbox.is_none_or(|b| bbox_contains(b, i.lon, i.lat))
                && start.is_none_or(|s| i.captured_at_ms >= s)
                && end.is_none_or(|e| i.captured_at_ms < e)
                && is_pano.is_none_or(|p| i.pano == p)
                && equals(creator, Some(&i.username))
                && equals(sequence_id, Some(&i.sequence_key))
                && equals(organization, i.organization_key.as_deref())
                && equals(make, i.camera_make.as_deref())
                && equals(model, i.camera_model.as_deref())
        })
        .collect();
    // Capture order (a sequence's images come in capture order).
    matches.sort_by(|a, b| (a.captured_at_ms, &a.key).cmp(&(b.captured_at_ms, &b.key)));
    let pages = creator.is_some() || sequence_id.is_some();
    let offset = if pages {
        params
            .get("after")
            .map(|after| {
                after
                    .parse::<usize>()
                    .map_err(|_| RequestError::BadParameter {
                        param: "after",
                        value: after.to_owned(),
                        reason: "not a cursor this API returned",
                    })
            })
            .transpose()?
            .unwrap_or(0)
            .min(matches.len())
    } else {
        0
    };
    let end_idx = offset.saturating_add(limit).min(matches.len());
    let paging = (pages && end_idx < matches.len()).then(|| Paging {
        next: format!(
            "{}/images?{}",
            ctx.base_url,
            params.with("after", &end_idx.to_string())
        ),
    });
    let page = Page {
        data: matches[offset..end_idx]
            .iter()
            .map(|image| entry(image, &selected))
            .collect(),
        paging,
    };
    Ok(Response::json(200, &page))
}

/// `GET /image_ids?sequence_id=X`: the sequence's image ids in capture order.
pub(crate) fn image_ids(ctx: &Context, params: &Params) -> Result<Response, RequestError> {
    check_parameters(params, &IMAGE_IDS_PARAMETERS, &[])?;
    let sequence_id = params
        .get("sequence_id")
        .ok_or(RequestError::MissingParameter {
            param: "sequence_id",
        })?;
    let data: Vec<IdEntry> = ctx
        .world
        .sequences
        .iter()
        .filter(|s| s.key == sequence_id)
        .flat_map(|s| s.images.iter().map(|i| IdEntry { id: &i.key }))
        .collect();
    Ok(Response::json(200, &Page { data, paging: None }))
}
