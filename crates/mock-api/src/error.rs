//! Why a request was refused, and how each API words it.

use serde_json::json;

use crate::http::Response;

/// Which API a request is for; it decides the error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    V3,
    V4,
}

/// A request the mock refuses, with what the client got wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("invalid value for parameter `{param}`: {value:?} ({reason})")]
    BadParameter {
        param: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("missing parameter: {param}")]
    MissingParameter { param: &'static str },
    /// The live API's own words (a recorded answer).
    #[error("Tried accessing nonexisting field ({field}) on node type (Image)")]
    UnknownField { field: String },
    #[error("Field ({field}) of node type (Image) is documented but not served by the mock API")]
    UnservedField { field: String },
    #[error("Tried accessing nonexisting field ({field}) on node type ({node})")]
    NonexistingField { field: String, node: &'static str },
    #[error("Tried using nonexisting parameter ({param}) on this endpoint")]
    UnknownParameter { param: String },
    #[error("Parameter ({param}) is documented but not served by the mock API")]
    UnservedParameter { param: String },
    #[error("bbox area {area} sq deg is too large: must be under {max} sq deg")]
    BboxTooLarge { area: f64, max: f64 },
    #[error("invalid client_id")]
    InvalidClientId,
    #[error("Invalid OAuth 2.0 Access Token")]
    InvalidToken,
    #[error("no endpoint at {path}")]
    NotFound { path: String },
    #[error("method {method} is not allowed: the API only answers GET")]
    MethodNotAllowed { method: String },
}

impl RequestError {
    fn status(&self) -> u16 {
        match self {
            RequestError::InvalidClientId | RequestError::InvalidToken => 401,
            RequestError::NotFound { .. } => 404,
            RequestError::MethodNotAllowed { .. } => 405,
            _ => 400,
        }
    }

    /// The error as the API answers it; `trace_id` fills v4's `fbtrace_id`.
    pub(crate) fn response(&self, api: Api, trace_id: u64) -> Response {
        let status = self.status();
        let message = self.to_string();
        match api {
            Api::V3 => Response::json(status, &json!({ "message": message })),
            // The recorded invalid-token answer has `error_data` and no `is_transient`.
            Api::V4 if matches!(self, RequestError::InvalidToken) => Response::json(
                status,
                &json!({
                    "error": {
                        "message": message,
                        "type": "MLYApiException",
                        "code": 190,
                        "error_data": {},
                        "fbtrace_id": trace(trace_id),
                    }
                }),
            ),
            Api::V4 => Response::json(
                status,
                &v4_error(&message, "MLYApiException", 100, false, trace_id),
            ),
        }
    }
}

/// v4's error envelope.
pub(crate) fn v4_error(
    message: &str,
    kind: &str,
    code: u32,
    is_transient: bool,
    trace_id: u64,
) -> serde_json::Value {
    json!({
        "error": {
            "message": message,
            "type": kind,
            "code": code,
            "is_transient": is_transient,
            "fbtrace_id": trace(trace_id),
        }
    })
}

/// v4's `fbtrace_id`.
fn trace(trace_id: u64) -> String {
    format!("AMock{trace_id:018}")
}
