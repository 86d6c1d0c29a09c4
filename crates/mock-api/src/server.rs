//! The server: the accept loop, the shared state, and which fault (if any) each request gets.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::api::{self, Context, Endpoint, extents};
use crate::config::{MockConfig, RateLimitAnswer};
use crate::faults::{cut_body, html_page, limit_reached_400, server_error, too_many_requests};
use crate::http::{ReadError, Request, Response, read_request};
use crate::stats::{FaultKind, MockStats};

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
        let ctx = Context {
            world: &self.config.world,
            config: &self.config,
            base_url: &self.base_url,
            extents: &self.extents,
        };
        api::answer(&ctx, endpoint, request, trace_id)
    }
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
