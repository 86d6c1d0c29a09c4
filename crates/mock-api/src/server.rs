//! The server: configuration, the accept loop, routing, statistics and fault injection.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::error::{Api, RequestError, v4_error};
use crate::http::{ReadError, Request, Response, read_request};
use crate::params::Params;
use crate::world::{MockImage, World};
use crate::{map_features, v3, v4};

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

/// A kind of injected fault, as counted in [`MockStats::faults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// [`FaultConfig::server_error_rate`].
    ServerError,
    /// [`FaultConfig::too_many_requests_rate`].
    TooManyRequests,
    /// [`FaultConfig::truncate_rate`].
    Truncate,
    /// [`FaultConfig::cut_json_rate`].
    CutJson,
    /// [`FaultConfig::not_json_rate`].
    NotJson,
    /// [`FaultConfig::reset_rate`].
    Reset,
    /// [`FaultConfig::stall_rate`].
    Stall,
    /// A refusal from [`FaultConfig::rate_limit_rps`].
    RateLimited,
    /// A refusal during [`FaultConfig::outage`].
    Outage,
}

/// What the server has seen so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MockStats {
    /// Requests read (malformed ones included).
    pub requests: u64,
    /// Requests per endpoint: `/v3/images`, `/v3/sequences`, `/v3/users`, `/images`,
    /// `/image_ids`, `/map_features`, `other` (unknown paths) and `malformed` (unreadable requests).
    pub per_endpoint: BTreeMap<String, u64>,
    /// Faults injected per kind.
    pub faults: BTreeMap<FaultKind, u64>,
}

impl MockStats {
    /// Requests to one endpoint (0 when none).
    pub fn requests_to(&self, endpoint: &str) -> u64 {
        self.per_endpoint.get(endpoint).copied().unwrap_or(0)
    }

    /// Faults of one kind injected (0 when none).
    pub fn faults_of(&self, kind: FaultKind) -> u64 {
        self.faults.get(&kind).copied().unwrap_or(0)
    }
}

/// What a handler needs to answer.
pub(crate) struct Context<'a> {
    pub(crate) world: &'a World,
    pub(crate) config: &'a MockConfig,
    /// `http://127.0.0.1:PORT`, for absolute next-page URLs.
    pub(crate) base_url: &'a str,
    /// Each sequence's extent `[minx, miny, maxx, maxy]`, in `world.sequences` order.
    pub(crate) extents: &'a [[f64; 4]],
}

impl Context<'_> {
    /// The images of the sequences whose extent meets `reach` (all images without one): every
    /// image a search in `reach` can match, without scanning the whole world per request.
    pub(crate) fn images_near(&self, reach: Option<[f64; 4]>) -> impl Iterator<Item = &MockImage> {
        self.world
            .sequences
            .iter()
            .zip(self.extents)
            .filter(move |(_, e)| {
                reach.is_none_or(|r| e[0] <= r[2] && e[2] >= r[0] && e[1] <= r[3] && e[3] >= r[1])
            })
            .flat_map(|(s, _)| s.images.iter())
    }
}

