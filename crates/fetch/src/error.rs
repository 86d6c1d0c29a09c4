//! Everything that stops a fetch. Every URL held here is redacted.

use std::path::PathBuf;
use std::time::Duration;

use model::Bbox;

/// Why a fetch failed. URLs are redacted (`client_id=***`) before they get here.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A request kept failing with transient errors.
    #[error("GET {url} failed after {attempts} attempts in {:.1}s: {cause}", elapsed.as_secs_f64())]
    RetriesExhausted {
        /// The request, redacted.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The last failure.
        cause: String,
    },
    /// The API's rate limit kept refusing requests for longer than the run may wait.
    #[error(
        "GET {url}: the API's request quota is used up (Mapillary: 10,000 search requests a minute per application; {cause}): still refused after waiting {:.0} s in total over {answers} rate-limit answers, and waiting {:.0} s more would pass max_rate_limit_wait_secs ({:.0} s). Run again later (the pages fetched so far are kept), or allow a longer wait with --max-rate-limit-wait-secs",
        waited.as_secs_f64(),
        next_wait.as_secs_f64(),
        max_wait.as_secs_f64()
    )]
    RateLimitExhausted {
        /// The request, redacted.
        url: String,
        /// Rate-limit answers the session received.
        answers: u64,
        /// Time the run paused for the rate limit.
        waited: Duration,
        /// The pause that would have come next.
        next_wait: Duration,
        /// `max_rate_limit_wait`.
        max_wait: Duration,
        /// The last answer.
        cause: String,
    },
    /// The API refused the request for good (a 4xx other than 401/429).
    #[error("GET {url}: HTTP {status}: {message}")]
    Rejected {
        /// The request, redacted.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// v3 answered 401.
    #[error("GET {url}: HTTP 401: {message}: the client id was refused; check MAPILLARY_CLIENT_ID")]
    InvalidClientId {
        /// The request, redacted.
        url: String,
        /// The API's message.
        message: String,
    },
    /// v4 answered error code 190.
    #[error("GET {url}: invalid or expired token ({message}); check MAPILLARY_ACCESS_TOKEN")]
    InvalidToken {
        /// The request, redacted.
        url: String,
        /// The API's message.
        message: String,
    },
    /// A response body was larger than `max_body_bytes`.
    #[error("GET {url}: the response body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The request, redacted.
        url: String,
        /// The configured limit.
        limit: u64,
    },
    /// A next link pointed away from the API host; following it would leak the token.
    #[error("GET {url}: refusing to follow the next link {next}: it is not on {base}")]
    ForeignNextLink {
        /// The request that returned the link, redacted.
        url: String,
        /// The link, redacted.
        next: String,
        /// The configured base URL.
        base: String,
    },
    /// A cell still reached the result cap when its side was already at the minimum.
    #[error(
        "{label}: the cell {bbox:?} still returns {items} items (the cap) at the minimum cell side; the data is too dense to split further"
    )]
    CapUnsplittable {
        /// The cell's label.
        label: String,
        /// The cell.
        bbox: Bbox,
        /// Items it returned.
        items: usize,
    },
    /// The configuration cannot work.
    #[error("invalid fetch configuration: {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {message}")]
    Client {
        /// What went wrong.
        message: String,
    },
    /// Reading or writing the page cache failed.
    #[error("page cache {path}: {source}")]
    Cache {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
}
