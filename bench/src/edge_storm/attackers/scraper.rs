//! A rotating-address scraper: it pages through the whole catalogue (`limit=20`, following the
//! `after` cursors) over and over, each request from an address it has not used before:
//! alternately one of the 2^64 addresses of one IPv6 /64, and a fresh IPv4 address.
//!
//! The Worker keys an IPv6 client by its /64, so the first half shares one read quota; the
//! fresh IPv4 addresses each have their own, and what holds them is the cache (each page is
//! one entry) and, for reads that reach the origin, the shop's read ceiling.

use std::{sync::Arc, time::Instant};

use api::headers::CF_CONNECTING_IP;
use reqwest::header::HOST;
use uuid::Uuid;

use super::{Seen, IN_FLIGHT};
use crate::edge_storm::{
    cache_bound::Entry,
    pace::{paced, Paced, Until},
    world::{World, DOMAIN, SCRAPER_PAGE},
};

/// Runs the scraper; each result says whether it came from the IPv6 /64, and which page
/// (cache entry) it read.
pub async fn run(
    world: &Arc<World>,
    client: reqwest::Client,
    per_second: f64,
    deadline: Instant,
) -> Paced<(bool, Entry, Seen)> {
    let job = |n: usize| {
        let one_64 = n.is_multiple_of(2);
        let address = if one_64 {
            address_in_one_64()
        } else {
            fresh_ipv4(n / 2)
        };
        let page = (n / 2) % world.pages.len();
        let path = match &world.pages[page] {
            None => format!("/api/inventory?limit={SCRAPER_PAGE}"),
            Some(after) => format!("/api/inventory?limit={SCRAPER_PAGE}&after={after}"),
        };
        let request = client
            .get(world.url(&path))
            .header(HOST, DOMAIN)
            .header(CF_CONNECTING_IP, address);
        async move {
            (
                one_64,
                Entry::Page(page),
                Seen::of(request.send().await).await,
            )
        }
    };
    paced(per_second, Until::Deadline(deadline), IN_FLIGHT, job).await
}

/// A random address of `2001:db8:5c:1::/64`.
fn address_in_one_64() -> String {
    let low = Uuid::new_v4().as_u128() as u64;
    let groups = [
        low >> 48,
        (low >> 32) & 0xffff,
        (low >> 16) & 0xffff,
        low & 0xffff,
    ];
    format!(
        "2001:db8:5c:1:{:x}:{:x}:{:x}:{:x}",
        groups[0], groups[1], groups[2], groups[3]
    )
}

/// The `n`-th address of `198.19.0.0/16` (RFC 2544's benchmarking range): a new one each time.
fn fresh_ipv4(n: usize) -> String {
    format!("198.19.{}.{}", (n / 256) % 256, n % 256)
}
