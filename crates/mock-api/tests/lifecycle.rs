//! Starting and stopping the server, on the caller's runtime or a thread of its own.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::get;
use mock_api::{MockConfig, MockServer, World};

fn small_config() -> MockConfig {
    MockConfig {
        world: Arc::new(World::dense([0.0, 0.0], 50, 1)),
        ..MockConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_serves_on_the_callers_runtime() {
    let server = MockServer::start(small_config(), 0).await.unwrap();
    assert_eq!(server.v3_url(), format!("http://{}/v3", server.addr()));
    assert_eq!(server.v4_url(), format!("http://{}", server.addr()));
    let addr = server.addr();
    let reply = tokio::task::spawn_blocking(move || {
        get(
            addr,
            "/image_ids?sequence_id=x&access_token=MLY%7Cmock%7Ctoken",
        )
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(server.stats().requests_to("/image_ids"), 1);
    server.shutdown();
}

#[test]
fn a_blocking_server_has_stopped_when_shutdown_returns() {
    let server = MockServer::start_blocking(small_config(), 0).unwrap();
    let addr = server.addr();
    assert_eq!(
        get(addr, "/v3/users?client_id=mock-client-id&usernames=x").status,
        200
    );
    server.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_taken_port_is_an_error_not_a_panic() {
    let server = MockServer::start_blocking(small_config(), 0).unwrap();
    let err = MockServer::start_blocking(small_config(), server.addr().port()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
