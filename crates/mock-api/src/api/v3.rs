//! The v3 endpoints: `/v3/images`, `/v3/sequences`, `/v3/users`, with the API's filters,
//! `per_page`, the result cap and `Link` pagination.

use serde::Serialize;

use super::context::Context;
use crate::error::RequestError;
use crate::geo::{angle_between_deg, bbox_contains, bearing_deg, haversine_m};
use crate::http::Response;
use crate::params::Params;
use crate::world::{MockImage, MockSequence};

const DEFAULT_PER_PAGE: usize = 200;
const MAX_PER_PAGE: usize = 1000;
const DEFAULT_RADIUS_M: f64 = 100.0;
/// 2013-06-01, the first user's sign-up; later users signed up 37 days apart.
const FIRST_SIGNUP_MS: i64 = 1_370_044_800_000;

/// A GeoJSON Point geometry (v4 uses it too).
#[derive(Serialize)]
pub(crate) struct PointGeometry {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

impl PointGeometry {
    pub(crate) fn of(image: &MockImage) -> PointGeometry {
        PointGeometry::at([image.lon, image.lat])
    }

    pub(crate) fn at(coordinates: [f64; 2]) -> PointGeometry {
        PointGeometry {
            kind: "Point",
            coordinates,
        }
    }
}

#[derive(Serialize)]
struct FeatureCollection<G, P> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<Feature<G, P>>,
}

#[derive(Serialize)]
struct Feature<G, P> {
    #[serde(rename = "type")]
    kind: &'static str,
    geometry: G,
    properties: P,
}

/// Image properties, alphabetical like the API's; a `None` is left out.
#[derive(Serialize)]
struct ImageProperties<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    camera_make: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    camera_model: Option<&'a str>,
    captured_at: String,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization_key: Option<&'a str>,
    pano: bool,
    sequence_key: &'a str,
    user_key: &'a str,
    username: &'a str,
}

#[derive(Serialize)]
struct LineGeometry {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: Vec<[f64; 2]>,
}

#[derive(Serialize)]
struct SequenceProperties<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    camera_make: Option<&'a str>,
    captured_at: String,
    #[serde(rename = "coordinateProperties")]
    coordinate_properties: CoordinateProperties<'a>,
    created_at: String,
    key: &'a str,
    pano: bool,
    user_key: &'a str,
}

#[derive(Serialize)]
struct CoordinateProperties<'a> {
    cas: Vec<Option<f64>>,
    image_keys: Vec<&'a str>,
}

#[derive(Serialize)]
struct UserEntry<'a> {
    avatar: String,
    created_at: String,
    key: &'a str,
    username: &'a str,
}

/// ISO 8601 UTC with milliseconds, the v3 form: `2016-01-17T13:05:47.540Z`.
pub(crate) fn iso_ms(ms: i64) -> String {
    // The world's times are all in jiff's range; the epoch stands in should one ever not be.
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn check_client_id(ctx: &Context, params: &Params) -> Result<(), RequestError> {
    match params.get("client_id") {
        Some(id) if id == ctx.config.client_id => Ok(()),
        _ => Err(RequestError::InvalidClientId),
    }
}

/// `bbox` and `closeto` + `radius`; both given, both must hold.
struct AreaFilter {
    bbox: Option<[f64; 4]>,
    closeto: Option<([f64; 2], f64)>,
}

impl AreaFilter {
    fn parse(params: &Params) -> Result<AreaFilter, RequestError> {
        let bbox = params.bbox("bbox")?;
        let radius = params.distance("radius")?.unwrap_or(DEFAULT_RADIUS_M);
        let closeto = params.point("closeto")?.map(|p| (p, radius));
        Ok(AreaFilter { bbox, closeto })
    }

    /// A box holding every position the filter can match (the circle's with a margin).
    fn reach(&self) -> Option<[f64; 4]> {
        self.bbox.or_else(|| {
            self.closeto.map(|([lon, lat], radius)| {
                let dlat = radius / 110_000.0 + 1e-6;
                let dlon = dlat / lat.to_radians().cos().max(1e-6);
                [lon - dlon, lat - dlat, lon + dlon, lat + dlat]
            })
        })
    }

    fn contains(&self, image: &MockImage) -> bool {
        let position = [image.lon, image.lat];
        self.bbox
            .is_none_or(|b| bbox_contains(b, image.lon, image.lat))
            && self
                .closeto
                .is_none_or(|(center, radius)| haversine_m(center, position) <= radius)
    }
}

/// `userkeys` and `usernames`: with both, a user in either list matches.
struct UserFilter<'a> {
    userkeys: Option<Vec<&'a str>>,
    usernames: Option<Vec<&'a str>>,
}

