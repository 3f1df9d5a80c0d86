//! The inventory cache: `GET /api/inventory` and `GET /api/inventory/{id}` answered from the
//! Cache API for `INVENTORY_CACHE_TTL_SECONDS` (default 1 s), so a flash-sale crowd refreshing
//! the shop costs the origin about one request per second per data centre.
//!
//! - Keys hold the organization id as well as the host and path, so two shops can never share an
//!   entry, even for equal paths (or a domain moved from one shop to another).
//! - Concurrent misses in one isolate share one origin request (`single_flight`).
//! - Only 2xx answers are stored; errors reach the callers that shared the fetch and no one else.
//! - The origin fetch has the read deadline (`origin_calls`), so a shopper waits at most that
//!   long before getting the last good copy.
//! - A purchase answered 2xx through this isolate deletes the shop's entries, and a fetch that
//!   was already under way for that shop is neither joined nor stored afterwards, so the buyer's
//!   next read shows the new stock.
//!
//! - Each success is also kept as the shop's last good copy of that answer (`last_good`), served
//!   for up to `INVENTORY_STALE_MAX_SECONDS` when the origin cannot answer.
//!
//! Responses say `Cache-Control` and `X-Edge-Cache: hit|miss|stale` (a stale one also `Age`).

mod entry_key;
mod last_good;
mod origin_answer;

use std::{cell::RefCell, collections::HashMap, time::Duration};

use api::headers;
use futures::future::{join, join_all};
use uuid::Uuid;
use worker::{Cache, Env, Request, Result};

use crate::{
    clock::now_ms,
    origin_calls::{self, OriginFailure, OriginPolicy},
    respond::Answer,
    settings, single_flight,
    single_flight::SingleFlight,
};
use entry_key::EntryKey;
use last_good::LastGood;
use origin_answer::OriginAnswer;

const TTL_VAR: &str = "INVENTORY_CACHE_TTL_SECONDS";
const DEFAULT_TTL_SECONDS: u64 = 1;
const STALE_MAX_VAR: &str = "INVENTORY_STALE_MAX_SECONDS";
const DEFAULT_STALE_MAX_SECONDS: u64 = 300;

/// How long the two copies of an answer are kept: the fresh one, answered without asking the
/// origin, and the last good one, answered only when the origin cannot answer.
#[derive(Debug, Clone, Copy)]
struct Lifetimes {
    fresh_seconds: u64,
    last_good_seconds: u64,
}

impl Lifetimes {
    fn from_env(env: &Env) -> Self {
        Self {
            fresh_seconds: settings::number_var(env, TTL_VAR, DEFAULT_TTL_SECONDS),
            last_good_seconds: settings::number_var(env, STALE_MAX_VAR, DEFAULT_STALE_MAX_SECONDS),
        }
    }
}

/// What a shared fetch brings back: the origin's answer, or why there is none.
type Fetched = std::result::Result<OriginAnswer, OriginFailure>;

/// What this isolate knows about one shop's entries.
#[derive(Debug, Default)]
struct ShopEntries {
    /// Bumped by every purchase; a fetch started under an older generation is not stored.
    generation: u64,
    /// Cache URLs this isolate stored, and until when they live.
    stored: HashMap<String, u64>,
}

thread_local! {
    static FLIGHTS: SingleFlight<EntryKey, Fetched> = SingleFlight::default();
    static SHOPS: RefCell<HashMap<Uuid, ShopEntries>> = RefCell::new(HashMap::new());
}

fn generation(org_id: Uuid) -> u64 {
    SHOPS.with(|shops| shops.borrow().get(&org_id).map_or(0, |s| s.generation))
}

/// One inventory answer: where it is cached and how to fetch it.
#[derive(Debug, Clone)]
pub struct Entry {
    key: EntryKey,
}

impl Entry {
    pub fn new(host: &str, org_id: Uuid, api_path: &str, query: Option<&str>) -> Self {
        Self {
            key: EntryKey::new(host, org_id, api_path, query),
        }
    }

    /// The cached answer, if there is one. Looking has no effect, so the gateway does it while
    /// the rate limiter decides; a cache that cannot be read is a miss.
    pub async fn cached(&self) -> Option<Answer> {
        match Cache::default().get(self.key.url.as_str(), false).await {
            Ok(hit) => hit.map(|hit| Answer::from(hit).with(headers::EDGE_CACHE, "hit")),
            Err(err) => {
                worker::console_error!("cache read failed for {}: {err}", self.key.url);
                None
            }
        }
    }

