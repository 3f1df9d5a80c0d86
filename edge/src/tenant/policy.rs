//! How long the edge trusts what it learnt of a host, and how many unknown hosts one client
//! may make it ask the origin about: the bounds `docs/edge.md` states.
//!
//! - `DOMAIN_CACHE_SECONDS` (default 5, at most 60): a shop's host is re-asked after this, so a
//!   removed or moved domain stops answering within it (5 s in the dev stack, 60 s in
//!   production).
//! - `DOMAIN_NEGATIVE_SECONDS` (default 2, at most 60): a host with no live shop is re-asked
//!   after this, so a domain that just turned live answers within it.
//! - `DOMAIN_LOOKUPS_PER_MINUTE` (default 30): lookups of hosts this isolate knows nothing
//!   about, per client per minute; past it the client is refused with 429 and the origin is
//!   not asked.

use worker::Env;

use crate::settings::number_var;

/// The longest either cache period may be set to.
const LONGEST_SECONDS: u64 = 60;
/// The window of the per-client lookup budget.
pub const LOOKUP_WINDOW_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainPolicy {
    pub cache_ms: u64,
    pub negative_ms: u64,
    pub lookups_per_window: u64,
}

impl DomainPolicy {
    pub fn from_env(env: &Env) -> Self {
        let seconds = |name, default| number_var(env, name, default).clamp(1, LONGEST_SECONDS);
        Self {
            cache_ms: seconds("DOMAIN_CACHE_SECONDS", 5) * 1_000,
            negative_ms: seconds("DOMAIN_NEGATIVE_SECONDS", 2) * 1_000,
            lookups_per_window: number_var(env, "DOMAIN_LOOKUPS_PER_MINUTE", 30),
        }
    }
}
