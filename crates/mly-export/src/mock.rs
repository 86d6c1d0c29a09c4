//! `mly-export mock-api`: the built-in mock Mapillary API as a server, with fault injection.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::{Args, ValueEnum};
use mock_api::{FaultConfig, MockConfig, MockServer, Outage, RateLimitAnswer, World};

use crate::limits;

/// A `--*-rate` flag: a share of requests, 0 to 1.
fn rate(text: &str) -> Result<f64, String> {
    limits::MOCK_FAULT_RATE.parse(text)
}

/// `mock-api` flags.
#[derive(Debug, Args)]
pub struct MockArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value = "8080", allow_hyphen_values = true)]
    pub port: u16,
    /// Which world to serve.
    #[arg(long, value_enum, default_value = "demo")]
    pub world: WorldChoice,
    /// Result cap per query (the real API's is 10,000).
    #[arg(long, default_value = "10000", allow_hyphen_values = true,
          value_parser = RangedU64ValueParser::<usize>::new().range(limits::RESULT_CAP))]
    pub result_cap: usize,
    /// Share of requests answered 500/502/503 (0 to 1, as every rate).
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = rate)]
    pub fail_rate: f64,
    /// Share of requests answered 429.
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = rate)]
    pub too_many_requests_rate: f64,
    /// Share of bodies cut off half way (connection closed).
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = rate)]
    pub truncate_rate: f64,
    /// Share of complete responses whose JSON is cut.
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = rate)]
    pub cut_json_rate: f64,
    /// Share of 200 responses that are an HTML page.
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = rate)]
    pub not_json_rate: f64,
    /// Share of connections reset with no response.
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = rate)]
    pub reset_rate: f64,
    /// Share of requests that stall for --stall-ms.
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = rate)]
    pub stall_rate: f64,
    /// How long a stalled request waits, in milliseconds (at most 3600000).
    #[arg(long, default_value = "120000", allow_hyphen_values = true,
          value_parser = RangedU64ValueParser::<u64>::new().range(limits::MOCK_DELAY_MS))]
    pub stall_ms: u64,
    /// Every response's time from the request's arrival, in milliseconds (at most 3600000).
    #[arg(long, default_value = "0", allow_hyphen_values = true,
          value_parser = RangedU64ValueParser::<u64>::new().range(limits::MOCK_DELAY_MS))]
    pub latency_ms: u64,
    /// Requests per second before answering 429 (0.001 to 1000000).
    #[arg(long, allow_hyphen_values = true,
          value_parser = |s: &str| limits::REQUESTS_PER_SECOND.parse(s))]
    pub rate_limit: Option<f64>,
    /// How rate-limited requests (--rate-limit, --outage-after) are answered.
    #[arg(long, value_enum, default_value = "retry-after")]
    pub rate_limit_answer: RateLimitAnswerChoice,
    /// Refuse every request as rate-limited for --outage-secs, after this many requests.
    #[arg(long, requires = "outage_secs")]
    pub outage_after: Option<u64>,
    /// How long the outage of --outage-after lasts, in seconds.
    #[arg(long, requires = "outage_after")]
    pub outage_secs: Option<u64>,
    /// Seed of the fault injection.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    pub seed: u64,
}

/// The mock's worlds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WorldChoice {
    /// The demo world (`jobs/demo.toml` and the seed's examples).
    Demo,
    /// 60,000 images around the University of Montana, dense enough to need cap splitting.
    Dense,
}

/// The mock's answers to rate-limited requests.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RateLimitAnswerChoice {
    /// HTTP 429 with `Retry-After: 1` (v4 body: code 4).
    RetryAfter,
    /// As the live v4 API: code 4, no `Retry-After`, HTTP 429 (v3: 429, no `Retry-After`).
    Live429,
    /// As the live v4 API: code 4, no `Retry-After`, HTTP 400 (v3: 429, no `Retry-After`).
    Live400,
}

/// Serves until Ctrl+C.
pub fn serve(args: MockArgs) -> Result<ExitCode> {
    let world = match args.world {
        WorldChoice::Demo => World::demo(),
        WorldChoice::Dense => World::dense([-113.985, 46.861], 60_000, args.seed),
    };
    let config = MockConfig {
        world: Arc::new(world),
        result_cap: args.result_cap,
        faults: FaultConfig {
            seed: args.seed,
            server_error_rate: args.fail_rate,
            too_many_requests_rate: args.too_many_requests_rate,
            truncate_rate: args.truncate_rate,
            cut_json_rate: args.cut_json_rate,
            not_json_rate: args.not_json_rate,
            reset_rate: args.reset_rate,
            stall_rate: args.stall_rate,
            stall: Duration::from_millis(args.stall_ms),
            latency: Duration::from_millis(args.latency_ms),
            rate_limit_rps: args.rate_limit,
            rate_limit_answer: match args.rate_limit_answer {
                RateLimitAnswerChoice::RetryAfter => RateLimitAnswer::RetryAfter,
                RateLimitAnswerChoice::Live429 => RateLimitAnswer::Live429,
                RateLimitAnswerChoice::Live400 => RateLimitAnswer::Live400,
            },
            outage: args
                .outage_after
                .zip(args.outage_secs)
                .map(|(after, secs)| Outage {
                    after_requests: after,
                    duration: Duration::from_secs(secs),
                }),
        },
        ..MockConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = MockServer::start(config, args.port)
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        eprintln!("mock Mapillary API listening on http://{}", server.addr());
        eprintln!(
            "  v3: {}   (client_id={})",
            server.v3_url(),
            mock_api::CLIENT_ID
        );
        eprintln!(
            "  v4: {}   (token {})",
            server.v4_url(),
            mock_api::ACCESS_TOKEN
        );
        eprintln!("  Ctrl+C stops it");
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl+C")?;
        let stats = server.stats();
        eprintln!("mock API stopped after {} requests", stats.requests);
        server.shutdown();
        Ok(ExitCode::SUCCESS)
    })
}
