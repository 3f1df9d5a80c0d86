//! "No such item", cached for the fresh entry's lifetime (one second by default), under the
//! same key as the item's answer would be.
//!
//! Without it, every read of an unknown item id was a miss: a flood of one made-up id reached
//! the origin once per read. Cached, it reaches the origin about once per second per data
//! centre, like any item. A flood of many different made-up ids still misses (each id is its
//! own key); those reads are paid for by the flooder's own read quota, not the shop's ceiling
//! (`rate_limit::found_nothing`).
//!
//! Item ids are made by the origin (random UUIDs), so an id that was unknown a second ago does
//! not become a real item in that second: a cached not-found is never wrong for longer than a
//! cached item is. It is not kept as a last good copy, and this isolate does not note it among
//! the shop's stored entries: no purchase changes an item that does not exist, so purchases
//! never spend a delete on one, however many a flood left behind. The cached body is the
//! problem the origin answered, with the request id of the read that fetched it; each answer's
//! own `X-Request-ID` header is still its own.

use worker::Cache;

use super::{entry_key::EntryKey, origin_answer::OriginAnswer};

/// Stores `answer` (a 404) as the fresh entry of `key` for `fresh_seconds`.
pub async fn store(key: &EntryKey, answer: &OriginAnswer, fresh_seconds: u64) {
    if fresh_seconds == 0 {
        return;
    }
    let stored = match answer.response(fresh_seconds) {
        Ok(response) => Cache::default().put(key.url.as_str(), response).await,
        Err(err) => Err(err),
    };
    if let Err(err) = stored {
        worker::console_error!("caching the not-found {} failed: {err}", key.url);
    }
}