impl UserFilter<'_> {
    fn parse(params: &Params, with_usernames: bool) -> UserFilter<'_> {
        UserFilter {
            userkeys: params.list("userkeys"),
            usernames: with_usernames.then(|| params.list("usernames")).flatten(),
        }
    }

    fn matches(&self, user_key: &str, username: &str) -> bool {
        if self.userkeys.is_none() && self.usernames.is_none() {
            return true;
        }
        let listed = |list: &Option<Vec<&str>>, value: &str| {
            list.as_ref().is_some_and(|l| l.contains(&value))
        };
        listed(&self.userkeys, user_key) || listed(&self.usernames, username)
    }
}

/// `per_page` and `page`, and the cut at the result cap.
struct Paging {
    per_page: usize,
    page: usize,
}

impl Paging {
    fn parse(params: &Params) -> Result<Paging, RequestError> {
        Ok(Paging {
            per_page: params
                .count(
                    "per_page",
                    MAX_PER_PAGE,
                    "expected a whole number from 1 to 1000",
                )?
                .unwrap_or(DEFAULT_PER_PAGE),
            page: params
                .count("page", usize::MAX, "expected a whole number from 1")?
                .unwrap_or(1),
        })
    }

    /// This page's items of the first `cap` matches, and the `Link` header value.
    fn cut<'m, T>(
        &self,
        matches: &'m [T],
        cap: usize,
        ctx: &Context,
        path: &str,
        params: &Params,
    ) -> (&'m [T], String) {
        let total = matches.len().min(cap);
        let start = (self.page - 1).saturating_mul(self.per_page).min(total);
        let end = start.saturating_add(self.per_page).min(total);
        let url = |page: usize| {
            format!(
                "<{}{path}?{}>",
                ctx.base_url,
                params.with("page", &page.to_string())
            )
        };
        let mut link = format!("{}; rel=\"first\"", url(1));
        if self.page > 1 {
            link.push_str(&format!(", {}; rel=\"prev\"", url(self.page - 1)));
        }
        if end < total {
            link.push_str(&format!(", {}; rel=\"next\"", url(self.page + 1)));
        }
        (&matches[start..end], link)
    }
}

/// `GET /v3/images`.
pub(crate) fn images(ctx: &Context, params: &Params) -> Result<Response, RequestError> {
    check_client_id(ctx, params)?;
    let area = AreaFilter::parse(params)?;
    let users = UserFilter::parse(params, true);
    let lookat = params.point("lookat")?;
    let start = params.time_ms("start_time")?;
    let end = params.time_ms("end_time")?;
    let pano = params.boolean("pano")?;
    let paging = Paging::parse(params)?;
    let tolerance = ctx.config.lookat_tolerance_deg;
    let looks_at = |image: &MockImage, target: [f64; 2]| {
        image.pano
            || image.ca.is_some_and(|ca| {
                angle_between_deg(bearing_deg([image.lon, image.lat], target), ca) <= tolerance
            })
    };
    let mut matches: Vec<&MockImage> = ctx
        .images_near(area.reach())
        .filter(|i| {
            area.contains(i)
                && users.matches(&i.user_key, &i.username)
                && lookat.is_none_or(|target| looks_at(i, target))
                && start.is_none_or(|s| i.captured_at_ms >= s)
                && end.is_none_or(|e| i.captured_at_ms < e)
                && pano.is_none_or(|p| i.pano == p)
        })
        .collect();
    matches.sort_by(|a, b| (a.captured_at_ms, &a.key).cmp(&(b.captured_at_ms, &b.key)));
    let (page, link) = paging.cut(&matches, ctx.config.result_cap, ctx, "/v3/images", params);
    let features = page
        .iter()
        .map(|image| Feature {
            kind: "Feature",
            geometry: PointGeometry::of(image),
            properties: ImageProperties {
                ca: image.ca,
                camera_make: image.camera_make.as_deref(),
                camera_model: image.camera_model.as_deref(),
                captured_at: iso_ms(image.captured_at_ms),
                key: &image.key,
                organization_key: image.organization_key.as_deref(),
                pano: image.pano,
                sequence_key: &image.sequence_key,
                user_key: &image.user_key,
                username: &image.username,
            },
        })
        .collect();
    let body = FeatureCollection {
        kind: "FeatureCollection",
        features,
    };
    Ok(Response::json(200, &body).with_header("Link", link))
}

