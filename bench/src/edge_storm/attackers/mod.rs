//! The attackers, run side by side while the honest sale goes on, each at a fixed rate (open
//! loop, at most `IN_FLIGHT` requests outstanding) until a deadline:
//!
//! - `cache_busters`: readers trying to make every read miss the cache;
//! - `scraper`: a catalogue scraper with a fresh address per request;
//! - `hoarder`: one account opening as many event streams as it can and holding them.
//!
//! Each has an HTTP client of its own, so none shares the honest buyers' connections.

mod cache_busters;
mod hoarder;
mod scraper;

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use api::headers::EDGE_CACHE;
use reqwest::StatusCode;

pub use hoarder::{Hoarder, HoarderTally, StreamsEnded};

use super::{cache_bound::EntryReads, world::World};

/// Most requests one attacker has outstanding.
const IN_FLIGHT: usize = 128;
/// An attacker's request still unanswered after this long is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// Requests per second of each attacker.
#[derive(Debug, Clone, Copy)]
pub struct AttackRates {
    pub cache_busters: f64,
    pub scraper: f64,
    /// Stream opening attempts per second.
    pub hoarder: f64,
}

impl AttackRates {
    /// Cache-busters and scraper at `per_second` each; the hoarder tries 10 streams a second
    /// (far more than it can hold: what matters is that it keeps trying).
    pub fn at(per_second: f64) -> Self {
        Self {
            cache_busters: per_second,
            scraper: per_second,
            hoarder: 10.0,
        }
    }
}

/// How one attacker's request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// 429.
    Refused,
    /// 2xx from the edge's cache (`X-Edge-Cache: hit`).
    CacheHit,
    /// 2xx from an origin fetch, its own or one it joined (`miss`).
    CacheMiss,
    /// The last good copy, because the fetch under way was taking too long (`stale`).
    Stale,
    /// Any other answer.
    Other(u16),
    /// No answer in time, or the connection failed.
    NoAnswer,
}

impl Seen {
    /// Reads the answer to its end and sorts it.
    async fn of(response: reqwest::Result<reqwest::Response>) -> Self {
        let Ok(response) = response else {
            return Self::NoAnswer;
        };
        let status = response.status();
        let cache = response
            .headers()
            .get(EDGE_CACHE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if response.bytes().await.is_err() {
            return Self::NoAnswer;
        }
        match (status, cache.as_deref()) {
            (StatusCode::TOO_MANY_REQUESTS, _) => Self::Refused,
            (status, Some("hit")) if status.is_success() => Self::CacheHit,
            (status, Some("miss")) if status.is_success() => Self::CacheMiss,
            (status, Some("stale")) if status.is_success() => Self::Stale,
            (status, _) => Self::Other(status.as_u16()),
        }
    }
}

/// What one attacker's requests got.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub sent: usize,
    pub refused: usize,
    pub cache_hits: usize,
    pub cache_misses: usize,
    pub stale: usize,
    /// Any other answer, by status.
    pub other: BTreeMap<u16, usize>,
    pub no_answer: usize,
}

impl Tally {
    fn of<'a>(seen: impl IntoIterator<Item = &'a Seen>) -> Self {
        let mut tally = Self::default();
        for seen in seen {
            tally.sent += 1;
            match seen {
                Seen::Refused => tally.refused += 1,
                Seen::CacheHit => tally.cache_hits += 1,
                Seen::CacheMiss => tally.cache_misses += 1,
                Seen::Stale => tally.stale += 1,
                Seen::Other(status) => *tally.other.entry(*status).or_default() += 1,
                Seen::NoAnswer => tally.no_answer += 1,
            }
        }
        tally
    }
}

/// What the attack got, per attacker.
#[derive(Debug)]
pub struct AttackReport {
    pub cache_busters: Tally,
    /// The scraper's requests from addresses of one IPv6 /64.
    pub scraper_one_64: Tally,
    /// The scraper's requests from a new IPv4 address each.
    pub scraper_ipv4: Tally,
    pub hoarder: HoarderTally,
    /// Requests not sent because an attacker had `IN_FLIGHT` outstanding.
    pub skipped: usize,
    /// The attackers' reads that could reach the origin (all but 429s), per cache entry.
    pub entry_reads: EntryReads,
}

/// Runs every attacker at `rates` until `deadline`; the hoarder's streams stay held (in
/// `hoarder`) after it returns.
pub async fn attack(
    world: &Arc<World>,
    rates: AttackRates,
    deadline: Instant,
    hoarder: &Hoarder,
) -> anyhow::Result<AttackReport> {
    let client = || reqwest::Client::builder().timeout(GIVE_UP_AFTER).build();
    let (busters, scraper, hoarded) = tokio::join!(
        cache_busters::run(world, client()?, rates.cache_busters, deadline),
        scraper::run(world, client()?, rates.scraper, deadline),
        hoarder.run(world, rates.hoarder, deadline),
    );
    let (one_64, ipv4): (Vec<_>, Vec<_>) = scraper.done.iter().partition(|(v6, _, _)| *v6);
    let mut entry_reads = EntryReads::default();
    let named = busters.done.iter().copied();
    for (entry, seen) in named.chain(scraper.done.iter().map(|(_, entry, seen)| (*entry, *seen))) {
        if seen != Seen::Refused {
            entry_reads.add(entry, 1);
        }
    }
    Ok(AttackReport {
        cache_busters: Tally::of(busters.done.iter().map(|(_, seen)| seen)),
        scraper_one_64: Tally::of(one_64.iter().map(|(_, _, seen)| seen)),
        scraper_ipv4: Tally::of(ipv4.iter().map(|(_, _, seen)| seen)),
        skipped: busters.skipped + scraper.skipped + hoarded.skipped,
        hoarder: hoarded,
        entry_reads,
    })
}
