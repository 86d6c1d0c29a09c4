//! The endpoints: which path is which, and the handlers (v3, v4, map features) that answer
//! them from a [`Context`].

mod context;
mod map_features;
mod v3;
mod v4;

pub(crate) use context::{Context, extents};

use crate::error::{Api, RequestError};
use crate::http::{Request, Response};
use crate::params::Params;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    V3Images,
    V3Sequences,
    V3Users,
    V4Images,
    V4ImageIds,
    V4MapFeatures,
    Other { v3: bool },
}

impl Endpoint {
    pub(crate) fn of(path: &str) -> Endpoint {
        match path {
            "/v3/images" => Endpoint::V3Images,
            "/v3/sequences" => Endpoint::V3Sequences,
            "/v3/users" => Endpoint::V3Users,
            "/images" => Endpoint::V4Images,
            "/image_ids" => Endpoint::V4ImageIds,
            "/map_features" => Endpoint::V4MapFeatures,
            _ => Endpoint::Other {
                v3: path.starts_with("/v3/"),
            },
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::V3Images => "/v3/images",
            Endpoint::V3Sequences => "/v3/sequences",
            Endpoint::V3Users => "/v3/users",
            Endpoint::V4Images => "/images",
            Endpoint::V4ImageIds => "/image_ids",
            Endpoint::V4MapFeatures => "/map_features",
            Endpoint::Other { .. } => "other",
        }
    }

    pub(crate) fn api(self) -> Api {
        match self {
            Endpoint::V3Images | Endpoint::V3Sequences | Endpoint::V3Users => Api::V3,
            Endpoint::Other { v3: true } => Api::V3,
            _ => Api::V4,
        }
    }
}

/// The response to one request that got no injected fault.
pub(crate) fn answer(
    ctx: &Context,
    endpoint: Endpoint,
    request: &Request,
    trace_id: u64,
) -> Response {
    let params = Params::parse(&request.query);
    let result = if request.method != "GET" {
        Err(RequestError::MethodNotAllowed {
            method: request.method.clone(),
        })
    } else {
        match endpoint {
            Endpoint::V3Images => v3::images(ctx, &params),
            Endpoint::V3Sequences => v3::sequences(ctx, &params),
            Endpoint::V3Users => v3::users(ctx, &params),
            Endpoint::V4Images => {
                v4::check_token(ctx, request, &params).and_then(|()| v4::images(ctx, &params))
            }
            Endpoint::V4ImageIds => {
                v4::check_token(ctx, request, &params).and_then(|()| v4::image_ids(ctx, &params))
            }
            Endpoint::V4MapFeatures => v4::check_token(ctx, request, &params)
                .and_then(|()| map_features::map_features(ctx, &params)),
            Endpoint::Other { .. } => Err(RequestError::NotFound {
                path: request.path.clone(),
            }),
        }
    };
    result.unwrap_or_else(|err| err.response(endpoint.api(), trace_id))
}
