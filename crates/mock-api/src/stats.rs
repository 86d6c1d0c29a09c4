//! What the server has seen: requests per endpoint and faults per kind.

use std::collections::BTreeMap;

/// A kind of injected fault, as counted in [`MockStats::faults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// [`crate::FaultConfig::server_error_rate`].
    ServerError,
    /// [`crate::FaultConfig::too_many_requests_rate`].
    TooManyRequests,
    /// [`crate::FaultConfig::truncate_rate`].
    Truncate,
    /// [`crate::FaultConfig::cut_json_rate`].
    CutJson,
    /// [`crate::FaultConfig::not_json_rate`].
    NotJson,
    /// [`crate::FaultConfig::reset_rate`].
    Reset,
    /// [`crate::FaultConfig::stall_rate`].
    Stall,
    /// A refusal from [`crate::FaultConfig::rate_limit_rps`].
    RateLimited,
    /// A refusal during [`crate::FaultConfig::outage`].
    Outage,
}

/// What the server has seen so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MockStats {
    /// Requests read (malformed ones included).
    pub requests: u64,
    /// Requests per endpoint: `/v3/images`, `/v3/sequences`, `/v3/users`, `/images`,
    /// `/image_ids`, `/map_features`, `other` (unknown paths) and `malformed` (unreadable requests).
    pub per_endpoint: BTreeMap<String, u64>,
    /// Faults injected per kind.
    pub faults: BTreeMap<FaultKind, u64>,
}

impl MockStats {
    /// Requests to one endpoint (0 when none).
    pub fn requests_to(&self, endpoint: &str) -> u64 {
        self.per_endpoint.get(endpoint).copied().unwrap_or(0)
    }

    /// Faults of one kind injected (0 when none).
    pub fn faults_of(&self, kind: FaultKind) -> u64 {
        self.faults.get(&kind).copied().unwrap_or(0)
    }
}
