//! When a provider's key set (`JWT_JWKS_URL`) is fetched again: the rules both the edge and the
//! origin follow, so a rotation or an outage looks the same on both sides. Times are passed in
//! as milliseconds, so this holds no clock and no I/O.
//!
//! - A fetched set is fresh for the provider's `Cache-Control: max-age`, kept within
//!   `MIN_FRESH..MAX_FRESH` (a provider saying `max-age=0` must not cost a fetch per request, nor
//!   one saying a year keep a revoked key that long).
//! - A token naming an unknown `kid` may start a fetch, at most once per `MISS_INTERVAL`, so a
//!   flood of made-up `kid`s costs the provider one request every few seconds. The interval
//!   counts from the last fetch a miss started, not from a scheduled one: a provider that
//!   publishes a key and signs with it right after a scheduled fetch still costs nobody a 401.
//! - While the provider cannot be reached, the last good set is used for `STALE_LIMIT` after it
//!   was fetched; past that, token checks fail closed (503) instead of trusting old keys.

use std::time::Duration;

pub const MIN_FRESH: Duration = Duration::from_secs(60);
pub const MAX_FRESH: Duration = Duration::from_secs(24 * 60 * 60);
/// Freshness when the provider sends no `max-age`.
pub const DEFAULT_FRESH: Duration = Duration::from_secs(10 * 60);
pub const MISS_INTERVAL: Duration = Duration::from_secs(10);
pub const STALE_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);
/// How long one fetch of the set may take.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(3);
/// Largest key set read; providers publish a few keys, a few KB.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// How long a set fetched with this `Cache-Control` header stays fresh.
pub fn freshness(cache_control: Option<&str>) -> Duration {
    let max_age = cache_control.and_then(|value| {
        value.split(',').find_map(|directive| {
            let (name, seconds) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| seconds.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
    });
    max_age
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_FRESH)
        .clamp(MIN_FRESH, MAX_FRESH)
}

/// What is known of the provider's set, in milliseconds on the caller's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchRecord {
    /// When the last good set was fetched (`None`: never).
    pub good_at_ms: Option<u64>,
    /// Until when that set is fresh.
    pub fresh_until_ms: u64,
    /// When the last fetch was started, good or not.
    pub attempted_at_ms: Option<u64>,
    /// When the last fetch started by an unknown `kid` was.
    pub miss_at_ms: Option<u64>,
}

impl FetchRecord {
    pub fn fetched(&mut self, now_ms: u64, fresh_for: Duration) {
        self.good_at_ms = Some(now_ms);
        self.fresh_until_ms = now_ms + millis(fresh_for);
    }

    pub fn attempted(&mut self, now_ms: u64) {
        self.attempted_at_ms = Some(now_ms);
    }

    pub fn attempted_for_miss(&mut self, now_ms: u64) {
        self.attempted_at_ms = Some(now_ms);
        self.miss_at_ms = Some(now_ms);
    }

    /// The set should be fetched again before the next use (stale, or never had).
    pub fn is_due(&self, now_ms: u64) -> bool {
        now_ms >= self.fresh_until_ms && !self.attempted_recently(now_ms)
    }

    /// An unknown `kid` may start a fetch now.
    pub fn may_fetch_for_miss(&self, now_ms: u64) -> bool {
        !within_interval(self.miss_at_ms, now_ms)
    }

    /// The last good set is too old to trust (or there never was one).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.good_at_ms
            .is_none_or(|good| now_ms.saturating_sub(good) >= millis(STALE_LIMIT))
    }

    fn attempted_recently(&self, now_ms: u64) -> bool {
        within_interval(self.attempted_at_ms, now_ms)
    }
}

fn within_interval(at_ms: Option<u64>, now_ms: u64) -> bool {
    at_ms.is_some_and(|at| now_ms.saturating_sub(at) < millis(MISS_INTERVAL))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_kept_within_bounds() {
        assert_eq!(
            freshness(Some("public, max-age=300")),
            Duration::from_secs(300)
        );
        assert_eq!(freshness(Some("max-age=0")), MIN_FRESH);
        assert_eq!(freshness(Some("max-age=99999999")), MAX_FRESH);
        assert_eq!(freshness(None), DEFAULT_FRESH);
        assert_eq!(freshness(Some("no-store")), DEFAULT_FRESH);
    }

    #[test]
    fn misses_fetch_at_most_once_per_interval_and_old_sets_expire() {
        let mut record = FetchRecord::default();
        assert!(record.is_expired(0) && record.may_fetch_for_miss(0));
        record.attempted(1_000);
        record.fetched(1_000, MIN_FRESH);
        assert!(
            record.may_fetch_for_miss(2_000),
            "a scheduled fetch does not hold misses back"
        );
        record.attempted_for_miss(1_000);
        assert!(!record.may_fetch_for_miss(5_000));
        assert!(record.may_fetch_for_miss(11_000));
        assert!(!record.is_due(30_000) && record.is_due(61_000));
        assert!(!record.is_expired(1_000 + millis(STALE_LIMIT) - 1));
        assert!(record.is_expired(1_000 + millis(STALE_LIMIT)));
    }
}