/// `GET /v3/sequences`: only the area and `userkeys` filter, as in the real API.
pub(crate) fn sequences(ctx: &Context, params: &Params) -> Result<Response, RequestError> {
    check_client_id(ctx, params)?;
    let area = AreaFilter::parse(params)?;
    let users = UserFilter::parse(params, false);
    let paging = Paging::parse(params)?;
    let mut matches: Vec<&MockSequence> = ctx
        .world
        .sequences
        .iter()
        .filter(|s| users.matches(&s.user_key, "") && s.images.iter().any(|i| area.contains(i)))
        .collect();
    matches.sort_by(|a, b| a.key.cmp(&b.key));
    let (page, link) = paging.cut(
        &matches,
        ctx.config.result_cap,
        ctx,
        "/v3/sequences",
        params,
    );
    let features = page
        .iter()
        .map(|sequence| {
            let mut cas: Vec<Option<f64>> = sequence.images.iter().map(|i| i.ca).collect();
            if sequence.broken_coordinate_properties {
                cas.pop();
            }
            Feature {
                kind: "Feature",
                geometry: LineGeometry {
                    kind: "LineString",
                    coordinates: sequence.images.iter().map(|i| [i.lon, i.lat]).collect(),
                },
                properties: SequenceProperties {
                    camera_make: sequence.camera_make.as_deref(),
                    captured_at: iso_ms(sequence.images.first().map_or(0, |i| i.captured_at_ms)),
                    coordinate_properties: CoordinateProperties {
                        cas,
                        image_keys: sequence.images.iter().map(|i| i.key.as_str()).collect(),
                    },
                    created_at: iso_ms(sequence.created_at_ms),
                    key: &sequence.key,
                    pano: sequence.pano,
                    user_key: &sequence.user_key,
                },
            }
        })
        .collect();
    let body = FeatureCollection {
        kind: "FeatureCollection",
        features,
    };
    Ok(Response::json(200, &body).with_header("Link", link))
}

/// `GET /v3/users?usernames=a,b` (or `userkeys=`): a plain JSON array, in the world's order.
pub(crate) fn users(ctx: &Context, params: &Params) -> Result<Response, RequestError> {
    check_client_id(ctx, params)?;
    let filter = UserFilter::parse(params, true);
    if filter.userkeys.is_none() && filter.usernames.is_none() {
        return Err(RequestError::MissingParameter {
            param: "usernames or userkeys",
        });
    }
    let entries: Vec<UserEntry> = ctx
        .world
        .users
        .iter()
        .zip(0i64..)
        .filter(|(user, _)| filter.matches(&user.key, &user.username))
        .map(|(user, idx)| UserEntry {
            avatar: format!("https://user-static.mapillary.com/{}/profile.png", user.key),
            created_at: iso_ms(FIRST_SIGNUP_MS + idx * 37 * 86_400_000),
            key: &user.key,
            username: &user.username,
        })
        .collect();
    Ok(Response::json(200, &entries))
}
