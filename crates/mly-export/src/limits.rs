//! The documented range of every numeric job key and flag (README: "Job files", "Commands").
//!
//! Each range is what the code downstream can hold: a value outside it is bad usage (exit 2,
//! the key or flag named), never a panic deep in a run and never a quiet default.

use std::fmt;
use std::ops::RangeInclusive;

/// A range of real numbers; the lower end may be excluded (`> 0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// The lower end.
    pub min: f64,
    /// Whether `min` itself is allowed.
    pub min_included: bool,
    /// The upper end (always allowed).
    pub max: f64,
    /// The unit, for messages (`"seconds"`).
    pub unit: &'static str,
}

impl Span {
    /// True for a finite value inside the range.
    pub fn contains(&self, x: f64) -> bool {
        let above_min = if self.min_included {
            x >= self.min
        } else {
            x > self.min
        };
        x.is_finite() && above_min && x <= self.max
    }

    /// `x` when it is inside, else what is wrong (showing `x` as `written`) and what would
    /// be right.
    pub fn check(&self, x: f64, written: &str) -> Result<f64, String> {
        if self.contains(x) {
            Ok(x)
        } else {
            Err(format!("{written} is out of range; expected {self}"))
        }
    }

    /// Parses a flag's text and checks it (a clap value parser).
    pub fn parse(&self, text: &str) -> Result<f64, String> {
        let x: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number; expected {self}"))?;
        self.check(x, text.trim())
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min_included {
            write!(f, "{} to {} {}", self.min, self.max, self.unit)
        } else {
            write!(
                f,
                "more than {} and at most {} {}",
                self.min, self.max, self.unit
            )
        }
    }
}

/// `max_attempts` and `--max-attempts`.
pub const MAX_ATTEMPTS: RangeInclusive<u64> = 1..=100;

/// `requests_per_second` and `--requests-per-second`: at the slowest one request every
/// 1,000 s (the pacing interval is a `Duration`; `1e-30` would overflow it).
pub const REQUESTS_PER_SECOND: Span = Span {
    min: 0.001,
    min_included: true,
    max: 1_000_000.0,
    unit: "requests per second",
};

/// `--timeout-secs`: 1 ms to a day (a `Duration` cannot hold `1e20` or `inf` seconds).
pub const TIMEOUT_SECS: Span = Span {
    min: 0.001,
    min_included: true,
    max: 86_400.0,
    unit: "seconds",
};

/// `max_rate_limit_wait_secs` and `--max-rate-limit-wait-secs`: at most a day of waiting.
pub const MAX_RATE_LIMIT_WAIT_SECS: Span = Span {
    min: 0.0,
    min_included: true,
    max: 86_400.0,
    unit: "seconds",
};

/// `lookat_tolerance`, degrees.
pub const LOOKAT_TOLERANCE_DEG: Span = Span {
    min: 0.0,
    min_included: false,
    max: 180.0,
    unit: "degrees",
};

/// `areas.radius`, metres: from 1 cm (a smaller radius would be sent to the API as hundreds of
/// digits) up to a quarter of the Earth's circumference, the largest circle whose bounding box
/// the planner computes correctly.
pub const RADIUS_M: Span = Span {
    min: 0.01,
    min_included: true,
    max: 10_000_000.0,
    unit: "metres",
};

/// `--concurrency`: requests in flight (each one a task, a connection and a semaphore permit).
pub const CONCURRENCY: RangeInclusive<u64> = 1..=1000;

/// `--v4-limit`: the v4 API's `limit` (2,000 at most).
pub const V4_LIMIT: RangeInclusive<u64> = 1..=2000;

/// `--result-cap` (`run` and `mock-api`): items per query.
pub const RESULT_CAP: RangeInclusive<u64> = 1..=1_000_000_000;

/// `mock-api --latency-ms` and `--stall-ms`: at most an hour.
pub const MOCK_DELAY_MS: RangeInclusive<u64> = 0..=3_600_000;

/// `mock-api --*-rate`: a share of requests.
pub const MOCK_FAULT_RATE: Span = Span {
    min: 0.0,
    min_included: true,
    max: 1.0,
    unit: "(a share of requests)",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_refuse_extremes_and_name_the_range() {
        for x in [0.0, -1.0, 1e-30, 1e20, f64::INFINITY, f64::NAN, -0.0] {
            assert!(TIMEOUT_SECS.check(x, "x").is_err(), "{x}");
            assert!(REQUESTS_PER_SECOND.check(x, "x").is_err(), "{x}");
        }
        assert_eq!(TIMEOUT_SECS.parse(" 60 "), Ok(60.0));
        assert_eq!(RADIUS_M.check(10_000_000.0, "1e7"), Ok(10_000_000.0));
        assert_eq!(
            LOOKAT_TOLERANCE_DEG.parse("0"),
            Err("0 is out of range; expected more than 0 and at most 180 degrees".into())
        );
        assert_eq!(
            REQUESTS_PER_SECOND.parse("1e-30"),
            Err("1e-30 is out of range; expected 0.001 to 1000000 requests per second".into())
        );
        assert_eq!(
            TIMEOUT_SECS.parse("soon"),
            Err("\"soon\" is not a number; expected 0.001 to 86400 seconds".into())
        );
    }
}
