//! The client against the mock Mapillary API over real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fetch::{
    Event, FetchConfig, FetchError, Fetched, NoReporter, PageRef, Query, QueryResource, Reporter,
    Secret, Session, fetch, plan,
};
use mock_api::{FaultConfig, FaultKind, MockConfig, MockServer, World};
use model::{Api, Area, Bbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const MONTANA: Bbox = [-113.98937, 46.85699, -113.98002, 46.86501];

/// A config for the mock: its token, quick backoff, a private cache.
fn config(api: Api, server: &MockServer, cache: &Path) -> FetchConfig {
    let (base, token) = match api {
        Api::V3 => (server.v3_url(), mock_api::CLIENT_ID),
        Api::V4 => (server.v4_url(), mock_api::ACCESS_TOKEN),
    };
    let mut config = FetchConfig::new(
        api,
        base.parse().unwrap(),
        Secret::new(token.to_owned()),
        cache.to_owned(),
    );
    config.backoff_initial = Duration::from_millis(1);
    config.backoff_max = Duration::from_millis(20);
    config.request_timeout = Duration::from_secs(10);
    config
}

async fn start(world: World, result_cap: usize, faults: FaultConfig) -> MockServer {
    let config = MockConfig {
        world: Arc::new(world),
        result_cap,
        faults,
        ..MockConfig::default()
    };
    MockServer::start(config, 0).await.unwrap()
}

fn requests(server: &MockServer) -> u64 {
    server.stats().requests
}

fn images_query(area: Area) -> Query {
    Query::new("montana", QueryResource::Images, area)
}

fn truth_in(world: &World, bbox: Bbox) -> BTreeSet<String> {
    world
        .images()
        .filter(|i| model::bbox_contains(bbox, i.lon, i.lat))
        .map(|i| i.key.clone())
        .collect()
}

/// Item keys of page files, in order: v3 `features[].properties.key`, v4 `data[].id`.
fn keys_of(pages: &[PageRef]) -> Vec<String> {
    let mut keys = Vec::new();
    for page in pages {
        let body: serde_json::Value = serde_json::from_slice(&page.read().unwrap()).unwrap();
        if let Some(features) = body["features"].as_array() {
            keys.extend(
                features
                    .iter()
                    .map(|f| f["properties"]["key"].as_str().unwrap().to_owned()),
            );
        } else {
            let data = body["data"].as_array().unwrap();
            keys.extend(data.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        }
    }
    keys
}

fn key_set(pages: &[PageRef]) -> BTreeSet<String> {
    keys_of(pages).into_iter().collect()
}

/// Every byte under `dir`, file by file.
fn cache_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn assert_no_token(dir: &Path, token: &str) {
    for (path, bytes) in cache_bytes(dir) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(token), "{} holds the token", path.display());
    }
}

/// Records every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Reporter for Recorder {
    fn on_event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// The owner of an image in the Montana box whose name needs no escaping in a `usernames` list.
