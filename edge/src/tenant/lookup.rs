//! Finding what is known of a host, cheapest first: the isolate's memory, the `TENANT_DOMAINS`
//! KV namespace, then the origin (`GET {ORIGIN_URL}/api/edge/hosts/{host}`, proved like every
//! edge request, within the read deadline). Concurrent requests for one host in one isolate
//! share one lookup (`single_flight`).
//!
//! What is kept, and for how long (`policy`):
//! - a live shop's host: in the isolate and in KV (as a `Record` with its own "fresh until",
//!   written when the answer is new or changed), trusted for `DOMAIN_CACHE_SECONDS`, then
//!   asked again. When the origin cannot be asked,
//!   the last answer goes on being used (kept a day), so an origin outage does not take shops'
//!   domains down with it.
//! - anything else (no shop; a pending claim's challenges): in the isolate only, for
//!   `DOMAIN_NEGATIVE_SECONDS`, in a memory of its own so a flood of random names never pushes
//!   a known shop out. An unknown host the origin cannot be asked about stays unknown (404).
//!
//! When the origin says a host KV holds is no longer live, its KV entry is deleted, so other
//! isolates stop at once rather than at the entry's own expiry.

use api::domains::{HostLookup, HOST_LOOKUP};
use worker::{Env, Method, Request, Result};

use super::{asking::Asking, lookup_budget, policy::DomainPolicy, record::Record};
use crate::{
    clock::now_ms,
    forward,
    isolate_memo::IsolateMemo,
    origin_calls::OriginPolicy,
    rate_limit::Client,
    route::RouteClass,
    single_flight::{self, SingleFlight},
};

const KV_BINDING: &str = "TENANT_DOMAINS";
/// How long a live shop's last answer is kept to fall back on, in the isolate and in KV.
const KEEP_SECONDS: u64 = 24 * 60 * 60;

thread_local! {
    /// Hosts of live shops, kept for `KEEP_SECONDS` (freshness is the record's own).
    static SHOPS: IsolateMemo<String, Record> = IsolateMemo::default();
    /// Hosts with no live shop, each until its record's freshness ends.
    static OTHERS: IsolateMemo<String, Record> = IsolateMemo::default();
    static FLIGHTS: SingleFlight<String, Record> = SingleFlight::default();
}

/// What the edge knows of a host, or that the asking client spent its lookups (the seconds
/// until it may ask again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Record(Record),
    OverBudget(u64),
}

/// Who asks about which host, and whether to skip what the isolate and KV hold (a challenge
/// request that found no matching challenge).
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub host: &'a str,
    pub client: &'a Client,
    pub asking: Asking<'a>,
    pub afresh: bool,
}

/// What is known of `question.host`.
pub async fn find(env: &Env, question: Question<'_>) -> Found {
    let Question {
        host,
        client,
        asking,
        afresh,
    } = question;
    let policy = DomainPolicy::from_env(env);
    let now = now_ms();
    let known = SHOPS.with(|shops| shops.get(&host.to_owned(), now));
    if !afresh {
        if let Some(record) = known.clone().filter(|record| record.is_fresh(now)) {
            return Found::Record(record);
        }
        if let Some(record) = OTHERS.with(|others| others.get(&host.to_owned(), now)) {
            return Found::Record(record);
        }
    }
    // A host this isolate knows nothing about is what a flood is made of: its sender pays.
    if known.is_none() {
        let window = super::policy::LOOKUP_WINDOW_MS;
        if let Err(retry) = lookup_budget::spend(client, policy.lookups_per_window, window, now) {
            return Found::OverBudget(retry);
        }
    }
    let start = || refresh(env, host, known, asking, policy, afresh);
    let record = single_flight::share(
        &FLIGHTS,
        host.to_owned(),
        start,
        single_flight::worker_ticks(),
    )
    .await;
    Found::Record(record)
}

/// One lookup past the isolate's memory: KV (unless `afresh`), then the origin.
async fn refresh(
    env: &Env,
    host: &str,
    known: Option<Record>,
    asking: Asking<'_>,
    policy: DomainPolicy,
    afresh: bool,
) -> Record {
    let mut last = known;
    if !afresh {
        if let Some(stored) = read_kv(env, host).await {
            let now = now_ms();
            if stored.is_pinned() {
                // An operator's entry: read from KV again after the cache period, so its
                // removal is obeyed as before.
                let record = Record::new(stored.lookup, now + policy.cache_ms);
                remember(host, &record, now);
                return record;
            }
            if stored.is_fresh(now) {
                remember(host, &stored, now);
                return stored;
            }
            last = Some(stored);
        }
    }
    let answered = ask_origin(env, host, asking).await;
    let now = now_ms();
    let Some(lookup) = answered else {
        // The origin cannot be asked: a live shop's last answer goes on serving it (re-asked
        // after the negative period), an unknown host stays unknown.
        let retry_at = now + policy.negative_ms;
        let record = match last {
            Some(last) => Record::new(last.lookup, retry_at),
            None => Record::nothing(retry_at),
        };
        remember(host, &record, now);
        return record;
    };
    let live = lookup.org_id.is_some();
    let period = if live {
        policy.cache_ms
    } else {
        policy.negative_ms
    };
    let record = Record::new(lookup, now + period);
    let changed = last.as_ref().map(|last| &last.lookup) != Some(&record.lookup);
    if live && changed {
        // Only a new or changed answer is written: KV takes about one write a second per key,
        // and a record past its freshness is still what other isolates fall back on.
        write_kv(env, host, &record).await;
    } else if !live && last.is_some_and(|last| last.lookup.org_id.is_some()) {
        delete_kv(env, host).await;
    }
    remember(host, &record, now);
    record
}

