//! The `mly-export` command line: job files, the run pipeline and the CLI's own reporting.
//!
//! The binary is a thin layer over this library so that the job loader and the pipeline can be
//! tested (and fuzzed) without spawning a process.
//!
//! ```
//! use std::path::Path;
//!
//! let job = mly_export::job::parse(
//!     Path::new("demo.toml"),
//!     "name = \"demo\"\n[[areas]]\nbbox = [-113.99, 46.85, -113.98, 46.86]\n",
//! )
//! .unwrap();
//! assert_eq!(job.areas.len(), 1);
//! assert!(job.images && job.sequences);
//! ```

pub mod changes;
pub mod convert;
pub mod job;
pub mod limits;
pub mod lock;
pub mod mock;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;