/// Each sequence's extent, for [`Context::images_near`].
fn extents(world: &World) -> Vec<[f64; 4]> {
    world
        .sequences
        .iter()
        .map(|s| {
            s.images.iter().fold(
                [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ],
                |e, i| {
                    [
                        e[0].min(i.lon),
                        e[1].min(i.lat),
                        e[2].max(i.lon),
                        e[3].max(i.lat),
                    ]
                },
            )
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    V3Images,
    V3Sequences,
    V3Users,
    V4Images,
    V4ImageIds,
    V4MapFeatures,
    Other { v3: bool },
}

impl Endpoint {
    fn of(path: &str) -> Endpoint {
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

    fn name(self) -> &'static str {
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

    fn api(self) -> Api {
        match self {
            Endpoint::V3Images | Endpoint::V3Sequences | Endpoint::V3Users => Api::V3,
            Endpoint::Other { v3: true } => Api::V3,
            _ => Api::V4,
        }
    }
}

/// A token bucket for [`FaultConfig::rate_limit_rps`].
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

/// What to do with a request.
enum Outcome {
    Respond(Response),
    /// Announce the full body, send half, close.
    Truncate(Response),
    /// Close with no response.
    Reset,
}

/// State shared by every connection.
struct Shared {
    config: MockConfig,
    base_url: String,
    extents: Vec<[f64; 4]>,
    stats: Mutex<MockStats>,
    fault_rng: Mutex<SmallRng>,
    bucket: Mutex<TokenBucket>,
    /// Requests seen, and when the outage began.
    outage: Mutex<(u64, Option<Instant>)>,
    /// Numbers v4 `fbtrace_id`s.
    traces: AtomicU64,
}

impl Shared {
    fn new(config: MockConfig, addr: SocketAddr) -> Shared {
        Shared {
            base_url: format!("http://{addr}"),
            extents: extents(&config.world),
            stats: Mutex::new(MockStats::default()),
            fault_rng: Mutex::new(SmallRng::seed_from_u64(config.faults.seed)),
            bucket: Mutex::new(TokenBucket {
                tokens: config.faults.rate_limit_rps.unwrap_or(0.0).max(1.0),
                refilled: Instant::now(),
            }),
            outage: Mutex::new((0, None)),
            traces: AtomicU64::new(0),
            config,
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, MockStats> {
        // Stats stay meaningful even if a holder panicked: take them anyway.
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count_request(&self, endpoint: &str) {
        let mut stats = self.stats();
        stats.requests += 1;
        *stats.per_endpoint.entry(endpoint.to_owned()).or_default() += 1;
    }

    fn count_fault(&self, kind: FaultKind) {
        *self.stats().faults.entry(kind).or_default() += 1;
    }

    /// Takes a token; false when the request is over the rate.
    fn within_rate(&self) -> bool {
        let Some(rps) = self.config.faults.rate_limit_rps else {
            return true;
        };
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rps).min(rps.max(1.0));
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Counts the request against the outage; true when it falls inside it.
    fn in_outage(&self) -> bool {
        let Some(outage) = self.config.faults.outage else {
            return false;
        };
        let mut state = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        if state.0 <= outage.after_requests {
            return false;
        }
        let started = *state.1.get_or_insert_with(Instant::now);
        started.elapsed() < outage.duration
    }

    /// Draws this request's fault, and a number to pick among a fault's variants.
    fn draw_fault(&self) -> (Option<FaultKind>, u32) {
        let f = &self.config.faults;
        let mut rng = self
            .fault_rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (roll, variant) = (rng.random::<f64>(), rng.random::<u32>());
        let rates = [
            (FaultKind::ServerError, f.server_error_rate),
            (FaultKind::TooManyRequests, f.too_many_requests_rate),
            (FaultKind::Truncate, f.truncate_rate),
            (FaultKind::CutJson, f.cut_json_rate),
            (FaultKind::NotJson, f.not_json_rate),
            (FaultKind::Reset, f.reset_rate),
            (FaultKind::Stall, f.stall_rate),
        ];
        let mut threshold = 0.0;
        for (kind, rate) in rates {
            threshold += rate;
            if roll < threshold {
                return (Some(kind), variant);
            }
        }
        (None, variant)
    }

    /// The outcome of one request, no sooner than `latency` after it arrived: the latency is
    /// the server's whole response time, its own work included, as with a real API.
    async fn respond(&self, request: &Request) -> Outcome {
        let latency = self.config.faults.latency;
        let due = tokio::time::Instant::now() + latency;
        let outcome = self.decide(request).await;
        if !latency.is_zero() {
            tokio::time::sleep_until(due).await;
        }
        outcome
    }

    async fn decide(&self, request: &Request) -> Outcome {
        let endpoint = Endpoint::of(&request.path);
        self.count_request(endpoint.name());
        let api = endpoint.api();
        let trace_id = self.traces.fetch_add(1, Ordering::Relaxed);
        let refusal = if self.in_outage() {
            Some(FaultKind::Outage)
        } else if !self.within_rate() {
            Some(FaultKind::RateLimited)
        } else {
            None
        };
        if let Some(kind) = refusal {
            self.count_fault(kind);
            let answer = self.config.faults.rate_limit_answer;
            return Outcome::Respond(match answer {
                RateLimitAnswer::RetryAfter => too_many_requests(api, trace_id, true),
                RateLimitAnswer::Live429 => too_many_requests(api, trace_id, false),
                RateLimitAnswer::Live400 => limit_reached_400(api, trace_id),
            });
        }
        let (fault, variant) = self.draw_fault();
        if let Some(kind) = fault {
            self.count_fault(kind);
        }
        match fault {
            Some(FaultKind::ServerError) => {
                return Outcome::Respond(server_error(api, trace_id, variant));
            }
            Some(FaultKind::TooManyRequests) => {
                return Outcome::Respond(too_many_requests(api, trace_id, variant % 2 == 0));
            }
            Some(FaultKind::NotJson) => return Outcome::Respond(html_page()),
            Some(FaultKind::Reset) => return Outcome::Reset,
            Some(FaultKind::Stall) => tokio::time::sleep(self.config.faults.stall).await,
            _ => {}
        }
        let response = self.handle(endpoint, request, trace_id);
        match fault {
            Some(FaultKind::Truncate) => Outcome::Truncate(response),
            Some(FaultKind::CutJson) => Outcome::Respond(cut_body(response)),
            _ => Outcome::Respond(response),
        }
    }

    fn handle(&self, endpoint: Endpoint, request: &Request, trace_id: u64) -> Response {
        let params = Params::parse(&request.query);
        let ctx = Context {
            world: &self.config.world,
            config: &self.config,
            base_url: &self.base_url,
            extents: &self.extents,
        };
        let result = if request.method != "GET" {
            Err(RequestError::MethodNotAllowed {
                method: request.method.clone(),
            })
        } else {
            match endpoint {
                Endpoint::V3Images => v3::images(&ctx, &params),
                Endpoint::V3Sequences => v3::sequences(&ctx, &params),
                Endpoint::V3Users => v3::users(&ctx, &params),
                Endpoint::V4Images => {
                    v4::check_token(&ctx, request, &params).and_then(|()| v4::images(&ctx, &params))
                }
                Endpoint::V4ImageIds => v4::check_token(&ctx, request, &params)
                    .and_then(|()| v4::image_ids(&ctx, &params)),
                Endpoint::V4MapFeatures => v4::check_token(&ctx, request, &params)
                    .and_then(|()| map_features::map_features(&ctx, &params)),
                Endpoint::Other { .. } => Err(RequestError::NotFound {
                    path: request.path.clone(),
                }),
            }
        };
        result.unwrap_or_else(|err| err.response(endpoint.api(), trace_id))
    }
}

fn server_error(api: Api, trace_id: u64, variant: u32) -> Response {
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

fn too_many_requests(api: Api, trace_id: u64, retry_after: bool) -> Response {
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
fn limit_reached_400(api: Api, trace_id: u64) -> Response {
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
fn html_page() -> Response {
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
fn cut_body(mut response: Response) -> Response {
    let mut cut = response.body.len() / 2;
    while cut > 0 && response.body[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    response.body.truncate(cut);
    response
}

async fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(request) => request,
            Err(ReadError::Malformed(reason)) => {
                shared.count_request("malformed");
                let body = json!({ "message": format!("malformed request: {reason}") });
                // The peer may be gone already; nothing more to do either way.
                let _ = Response::json(400, &body).write_to(&mut stream, true).await;
                return;
            }
            Err(ReadError::Closed | ReadError::Io) => return,
        };
        let close = !request.keep_alive;
        match shared.respond(&request).await {
            Outcome::Respond(response) => {
                if response.write_to(&mut stream, close).await.is_err() || close {
                    return;
                }
            }
            Outcome::Truncate(response) => {
                let _ = response.write_truncated(&mut stream).await;
                return;
            }
            Outcome::Reset => {
                // SO_LINGER 0: closing sends RST rather than FIN.
                let _ = stream.set_zero_linger();
                return;
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        match accepted {
            Ok((stream, _)) => {
                // Without NODELAY, Nagle's algorithm and the client's delayed ACK can add
                // ~40 ms to a response written in more than one piece (a truncated body).
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let mut stop_serving = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = serve_connection(stream, &shared) => {}
                        _ = stop_serving.wait_for(|stopped| *stopped) => {}
                    }
                });
            }
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("mock-api: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn bind(config: MockConfig, port: u16) -> std::io::Result<(TcpListener, Arc<Shared>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, Arc::new(Shared::new(config, addr))))
}

/// How the accept loop runs.
enum Runner {
    /// On the caller's runtime ([`MockServer::start`]).
    Task(tokio::task::JoinHandle<()>),
    /// On a thread with its own runtime ([`MockServer::start_blocking`]).
    Thread(std::thread::JoinHandle<()>),
}

/// A running mock API on 127.0.0.1. Stops on [`MockServer::shutdown`] or drop.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    runner: Option<Runner>,
}

impl MockServer {
    /// Listens on `127.0.0.1:port` (0: any free port) and serves on the current tokio runtime.
    pub async fn start(config: MockConfig, port: u16) -> std::io::Result<MockServer> {
        let (listener, shared) = bind(config, port).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(MockServer {
            addr,
            shared,
            stop,
            runner: Some(Runner::Task(task)),
        })
    }

    /// Like [`MockServer::start`], from synchronous code: serves on a thread of its own with
    /// its own runtime, and returns once listening.
    pub fn start_blocking(config: MockConfig, port: u16) -> std::io::Result<MockServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("mock-api".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match bind(config, port).await {
                        Ok((listener, shared)) => {
                            let ready = listener.local_addr().map(|a| (a, Arc::clone(&shared)));
                            let listening = ready.is_ok();
                            let _ = ready_tx.send(ready);
                            if listening {
                                accept_loop(listener, shared, stopped).await;
                            }
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })?;
        let (addr, shared) = ready_rx.recv().map_err(|_| {
            std::io::Error::other("the mock-api thread ended before it was listening")
        })??;
        Ok(MockServer {
            addr,
            shared,
            stop,
            runner: Some(Runner::Thread(thread)),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The v3 base URL, `http://127.0.0.1:PORT/v3`.
    pub fn v3_url(&self) -> String {
        format!("{}/v3", self.shared.base_url)
    }

    /// The v4 base URL, `http://127.0.0.1:PORT`.
    pub fn v4_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Requests and faults so far.
    pub fn stats(&self) -> MockStats {
        self.shared.stats().clone()
    }

    /// Stops listening and closes every connection. A [`MockServer::start_blocking`] server
    /// has stopped when this returns; a [`MockServer::start`] one as soon as its runtime
    /// polls it.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.send_replace(true);
        let joined = match self.runner.take() {
            Some(Runner::Task(task)) => {
                task.abort();
                Ok(())
            }
            Some(Runner::Thread(thread)) => thread.join(),
            None => Ok(()),
        };
        if joined.is_err() {
            tracing::warn!("mock-api: the server thread panicked");
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish()
    }
}
