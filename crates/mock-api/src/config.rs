//! How the mock is set up: the credentials it accepts, the API's limits and the faults it
//! injects.

use std::sync::Arc;
use std::time::Duration;

use crate::world::World;

/// The v3 `client_id` the mock accepts by default.
pub const CLIENT_ID: &str = "mock-client-id";
/// The v4 access token the mock accepts by default.
pub const ACCESS_TOKEN: &str = "MLY|mock|token";

/// What the server serves and how it misbehaves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// The data.
    pub world: Arc<World>,
    /// The v3 `client_id` accepted; any other gets 401.
    pub client_id: String,
    /// The v4 token accepted; any other gets 401 (code 190).
    pub access_token: String,
    /// v3: a query's matches are cut to this many (the real API's 10,000).
    pub result_cap: usize,
    /// v4: the largest (and default) `limit`; a larger one is served as this.
    pub v4_max_limit: usize,
    /// v4: a `bbox` must be smaller than this many square degrees.
    pub v4_max_bbox_area: f64,
    /// v3 `lookat`: an image looks at the point when the bearing to it is within this many
    /// degrees of its `ca` (panoramas always do).
    pub lookat_tolerance_deg: f64,
    /// Injected faults.
    pub faults: FaultConfig,
}

impl Default for MockConfig {
    /// [`World::demo`], [`CLIENT_ID`], [`ACCESS_TOKEN`], the real API's limits, no faults.
    fn default() -> MockConfig {
        MockConfig {
            world: Arc::new(World::demo()),
            client_id: CLIENT_ID.to_owned(),
            access_token: ACCESS_TOKEN.to_owned(),
            result_cap: 10_000,
            v4_max_limit: 2000,
            v4_max_bbox_area: 0.01,
            lookat_tolerance_deg: 30.0,
            faults: FaultConfig::default(),
        }
    }
}

/// Seeded fault injection. Rates are probabilities per request, drawn in the order of the
/// fields (a request gets at most one of them); `latency`, `rate_limit_rps` and `outage` apply
/// on top.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Seeds the draws.
    pub seed: u64,
    /// A 500, 502 or 503 with the API's error body (v4: `is_transient: true`).
    pub server_error_rate: f64,
    /// A 429, half with `Retry-After: 1`, half without (v4 body: code 4).
    pub too_many_requests_rate: f64,
    /// A 200 whose body stops half way: the full `Content-Length`, then the connection closes.
    pub truncate_rate: f64,
    /// A complete 200 response whose JSON is cut in half.
    pub cut_json_rate: f64,
    /// A 200 `text/html` page instead of JSON.
    pub not_json_rate: f64,
    /// The connection is reset after the request, with no response.
    pub reset_rate: f64,
    /// The response waits `stall` first.
    pub stall_rate: f64,
    /// How long a stalled response waits.
    pub stall: Duration,
    /// Every response's time from its request's arrival (the mock's own work included).
    pub latency: Duration,
    /// Requests beyond this rate (a token bucket with a burst of one second's worth) are
    /// refused as `rate_limit_answer` says.
    pub rate_limit_rps: Option<f64>,
    /// How requests over `rate_limit_rps` or in the `outage` are refused.
    pub rate_limit_answer: RateLimitAnswer,
    /// Every request refused as rate-limited for a while, in the middle of a run.
    pub outage: Option<Outage>,
}

/// How the mock refuses a request over its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitAnswer {
    /// HTTP 429 with `Retry-After: 1` (v4 body: code 4).
    #[default]
    RetryAfter,
    /// As the live v4 API usually answers: HTTP 429, the code 4 body ("Application request
    /// limit reached", `is_transient: true`), no `Retry-After`. v3: 429, no `Retry-After`.
    Live429,
    /// The same with HTTP 400, which the live v4 API also sends. v3: 429, no `Retry-After`.
    Live400,
}

/// A time the quota is used up: the requests after the first `after_requests` are refused
/// (as [`FaultConfig::rate_limit_answer`] says) for `duration`, counted from the first refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Requests served normally before the outage.
    pub after_requests: u64,
    /// How long every request is refused.
    pub duration: Duration,
}

impl Default for FaultConfig {
    /// No faults.
    fn default() -> FaultConfig {
        FaultConfig {
            seed: 0,
            server_error_rate: 0.0,
            too_many_requests_rate: 0.0,
            truncate_rate: 0.0,
            cut_json_rate: 0.0,
            not_json_rate: 0.0,
            reset_rate: 0.0,
            stall_rate: 0.0,
            stall: Duration::from_secs(10),
            latency: Duration::ZERO,
            rate_limit_rps: None,
            rate_limit_answer: RateLimitAnswer::RetryAfter,
            outage: None,
        }
    }
}
