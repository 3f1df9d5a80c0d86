//! The inventory cache: `GET /api/inventory` and `GET /api/inventory/{id}` answered from the
//! Cache API for `INVENTORY_CACHE_TTL_SECONDS` (default 1 s), so a flash-sale crowd refreshing
//! the shop costs the origin about one request per second per data centre.
//!
//! - Keys hold the organization id as well as the host and path, so two shops can never share an
//!   entry, even for equal paths (or a domain moved from one shop to another).
//! - Concurrent misses in one isolate share one origin request (`single_flight`).
//! - 2xx answers are stored, and an item's 404 for the fresh entry's lifetime (`not_found`);
//!   other errors reach the callers that shared the fetch and no one else.
//! - The origin fetch has the read deadline (`origin_calls`), so a shopper waits at most that
//!   long before getting the last good copy.
//! - A purchase answered 2xx through this isolate deletes the shop's entries that list the
//!   bought item (`shop_entries`), and the list and the item's own entry; a fetch that was
//!   already under way for that shop is not joined, and is stored afterwards only if it does
//!   not list the bought item. So the buyer's next read shows the new stock, and pages that do
//!   not show it stay cached.
//!
//! - An answer it stores that shows an item with no stock left tells the purchase path the
//!   item is sold out (`purchases::sold_out`), for as long as the answer is fresh, unless the
//!   item was bought or reopened (a restock, a probe's sale) through this isolate since the
//!   fetch started: such an answer may be older than the restock.
//! - Each success is also kept as the shop's last good copy of that answer (`last_good`), served
//!   for up to `INVENTORY_STALE_MAX_SECONDS` when the origin cannot answer.
//! - A reader with an honoured write position (`read_your_writes`) is answered from the fresh
//!   entry only if that entry is known to include the write (it was fetched for that position or
//!   a later one); otherwise the fetch carries the position, the answer is stored as covering it,
//!   and readers of the same position share that one fetch. Replaying one position therefore
//!   costs the origin one request, not one per read. Such a reader never gets the last good
//!   copy: it asked to see its write, and an old copy would hide it.
//! - A read refused by the shop's read ceiling gets the last good copy too (`Entry::last_good`),
//!   not a 429: the ceiling guards the origin, and the copy costs the origin nothing.
//! - A reader who finds the same fetch already under way for more than a quarter of the read
//!   deadline gets the last good copy at once instead of joining it: an origin that has stopped
//!   answering holds only the readers of its first moments, not everyone until the deadline.
//!
//! Responses say `Cache-Control` and `X-Edge-Cache: hit|miss|stale` (a stale one also `Age`).

mod entry_key;
mod last_good;
mod not_found;
mod origin_answer;
mod shop_entries;

use std::{cell::RefCell, collections::HashMap, time::Duration};

use api::{headers, routes, write_position::Lsn};
use futures::future::{join, join_all};
use uuid::Uuid;
use worker::{Cache, Env, Request, Result};

use crate::{
    clock::now_ms,
    inventory_read::InventoryRead,
    origin_calls::{self, OriginFailure, OriginPolicy},
    purchases,
    read_your_writes::HonouredPosition,
    respond::Answer,
    settings, single_flight,
    single_flight::SingleFlight,
};
use entry_key::EntryKey;
use last_good::LastGood;
use origin_answer::OriginAnswer;
use shop_entries::{listed_items, ShopEntries};

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

/// The newest write a cached fresh entry is known to include; never sent to clients.
const COVERS: &str = "x-edge-covers";

/// One shared fetch: the entry, and the write it must include (if a reader insists on one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FlightKey {
    entry: EntryKey,
    after: Option<Lsn>,
}

thread_local! {
    static FLIGHTS: SingleFlight<FlightKey, Fetched> = SingleFlight::default();
    /// When each fetch under way started (Unix ms).
    static STARTED: RefCell<HashMap<FlightKey, u64>> = RefCell::new(HashMap::new());
    static SHOPS: RefCell<HashMap<Uuid, ShopEntries>> = RefCell::new(HashMap::new());
}

