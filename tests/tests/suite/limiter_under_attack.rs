//! The rate limiter against what a scraper or bot does in a flash sale, through the real wasm
//! Worker: rotating the addresses of one IPv6 /64 buys no fresh quota; rotating across /64s
//! with cache-busting reads reaches the origin at most the shop's read ceiling; one shop's
//! flood leaves another shop's shoppers alone; buys stay within the client's quota and the
//! shop's write ceiling however they are spread; and reads cost an object request only once a
//! client nears its quota or the object has refused it.

use api::{token::Role, Problem, ProblemKind};
use e2e::{rate_limit_fields, Shop, TwoShops};
use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

const SHOP_A: &str = "a.attack.test";
const SHOP_B: &str = "b.attack.test";

struct World {
    db: PgPool,
    shops: TwoShops,
}

/// Two shops with 100 chairs each; shop A's quotas are `a_limits` (a `RATE_LIMITS` entry).
async fn world(db: PgPool, a_limits: Value) -> World {
    let shops = TwoShops::with_limits_on_first(&db, [SHOP_A, SHOP_B], a_limits).await;
    World { db, shops }
}

impl World {
    async fn read(&self, domain: &str, path: &str, client_ip: &str) -> Response {
        self.shops
            .edge
            .get(domain, path)
            .header("cf-connecting-ip", client_ip)
            .send()
            .await
            .unwrap()
    }

    async fn buy(&self, shop: &Shop, sub: &str, client_ip: &str) -> Response {
        let token = self.shops.keys.token(shop.org_id, Role::Shopper, sub);
        let chair = shop.item(&self.db, "CHAIR").await;
        self.shops
            .edge
            .buy(&shop.domain, &token, chair.id, 1)
            .header("cf-connecting-ip", client_ip)
            .send()
            .await
            .unwrap()
    }

    /// Inventory requests of `shop` the origin received, cache-busting queries included.
    fn origin_inventory_reads(&self, shop: &Shop) -> usize {
        let path = format!("/api/tenant/{}/inventory", shop.org_id);
        self.shops
            .origin
            .log
            .received()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with(&path))
            .count()
    }

    async fn object_checks(&self, shop: &Shop) -> u64 {
        self.shops.edge.limiter_stats(shop.org_id).await.checks
    }
}

/// Asserts a 429 problem+json naming `policy` with quota `q`, and returns the response's
/// `Retry-After`.
async fn assert_refused_by(response: Response, policy: &str, q: i64) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let named = rate_limit_fields::policy(response.headers()).expect("RateLimit-Policy");
    assert_eq!((named.policy.as_str(), named.get("q")), (policy, Some(q)));
    let standing = rate_limit_fields::ratelimit(response.headers()).expect("RateLimit");
    assert_eq!(
        (standing.policy.as_str(), standing.get("r")),
        (policy, Some(0))
    );
    let retry_after = rate_limit_fields::retry_after(response.headers()).expect("Retry-After");
    assert!(retry_after >= 1);
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(ProblemKind::RateLimited), "{problem:?}");
    retry_after
}

