//! One GET with everything around it: the concurrency bound, the shared pace and its
//! rate-limit pauses, retries of faults with backoff, the body size cap, the credential masked
//! in whatever comes back, and a check that a 200 body is the JSON it should be.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use model::Api;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue, LINK, RETRY_AFTER};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::sync::{Semaphore, mpsc};
use url::Url;

use crate::pace::{Pacer, RateLimitDecision, SharedPace, backoff_bound, jitter, parse_retry_after};
use crate::plan::Endpoint;
use crate::{Event, FetchConfig, FetchError, Secret, parse_link_next};

/// The longest API message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 300;
/// v4 error code 4: "Application request limit reached" (HTTP 429 or 400).
const V4_RATE_LIMIT: i64 = 4;
/// v4 error code -2: "Query Timeout".
const V4_QUERY_TIMEOUT: i64 = -2;

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
    pub(crate) rate_limited: AtomicU64,
    /// Rate-limit pause time this session decided, in milliseconds.
    pub(crate) rate_limit_wait_ms: AtomicU64,
}

/// The HTTP side of a session.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    api: Api,
    token: Secret,
    /// v4: `OAuth <token>`, marked sensitive so that it never shows in a debug print.
    authorization: Option<HeaderValue>,
    in_flight: Semaphore,
    pace: Pacer,
    max_attempts: u32,
    request_timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_rate_limit_wait: Duration,
    max_body_bytes: u64,
    pub(crate) counters: Counters,
    events: mpsc::Sender<Event>,
}