fn generation(org_id: Uuid) -> u64 {
    SHOPS.with(|shops| {
        shops
            .borrow()
            .get(&org_id)
            .map_or(0, ShopEntries::generation)
    })
}

/// Whether a purchase through this isolate since `generation` may have changed an answer
/// listing `items`.
fn changed_since(org_id: Uuid, generation: u64, items: Option<&[Uuid]>) -> bool {
    SHOPS.with(|shops| {
        shops
            .borrow()
            .get(&org_id)
            .is_some_and(|shop| shop.changed_since(generation, items))
    })
}

/// One inventory answer: where it is cached and how to fetch it, for one reader.
#[derive(Debug, Clone)]
pub struct Entry {
    key: EntryKey,
    /// The write this reader insists on seeing, if any.
    position: Option<HonouredPosition>,
}

impl Entry {
    pub fn new(
        host: &str,
        org_id: Uuid,
        read: &InventoryRead,
        position: Option<HonouredPosition>,
    ) -> Self {
        Self {
            key: EntryKey::new(host, org_id, &read.api_path(), read.query().as_deref()),
            position,
        }
    }

    /// The cached answer, if there is one this reader may have. Looking has no effect, so the
    /// gateway does it while the rate limiter decides; a cache that cannot be read is a miss.
    pub async fn cached(&self) -> Option<Answer> {
        let hit = match Cache::default().get(self.key.url.as_str(), false).await {
            Ok(hit) => hit?,
            Err(err) => {
                worker::console_error!("cache read failed for {}: {err}", self.key.url);
                return None;
            }
        };
        let covers = hit
            .headers()
            .get(COVERS)
            .ok()
            .flatten()
            .and_then(|lsn| lsn.parse::<Lsn>().ok());
        if let Some(position) = &self.position {
            if covers.is_none_or(|covers| covers < position.lsn) {
                return None;
            }
        }
        let _ = hit.headers().delete(COVERS);
        Some(Answer::from(hit).with(headers::EDGE_CACHE, "hit"))
    }

