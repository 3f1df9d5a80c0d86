//! The keys tokens are checked with: the operator's `JWT_JWKS`, a provider's set fetched from
//! `JWT_JWKS_URL`, or both. The set in use sits behind a lock that readers hold only long enough
//! to clone an `Arc`, so a refresh never stalls a request.
//!
//! The provider's set follows `api::token::key_refresh`: refreshed in the background when its
//! `max-age` runs out, fetched again when a token names an unknown `kid` (at most once per
//! `MISS_INTERVAL`, and one fetch at a time: misses arriving together wait for the same fetch),
//! kept while the provider is down for `STALE_LIMIT`, then token checks fail closed with
//! `KeysUnavailable` (a 503 for the caller, never a 500 nor a 401).

mod fetch;

use std::{
    sync::{Arc, RwLock},
    time::Instant,
};

use api::token::{
    key_refresh::{FetchRecord, MIN_FRESH},
    Acceptance, KeySet, Strictness, TokenError, TokenVerifier, VerifiedToken,
};
use chrono::{DateTime, Utc};

pub use fetch::KeySetUrl;

/// Checks tokens against the current key set. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TokenKeys(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    current: RwLock<Arc<TokenVerifier>>,
    provider: Option<Provider>,
}

#[derive(Debug)]
struct Provider {
    url: KeySetUrl,
    /// The operator's own keys alone: what is trusted once the provider's set is too old.
    static_only: Option<Arc<TokenVerifier>>,
    /// The operator's own keys, kept beside every fetched set.
    static_jwks: Option<String>,
    record: RwLock<FetchRecord>,
    /// Held while a fetch is under way: misses that arrive meanwhile wait for it.
    fetching: tokio::sync::Mutex<()>,
    started: Instant,
}

impl From<TokenVerifier> for TokenKeys {
    /// A fixed key set (`JWT_JWKS` alone).
    fn from(verifier: TokenVerifier) -> Self {
        Self(Arc::new(Inner {
            current: RwLock::new(Arc::new(verifier)),
            provider: None,
        }))
    }
}

impl TokenKeys {
    /// Keys from `url` (beside `base`'s, whose issuer and audience are kept). Fetches once
    /// before returning, and keeps refreshing in the background while the process runs; a
    /// first fetch that fails is logged and retried, and until one succeeds only `base`'s
    /// keys are used (or, with none, token checks answer 503).
    pub async fn with_provider(
        base: TokenVerifier,
        static_jwks: Option<String>,
        url: KeySetUrl,
    ) -> Self {
        let base = Arc::new(base);
        let keys = Self(Arc::new(Inner {
            current: RwLock::new(base.clone()),
            provider: Some(Provider {
                url,
                static_only: static_jwks.is_some().then(|| base.clone()),
                static_jwks,
                record: RwLock::new(FetchRecord::default()),
                fetching: tokio::sync::Mutex::new(()),
                started: Instant::now(),
            }),
        }));
        keys.refresh(Reason::Scheduled).await;
        let background = keys.clone();
        tokio::spawn(async move { background.refresh_forever().await });
        keys
    }

    /// Verifies `raw` as of `now`; an unknown `kid` may fetch the provider's set once.
    pub async fn verify(&self, raw: &str, now: DateTime<Utc>) -> Result<VerifiedToken, TokenError> {
        let Some(provider) = &self.0.provider else {
            return self.verifier().verify(raw, now);
        };
        // Once the provider's set is too old to trust (a key may have been rotated out for a
        // leak), only the operator's own keys still count, if there are any.
        let verifier = if provider.record().is_expired(provider.now_ms()) {
            match &provider.static_only {
                Some(own) => own.clone(),
                None => return Err(TokenError::KeysUnavailable),
            }
        } else {
            self.verifier()
        };
        match verifier.verify(raw, now) {
            Err(TokenError::UnknownKeyId) => {
                if self.refresh(Reason::UnknownKid).await {
                    self.verifier().verify(raw, now)
                } else {
                    Err(TokenError::UnknownKeyId)
                }
            }
            other => other,
        }
    }

    /// Runs `check` with what a token must say (issuer, audiences, claim map), the same for
    /// every key set.
    pub fn with_acceptance<R>(&self, check: impl FnOnce(&Acceptance) -> R) -> R {
        check(self.verifier().acceptance())
    }

    fn verifier(&self) -> Arc<TokenVerifier> {
        self.0
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Fetches the provider's set if the rules allow it now; `true` when a new set is in use
    /// (fetched by this call or by the one it waited for).
    async fn refresh(&self, reason: Reason) -> bool {
        let Some(provider) = &self.0.provider else {
            return false;
        };
        let seen = provider.record();
        let _turn = provider.fetching.lock().await;
        let record = provider.record();
        if record.good_at_ms != seen.good_at_ms {
            return true;
        }
        let now_ms = provider.now_ms();
        let allowed = match reason {
            Reason::Scheduled => record.attempted_at_ms.is_none() || record.is_due(now_ms),
            Reason::UnknownKid => record.may_fetch_for_miss(now_ms),
        };
        if !allowed {
            return false;
        }
        provider.update(|r| match reason {
            Reason::Scheduled => r.attempted(now_ms),
            Reason::UnknownKid => r.attempted_for_miss(now_ms),
        });
        match provider.url.fetch().await {
            Ok(fetched) => {
                let mut sources = Vec::new();
                if let Some(own) = &provider.static_jwks {
                    sources.push((own.as_str(), Strictness::Strict));
                }
                sources.push((fetched.body.as_str(), Strictness::SkipUnsupported));
                match KeySet::from_sources(&sources) {
                    Ok(keys) => {
                        tracing::info!(kids = ?keys.kids(), "token key set fetched");
                        let next = Arc::new(self.verifier().with_keys(keys));
                        *self
                            .0
                            .current
                            .write()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()) = next;
                        provider.update(|r| r.fetched(provider.now_ms(), fetched.fresh_for));
                        true
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the provider's key set is not usable; keeping the last good one");
                        false
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot fetch the token key set; keeping the last good one");
                false
            }
        }
    }

    /// Refreshes when the set's freshness runs out; retries a failed fetch every `MIN_FRESH`.
    async fn refresh_forever(&self) {
        let Some(provider) = &self.0.provider else {
            return;
        };
        loop {
            let record = provider.record();
            let now_ms = provider.now_ms();
            let wait_ms = if record.good_at_ms.is_some() && record.fresh_until_ms > now_ms {
                record.fresh_until_ms - now_ms
            } else {
                u64::try_from(MIN_FRESH.as_millis()).unwrap_or(60_000)
            };
            tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
            self.refresh(Reason::Scheduled).await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Reason {
    Scheduled,
    UnknownKid,
}

impl Provider {
    fn record(&self) -> FetchRecord {
        *self
            .record
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut FetchRecord)) {
        change(
            &mut self
                .record
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }

    /// Milliseconds since start-up: a monotonic clock, so a wall-clock jump cannot expire a set.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
