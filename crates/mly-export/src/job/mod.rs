//! Job files: parsing and validation, pure (no network, no files but the job itself).
//!
//! The TOML is walked by hand over `toml`'s spanned tree instead of `serde` so that *every*
//! problem is reported at once, each with its line, column, key and what would be right.
//!
//! One module per concern: `types` (what a valid job is), `errors` (problems and their
//! caret display), `checker` (walking the spanned TOML, reading values), `keys` (each
//! top-level key's rule), `areas`, `dates`, `suggest` (unknown keys, pasted tokens) and
//! `map_features`. The rule modules add methods to one `Checker`; none imports another.

use std::path::Path;

use toml::de::DeTable;

mod areas;
mod checker;
mod dates;
mod errors;
mod keys;
mod map_features;
mod suggest;
mod types;

use checker::Checker;
pub use errors::{JobError, JobErrors};
pub use map_features::{MapFeatureKeys, OBJECT_TYPES};
pub use types::{DEFAULT_LOOKAT_TOLERANCE_DEG, Job, JobArea, JobDateRange};

/// Reads and validates a job file.
pub fn load(path: &Path) -> Result<Job, JobErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(JobErrors {
            path: path.to_owned(),
            errors: vec![JobError {
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("cannot read the job file: {e}"),
                source_line: String::new(),
            }],
        }),
    }
}

/// Validates a job file's text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Job, JobErrors> {
    let mut checker = Checker {
        text,
        errors: Vec::new(),
    };
    let job = match DeTable::parse(text) {
        Ok(table) => checker.job(path, table.get_ref(), table.span()),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            checker.error(span, "", e.message().trim_end().to_owned());
            None
        }
    };
    checker.errors.sort_by_key(|e| (e.line, e.column));
    match job {
        Some(job) if checker.errors.is_empty() => Ok(job),
        _ => Err(JobErrors {
            path: path.to_owned(),
            errors: checker.errors,
        }),
    }
}

#[cfg(test)]
mod tests;