    /// The last good copy, marked stale, for a read the shop's read ceiling refused; never for
    /// a reader who insists on a write position (an old copy would hide that write).
    pub async fn last_good(&self, env: &Env) -> Option<Answer> {
        let lifetimes = Lifetimes::from_env(env);
        if self.position.is_some() || lifetimes.last_good_seconds == 0 {
            return None;
        }
        LastGood::of(&self.key)
            .recall(lifetimes.last_good_seconds)
            .await
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
        // `origin_request` was made as a shared read (`forward::SharedRead`): without this
        // caller's token or cookies, with only the one position it must include.
        let after = self.position.as_ref().map(|position| position.lsn);
        let last_good =
            (after.is_none() && lifetimes.last_good_seconds > 0).then(|| LastGood::of(&self.key));
        let key = self.key;
        let started_under = generation(key.org_id);
        let sold_out_epoch = purchases::sold_out::epoch();
        let flight_key = FlightKey {
            entry: key.clone(),
            after,
        };
        if let Some(last_good) = &last_good {
            let patience_ms = u64::try_from(deadline.as_millis() / 4).unwrap_or(u64::MAX);
            let under_way_since =
                STARTED.with(|started| started.borrow().get(&flight_key).copied());
            if under_way_since.is_some_and(|since| now_ms().saturating_sub(since) > patience_ms) {
                if let Some(copy) = last_good.recall(lifetimes.last_good_seconds).await {
                    return Ok(copy);
                }
            }
        }
        let started_key = flight_key.clone();
        let fetch = move || async move {
            let under_way = UnderWay::since_now(started_key);
            let fetched =
                origin_calls::call(&policy, origin_request, deadline, OriginAnswer::read).await;
            drop(under_way);
            if let Ok(answer) = &fetched {
                let started = Started {
                    generation: started_under,
                    sold_out_epoch,
                };
                store(&key, answer, after, started, lifetimes).await;
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
                if let Some(last_good) = last_good {
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

/// Marks a fetch as under way in `STARTED` for as long as it lives, however it ends (answered,
/// or dropped with its leader's request).
struct UnderWay(FlightKey);

impl UnderWay {
    fn since_now(key: FlightKey) -> Self {
        STARTED.with(|started| started.borrow_mut().insert(key.clone(), now_ms()));
        Self(key)
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        STARTED.with(|started| started.borrow_mut().remove(&self.0));
    }
}

/// What this isolate had seen when a fetch started.
#[derive(Debug, Clone, Copy)]
struct Started {
    /// The shop's purchases (`ShopEntries::generation`).
    generation: u64,
    /// Reopened sold-out items (`purchases::sold_out::epoch`).
    sold_out_epoch: u64,
}

/// Stores a successful `answer`: as the fresh entry (known to include the write at `covers`,
/// when the fetch asked for one), unless a purchase made since the fetch started changed what
/// it lists, and as the last good copy. Items it shows with no stock are marked sold out unless
/// a purchase changed them or a restock reopened them since the fetch started: the answer may
/// predate either.
async fn store(
    key: &EntryKey,
    answer: &OriginAnswer,
    covers: Option<Lsn>,
    started: Started,
    lifetimes: Lifetimes,
) {
    if answer.is_not_found() {
        not_found::store(key, answer, lifetimes.fresh_seconds).await;
        return;
    }
    if !answer.is_success() {
        return;
    }
    let listed = listed_items(&answer.body);
    let started_under = started.generation;
    if let Some(listed) = &listed {
        let now = now_ms();
        for item_id in &listed.sold_out {
            if changed_since(
                key.org_id,
                started_under,
                Some(std::slice::from_ref(item_id)),
            ) {
                continue;
            }
            let epoch = started.sold_out_epoch;
            purchases::sold_out::learn_sold_out_as_of(key.org_id, *item_id, epoch, now);
        }
    }
    let items = listed.map(|listed| listed.items);
    let fresh = async {
        if changed_since(key.org_id, started_under, items.as_deref()) {
            return;
        }
        let response = answer
            .response(lifetimes.fresh_seconds)
            .and_then(|response| {
                if let Some(covers) = covers {
                    response.headers().set(COVERS, &covers.to_string())?;
                }
                Ok(response)
            });
        let stored = match response {
            Ok(response) => Cache::default().put(key.url.as_str(), response).await,
            Err(err) => Err(err),
        };
        match stored {
            Ok(()) => remember_stored(key, now_ms() + lifetimes.fresh_seconds * 1_000, items),
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

fn remember_stored(key: &EntryKey, until_ms: u64, items: Option<Vec<Uuid>>) {
    SHOPS.with(|shops| {
        let mut shops = shops.borrow_mut();
        let shop = shops.entry(key.org_id).or_default();
        shop.remember(key.url.clone(), until_ms, items, now_ms());
    });
}

/// Forgets what a purchase of `item_id` through this isolate changed of the shop's cached
/// inventory: the entries this isolate stored that list the item (all of them when the item is
/// not known), plus the list and the item's entry (which another isolate may have stored).
pub async fn invalidate(host: &str, org_id: Uuid, item_id: Option<Uuid>) {
    let mut urls: Vec<String> = SHOPS.with(|shops| {
        let mut shops = shops.borrow_mut();
        shops.entry(org_id).or_default().bought(item_id, now_ms())
    });
    FLIGHTS.with(|flights| flights.forget(|key| key.entry.org_id == org_id));
    STARTED.with(|started| {
        started
            .borrow_mut()
            .retain(|key, _| key.entry.org_id != org_id)
    });
    urls.push(EntryKey::new(host, org_id, routes::INVENTORY, None).url);
    if let Some(item_id) = item_id {
        let item = routes::filled(routes::INVENTORY_ITEM, &item_id.to_string());
        urls.push(EntryKey::new(host, org_id, &item, None).url);
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
