//! Problems found in a job file, and their display: `file:line:column: key: message` with the
//! source line and a caret under the column.

use std::fmt;
use std::path::PathBuf;

/// Every problem found in one job file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct JobErrors {
    /// The job file.
    pub path: PathBuf,
    /// The problems, in file order.
    pub errors: Vec<JobError>,
}

impl fmt::Display for JobErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{}: {n} problem{} in the job file",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            if error.line == 0 {
                // Not a place in the file (it could not be read at all).
                writeln!(f, "{}: {}", self.path.display(), error.message)?;
            } else {
                write!(f, "{}:{error}", self.path.display())?;
            }
        }
        Ok(())
    }
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The key, dotted (`areas[2].bbox`); empty for the whole file.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
    /// The source line, for the caret display.
    pub source_line: String,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!(" {}:", self.key)
        };
        writeln!(f, "{}:{}:{key} {}", self.line, self.column, self.message)?;
        if !self.source_line.is_empty() {
            writeln!(f, "    | {}", self.source_line)?;
            writeln!(f, "    | {}^", " ".repeat(self.column.saturating_sub(1)))?;
        }
        Ok(())
    }
}
