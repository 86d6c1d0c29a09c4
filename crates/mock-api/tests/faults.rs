//! Every injected fault, observed on the wire.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{get, get_with, raw};
use mock_api::{
    CLIENT_ID, FaultConfig, FaultKind, MockConfig, MockServer, Outage, RateLimitAnswer, World,
};

const V3_TARGET: &str = "/v3/users?client_id=mock-client-id&usernames=gyllen";
const V4_TARGET: &str = "/image_ids?sequence_id=x&access_token=MLY%7Cmock%7Ctoken";

fn server(faults: FaultConfig) -> MockServer {
    let config = MockConfig {
        world: Arc::new(World::dense([0.0, 0.0], 200, 5)),
        faults,
        ..MockConfig::default()
    };
    MockServer::start_blocking(config, 0).unwrap()
}

fn raw_get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
}

#[test]
fn server_errors_use_each_apis_error_body() {
    let server = server(FaultConfig {
        server_error_rate: 1.0,
        ..FaultConfig::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let v3 = get(server.addr(), V3_TARGET);
        assert!(v3.json()["message"].is_string());
        let v4 = get(server.addr(), V4_TARGET);
        assert_eq!(v4.json()["error"]["is_transient"], true);
        assert_eq!(v4.json()["error"]["type"], "MLYApiException");
        statuses.extend([v3.status, v4.status]);
    }
    assert!(
        statuses.iter().all(|s| [500, 502, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&500) && statuses.contains(&503),
        "{statuses:?}"
    );
    assert_eq!(server.stats().faults_of(FaultKind::ServerError), 20);
}

#[test]
fn too_many_requests_comes_with_and_without_retry_after() {
    let server = server(FaultConfig {
        too_many_requests_rate: 1.0,
        ..FaultConfig::default()
    });
    let replies: Vec<_> = (0..20).map(|_| get(server.addr(), V4_TARGET)).collect();
    assert!(replies.iter().all(|r| r.status == 429));
    assert!(replies.iter().all(|r| r.json()["error"]["code"] == 4));
    let with = replies
        .iter()
        .filter(|r| r.header("retry-after") == Some("1"))
        .count();
    assert!(with > 0 && with < 20, "{with}");
    assert_eq!(get(server.addr(), V3_TARGET).status, 429);
    assert_eq!(server.stats().faults_of(FaultKind::TooManyRequests), 21);
}

#[test]
fn truncate_announces_the_full_body_and_sends_half() {
    let server = server(FaultConfig {
        truncate_rate: 1.0,
        ..FaultConfig::default()
    });
    let bytes = raw(server.addr(), &raw_get(V3_TARGET)).unwrap();
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let announced: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let body = &bytes[split + 4..];
    assert_eq!(body.len(), announced / 2);
    assert!(announced > 10);
    assert_eq!(server.stats().faults_of(FaultKind::Truncate), 1);
}

#[test]
fn cut_json_is_a_complete_response_with_broken_json() {
    let server = server(FaultConfig {
        cut_json_rate: 1.0,
        ..FaultConfig::default()
    });
    let reply = get(server.addr(), V3_TARGET);
    assert_eq!(reply.status, 200);
    assert!(!reply.body.is_empty());
    assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_err());
    assert_eq!(server.stats().faults_of(FaultKind::CutJson), 1);
}

#[test]
fn not_json_is_an_html_page() {
    let server = server(FaultConfig {
        not_json_rate: 1.0,
        ..FaultConfig::default()
    });
    let reply = get(server.addr(), V4_TARGET);
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(reply.body.starts_with(b"<!DOCTYPE html>"));
    assert_eq!(server.stats().faults_of(FaultKind::NotJson), 1);
}

#[test]
fn reset_closes_without_a_response() {
    let server = server(FaultConfig {
        reset_rate: 1.0,
        ..FaultConfig::default()
    });
    match raw(server.addr(), &raw_get(V3_TARGET)) {
        Ok(bytes) => assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes)),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
    }
    assert_eq!(server.stats().faults_of(FaultKind::Reset), 1);
}

#[test]
fn a_stalled_response_still_arrives_whole() {
    let server = server(FaultConfig {
        stall_rate: 1.0,
        stall: Duration::from_millis(50),
        latency: Duration::from_millis(10),
        ..FaultConfig::default()
    });
    let reply = get(server.addr(), V3_TARGET);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()[0]["username"], "gyllen");
    assert_eq!(server.stats().faults_of(FaultKind::Stall), 1);
}

