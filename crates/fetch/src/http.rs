//! One GET with everything around it: the concurrency bound, the rate limit, retries with
//! backoff, the body size cap and a check that a 200 body is the JSON it should be.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use model::Api;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, LINK, RETRY_AFTER};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::sync::{Semaphore, mpsc};
use url::Url;

use crate::pace::{RateLimiter, backoff_bound, jitter, parse_retry_after};
use crate::plan::Endpoint;
use crate::{Event, FetchConfig, FetchError, Secret, parse_link_next, redact};

/// The longest API message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// A validated 200 response.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) body: Bytes,
    pub(crate) items: usize,
    /// The next page's absolute URL as the server sent it (unredacted).
    pub(crate) next: Option<Url>,
}

/// Counters shared by every task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// The HTTP side of a run.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    api: Api,
    token: Secret,
    in_flight: Semaphore,
    limiter: Option<RateLimiter>,
    max_attempts: u32,
    request_timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_body_bytes: u64,
    pub(crate) counters: Counters,
    events: mpsc::Sender<Event>,
}

/// How one attempt failed.
enum Failure {
    /// Worth another attempt, after `retry_after` if the server said so.
    Transient {
        cause: String,
        retry_after: Option<Duration>,
    },
    /// Final.
    Fatal(FetchError),
}

impl Http {
    pub(crate) fn new(
        config: &FetchConfig,
        events: mpsc::Sender<Event>,
    ) -> Result<Http, FetchError> {
        let concurrency = config.concurrency.get();
        let client = reqwest::Client::builder()
            .user_agent(concat!("mly-export-fetch/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| FetchError::Client {
                message: redact(&e.without_url().to_string()),
            })?;
        Ok(Http {
            client,
            api: config.api,
            token: config.token.clone(),
            in_flight: Semaphore::new(concurrency),
            limiter: config.requests_per_second.map(RateLimiter::new),
            max_attempts: config.max_attempts.get(),
            request_timeout: config.request_timeout,
            backoff_initial: config.backoff_initial,
            backoff_max: config.backoff_max,
            max_body_bytes: config.max_body_bytes,
            counters: Counters::default(),
            events,
        })
    }

    /// GETs `url` until it succeeds, fails for good or runs out of attempts.
    pub(crate) async fn get(&self, url: &Url, endpoint: Endpoint) -> Result<Page, FetchError> {
        let redacted = redact(url.as_str());
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            tracing::info!("GET {redacted}");
            let (cause, retry_after) = match self.attempt(url, endpoint, &redacted).await {
                Ok(page) => return Ok(page),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Transient { cause, retry_after }) => (redact(&cause), retry_after),
            };
            if attempt >= self.max_attempts {
                return Err(FetchError::RetriesExhausted {
                    url: redacted,
                    attempts: attempt,
                    elapsed: started.elapsed(),
                    cause,
                });
            }
            let delay = match retry_after {
                Some(wait) => wait.min(self.backoff_max),
                None => jitter(backoff_bound(
                    self.backoff_initial,
                    self.backoff_max,
                    attempt,
                )),
            };
            tracing::debug!(url = %redacted, attempt, ?delay, %cause, "retrying");
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            // A closed channel means the run is over; the retry is moot then.
            let _ = self
                .events
                .send(Event::Retry {
                    url: redacted.clone(),
                    attempt,
                    max_attempts: self.max_attempts,
                    delay,
                    cause,
                })
                .await;
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        url: &Url,
        endpoint: Endpoint,
        redacted: &str,
    ) -> Result<Page, Failure> {
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
        // The semaphore is never closed.
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| Failure::Fatal(FetchError::Cancelled))?;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.client.get(url.clone()).timeout(self.request_timeout);
        if self.api == Api::V4 {
            request = request.header(AUTHORIZATION, format!("OAuth {}", self.token.expose()));
        }
        let mut response = request.send().await.map_err(|e| Failure::Transient {
            cause: describe(e),
            retry_after: None,
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(&mut response, redacted).await?;
        self.counters
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        if status != StatusCode::OK {
            let retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            return Err(self.classify_error(status, &body, retry_after, redacted));
        }
        let (items, body_next) = validate(endpoint, &body).map_err(|e| Failure::Transient {
            cause: format!("HTTP 200 with an unexpected body: {e}"),
            retry_after: None,
        })?;
        let next = match self.api {
            Api::V3 => headers
                .get_all(LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(parse_link_next),
            Api::V4 => body_next,
        };
        let next = next
            .map(|next| {
                url.join(&next).map_err(|e| Failure::Transient {
                    cause: format!("unparsable next link {}: {e}", redact(&next)),
                    retry_after: None,
                })
            })
            .transpose()?;
        Ok(Page { body, items, next })
    }

    /// Reads the body, stopping at the size cap.
    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        redacted: &str,
    ) -> Result<Bytes, Failure> {
        let too_large = || {
            Failure::Fatal(FetchError::BodyTooLarge {
                url: redacted.to_owned(),
                limit: self.max_body_bytes,
            })
        };
        let announced = response.content_length().unwrap_or(0);
        if announced > self.max_body_bytes {
            return Err(too_large());
        }
        // A lying Content-Length costs at most the cap: reading stops there.
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(Bytes::from(body)),
                Err(e) => {
                    return Err(Failure::Transient {
                        cause: format!("reading the body: {}", describe(e)),
                        retry_after: None,
                    });
                }
            }
        }
    }

    fn classify_error(
        &self,
        status: StatusCode,
        body: &[u8],
        retry_after: Option<Duration>,
        redacted: &str,
    ) -> Failure {
        let envelope = serde_json::from_slice::<ErrorBody>(body).ok();
        let message = envelope
            .as_ref()
            .and_then(ErrorBody::message)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        let message: String = redact(message.trim())
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .collect();
        let v4_error = envelope.and_then(|e| e.error);
        let url = redacted.to_owned();
        if v4_error.as_ref().is_some_and(|e| e.code == Some(190)) {
            return Failure::Fatal(FetchError::InvalidToken { url, message });
        }
        let transient_v4 =
            v4_error.is_some_and(|e| e.code == Some(4) || e.is_transient == Some(true));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() || transient_v4 {
            return Failure::Transient {
                cause: format!("HTTP {}: {message}", status.as_u16()),
                retry_after,
            };
        }
        if self.api == Api::V3 && status == StatusCode::UNAUTHORIZED {
            return Failure::Fatal(FetchError::InvalidClientId { url, message });
        }
        Failure::Fatal(FetchError::Rejected {
            url,
            status: status.as_u16(),
            message,
        })
    }
}

