//! The rate limiter's cost in Durable Object requests (each one billed, like a Worker request),
//! part of `cargo run --release -p bench -- edge`.
//!
//! Two shops behind one Worker get the same 1,000 honest requests: 800 reads (`GET
//! /api/inventory` and single items) and 200 buys, from 10 shoppers with tokens and 4 anonymous
//! addresses (two IPv4, two IPv6 whose low bits change per request, as a phone's do). One shop
//! runs the old policy, switched on by its `RATE_LIMITS` entry (every read checked by the
//! object, no shop ceilings); the other runs the defaults (reads counted in the isolate, shop
//! ceilings on). Each limiter object counts the requests it served; the goal is at most 200 per
//! 1,000 with the defaults. Every answer must be 2xx: honest traffic is never refused.

use std::sync::Arc;

use anyhow::Context;
use api::token::Role;
use e2e::{Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use futures::{stream, StreamExt};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const BEFORE: &str = "exact-limiter.bench.test";
const AFTER: &str = "tiered-limiter.bench.test";
const SHOPPERS: usize = 10;
const ANONYMOUS: [&str; 4] = [
    "198.51.100.10",
    "198.51.100.11",
    "2001:db8:a::",
    "2001:db8:b::",
];
const ITEMS: usize = 20;
const REQUESTS: usize = 1_000;
/// One in five requests is a buy.
const BUY_EVERY: usize = 5;
const IN_FLIGHT: usize = 8;
const GOAL_PER_THOUSAND: u64 = 200;

/// One request of the honest mix.
#[derive(Debug, Clone)]
enum Honest {
    Buy {
        shopper: usize,
        item: usize,
    },
    ShopperRead {
        shopper: usize,
        item: Option<usize>,
    },
    AnonymousRead {
        address: usize,
        item: Option<usize>,
        n: usize,
    },
}

/// The 1,000 requests, in the order they are sent: every fifth a buy, the reads alternating
/// between shoppers and anonymous addresses, every fourth read for a single item.
fn honest_mix() -> Vec<Honest> {
    let mut reads = 0;
    (0..REQUESTS)
        .map(|n| {
            if n % BUY_EVERY == 0 {
                let buy = n / BUY_EVERY;
                return Honest::Buy {
                    shopper: buy % SHOPPERS,
                    item: buy % ITEMS,
                };
            }
            let read = reads;
            reads += 1;
            let item = (read % 4 == 3).then_some(read % ITEMS);
            if read % 2 == 0 {
                Honest::ShopperRead {
                    shopper: (read / 2) % SHOPPERS,
                    item,
                }
            } else {
                Honest::AnonymousRead {
                    address: (read / 2) % ANONYMOUS.len(),
                    item,
                    n,
                }
            }
        })
        .collect()
}

/// A shop of the bench with its items and shoppers' tokens.
struct BenchShop {
    shop: Shop,
    items: Vec<Uuid>,
    tokens: Vec<String>,
}

impl BenchShop {
    async fn open(owner: &PgPool, domain: &str, keys: &TestKeys) -> anyhow::Result<Self> {
        let skus: Vec<String> = (0..ITEMS).map(|i| format!("LIMITER-{i}")).collect();
        let stock: Vec<(&str, i32)> = skus.iter().map(|sku| (sku.as_str(), 100)).collect();
        let shop = Shop::create(owner, domain, &stock).await;
        let mut items = Vec::with_capacity(ITEMS);
        for sku in &skus {
            items.push(shop.item(owner, sku).await.id);
        }
        let tokens = (0..SHOPPERS)
            .map(|n| keys.token(shop.org_id, Role::Shopper, &format!("shopper-{n}")))
            .collect();
        Ok(Self {
            shop,
            items,
            tokens,
        })
    }

    async fn send(&self, edge: &Edge, request: &Honest) -> anyhow::Result<()> {
        let domain = &self.shop.domain;
        let read_path = |item: Option<usize>| {
            item.map_or("/api/inventory".to_owned(), |i| {
                format!("/api/inventory/{}", self.items[i])
            })
        };
        let builder = match request {
            Honest::Buy { shopper, item } => edge
                .buy(domain, &self.tokens[*shopper], self.items[*item], 1)
                .header("cf-connecting-ip", shopper_address(*shopper)),
            // Public reads are keyed by address even with a token: each shopper has their own.
            Honest::ShopperRead { shopper, item } => edge
                .get(domain, &read_path(*item))
                .bearer_auth(&self.tokens[*shopper])
                .header("cf-connecting-ip", shopper_address(*shopper)),
            Honest::AnonymousRead { address, item, n } => {
                let base = ANONYMOUS[*address];
                let ip = if base.ends_with("::") {
                    format!("{base}{n:x}")
                } else {
                    base.to_owned()
                };
                edge.get(domain, &read_path(*item))
                    .header("cf-connecting-ip", ip)
            }
        };
        let response = builder.send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{domain}: {request:?} answered {} ({:?})",
            response.status(),
            response.headers().get(api::headers::RATELIMIT_POLICY)
        );
        response.bytes().await?;
        Ok(())
    }
}

fn shopper_address(shopper: usize) -> String {
    format!("192.0.2.{}", shopper + 1)
}

pub async fn limiter_cost(
    owner: &PgPool,
    origin: &OriginServer,
    keys: &TestKeys,
) -> anyhow::Result<()> {
    let before = BenchShop::open(owner, BEFORE, keys).await?;
    let after = BenchShop::open(owner, AFTER, keys).await?;
    let old_policy =
        json!({"exact_reads": true, "shop_read": "unlimited", "shop_write": "unlimited"});
    let config = EdgeConfig::new(
        &origin.url,
        &[before.shop.clone(), after.shop.clone()],
        keys,
    )
    .shop_rate_limits(before.shop.org_id, old_policy);
    let edge = Arc::new(Edge::start_with(config).await);
    let mix = honest_mix();

    println!(
        "Limiter cost: {REQUESTS} honest requests per shop ({} reads, {} buys; {SHOPPERS} shoppers, {} anonymous addresses), {IN_FLIGHT} in flight",
        REQUESTS - REQUESTS / BUY_EVERY,
        REQUESTS / BUY_EVERY,
        ANONYMOUS.len()
    );
    println!("  {:<44} {:>16} {:>8}", "", "object requests", "alarms");
    for (label, shop) in [
        ("exact object for every request (before)", &before),
        ("reads counted in the isolate (after)", &after),
    ] {
        stream::iter(&mix)
            .map(|request| shop.send(&edge, request))
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<Vec<()>>>()
            .with_context(|| format!("{label}: honest traffic was refused"))?;
        let stats = edge.limiter_stats(shop.shop.org_id).await;
        println!("  {label:<44} {:>16} {:>8}", stats.checks, stats.alarms);
        if shop.shop.domain == AFTER {
            let per_thousand = stats.checks * 1_000 / REQUESTS as u64;
            println!(
                "  object requests per 1,000 honest requests: {per_thousand} (goal: at most {GOAL_PER_THOUSAND})"
            );
        }
    }
    Ok(())
}