#[test]
fn every_answer_waits_for_the_latency_errors_too() {
    let latency = Duration::from_millis(40);
    let server = server(FaultConfig {
        latency,
        ..FaultConfig::default()
    });
    for target in [V3_TARGET, "/v3/nowhere?client_id=mock-client-id"] {
        let started = std::time::Instant::now();
        let reply = get(server.addr(), target);
        assert!(
            started.elapsed() >= latency,
            "{target}: {} answered after {:?}",
            reply.status,
            started.elapsed()
        );
    }
}

#[test]
fn requests_beyond_the_rate_limit_get_429_with_retry_after() {
    let server = server(FaultConfig {
        rate_limit_rps: Some(0.001),
        ..FaultConfig::default()
    });
    assert_eq!(get(server.addr(), V3_TARGET).status, 200);
    let limited = get(server.addr(), V3_TARGET);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(server.stats().faults_of(FaultKind::RateLimited), 1);
}

/// The live v4 API's rate-limit answers: the recorded code 4 body, no `Retry-After`, as 429
/// or 400 (v3 always 429).
#[test]
fn rate_limits_can_answer_like_the_live_v4_api() {
    let recorded: serde_json::Value = serde_json::from_str(include_str!(
        "../../fetch/tests/fixtures/v4-application_request_limit_reached.json"
    ))
    .unwrap();
    for (answer, status) in [
        (RateLimitAnswer::Live429, 429),
        (RateLimitAnswer::Live400, 400),
    ] {
        let server = server(FaultConfig {
            rate_limit_rps: Some(0.001),
            rate_limit_answer: answer,
            ..FaultConfig::default()
        });
        assert_eq!(get(server.addr(), V4_TARGET).status, 200);
        let limited = get(server.addr(), V4_TARGET);
        assert_eq!(limited.status, status, "{answer:?}");
        assert_eq!(limited.header("retry-after"), None);
        let mut body = limited.json();
        let mut expected = recorded.clone();
        // Every answer has its own trace id.
        for error in [&mut body["error"], &mut expected["error"]] {
            assert!(error["fbtrace_id"].is_string());
            error.as_object_mut().unwrap().remove("fbtrace_id");
        }
        assert_eq!(body, expected);
        let v3 = get(server.addr(), V3_TARGET);
        assert_eq!((v3.status, v3.header("retry-after")), (429, None));
        assert_eq!(server.stats().faults_of(FaultKind::RateLimited), 2);
    }
}

/// An outage: the first requests are served, then every request is refused for the window,
/// then they are served again.
#[test]
fn an_outage_refuses_every_request_for_its_window() {
    let window = Duration::from_millis(300);
    let server = server(FaultConfig {
        rate_limit_answer: RateLimitAnswer::Live400,
        outage: Some(Outage {
            after_requests: 2,
            duration: window,
        }),
        ..FaultConfig::default()
    });
    let status = || get(server.addr(), V4_TARGET).status;
    assert_eq!([status(), status()], [200, 200]);
    let started = std::time::Instant::now();
    let mut refused = 0;
    while started.elapsed() < window - Duration::from_millis(50) {
        let reply = get(server.addr(), V4_TARGET);
        assert_eq!(reply.status, 400);
        assert_eq!(reply.json()["error"]["code"], 4);
        refused += 1;
    }
    std::thread::sleep(window);
    assert_eq!(status(), 200);
    assert_eq!(server.stats().faults_of(FaultKind::Outage), refused);
    assert!(refused > 0);
}

#[test]
fn one_fault_seed_gives_one_fault_sequence() {
    let faults = FaultConfig {
        seed: 42,
        server_error_rate: 0.2,
        too_many_requests_rate: 0.2,
        cut_json_rate: 0.2,
        ..FaultConfig::default()
    };
    let run = || {
        let server = server(faults.clone());
        let outcomes: Vec<(u16, usize)> = (0..30)
            .map(|_| {
                let reply = get_with(
                    server.addr(),
                    &format!("/v3/images?client_id={CLIENT_ID}&per_page=5"),
                    &[],
                );
                (reply.status, reply.body.len())
            })
            .collect();
        (outcomes, server.stats())
    };
    let (first, stats) = run();
    assert_eq!(first, run().0);
    assert_eq!(stats.requests, 30);
    let faulted: u64 = stats.faults.values().sum();
    assert!((1..30).contains(&faulted), "{faulted}");
}