    /// The answer after a miss: from a fetch under way, or from a new fetch of `origin_request`
    /// within `deadline` (whose success is then stored). When the origin cannot answer (no
    /// answer in time, no connection, a 5xx, or it is resting) the last good copy is served if
    /// there is one young enough; otherwise the origin's error, or a 503 problem.
    pub async fn fetch(
        self,
        env: &Env,
        origin_request: Request,
        request_id: &str,
        policy: &OriginPolicy,
        deadline: Duration,
    ) -> Result<Answer> {
        let lifetimes = Lifetimes::from_env(env);
        let policy = policy.breaker;
        // The answer is shared with other shoppers: it must not depend on this caller's token.
        origin_request.headers().delete("authorization")?;
        let last_good = LastGood::of(&self.key);
        let key = self.key;
        let started_under = generation(key.org_id);
        let flight_key = key.clone();
        let fetch = move || async move {
            let fetched =
                origin_calls::call(&policy, origin_request, deadline, OriginAnswer::read).await;
            if let Ok(answer) = &fetched {
                store(&key, answer, started_under, lifetimes).await;
            }
            fetched
        };
        let fetched =
            single_flight::share(&FLIGHTS, flight_key, fetch, single_flight::worker_ticks()).await;
        let miss = |answer: OriginAnswer| -> Result<Answer> {
            let response = answer.response(lifetimes.fresh_seconds)?;
            Ok(Answer::from(response).with(headers::EDGE_CACHE, "miss"))
        };
        match fetched {
            Ok(answer) if answer.status < 500 => miss(answer),
            failed => {
                if lifetimes.last_good_seconds > 0 {
                    if let Some(copy) = last_good.recall(lifetimes.last_good_seconds).await {
                        return Ok(copy);
                    }
                }
                match failed {
                    Ok(answer) => miss(answer),
                    Err(failure) => Ok(failure.problem(request_id)?.into()),
                }
            }
        }
    }
}

/// Stores a successful `answer`: as the fresh entry, unless a purchase made since the fetch
/// started (the stock changed), and as the last good copy.
async fn store(key: &EntryKey, answer: &OriginAnswer, started_under: u64, lifetimes: Lifetimes) {
    if !answer.is_success() {
        return;
    }
    let fresh = async {
        if generation(key.org_id) != started_under {
            return;
        }
        let stored = match answer.response(lifetimes.fresh_seconds) {
            Ok(response) => Cache::default().put(key.url.as_str(), response).await,
            Err(err) => Err(err),
        };
        match stored {
            Ok(()) => remember_stored(key, now_ms() + lifetimes.fresh_seconds * 1_000),
            Err(err) => worker::console_error!("cache write failed for {}: {err}", key.url),
        }
    };
    let last_good = async {
        if lifetimes.last_good_seconds > 0 {
            LastGood::of(key)
                .keep(answer, lifetimes.last_good_seconds)
                .await;
        }
    };
    join(fresh, last_good).await;
}

fn remember_stored(key: &EntryKey, until_ms: u64) {
    let now = now_ms();
    SHOPS.with(|shops| {
        let mut shops = shops.borrow_mut();
        let stored = &mut shops.entry(key.org_id).or_default().stored;
        stored.retain(|_, until| *until > now);
        stored.insert(key.url.clone(), until_ms);
    });
}

/// Forgets the shop's cached inventory after a purchase of `item_id` through this isolate:
/// every entry this isolate stored, plus the list and the item's entry (which another isolate
/// may have stored).
pub async fn invalidate(host: &str, org_id: Uuid, item_id: Option<Uuid>) {
    let mut urls: Vec<String> = SHOPS.with(|shops| {
        let mut shops = shops.borrow_mut();
        let shop = shops.entry(org_id).or_default();
        shop.generation += 1;
        shop.stored.drain().map(|(url, _)| url).collect()
    });
    FLIGHTS.with(|flights| flights.forget(|key| key.org_id == org_id));
    urls.push(EntryKey::new(host, org_id, "inventory", None).url);
    if let Some(item_id) = item_id {
        urls.push(EntryKey::new(host, org_id, &format!("inventory/{item_id}"), None).url);
    }
    urls.sort();
    urls.dedup();
    let cache = Cache::default();
    for (url, outcome) in urls
        .iter()
        .zip(join_all(urls.iter().map(|url| cache.delete(url.as_str(), false))).await)
    {
        if let Err(err) = outcome {
            worker::console_error!("cache delete failed for {url}: {err}");
        }
    }
}