/// A transport error in words, without its URL (which carries the v3 client id).
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connect error"
    } else {
        "connection error"
    };
    let error = error.without_url();
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    redact(&text)
}

/// v3 `{"message"}` or v4 `{"error": {...}}`.
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    error: Option<V4Error>,
}

#[derive(Deserialize)]
struct V4Error {
    message: Option<String>,
    code: Option<i64>,
    is_transient: Option<bool>,
}

impl ErrorBody {
    fn message(&self) -> Option<String> {
        self.message
            .clone()
            .or_else(|| self.error.as_ref().and_then(|e| e.message.clone()))
    }
}

#[derive(Deserialize)]
struct FeatureCollection {
    features: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct V4Page {
    data: Vec<IgnoredAny>,
    paging: Option<V4Paging>,
}

#[derive(Deserialize)]
struct V4Paging {
    next: Option<String>,
}

/// A v3 user as `/users` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct V3User {
    pub(crate) key: String,
    pub(crate) username: String,
}

/// Checks a 200 body has the expected shape: its item count and (v4) next link.
pub(crate) fn validate(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<(usize, Option<String>), serde_json::Error> {
    match endpoint {
        Endpoint::V3Images | Endpoint::V3Sequences => {
            serde_json::from_slice::<FeatureCollection>(body)
                .map(|page| (page.features.len(), None))
        }
        Endpoint::V3Users => {
            serde_json::from_slice::<Vec<V3User>>(body).map(|users| (users.len(), None))
        }
        Endpoint::V4Images | Endpoint::V4MapFeatures => serde_json::from_slice::<V4Page>(body)
            .map(|page| (page.data.len(), page.paging.and_then(|p| p.next))),
    }
}

/// The users of a validated `/users` body.
pub(crate) fn parse_users(body: &[u8]) -> Result<Vec<V3User>, serde_json::Error> {
    serde_json::from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn validates_real_bodies() {
        let images = fixture("v3-search_images.json");
        assert_eq!(validate(Endpoint::V3Images, &images).unwrap(), (1, None));
        let users = parse_users(&fixture("v3-search_users.json")).unwrap();
        assert_eq!(users[0].username, "maning");
        assert_eq!(users[0].key, "HvOINSQU9fhnCQTpm0nN7Q");
        let v4 = br#"{"data":[{"id":"1"},{"id":"2"}],"paging":{"next":"http://h/images?after=x"}}"#;
        assert_eq!(
            validate(Endpoint::V4Images, v4).unwrap(),
            (2, Some("http://h/images?after=x".into()))
        );
        assert_eq!(
            validate(Endpoint::V4Images, br#"{"data":[]}"#).unwrap(),
            (0, None)
        );
    }

    #[test]
    fn rejects_cut_html_and_wrong_shapes() {
        let images = fixture("v3-search_images.json");
        assert!(validate(Endpoint::V3Images, &images[..images.len() / 2]).is_err());
        assert!(validate(Endpoint::V3Images, b"<html><body>Bad gateway</body></html>").is_err());
        assert!(validate(Endpoint::V3Images, b"[]").is_err());
        assert!(validate(Endpoint::V4Images, br#"{"features":[]}"#).is_err());
        assert!(validate(Endpoint::V3Users, br#"{"message":"x"}"#).is_err());
    }

    #[test]
    fn error_envelopes_give_their_message() {
        let limit = fixture("v4-application_request_limit_reached.json");
        let body: ErrorBody = serde_json::from_slice(&limit).unwrap();
        assert_eq!(
            body.message().as_deref(),
            Some("Application request limit reached")
        );
        let error = body.error.unwrap();
        assert_eq!((error.code, error.is_transient), (Some(4), Some(true)));
        let token = fixture("v4-invalid_token.json");
        let body: ErrorBody = serde_json::from_slice(&token).unwrap();
        assert_eq!(body.error.unwrap().code, Some(190));
    }
}
