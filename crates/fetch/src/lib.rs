//! The Mapillary API client of mly-export: plans queries into cells, walks every cell's page
//! chain with bounded concurrency, splits cells that reach the API's result cap, retries faults
//! with backoff, waits out the API's rate limit at one shared pace (capped by a client-side
//! rate limit) and stores every page in a resumable cache.
//!
//! [`plan`] is pure (a `check` command prints [`Plan::lines`]); a [`Session`] is one fetch
//! run (one HTTP client, one pace, one set of counters): it runs the plan and returns the page
//! files in a deterministic order for the transform stage, then (v4) fetches the sequences the
//! transform accepted as cells of the same run. [`fetch`] is a session that fetches one plan. The token is a
//! [`Secret`]: it is never printed, logged or cached, every URL goes through [`redact`], and its
//! value is masked in whatever the server sends back.
//!
//! ```
//! use fetch::{FetchConfig, Query, QueryResource, Secret, plan};
//! use model::{Api, Area};
//!
//! let config = FetchConfig::new(
//!     Api::V3,
//!     "https://a.mapillary.com/v3".parse().unwrap(),
//!     Secret::new("my-client-id".into()),
//!     "/tmp/mly-cache/demo".into(),
//! );
//! // 0.1 x 0.1 degrees: a 2 x 2 grid of 0.0025 square-degree cells, walked in parallel.
//! let area = Area::Bbox([-111.1, 45.6, -111.0, 45.7]);
//! let plan = plan(&config, &[Query::new("bozeman", QueryResource::Images, area)]);
//! assert_eq!(plan.cells(), 4);
//! assert!(plan.lines()[0].starts_with("bozeman cell 1/4: GET /images?bbox=-111.1,45.6,"));
//! assert!(!format!("{config:?}").contains("my-client-id"));
//! ```
//!
//! Running it needs a tokio runtime:
//! `fetch(&config, &plan, &NoReporter, &CancellationToken::new()).await?`, or
//! `Session::start(&config)?` and its methods for a run of several steps.

mod cache;
mod config;
mod error;
mod http;
mod link;
mod pace;
mod plan;
mod report;
mod run;
mod secret;

pub use cache::{PageRef, remove_cache};
pub use config::{FetchConfig, Query, QueryResource};
pub use error::FetchError;
pub use link::parse_link_next;
pub use plan::{Plan, plan};
pub use report::{Event, NoReporter, Reporter};
pub use run::{FetchStats, Fetched, Session, fetch};
pub use secret::{Secret, redact};
