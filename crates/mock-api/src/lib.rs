//! A deterministic mock of the Mapillary API, v3 and v4, over real HTTP/1.1 on 127.0.0.1.
//!
//! The mock serves a synthetic [`World`] (users, sequences, images) generated from a seed, with
//! the real API's filters, `per_page` and `Link` pagination, result cap, v4 field selection and
//! error envelopes, and seeded fault injection ([`FaultConfig`]): server errors, 429s, truncated
//! bodies, cut JSON, HTML pages, connection resets, stalls, a rate limit (answered with or
//! without `Retry-After`, as 429 or as the live v4 API's 400) and a quota outage. Every other
//! crate's tests run against it; `mly-export --mock` serves [`World::demo`] for the demo job.
//!
//! It has its own wire types and rules, written from the API's documentation, so that it checks
//! the client rather than agreeing with it.
//!
//! ```
//! use std::io::{Read, Write};
//! use mock_api::{CLIENT_ID, MockConfig, MockServer};
//!
//! let server = MockServer::start_blocking(MockConfig::default(), 0)?;
//! let mut stream = std::net::TcpStream::connect(server.addr())?;
//! write!(
//!     stream,
//!     "GET /v3/images?client_id={CLIENT_ID}&closeto=-122.3079,47.6537&radius=200&per_page=3 HTTP/1.1\r\n\
//!      Host: localhost\r\nConnection: close\r\n\r\n"
//! )?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response)?;
//! assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(response.contains("rel=\"next\""));
//! assert_eq!(server.stats().requests_to("/v3/images"), 1);
//! server.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```

mod api;
mod config;
mod error;
mod faults;
mod geo;
mod http;
mod params;
mod server;
mod stats;
mod world;

pub use config::{ACCESS_TOKEN, CLIENT_ID, FaultConfig, MockConfig, Outage, RateLimitAnswer};
pub use server::MockServer;
pub use stats::{FaultKind, MockStats};
pub use world::{
    Cluster, DEMO_CAMPUS_BBOX, DENSE_SPOT_FEATURES, MockImage, MockMapFeature, MockSequence,
    MockUser, World, WorldConfig,
};
