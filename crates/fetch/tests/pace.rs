//! Rate limits, faults the mock cannot play and servers that misbehave on purpose: the pace,
//! the waiting budget, v4's error codes and a lying `Content-Length`, over real HTTP on
//! 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fetch::{Event, FetchConfig, FetchError, Fetched, Query, QueryResource, Reporter, Secret};
use mock_api::{FaultConfig, FaultKind, MockConfig, MockServer, Outage, RateLimitAnswer, World};
use model::{Api, Area, Bbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const MONTANA: Bbox = [-113.98937, 46.85699, -113.98002, 46.86501];

/// A v4 config for `base`: quick backoff and pauses (1 ms doubling to 20 ms).
fn v4_config(base: &str, cache: &Path) -> FetchConfig {
    let mut config = FetchConfig::new(
        Api::V4,
        base.parse().unwrap(),
        Secret::new(mock_api::ACCESS_TOKEN.to_owned()),
        cache.to_owned(),
    );
    config.backoff_initial = Duration::from_millis(1);
    config.backoff_max = Duration::from_millis(20);
    config
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Reporter for Recorder {
    fn on_event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

async fn fetch_montana(
    config: &FetchConfig,
    reporter: &dyn Reporter,
) -> Result<Fetched, FetchError> {
    let queries = [Query::new(
        "montana",
        QueryResource::Images,
        Area::Bbox(MONTANA),
    )];
    let plan = fetch::plan(config, &queries);
    fetch::fetch(config, &plan, reporter, &CancellationToken::new()).await
}

async fn mock(faults: FaultConfig) -> MockServer {
    let config = MockConfig {
        world: Arc::new(World::demo()),
        v4_max_limit: 100,
        faults,
        ..MockConfig::default()
    };
    MockServer::start(config, 0).await.unwrap()
}

fn ids(fetched: &Fetched) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for page in &fetched.images {
        let body: serde_json::Value = serde_json::from_slice(&page.read().unwrap()).unwrap();
        for item in body["data"].as_array().unwrap() {
            ids.insert(item["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

/// A mock that answers like the live v4 API past 20 requests a second (HTTP 400, code 4, no
/// `Retry-After`): the run slows down to what it allows and gets the whole truth, though one
/// attempt per request is all it may spend on faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_v4_rate_limit_slows_the_pace_and_the_run_completes() {
    let server = mock(FaultConfig {
        rate_limit_rps: Some(20.0),
        rate_limit_answer: RateLimitAnswer::Live400,
        ..FaultConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = v4_config(&server.v4_url(), dir.path());
    config.v4_limit = 100;
    config.max_attempts = NonZeroU32::new(1).unwrap();
    let recorder = Recorder::default();
    let fetched = fetch_montana(&config, &recorder).await.unwrap();
    let truth: BTreeSet<String> = World::demo()
        .images()
        .filter(|i| model::bbox_contains(MONTANA, i.lon, i.lat))
        .map(|i| i.key.clone())
        .collect();
    assert_eq!(ids(&fetched), truth);
    let refused = server.stats().faults_of(FaultKind::RateLimited);
    assert!(refused > 0, "the limit never bit");
    assert_eq!(fetched.stats.rate_limited, refused);
    assert_eq!(fetched.stats.retries, 0);
    let paces: Vec<f64> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::RateLimited {
                requests_per_second,
                cause,
                ..
            } => {
                assert!(
                    cause.starts_with("HTTP 400: Application request limit reached"),
                    "{cause}"
                );
                Some(*requests_per_second)
            }
            _ => None,
        })
        .collect();
    assert!(!paces.is_empty());
    // The pace settles near the quota: never cut below a tenth of it.
    assert!(paces.iter().all(|&p| p >= 2.0), "{paces:?}");
}

/// A quota that stays used up: the run waits for as long as it may, then fails naming the
/// quota and the key that sets the wait; it never spends attempts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_used_up_for_longer_than_the_wait_limit_fails_naming_it() {
    let server = mock(FaultConfig {
        rate_limit_answer: RateLimitAnswer::Live429,
        outage: Some(Outage {
            after_requests: 0,
            duration: Duration::from_secs(600),
        }),
        ..FaultConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = v4_config(&server.v4_url(), dir.path());
    config.max_attempts = NonZeroU32::new(1).unwrap();
    config.max_rate_limit_wait = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let error = fetch_montana(&config, &fetch::NoReporter)
        .await
        .unwrap_err();
    let text = error.to_string();
    let FetchError::RateLimitExhausted {
        answers, waited, ..
    } = error
    else {
        panic!("{text}");
    };
    assert!(waited <= Duration::from_millis(300), "{waited:?}");
    assert!(waited >= Duration::from_millis(280), "{waited:?}");
    assert!(started.elapsed() >= waited);
    // Pauses of 1, 2, 4, 8, 16, then 20 ms: more than a dozen answers before giving up.
    assert!(answers > 12, "{answers}");
    assert_eq!(server.stats().faults_of(FaultKind::Outage), answers);
    for part in [
        "request quota is used up",
        "10,000 search requests a minute",
        "HTTP 429: Application request limit reached",
        "max_rate_limit_wait_secs",
        "--max-rate-limit-wait-secs",
    ] {
        assert!(text.contains(part), "{part:?} missing: {text}");
    }
    assert!(!text.contains(mock_api::ACCESS_TOKEN), "{text}");
}

/// Answers every connection with the next response of a script (the last one repeats), then
/// closes it; returns the base URL.
async fn scripted_server(script: Vec<Vec<u8>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let read = socket.read(&mut buf).await.unwrap();
                if read == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..read]);
            }
            let response = &script[n.min(script.len() - 1)];
            let _ = socket.write_all(response).await;
            let _ = socket.shutdown().await;
        }
    });
    format!("http://{addr}")
}

fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const QUERY_TIMEOUT: &str = r#"{"error":{"message":"Query Timeout","type":"MLYApiException","code":-2,"is_transient":false,"fbtrace_id":"A"}}"#;
const TRANSIENT: &str = r#"{"error":{"message":"Please retry your request later.","type":"MLYApiException","code":2,"is_transient":true,"fbtrace_id":"B"}}"#;

/// Code -2 ("Query Timeout", reported as not transient) and any `is_transient: true` answer
/// are faults: retried, and each uses up an attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeouts_and_transient_answers_are_retried_as_faults() {
    let script = vec![
        response("400 Bad Request", QUERY_TIMEOUT),
        response("400 Bad Request", TRANSIENT),
        response("200 OK", r#"{"data":[{"id":"7"}]}"#),
    ];
    let dir = tempfile::tempdir().unwrap();
    let base = scripted_server(script.clone()).await;
    let mut config = v4_config(&base, dir.path());
    config.max_attempts = NonZeroU32::new(3).unwrap();
    let fetched = fetch_montana(&config, &fetch::NoReporter).await.unwrap();
    assert_eq!(ids(&fetched), BTreeSet::from(["7".to_owned()]));
    assert_eq!((fetched.stats.retries, fetched.stats.rate_limited), (2, 0));

    let base = scripted_server(script).await;
    let config = v4_config(&base, &dir.path().join("again"));
    let error = fails_after_two_attempts(config).await;
    assert!(error.contains("Please retry"), "{error}");
}

/// Runs with two attempts per request, expects them used up; the error's text.
async fn fails_after_two_attempts(mut config: FetchConfig) -> String {
    config.max_attempts = NonZeroU32::new(2).unwrap();
    let error = fetch_montana(&config, &fetch::NoReporter)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::RetriesExhausted { attempts: 2, .. }),
        "{error}"
    );
    error.to_string()
}

/// A server that announces a petabyte and sends a few bytes: the client reserves nothing up
/// front (it used to try to allocate the announced length and abort), and reports the cut
/// body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_announced_content_length_reserves_nothing() {
    let body = r#"{"data":[]}"#;
    let lie = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        1u64 << 50
    );
    let base = scripted_server(vec![lie.into_bytes()]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = v4_config(&base, dir.path());
    config.max_body_bytes = u64::MAX;
    let error = fails_after_two_attempts(config).await;
    assert!(error.contains("reading the body"), "{error}");
}

/// Tiny rates and huge timeouts are valid settings, never a panic: the first request leaves
/// at once, whatever the pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_rates_and_huge_timeouts_never_panic() {
    let base = scripted_server(vec![response("200 OK", r#"{"data":[{"id":"1"}]}"#)]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = v4_config(&base, dir.path());
    config.requests_per_second = Some(1e-30);
    config.request_timeout = Duration::MAX;
    config.backoff_initial = Duration::MAX;
    config.backoff_max = Duration::MAX;
    config.max_rate_limit_wait = Duration::MAX;
    let fetched = fetch_montana(&config, &fetch::NoReporter).await.unwrap();
    assert_eq!(ids(&fetched), BTreeSet::from(["1".to_owned()]));
}
