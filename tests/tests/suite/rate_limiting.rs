//! The rate limiter against the real wasm Worker and its SQLite Durable Object: exactly the
//! quota is admitted however requests race, every limited answer says where the client stands,
//! refusals are problem+json that write nothing, quotas are per shop and client, and a client
//! that keeps hammering is cooled down.

use std::time::{Duration, Instant};

use api::{token::Role, Problem, ProblemKind};
use e2e::{rate_limit_fields, wait, Shop, TwoShops};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

const SHOP_A: &str = "a.limits.test";
const SHOP_B: &str = "b.limits.test";

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
    async fn buy(&self, shop: &Shop, sub: &str) -> Response {
        let token = self.shops.keys.token(shop.org_id, Role::Shopper, sub);
        let chair = shop.item(&self.db, "CHAIR").await;
        self.shops
            .edge
            .buy(&shop.domain, &token, chair.id, 1)
            .send()
            .await
            .unwrap()
    }

    async fn read(&self, domain: &str, client_ip: &str) -> Response {
        self.shops
            .edge
            .get(domain, "/api/inventory")
            .header("cf-connecting-ip", client_ip)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts a 429 problem+json that says when to come back, and returns that many seconds.
async fn assert_rate_limited(response: Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.headers()["content-type"],
        api::headers::PROBLEM_JSON
    );
    let retry_after = rate_limit_fields::retry_after(response.headers()).expect("Retry-After");
    assert!(retry_after >= 1);
    let ratelimit = rate_limit_fields::ratelimit(response.headers()).expect("RateLimit");
    assert_eq!(ratelimit.get("r"), Some(0));
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(ProblemKind::RateLimited), "{problem:?}");
    assert!(problem.request_id.is_some());
    retry_after
}

#[sqlx::test(migrations = "../migrations")]
async fn exactly_the_quota_of_concurrent_buys_is_admitted_and_refusals_write_nothing(db: PgPool) {
    let limits = json!({
        "write": {"limit": 5, "window_seconds": 60},
        "cooldown": {"after_refusals": 1000, "seconds": 60}
    });
    let w = world(db, limits).await;
    let attempts = (0..20).map(|_| w.buy(&w.shops.a, "alice"));
    let responses = futures::future::join_all(attempts).await;

    let mut remaining = Vec::new();
    let mut refused = 0;
    for response in responses {
        let policy = rate_limit_fields::policy(response.headers()).expect("RateLimit-Policy");
        assert_eq!(
            (policy.policy.as_str(), policy.get("q"), policy.get("w")),
            ("write", Some(5), Some(60))
        );
        if response.status() == StatusCode::CREATED {
            let ratelimit = rate_limit_fields::ratelimit(response.headers()).unwrap();
            assert!(ratelimit.get("t").unwrap() >= 1);
            remaining.push(ratelimit.get("r").unwrap());
        } else {
            assert!(assert_rate_limited(response).await <= 60);
            refused += 1;
        }
    }
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        vec![0, 1, 2, 3, 4],
        "each admission used one slot"
    );
    assert_eq!(refused, 15);
    assert_eq!(w.shops.a.order_totals(&w.db).await, (5, 5));
    assert_eq!(w.shops.a.item(&w.db, "CHAIR").await.stock, 95);
}

#[sqlx::test(migrations = "../migrations")]
async fn exactly_the_quota_of_concurrent_reads_is_admitted(db: PgPool) {
    let limits = json!({
        "read": {"limit": 10, "window_seconds": 60},
        "cooldown": {"after_refusals": 1000, "seconds": 60}
    });
    let w = world(db, limits).await;
    let reads = (0..30).map(|_| w.read(SHOP_A, "198.51.100.7"));
    let responses = futures::future::join_all(reads).await;
    let mut admitted = 0;
    for response in responses {
        let policy = rate_limit_fields::policy(response.headers()).expect("RateLimit-Policy");
        assert_eq!(
            (policy.policy.as_str(), policy.get("q")),
            ("read", Some(10))
        );
        if response.status() == StatusCode::OK {
            admitted += 1;
        } else {
            assert_rate_limited(response).await;
        }
    }
    assert_eq!(admitted, 10);
}

