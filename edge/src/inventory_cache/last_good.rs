//! The last good copy of each inventory answer, served when the origin cannot answer: a shop
//! whose origin is down keeps showing its stock, marked as old, instead of going blank.
//!
//! It lives in the Cache API under a key of its own (`__edge-last-good/`, next to the fresh
//! entry's `__edge-cache/`, both holding the org id), kept for `INVENTORY_STALE_MAX_SECONDS`
//! (default 300) with the time it was stored in a header. A separate entry, rather than the
//! fresh one kept longer, because a purchase through the edge deletes the fresh entries (the
//! buyer must see the new stock) but must not leave a shop with nothing to show if the origin
//! then fails. Isolate memory would not do: it is lost whenever the isolate is evicted, and
//! every isolate of a data centre shares the Cache API.
//!
//! The edge decides the age itself from the stored time, and never serves a copy older than the
//! maximum, whatever the cache keeps. A served copy says `X-Edge-Cache: stale`, `Age` (seconds)
//! and `Cache-Control: no-store`.

use api::headers;
use worker::{Cache, Response, Result};

use super::{entry_key::EntryKey, origin_answer::OriginAnswer};
use crate::{clock::now_ms, respond::Answer};

/// When the copy was stored, in Unix milliseconds; never sent to clients.
const STORED_AT: &str = "x-edge-stored-at";
const AGE: &str = "age";

#[derive(Debug, Clone)]
pub struct LastGood {
    url: String,
}

impl LastGood {
    pub fn of(key: &EntryKey) -> Self {
        Self {
            url: key.last_good_url(),
        }
    }

    /// Keeps `answer` (a success) as the last good copy for `keep_seconds`.
    pub async fn keep(&self, answer: &OriginAnswer, keep_seconds: u64) {
        let stored = match answer.response(keep_seconds) {
            Ok(response) => match response.headers().set(STORED_AT, &now_ms().to_string()) {
                Ok(()) => Cache::default().put(self.url.as_str(), response).await,
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
        if let Err(err) = stored {
            worker::console_error!("keeping the last good copy {} failed: {err}", self.url);
        }
    }

    /// The last good copy, if there is one no older than `max_age_seconds`.
    pub async fn recall(&self, max_age_seconds: u64) -> Option<Answer> {
        match self.read(max_age_seconds).await {
            Ok(copy) => copy,
            Err(err) => {
                worker::console_error!("reading the last good copy {} failed: {err}", self.url);
                None
            }
        }
    }

    async fn read(&self, max_age_seconds: u64) -> Result<Option<Answer>> {
        let Some(mut cached) = Cache::default().get(self.url.as_str(), false).await? else {
            return Ok(None);
        };
        let stored_at = cached
            .headers()
            .get(STORED_AT)?
            .and_then(|at| at.parse::<u64>().ok());
        let Some(stored_at) = stored_at else {
            return Ok(None);
        };
        let age_seconds = now_ms().saturating_sub(stored_at) / 1_000;
        if age_seconds > max_age_seconds {
            return Ok(None);
        }
        let content_type = cached.headers().get("content-type")?;
        let copy = Response::from_bytes(cached.bytes().await?)?;
        if let Some(content_type) = content_type {
            copy.headers().set("content-type", &content_type)?;
        }
        copy.headers().set("cache-control", "no-store")?;
        Ok(Some(
            Answer::from(copy)
                .with(headers::EDGE_CACHE, "stale")
                .with(AGE, age_seconds.to_string()),
        ))
    }
}