fn montana_user(world: &World) -> mock_api::MockImage {
    world
        .images()
        .find(|i| {
            model::bbox_contains(MONTANA, i.lon, i.lat)
                && i.username
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .unwrap()
        .clone()
}

/// A successful run and the events it reported.
async fn run_recorded(config: &FetchConfig, queries: &[Query]) -> (Fetched, Vec<Event>) {
    let recorder = Recorder::default();
    let plan = plan(config, queries);
    let fetched = fetch(config, &plan, &recorder, &CancellationToken::new())
        .await
        .unwrap();
    (fetched, recorder.events())
}

async fn run(config: &FetchConfig, queries: &[Query]) -> Result<Fetched, FetchError> {
    fetch(
        config,
        &plan(config, queries),
        &NoReporter,
        &CancellationToken::new(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_grid_and_link_chains_return_exactly_the_truth_in_a_stable_order() {
    let world = World::demo();
    let truth = truth_in(&world, MONTANA);
    let server = start(world, 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, &dir.path().join("a"));
    config.per_page = 100;
    config.v3_cell_max_area = 2e-5;
    let queries = [images_query(Area::Bbox(MONTANA))];
    assert_eq!(plan(&config, &queries).cells(), 6);
    let fetched = run(&config, &queries).await.unwrap();
    assert!(
        truth.len() > 300,
        "the world has {} images there",
        truth.len()
    );
    assert_eq!(key_set(&fetched.images), truth);
    assert_eq!(fetched.stats.pages, fetched.images.len() as u64);
    assert!(fetched.stats.pages > 6, "chains of several pages");
    assert_eq!(fetched.stats.requests, fetched.stats.pages);
    assert_eq!(requests(&server), fetched.stats.requests);
    assert_eq!((fetched.stats.retries, fetched.stats.splits), (0, 0));
    assert_no_token(&config.cache_dir, mock_api::CLIENT_ID);

    // A second run into a fresh cache lists the same pages in the same order.
    config.cache_dir = dir.path().join("b");
    let again = run(&config, &queries).await.unwrap();
    assert_eq!(keys_of(&again.images), keys_of(&fetched.images));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_cap_splits_recursively_and_the_leaves_cover_the_truth() {
    let center = [-113.984695, 46.861];
    let world = World::dense(center, 4000, 7);
    let bbox = [
        center[0] - 0.012,
        center[1] - 0.008,
        center[0] + 0.012,
        center[1] + 0.008,
    ];
    let truth = truth_in(&world, bbox);
    let server = start(world, 500, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, dir.path());
    config.result_cap = 500;
    config.per_page = 200;
    let (fetched, events) = run_recorded(&config, &[images_query(Area::Bbox(bbox))]).await;
    assert_eq!(key_set(&fetched.images), truth);
    let splits: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Split { label, .. } => Some(label.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(splits.len() as u64, fetched.stats.splits);
    let depth = |label: &str| {
        label
            .split(' ')
            .filter(|w| ["SW", "SE", "NW", "NE"].contains(w))
            .count()
    };
    assert!(splits.iter().any(|l| depth(l) >= 2), "{splits:?}");
    // Leaves hold fewer than the cap; split cells' pages are not listed.
    let mut finished_items = 0;
    for event in &events {
        if let Event::CellFinished { items, .. } = event {
            assert!(*items < 500);
            finished_items += items;
        }
    }
    assert_eq!(finished_items, keys_of(&fetched.images).len());
}

/// One fault kind at a time; every run must still return the whole truth.
async fn recovers_from(
    kind: FaultKind,
    faults: FaultConfig,
    request_timeout: Duration,
) -> (Fetched, Vec<Event>) {
    let world = World::demo();
    let truth = truth_in(&world, MONTANA);
    let server = start(world, 10_000, faults).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, dir.path());
    config.per_page = 100;
    config.max_attempts = NonZeroU32::new(12).unwrap();
    config.request_timeout = request_timeout;
    let (fetched, events) = run_recorded(&config, &[images_query(Area::Bbox(MONTANA))]).await;
    assert_eq!(key_set(&fetched.images), truth);
    assert!(
        server.stats().faults_of(kind) > 0,
        "no {kind:?} was injected"
    );
    assert!(fetched.stats.retries > 0);
    assert_eq!(fetched.stats.rate_limited, 0);
    assert_eq!(
        fetched.stats.requests,
        fetched.stats.pages + fetched.stats.retries
    );
    (fetched, events)
}

fn faults(seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        ..FaultConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_server_errors() {
    let (_, events) = recovers_from(
        FaultKind::ServerError,
        FaultConfig {
            server_error_rate: 0.3,
            ..faults(1)
        },
        Duration::from_secs(10),
    )
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Retry { cause, .. } if cause.starts_with("HTTP 5")))
    );
}

/// 429s (half with `Retry-After: 1`) are the rate limit, not faults: with a single attempt
/// allowed the run still gets everything; every request waits out each pause, `Retry-After`
/// as given and the others growing from `backoff_initial`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_pause_the_run_without_using_up_attempts() {
    let world = World::demo();
    let truth = truth_in(&world, MONTANA);
    let server = start(
        world,
        10_000,
        FaultConfig {
            too_many_requests_rate: 0.4,
            ..faults(2)
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, dir.path());
    config.per_page = 100;
    config.max_attempts = NonZeroU32::new(1).unwrap();
    let (fetched, events) = run_recorded(&config, &[images_query(Area::Bbox(MONTANA))]).await;
    assert_eq!(key_set(&fetched.images), truth);
    let stats = &fetched.stats;
    let injected = server.stats().faults_of(FaultKind::TooManyRequests);
    assert!(injected > 1, "{injected}");
    assert_eq!((stats.retries, stats.rate_limited), (0, injected));
    assert_eq!(stats.requests, stats.pages + stats.rate_limited);
    let waits: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            Event::RateLimited { wait, cause, .. } if cause.starts_with("HTTP 429") => Some(*wait),
            _ => None,
        })
        .collect();
    assert!(waits.contains(&Duration::from_secs(1)), "{waits:?}");
    assert!(
        waits.iter().any(|d| *d <= Duration::from_millis(20)),
        "{waits:?}"
    );
    assert!(stats.rate_limit_wait >= Duration::from_secs(1), "{stats:?}");
    assert_eq!(stats.rate_limit_wait, waits.iter().sum::<Duration>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_truncated_bodies() {
    recovers_from(
        FaultKind::Truncate,
        FaultConfig {
            truncate_rate: 0.3,
            ..faults(3)
        },
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_cut_json() {
    let (_, events) = recovers_from(
        FaultKind::CutJson,
        FaultConfig {
            cut_json_rate: 0.3,
            ..faults(4)
        },
        Duration::from_secs(10),
    )
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Retry { cause, .. } if cause.contains("unexpected body")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_html_pages() {
    recovers_from(
        FaultKind::NotJson,
        FaultConfig {
            not_json_rate: 0.3,
            ..faults(5)
        },
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_connection_resets() {
    recovers_from(
        FaultKind::Reset,
        FaultConfig {
            reset_rate: 0.3,
            ..faults(6)
        },
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_stalls_with_a_short_timeout() {
    let (_, events) = recovers_from(
        FaultKind::Stall,
        FaultConfig {
            stall_rate: 0.2,
            stall: Duration::from_secs(30),
            ..faults(7)
        },
        Duration::from_millis(300),
    )
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Retry { cause, .. } if cause.contains("timed out")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_name_the_redacted_url_and_attempts() {
    let server = start(
        World::demo(),
        10_000,
        FaultConfig {
            server_error_rate: 1.0,
            ..faults(8)
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, dir.path());
    config.max_attempts = NonZeroU32::new(3).unwrap();
    let error = run(&config, &[images_query(Area::Bbox(MONTANA))])
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, FetchError::RetriesExhausted { attempts: 3, .. }),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("GET {}/images?bbox=", server.v3_url())),
        "{text}"
    );
    assert!(text.contains("client_id=***"), "{text}");
    assert!(text.contains("failed after 3 attempts in "), "{text}");
    assert!(text.contains(": HTTP 50"), "{text}");
    assert!(
        !text.contains(mock_api::CLIENT_ID) && !format!("{error:?}").contains(mock_api::CLIENT_ID)
    );
    assert_eq!(requests(&server), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_say_which_variable_to_fix() {
    let server = start(World::demo(), 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut v3 = config(Api::V3, &server, dir.path());
    v3.token = Secret::new("wrong-client-id".into());
    let error = run(&v3, &[images_query(Area::Bbox(MONTANA))])
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::InvalidClientId { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("MAPILLARY_CLIENT_ID"));
    assert!(!error.to_string().contains("wrong-client-id"));

    let mut v4 = config(Api::V4, &server, dir.path());
    v4.token = Secret::new("MLY|wrong|token".into());
    let error = run(&v4, &[images_query(Area::Bbox(MONTANA))])
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, FetchError::InvalidToken { .. }), "{text}");
    assert!(
        text.contains("invalid or expired token") && text.contains("MAPILLARY_ACCESS_TOKEN"),
        "{text}"
    );
    assert!(!text.contains("MLY|wrong|token"));
    assert_eq!(requests(&server), 2, "no retry on bad credentials");
}

/// A one-shot server whose first page links to another host.
async fn foreign_link_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let body = r#"{"type":"FeatureCollection","features":[]}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nlink: <http://elsewhere.example/v3/images?page=2&client_id=stolen>; rel=\"next\"\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
    });
    format!("http://{addr}/v3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_another_host_is_refused() {
    let base = foreign_link_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = FetchConfig::new(
        Api::V3,
        base.parse().unwrap(),
        Secret::new("SECRET-ID".into()),
        dir.path().to_owned(),
    );
    let error = run(&config, &[images_query(Area::Bbox(MONTANA))])
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, FetchError::ForeignNextLink { .. }),
        "{text}"
    );
    assert!(
        text.contains("http://elsewhere.example/v3/images?page=2&client_id=***"),
        "{text}"
    );
    assert!(
        !text.contains("SECRET-ID") && !text.contains("stolen"),
        "{text}"
    );
    assert_no_token(dir.path(), "SECRET-ID");
}

/// Cancels the run once it has seen `after` pages.
struct CancelAfter {
    after: usize,
    seen: AtomicUsize,
    cancel: CancellationToken,
}

impl Reporter for CancelAfter {
    fn on_event(&self, event: &Event) {
        if matches!(event, Event::Page { .. })
            && self.seen.fetch_add(1, Ordering::SeqCst) + 1 >= self.after
        {
            self.cancel.cancel();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_resumes_from_the_cache() {
    let world = World::demo();
    let truth = truth_in(&world, MONTANA);
    let server = start(world, 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, &dir.path().join("job"));
    config.per_page = 50;
    config.concurrency = NonZeroUsize::new(2).unwrap();
    let queries = [
        images_query(Area::Bbox(MONTANA)),
        Query::new("seqs", QueryResource::Sequences, Area::Bbox(MONTANA)),
    ];
    let plan = plan(&config, &queries);
    let cancel = CancellationToken::new();
    let reporter = CancelAfter {
        after: 5,
        seen: AtomicUsize::new(0),
        cancel: cancel.clone(),
    };
    let error = fetch(&config, &plan, &reporter, &cancel).await.unwrap_err();
    assert!(matches!(error, FetchError::Cancelled));
    // Let requests the client had already written when it was cancelled reach the mock's count.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = requests(&server);
    assert!(first >= 5);

    let resumed = fetch(&config, &plan, &NoReporter, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(key_set(&resumed.images), truth);
    assert!(resumed.stats.pages_from_cache >= 5, "{:?}", resumed.stats);
    assert_eq!(
        resumed.stats.requests,
        resumed.stats.pages - resumed.stats.pages_from_cache
    );
    assert_eq!(requests(&server) - first, resumed.stats.requests);
    assert!(!resumed.sequences.is_empty() && resumed.sequences.iter().all(|g| g.len() == 1));

    // A third run needs no request at all and lists the same files.
    let before = requests(&server);
    let cached = fetch(&config, &plan, &NoReporter, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(requests(&server), before);
    assert_eq!(cached.stats.pages_from_cache, cached.stats.pages);
    assert_eq!(cached.images, resumed.images);
    assert_eq!(cached.sequences, resumed.sequences);
    assert_no_token(&config.cache_dir, mock_api::CLIENT_ID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_page_changed_on_disk_is_fetched_again_even_when_it_still_parses() {
    let world = World::demo();
    let truth = truth_in(&world, MONTANA);
    let server = start(world, 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, &dir.path().join("job"));
    config.per_page = 50;
    let queries = [images_query(Area::Bbox(MONTANA))];
    let first = run(&config, &queries).await.unwrap();
    assert_eq!(key_set(&first.images), truth);
    // One digit of the first page's body changes: still JSON of the right shape, not the body
    // that arrived. Resuming must not take it for the API's answer.
    let page = &first.images[0];
    let original = page.read().unwrap();
    let mut log = std::fs::read(&page.path).unwrap();
    let body =
        usize::try_from(page.offset).unwrap()..usize::try_from(page.offset + page.len).unwrap();
    let digit = body.clone().find(|&i| log[i].is_ascii_digit()).unwrap();
    log[digit] = if log[digit] == b'9' {
        b'8'
    } else {
        log[digit] + 1
    };
    std::fs::write(&page.path, &log).unwrap();
    let before = requests(&server);
    let again = run(&config, &queries).await.unwrap();
    assert_eq!(key_set(&again.images), truth);
    assert!(again.stats.requests >= 1, "{:?}", again.stats);
    assert_eq!(requests(&server) - before, again.stats.requests);
    assert_eq!(
        again.stats.pages_from_cache,
        again.stats.pages - again.stats.requests
    );
    assert_eq!(
        again.images[0].read().unwrap(),
        original,
        "the page stored again is the API's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_follows_cached_links_on_the_api_s_new_address() {
    // `--mock` starts the mock on a new port each run: cached next links must follow the API.
    let first_server = start(World::demo(), 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &first_server, &dir.path().join("job"));
    config.per_page = 50;
    config.concurrency = NonZeroUsize::new(1).unwrap();
    let queries = [images_query(Area::Bbox(MONTANA))];
    let plan = plan(&config, &queries);
    let cancel = CancellationToken::new();
    let reporter = CancelAfter {
        after: 3,
        seen: AtomicUsize::new(0),
        cancel: cancel.clone(),
    };
    let error = fetch(&config, &plan, &reporter, &cancel).await.unwrap_err();
    assert!(matches!(error, FetchError::Cancelled));
    drop(first_server);

    let world = World::demo();
    let truth = truth_in(&world, MONTANA);
    let second_server = start(world, 10_000, FaultConfig::default()).await;
    config.base_url = url::Url::parse(&second_server.v3_url()).unwrap();
    let resumed = fetch(&config, &plan, &NoReporter, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(key_set(&resumed.images), truth);
    assert!(resumed.stats.pages_from_cache >= 3, "{:?}", resumed.stats);
    assert_eq!(requests(&second_server), resumed.stats.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_stalled_requests() {
    let server = start(
        World::demo(),
        10_000,
        FaultConfig {
            stall_rate: 1.0,
            stall: Duration::from_secs(60),
            ..faults(9)
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, dir.path());
    config.request_timeout = Duration::from_secs(120);
    let queries = [images_query(Area::Bbox(MONTANA))];
    let plan = plan(&config, &queries);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let error = fetch(&config, &plan, &NoReporter, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Cancelled));
    assert!(cache_bytes(dir.path()).is_empty(), "nothing half-written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_an_error() {
    let server = start(World::demo(), 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V3, &server, dir.path());
    config.max_body_bytes = 1000;
    let error = run(&config, &[images_query(Area::Bbox(MONTANA))])
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::BodyTooLarge { limit: 1000, .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_usernames_resolve_once_and_unknown_ones_warn() {
    let world = World::demo();
    let user = montana_user(&world);
    let truth: BTreeSet<String> = world
        .images()
        .filter(|i| model::bbox_contains(MONTANA, i.lon, i.lat) && i.user_key == user.user_key)
        .map(|i| i.key.clone())
        .collect();
    let server = start(world, 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(Api::V3, &server, dir.path());
    let mut known = images_query(Area::Bbox(MONTANA));
    known.usernames = vec![user.username.clone(), "nobody-at-all".into()];
    let mut unknown = Query::new("ghost", QueryResource::Images, Area::Bbox(MONTANA));
    unknown.usernames = vec!["nobody-at-all".into()];
    let fetched = run(&config, &[known, unknown]).await.unwrap();
    assert_eq!(fetched.resolved_userkeys, vec![user.user_key.clone()]);
    assert_eq!(key_set(&fetched.images), truth);
    assert_eq!(fetched.warnings.len(), 2, "{:?}", fetched.warnings);
    assert!(fetched.warnings.iter().any(|w| w.contains("nobody-at-all")));
    assert!(fetched.warnings.iter().any(|w| w.starts_with("ghost: ")));
    // One /users request and the known query's single page; the ghost query sends nothing.
    assert_eq!(requests(&server), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_cells_split_at_the_limit_and_cover_the_truth() {
    let world = World::demo();
    let truth = truth_in(&world, MONTANA);
    let server = start(world, 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V4, &server, dir.path());
    config.v4_limit = 200;
    config.v4_cell_max_area = 4e-5;
    let queries = [images_query(Area::Bbox(MONTANA))];
    assert!(plan(&config, &queries).cells() > 1);
    let fetched = run(&config, &queries).await.unwrap();
    assert_eq!(key_set(&fetched.images), truth);
    assert!(fetched.stats.splits > 0);
    assert_no_token(dir.path(), mock_api::ACCESS_TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_creator_and_sequence_searches_follow_paging_next() {
    let world = World::demo();
    let user = montana_user(&world);
    let truth: BTreeSet<String> = world
        .images()
        .filter(|i| model::bbox_contains(MONTANA, i.lon, i.lat) && i.user_key == user.user_key)
        .map(|i| i.key.clone())
        .collect();
    let sequences: Vec<_> = world
        .sequences
        .iter()
        .filter(|s| s.images.len() > 30)
        .take(3)
        .cloned()
        .collect();
    let server = start(world, 10_000, FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(Api::V4, &server, dir.path());
    config.v4_limit = 10;
    let mut query = images_query(Area::Bbox(MONTANA));
    query.usernames = vec![user.username.clone()];
    // One session: the creator search, then the sequences by id, as one run.
    let cancel = CancellationToken::new();
    let mut session = Session::start(&config).unwrap();
    let fetched = session
        .fetch(&plan(&config, &[query]), &NoReporter, &cancel)
        .await
        .unwrap();
    assert_eq!(key_set(&fetched.images), truth);
    assert!(
        fetched.stats.pages as usize >= truth.len() / 10,
        "paged by 10"
    );

    let mut ids: Vec<String> = sequences.iter().rev().map(|s| s.key.clone()).collect();
    ids.push(ids[0].clone());
    let groups = session
        .fetch_v4_sequences(&ids, &NoReporter, &cancel)
        .await
        .unwrap();
    let mut expected = sequences.clone();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(groups.len(), 3);
    // The session's counters are one total: the image pages, then every sequence page.
    let total = session.stats();
    let sequence_pages: usize = groups.iter().map(Vec::len).sum();
    assert_eq!(
        total.pages as usize,
        fetched.stats.pages as usize + sequence_pages
    );
    assert_eq!(
        total.requests, total.pages,
        "no faults: one request per page"
    );
    for (group, sequence) in groups.iter().zip(&expected) {
        let keys: Vec<String> = sequence.images.iter().map(|i| i.key.clone()).collect();
        assert_eq!(keys_of(group), keys, "capture order, all pages");
        assert!(group.len() > 1);
    }
}
