//! The responses of injected faults, each in the API's own error form.

use serde_json::json;

use crate::error::{Api, v4_error};
use crate::http::Response;

pub(crate) fn server_error(api: Api, trace_id: u64, variant: u32) -> Response {
    let (status, message, code) = match variant % 3 {
        0 => (500, "An unknown error has occurred.", 1),
        1 => (502, "Bad Gateway", 2),
        _ => (503, "Service temporarily unavailable", 2),
    };
    match api {
        Api::V3 => Response::json(status, &json!({ "message": message })),
        Api::V4 => Response::json(
            status,
            &v4_error(message, "MLYApiException", code, true, trace_id),
        ),
    }
}

pub(crate) fn too_many_requests(api: Api, trace_id: u64, retry_after: bool) -> Response {
    let response = match api {
        Api::V3 => Response::json(429, &json!({ "message": "Too Many Requests" })),
        Api::V4 => Response::json(
            429,
            &v4_error(
                "Application request limit reached",
                "MLYApiException",
                4,
                true,
                trace_id,
            ),
        ),
    };
    if retry_after {
        response.with_header("Retry-After", "1".to_owned())
    } else {
        response
    }
}

/// The live v4 API's other rate-limit answer: HTTP 400 with the code 4 body. v3 knew only 429.
pub(crate) fn limit_reached_400(api: Api, trace_id: u64) -> Response {
    match api {
        Api::V3 => too_many_requests(api, trace_id, false),
        Api::V4 => {
            let mut response = too_many_requests(api, trace_id, false);
            response.status = 400;
            response
        }
    }
}

/// What a misconfigured proxy in front of the API might send.
pub(crate) fn html_page() -> Response {
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: Vec::new(),
        body: b"<!DOCTYPE html>\n<html><head><title>Mapillary</title></head>\
                <body><h1>Something went wrong</h1></body></html>\n"
            .to_vec(),
    }
}

/// The response with its body cut in half (on a UTF-8 boundary, so it is text, just not JSON).
pub(crate) fn cut_body(mut response: Response) -> Response {
    let mut cut = response.body.len() / 2;
    while cut > 0 && response.body[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    response.body.truncate(cut);
    response
}
