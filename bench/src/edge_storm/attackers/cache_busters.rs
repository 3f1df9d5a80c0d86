//! Cache-busting readers: every trick a client has to make its read miss the edge's cache and
//! land on the origin, in turn: random query strings, other spellings of the known
//! parameters, write positions made up or forged in `X-Write-LSN` and in the
//! `furnitureops_write_lsn` cookie, and `Cache-Control` / `Pragma` asking for a fresh copy.
//! They come from two addresses, as a small bot farm would, so each one's read quota runs out
//! during the sale.
//!
//! The Worker keys its cache on the canonical `limit` and `after` only and honours only write
//! positions the origin sealed for this shop, so all of these are one of two cache entries: the
//! list and the hot item.

use std::{sync::Arc, time::Instant};

use api::headers::{CF_CONNECTING_IP, WRITE_LSN, WRITE_LSN_COOKIE};
use reqwest::header::{CACHE_CONTROL, COOKIE, HOST, PRAGMA};
use uuid::Uuid;

use super::{Seen, IN_FLIGHT};
use crate::edge_storm::{
    cache_bound::Entry,
    pace::{paced, Paced, Until},
    world::{World, DOMAIN},
};

/// The farm's addresses (TEST-NET-3); each has its own read quota.
const ADDRESSES: [&str; 2] = ["203.0.113.1", "203.0.113.2"];

/// Runs the cache-busters; each result says which cache entry the read named.
pub async fn run(
    world: &Arc<World>,
    client: reqwest::Client,
    per_second: f64,
    deadline: Instant,
) -> Paced<(Entry, Seen)> {
    let job = |n: usize| {
        let (entry, request) = busting_read(world, &client, n);
        async move { (entry, Seen::of(request.send().await).await) }
    };
    paced(per_second, Until::Deadline(deadline), IN_FLIGHT, job).await
}

/// The `n`-th read: the tricks in turn, and the cache entry it names.
fn busting_read(
    world: &World,
    client: &reqwest::Client,
    n: usize,
) -> (Entry, reqwest::RequestBuilder) {
    let random = Uuid::new_v4();
    let org_id = world.shop.org_id;
    // A position shaped like a sealed one (LSN, shop, expiry, subject, seal) whose seal the
    // attacker cannot make.
    let forged = format!(
        "FFFFFFFF/FFFFFFFF.{org_id}.{}.Ym90.{}",
        i64::MAX,
        random.simple()
    );
    let hot_item = world.attack.id;
    let (path, headers): (String, Vec<(&str, String)>) = match n % 8 {
        0 => (format!("/api/inventory?r={random}"), vec![]),
        1 => (format!("/api/inventory?limit=050&cb={n}"), vec![]),
        2 => (
            "/api/inventory".into(),
            vec![(WRITE_LSN, format!("{n:X}/0"))],
        ),
        3 => (
            "/api/inventory".into(),
            vec![(COOKIE.as_str(), format!("{WRITE_LSN_COOKIE}={random}"))],
        ),
        4 => ("/api/inventory".into(), vec![(WRITE_LSN, forged)]),
        5 => (
            format!("/api/inventory?_={n}"),
            vec![
                (CACHE_CONTROL.as_str(), "no-cache".into()),
                (PRAGMA.as_str(), "no-cache".into()),
            ],
        ),
        6 => (
            format!("/api/inventory?utm_source={random}"),
            vec![
                (CACHE_CONTROL.as_str(), "no-store, max-age=0".into()),
                (
                    COOKIE.as_str(),
                    format!("session=x; {WRITE_LSN_COOKIE}={forged}"),
                ),
            ],
        ),
        _ => (
            format!("/api/inventory/{hot_item}?nocache={random}"),
            vec![
                (CACHE_CONTROL.as_str(), "max-age=0".into()),
                (PRAGMA.as_str(), "no-cache".into()),
            ],
        ),
    };
    let mut request = client
        .get(world.url(&path))
        .header(HOST, DOMAIN)
        .header(CF_CONNECTING_IP, ADDRESSES[(n / 8) % ADDRESSES.len()]);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let entry = if n % 8 == 7 {
        Entry::HotItem
    } else {
        Entry::List
    };
    (entry, request)
}