/// Forgets what this isolate and KV hold of `host`, and of every host of `org_id` this isolate
/// knows (after the shop's owner changed its domains through this isolate: the next request
/// asks the origin).
pub async fn forget(env: &Env, host: Option<&str>, org_id: uuid::Uuid) {
    let named = |key: &String| host.is_some_and(|host| host == key);
    let mut hosts: Vec<String> = host.map(str::to_owned).into_iter().collect();
    SHOPS.with(|shops| {
        shops.forget_entries_where(|key, record| {
            let of_shop = named(key) || record.lookup.org_id == Some(org_id);
            if of_shop && !named(key) {
                hosts.push(key.clone());
            }
            of_shop
        });
    });
    OTHERS.with(|others| others.forget_entries_where(|key, _| named(key)));
    FLIGHTS.with(|flights| flights.forget(|key| hosts.contains(key)));
    for host in &hosts {
        if read_kv(env, host)
            .await
            .is_some_and(|stored| !stored.is_pinned())
        {
            delete_kv(env, host).await;
        }
    }
}

fn remember(host: &str, record: &Record, now: u64) {
    let host = host.to_owned();
    if record.lookup.org_id.is_some() {
        OTHERS.with(|others| others.forget(&host));
        let keep_until = now + KEEP_SECONDS * 1_000;
        SHOPS.with(|shops| shops.remember(host, record.clone(), keep_until, now));
    } else {
        SHOPS.with(|shops| shops.forget(&host));
        let until = record.fresh_until_ms;
        OTHERS.with(|others| others.remember(host, record.clone(), until, now));
    }
}

async fn read_kv(env: &Env, host: &str) -> Option<Record> {
    let kv = env.kv(KV_BINDING).ok()?;
    match kv.get(host).text().await {
        Ok(raw) => raw.as_deref().and_then(Record::from_kv),
        Err(err) => {
            worker::console_error!("reading {host} from {KV_BINDING} failed: {err}");
            None
        }
    }
}

async fn write_kv(env: &Env, host: &str, record: &Record) {
    let written = async {
        env.kv(KV_BINDING)?
            .put(host, record.to_kv())?
            .expiration_ttl(KEEP_SECONDS)
            .execute()
            .await?;
        Ok::<_, worker::Error>(())
    };
    if let Err(err) = written.await {
        worker::console_error!("writing {host} to {KV_BINDING} failed: {err}");
    }
}

async fn delete_kv(env: &Env, host: &str) {
    let deleted = async {
        env.kv(KV_BINDING)?.delete(host).await?;
        Ok::<_, worker::Error>(())
    };
    if let Err(err) = deleted.await {
        worker::console_error!("deleting {host} from {KV_BINDING} failed: {err}");
    }
}

/// The origin's answer for `host`; `None` when it gave none (unreachable, resting, refused).
async fn ask_origin(env: &Env, host: &str, asking: Asking<'_>) -> Option<HostLookup> {
    let policy = OriginPolicy::from_env(env);
    let request = match lookup_request(env, host, asking) {
        Ok(request) => request,
        Err(err) => {
            worker::console_error!("lookup of {host} not made: {err}");
            return None;
        }
    };
    // The forwarding path's own exchange, so the Worker carries one copy of the call's code.
    let deadline = policy.deadlines.of(RouteClass::Read);
    let mut response = match forward::exchange(request, &policy, deadline).await {
        Ok(response) => response,
        Err(failure) => {
            worker::console_error!("lookup of {host} got no answer: {failure:?}");
            return None;
        }
    };
    if response.status_code() != 200 {
        let status = response.status_code();
        worker::console_error!("the origin answered {status} to the lookup of {host}");
        return None;
    }
    response.json::<HostLookup>().await.ok()
}

fn lookup_request(env: &Env, host: &str, asking: Asking<'_>) -> Result<Request> {
    let origin = env.var("ORIGIN_URL")?.to_string();
    let path = HOST_LOOKUP.replace("{hostname}", host);
    let url = format!("{}{path}", origin.trim_end_matches('/'));
    let headers = forward::edge_headers(asking.request_id, asking.trace)?;
    forward::signed(env, Method::Get, &url, headers, &[])
}