#[sqlx::test(migrations = "../migrations")]
async fn quotas_belong_to_one_client_of_one_shop(db: PgPool) {
    let limits = json!({
        "read": {"limit": 2, "window_seconds": 60},
        "write": {"limit": 2, "window_seconds": 60}
    });
    let w = world(db, limits).await;
    for _ in 0..2 {
        assert_eq!(
            w.buy(&w.shops.a, "alice").await.status(),
            StatusCode::CREATED
        );
        assert_eq!(w.read(SHOP_A, "203.0.113.1").await.status(), StatusCode::OK);
    }
    assert_rate_limited(w.buy(&w.shops.a, "alice").await).await;
    assert_rate_limited(w.read(SHOP_A, "203.0.113.1").await).await;

    assert_eq!(w.buy(&w.shops.a, "bob").await.status(), StatusCode::CREATED);
    assert_eq!(w.read(SHOP_A, "203.0.113.2").await.status(), StatusCode::OK);
    // Shop B keeps the defaults, and its alice is not shop A's alice.
    let b_buy = w.buy(&w.shops.b, "alice").await;
    assert_eq!(b_buy.status(), StatusCode::CREATED);
    let b_policy = rate_limit_fields::policy(b_buy.headers()).unwrap();
    assert_eq!(b_policy.get("q"), Some(30));
    assert_eq!(w.shops.a.order_totals(&w.db).await, (3, 3));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unlimited_class_has_no_quota_to_report(db: PgPool) {
    let w = world(db, json!({"read": "unlimited"})).await;
    for _ in 0..5 {
        let response = w.read(SHOP_A, "203.0.113.9").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(rate_limit_fields::policy(response.headers()).is_none());
    }
    let bought = w.buy(&w.shops.a, "alice").await;
    assert_eq!(
        rate_limit_fields::policy(bought.headers()).unwrap().policy,
        "write"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_client_that_keeps_hammering_is_cooled_down_without_touching_its_log(db: PgPool) {
    let limits = json!({
        "read": {"limit": 3, "window_seconds": 2},
        "cooldown": {"after_refusals": 3, "seconds": 4}
    });
    let w = world(db, limits).await;
    let ip = "192.0.2.33";
    for _ in 0..3 {
        assert_eq!(w.read(SHOP_A, ip).await.status(), StatusCode::OK);
    }
    let plain_refusal = assert_rate_limited(w.read(SHOP_A, ip).await).await;
    assert!(plain_refusal <= 2, "a plain refusal waits for the window");
    assert_rate_limited(w.read(SHOP_A, ip).await).await;
    let cooldown_started = Instant::now();
    let cooldown = assert_rate_limited(w.read(SHOP_A, ip).await).await;
    assert!((3..=4).contains(&cooldown), "told to wait {cooldown} s");

    // Keep knocking: refused until the cooldown ends, long after the window freed up.
    let first_admitted = wait::until(Duration::from_secs(10), "the cooldown ending", || async {
        let response = w.read(SHOP_A, ip).await;
        if response.status() == StatusCode::OK {
            return Some(response);
        }
        assert_rate_limited(response).await;
        None
    })
    .await;
    let cooled = cooldown_started.elapsed();
    assert!(cooled >= Duration::from_millis(3_500), "cooled {cooled:?}");
    assert_eq!(
        rate_limit_fields::ratelimit(first_admitted.headers())
            .unwrap()
            .get("r"),
        Some(2),
        "the refused knocks were never logged: the whole quota is back"
    );
    assert_eq!(w.read(SHOP_A, ip).await.status(), StatusCode::OK);
    assert_eq!(w.read(SHOP_A, ip).await.status(), StatusCode::OK);
    assert_rate_limited(w.read(SHOP_A, ip).await).await;
    assert_eq!(
        w.read(SHOP_A, "192.0.2.34").await.status(),
        StatusCode::OK,
        "other clients were never affected"
    );
}