/// How one attempt failed.
enum Failure {
    /// The API's rate limit: not a fault, it does not use up an attempt.
    RateLimited {
        cause: String,
        retry_after: Option<Duration>,
    },
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
                message: config.token.redact_text(&e.without_url().to_string()),
            })?;
        let authorization = match config.api {
            Api::V3 => None,
            Api::V4 => {
                let mut value = HeaderValue::from_str(&format!("OAuth {}", config.token.expose()))
                    .map_err(|_| FetchError::InvalidConfig {
                        field: "token",
                        reason: "holds characters an HTTP header cannot carry".to_owned(),
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Http {
            client,
            api: config.api,
            token: config.token.clone(),
            authorization,
            in_flight: Semaphore::new(concurrency),
            // One pace per session: every request of the run shares it.
            pace: Pacer::new(
                SharedPace::default(),
                config.requests_per_second,
                config.backoff_initial,
                config.backoff_max,
                config.max_rate_limit_wait,
            ),
            max_attempts: config.max_attempts.get(),
            request_timeout: config.request_timeout,
            backoff_initial: config.backoff_initial,
            backoff_max: config.backoff_max,
            max_rate_limit_wait: config.max_rate_limit_wait,
            max_body_bytes: config.max_body_bytes,
            counters: Counters::default(),
            events,
        })
    }

    /// `text` with the credential masked, by parameter name and by value.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.token.redact_text(text)
    }

    /// GETs `url` until it succeeds, fails for good, runs out of attempts (faults) or out of
    /// patience (rate limits); retries are reported under `query`.
    pub(crate) async fn get(
        &self,
        url: &Url,
        endpoint: Endpoint,
        query: &Arc<str>,
    ) -> Result<Page, FetchError> {
        let redacted = self.redact(url.as_str());
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            // The permit first: a request waiting for its slot holds its place in the run.
            // The semaphore is never closed.
            let permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| FetchError::Cancelled)?;
            let departed = self.pace.depart().await;
            tracing::info!("GET {redacted}");
            let (cause, retry_after) = match self.attempt(url, endpoint, &redacted).await {
                Ok(page) => {
                    self.pace.on_success();
                    return Ok(page);
                }
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::RateLimited { cause, retry_after }) => {
                    drop(permit);
                    self.rate_limited(departed, retry_after, &redacted, cause)
                        .await?;
                    continue;
                }
                Err(Failure::Transient { cause, retry_after }) => (cause, retry_after),
            };
            drop(permit);
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
            self.emit(Event::Retry {
                query: query.clone(),
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

    async fn emit(&self, event: Event) {
        // A closed channel means the run is over; the event is moot then.
        let _ = self.events.send(event).await;
    }

    /// A rate-limit answer to the request that left at `departed`: pauses the run (or joins
    /// the pause already in force), or fails once the run has waited as long as it may.
    async fn rate_limited(
        &self,
        departed: Instant,
        retry_after: Option<Duration>,
        redacted: &str,
        cause: String,
    ) -> Result<(), FetchError> {
        let answers = self.counters.rate_limited.fetch_add(1, Ordering::Relaxed) + 1;
        match self
            .pace
            .on_rate_limit(departed, retry_after, Instant::now())
        {
            RateLimitDecision::Join => Ok(()),
            RateLimitDecision::Pause {
                wait,
                rate,
                added,
                waited,
            } => {
                let wait_ms = u64::try_from(added.as_millis()).unwrap_or(u64::MAX);
                self.counters
                    .rate_limit_wait_ms
                    .fetch_add(wait_ms, Ordering::Relaxed);
                tracing::debug!(url = %redacted, ?wait, rate, %cause, "rate limited");
                self.emit(Event::RateLimited {
                    url: redacted.to_owned(),
                    wait,
                    requests_per_second: rate,
                    waited,
                    max_wait: self.max_rate_limit_wait,
                    cause,
                })
                .await;
                Ok(())
            }
            RateLimitDecision::GiveUp { wait, waited } => Err(FetchError::RateLimitExhausted {
                url: redacted.to_owned(),
                answers,
                waited,
                next_wait: wait,
                max_wait: self.max_rate_limit_wait,
                cause,
            }),
        }
    }

    async fn attempt(
        &self,
        url: &Url,
        endpoint: Endpoint,
        redacted: &str,
    ) -> Result<Page, Failure> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.client.get(url.clone()).timeout(self.request_timeout);
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let mut response = request.send().await.map_err(|e| Failure::Transient {
            cause: self.describe(e),
            retry_after: None,
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(&mut response, redacted).await?;
        self.counters
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        // Whatever the server echoes of the credential goes no further than here.
        let body = match self.token.mask_bytes(&body) {
            Cow::Borrowed(_) => body,
            Cow::Owned(masked) => Bytes::from(masked),
        };
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
                    cause: format!("unparsable next link {}: {e}", self.redact(&next)),
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
        if response.content_length().unwrap_or(0) > self.max_body_bytes {
            return Err(too_large());
        }
        // The buffer grows with what arrives: an announced length reserves nothing, so a
        // server that lies about it costs at most the bytes it really sends (up to the cap).
        let mut body = Vec::new();
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
                        cause: format!("reading the body: {}", self.describe(e)),
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
        let message: String = self
            .redact(message.trim())
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .collect();
        let v4_error = envelope.and_then(|e| e.error);
        let code = v4_error.as_ref().and_then(|e| e.code);
        let url = redacted.to_owned();
        if code == Some(190) {
            return Failure::Fatal(FetchError::InvalidToken { url, message });
        }
        let cause = format!("HTTP {}: {message}", status.as_u16());
        if status == StatusCode::TOO_MANY_REQUESTS || code == Some(V4_RATE_LIMIT) {
            return Failure::RateLimited { cause, retry_after };
        }
        // -2 "Query Timeout" is reported as not transient, yet succeeds when asked again.
        let transient_v4 = code == Some(V4_QUERY_TIMEOUT)
            || v4_error.is_some_and(|e| e.is_transient == Some(true));
        if status.is_server_error() || transient_v4 {
            return Failure::Transient { cause, retry_after };
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

    /// A transport error in words, without its URL (which carries the v3 client id).
    fn describe(&self, error: reqwest::Error) -> String {
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
        self.redact(&text)
    }
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