/// The `n`th address of the IPv6 /64 `2001:db8:77:1::/64`, written several ways.
fn address_in_one_64(n: u32) -> String {
    match n % 3 {
        0 => format!("2001:db8:77:1:{:x}::{:x}", n, n * 7),
        1 => format!("2001:0DB8:0077:0001:FFFF:{:X}:0:{:X}", n, n),
        _ => format!("2001:db8:77:1:dead:beef:{:x}:1", n),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn six_hundred_reads_from_rotating_addresses_of_one_64_are_held_to_one_quota(db: PgPool) {
    let w = world(db, json!({})).await;
    let mut admitted = 0;
    for n in 0..600 {
        let response = w
            .read(SHOP_A, "/api/inventory", &address_in_one_64(n))
            .await;
        if response.status() == StatusCode::OK {
            admitted += 1;
        } else {
            assert_refused_by(response, "read", 300).await;
        }
    }
    assert_eq!(admitted, 300, "the built-in read quota, for the whole /64");
    let mapped = w
        .read(SHOP_A, "/api/inventory", "::ffff:198.51.100.9")
        .await;
    assert_eq!(mapped.status(), StatusCode::OK, "an IPv4 client is its own");
    let neighbour = w.read(SHOP_A, "/api/inventory", "2001:db8:77:2::1").await;
    assert_eq!(
        neighbour.status(),
        StatusCode::OK,
        "the next /64 is not held"
    );
    let checks = w.object_checks(&w.shops.a).await;
    assert!(
        checks < 250,
        "half the quota and the cooldown are answered in the isolate: {checks} object requests"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn cache_busting_reads_from_many_64s_reach_the_origin_at_most_the_shop_ceiling(db: PgPool) {
    let w = world(
        db,
        json!({"shop_read": {"limit": 40, "window_seconds": 60}}),
    )
    .await;
    let w = &w;
    let before = w.origin_inventory_reads(&w.shops.a);
    let mut admitted = 0;
    for wave in 0..20 {
        let reads = (0..10).map(|i| {
            let n = wave * 10 + i;
            // Unknown parameters make no cache keys, and a cursor must be one the origin
            // issued; each page size still is an entry of its own, a read the origin answers.
            let path = format!("/api/inventory?limit={}", n + 1);
            let address = format!("2001:db8:{n:x}:{:x}::1", n * 3);
            async move { w.read(SHOP_A, &path, &address).await }
        });
        for response in join_all(reads).await {
            if response.status() == StatusCode::OK {
                admitted += 1;
            } else {
                assert_refused_by(response, "shop-read", 40).await;
            }
        }
    }
    let reached_origin = w.origin_inventory_reads(&w.shops.a) - before;
    assert_eq!(
        admitted, reached_origin,
        "every admitted read missed the cache"
    );
    assert!(
        reached_origin <= 40,
        "the origin saw {reached_origin} reads"
    );
    assert!(
        reached_origin >= 36,
        "the ceiling is used: {reached_origin}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn one_shops_flood_leaves_another_shops_reads_and_buys_alone(db: PgPool) {
    let w = world(
        db,
        json!({
            "shop_read": {"limit": 20, "window_seconds": 60},
            "shop_write": {"limit": 5, "window_seconds": 60}
        }),
    )
    .await;
    let w = &w;
    let reads_before = w.origin_inventory_reads(&w.shops.a);
    // Each page size is a cache entry of its own, so every admitted read misses and is one the
    // origin answers and counts against the ceiling (the edge drops unknown parameters such as
    // `?bust=n`, and refuses invented cursors: such reads would share one entry, and a cache
    // hit would be admitted past the ceiling).
    let flood = (0..100).map(|n| {
        let path = format!("/api/inventory?limit={}", n + 1);
        let address = format!("2001:db8:{n:x}::1");
        async move { w.read(SHOP_A, &path, &address).await.status() }
    });
    let buys = (0..20).map(|n| async move {
        let sub = format!("bot-{n}");
        w.buy(&w.shops.a, &sub, "203.0.113.50").await.status()
    });
    let (read_statuses, buy_statuses) = futures::join!(join_all(flood), join_all(buys));
    let refused = |statuses: &[StatusCode]| {
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count()
    };
    let read_refused = refused(&read_statuses);
    assert!(read_refused >= 80, "shop A's read ceiling held");
    assert_eq!(
        w.origin_inventory_reads(&w.shops.a) - reads_before,
        100 - read_refused,
        "every admitted read of the flood reached the origin"
    );
    assert_eq!(refused(&buy_statuses), 15, "shop A's write ceiling held");
    assert_eq!(w.shops.a.order_totals(&w.db).await, (5, 5));

    for n in 0..20 {
        let read = w.read(SHOP_B, "/api/inventory", "198.51.100.20").await;
        assert_eq!(read.status(), StatusCode::OK, "shop B read {n}");
    }
    for shopper in ["carol", "dave", "erin"] {
        let bought = w.buy(&w.shops.b, shopper, "198.51.100.21").await;
        assert_eq!(bought.status(), StatusCode::CREATED, "{shopper} in shop B");
    }
    assert_eq!(w.shops.b.order_totals(&w.db).await, (3, 3));
}

#[sqlx::test(migrations = "../migrations")]
async fn buys_stay_within_the_shoppers_quota_and_the_shop_ceiling_however_spread(db: PgPool) {
    let w = world(
        db,
        json!({
            "write": {"limit": 5, "window_seconds": 60},
            "shop_write": {"limit": 12, "window_seconds": 60},
            "cooldown": {"after_refusals": 1000, "seconds": 60}
        }),
    )
    .await;
    let w = &w;
    // One shopper from twelve addresses: the token, not the address, is the client.
    let spread = (0..12).map(|n| {
        let address = format!("2001:db8:{n:x}::9");
        async move { w.buy(&w.shops.a, "alice", &address).await }
    });
    let mut created = 0;
    for response in join_all(spread).await {
        if response.status() == StatusCode::CREATED {
            created += 1;
        } else {
            assert_refused_by(response, "write", 5).await;
        }
    }
    assert_eq!(created, 5);

    // Seven more shoppers, three buys each: only the shop's remaining 7 get through.
    let crowd = (0..7).flat_map(|n| {
        (0..3).map(move |_| {
            let sub = format!("shopper-{n}");
            async move { w.buy(&w.shops.a, &sub, "198.51.100.30").await }
        })
    });
    let mut created = 0;
    for response in join_all(crowd).await {
        if response.status() == StatusCode::CREATED {
            created += 1;
        } else {
            assert_refused_by(response, "shop-write", 12).await;
        }
    }
    assert_eq!(created, 7);
    assert_eq!(w.shops.a.order_totals(&w.db).await, (12, 12));
}

#[sqlx::test(migrations = "../migrations")]
async fn reads_reach_the_object_only_near_the_quota_and_a_refused_client_always(db: PgPool) {
    let w = world(
        db,
        json!({
            "read": {"limit": 6, "window_seconds": 60},
            "cooldown": {"after_refusals": 0, "seconds": 60}
        }),
    )
    .await;
    let ip = "192.0.2.61";
    for _ in 0..3 {
        assert_eq!(
            w.read(SHOP_A, "/api/inventory", ip).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        w.object_checks(&w.shops.a).await,
        0,
        "half the quota is local"
    );
    for _ in 0..3 {
        assert_eq!(
            w.read(SHOP_A, "/api/inventory", ip).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(w.object_checks(&w.shops.a).await, 3);
    for _ in 0..5 {
        let response = w.read(SHOP_A, "/api/inventory", ip).await;
        assert_refused_by(response, "read", 6).await;
    }
    assert_eq!(
        w.object_checks(&w.shops.a).await,
        8,
        "each read of a refused client is checked by the object"
    );
    let other = w.read(SHOP_A, "/api/inventory", "192.0.2.62").await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(
        w.object_checks(&w.shops.a).await,
        8,
        "other clients stay local"
    );
}
