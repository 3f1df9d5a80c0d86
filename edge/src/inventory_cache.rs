//! The inventory cache: `GET /api/inventory` and `GET /api/inventory/{id}` answered from the
//! Cache API for `INVENTORY_CACHE_TTL_SECONDS` (default 1 s), so a flash-sale crowd refreshing
//! the shop costs the origin about one request per second per data centre.
//!
//! - Keys hold the organization id as well as the host and path, so two shops can never share an
//!   entry, even for equal paths (or a domain moved from one shop to another).
//! - Concurrent misses in one isolate share one origin request (`single_flight`).
//! - Only 2xx answers are stored; errors reach the callers that shared the fetch and no one else.
//! - A purchase answered 2xx through this isolate deletes the shop's entries, and a fetch that
//!   was already under way for that shop is neither joined nor stored afterwards, so the buyer's
//!   next read shows the new stock.
//!
//! Responses say `Cache-Control` and `X-Edge-Cache: hit|miss`.

use std::{cell::RefCell, collections::HashMap};

use api::headers;
use futures::future::join_all;
use uuid::Uuid;
use worker::{Cache, Env, Fetch, Request, Response, Result};

use crate::{
    clock::now_ms, forward, respond::Answer, settings, single_flight, single_flight::SingleFlight,
};

const TTL_VAR: &str = "INVENTORY_CACHE_TTL_SECONDS";
const DEFAULT_TTL_SECONDS: u64 = 1;
/// Origin headers kept on a shared answer (the rest, like its request id, belong to the caller
/// that made the fetch).
const KEPT_HEADERS: [&str; 2] = ["content-type", "retry-after"];

/// Which cached answer: the shop it belongs to and the cache URL it is stored under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryKey {
    org_id: Uuid,
    url: String,
}

impl EntryKey {
    fn new(host: &str, org_id: Uuid, api_path: &str, query: Option<&str>) -> Self {
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        Self {
            org_id,
            url: format!("https://{host}/__edge-cache/{org_id}/{api_path}{query}"),
        }
    }
}

/// An origin answer read in full, so that every caller sharing the fetch gets its own copy.
#[derive(Debug, Clone)]
struct OriginAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl OriginAnswer {
    async fn read(mut response: Response) -> Result<Self> {
        let headers = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(name).ok().flatten()?;
                Some(((*name).to_owned(), value))
            })
            .collect();
        Ok(Self {
            status: response.status_code(),
            headers,
            body: response.bytes().await?,
        })
    }

    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn response(&self, ttl_seconds: u64) -> Result<Response> {
        let response = Response::from_bytes(self.body.clone())?.with_status(self.status);
        let headers = response.headers();
        for (name, value) in &self.headers {
            headers.set(name, value)?;
        }
        let cache_control = if self.is_success() {
            format!("public, max-age={ttl_seconds}")
        } else {
            "no-store".to_owned()
        };
        headers.set("cache-control", &cache_control)?;
        Ok(response)
    }
}

/// What this isolate knows about one shop's entries.
#[derive(Debug, Default)]
struct ShopEntries {
    /// Bumped by every purchase; a fetch started under an older generation is not stored.
    generation: u64,
    /// Cache URLs this isolate stored, and until when they live.
    stored: HashMap<String, u64>,
}

thread_local! {
    /// `None` answers mean the origin could not be reached.
    static FLIGHTS: SingleFlight<EntryKey, Option<OriginAnswer>> = SingleFlight::default();
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
    /// (which is then stored).
    pub async fn fetch(
        self,
        env: &Env,
        origin_request: Request,
        request_id: &str,
    ) -> Result<Answer> {
        let ttl_seconds = settings::number_var(env, TTL_VAR, DEFAULT_TTL_SECONDS);
        // The answer is shared with other shoppers: it must not depend on this caller's token.
        origin_request.headers().delete("authorization")?;
        let key = self.key;
        let started_under = generation(key.org_id);
        let flight_key = key.clone();
        let fetch = move || fetch_and_store(key, origin_request, started_under, ttl_seconds);
        let answer =
            single_flight::share(&FLIGHTS, flight_key, fetch, single_flight::worker_ticks()).await;
        Ok(match answer {
            Some(answer) => {
                Answer::from(answer.response(ttl_seconds)?).with(headers::EDGE_CACHE, "miss")
            }
            None => forward::origin_unreachable(request_id)?.into(),
        })
    }
}

async fn fetch_and_store(
    key: EntryKey,
    origin_request: Request,
    started_under: u64,
    ttl_seconds: u64,
) -> Option<OriginAnswer> {
    let answer = match Fetch::Request(origin_request).send().await {
        Ok(response) => OriginAnswer::read(response).await,
        Err(err) => Err(err),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            worker::console_error!("origin unreachable for {}: {err}", key.url);
            return None;
        }
    };
    if answer.is_success() && generation(key.org_id) == started_under {
        let stored = match answer.response(ttl_seconds) {
            Ok(response) => Cache::default().put(key.url.as_str(), response).await,
            Err(err) => Err(err),
        };
        match stored {
            Ok(()) => remember_stored(&key, now_ms() + ttl_seconds * 1_000),
            Err(err) => worker::console_error!("cache write failed for {}: {err}", key.url),
        }
    }
    Some(answer)
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
