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
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;

/// Turns transparent huge pages off for this process. Where the kernel has them "always" on
/// (many Linux hosts, this project's machines), each thread's first heap touch takes a 2 MiB
/// page: a one-feature `convert` held 26 MB instead of 7 MB, and every 1,000,000-image convert
/// 12 MB more (measured with MIMALLOC_ALLOW_THP=0). A streaming export gains nothing from huge
/// pages. Where the call is refused, nothing changes.
pub fn no_transparent_huge_pages() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
