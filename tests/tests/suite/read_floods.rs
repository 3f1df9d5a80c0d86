//! Floods charge the flooder, through the real wasm Worker, tried as an attacker would from
//! outside: reads of made-up item ids from forty rotating addresses, pages that miss the cache
//! until the shop's anonymous read ceiling is spent, invented and edited cursors, `HEAD`. The
//! shop's admins and signed-in shoppers keep budgets of their own, lists refused by the ceiling
//! are answered from the last good copy, a made-up cursor never reaches the origin, and one
//! unknown item reaches the origin about once a second however often it is asked for.

use std::time::{Duration, Instant};

use api::{headers::EDGE_CACHE, inventory::InventoryList, token::Role, Problem, ProblemKind};
use e2e::{
    origin_server::app_pool, rate_limit_fields, Edge, EdgeConfig, OriginServer, Shop, TestKeys,
};
use futures::future::join_all;
use origin::AppState;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "floods.shop.test";
const SECRET: &str = "edge-secret-for-read-floods-0123456789abc";
const ADDRESSES: u32 = 40;

struct World {
    db: PgPool,
    keys: TestKeys,
    shop: Shop,
    origin: OriginServer,
    edge: Edge,
}

/// A shop of three items behind an origin and a Worker that share the edge secret, as in
/// production, with the shop's quotas overridden by `limits` (its `RATE_LIMITS` entry).
async fn world(db: PgPool, limits: Value) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(
        &db,
        DOMAIN,
        &[("ARMCHAIR", 50), ("BENCH", 50), ("CHAIR", 50)],
    )
    .await;
    let state = AppState::new(app_pool(&db).await, keys.verifier())
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
    let origin = OriginServer::start_with(state).await;
    let config = EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
        .var("EDGE_SHARED_SECRET", SECRET)
        .shop_rate_limits(shop.org_id, limits);
    let edge = Edge::start_with(config).await;
    World {
        db,
        keys,
        shop,
        origin,
        edge,
    }
}

impl World {
    fn token(&self, role: Role, sub: &str) -> String {
        self.keys.token(self.shop.org_id, role, sub)
    }

    async fn read(&self, path: &str, address: &str, token: Option<&str>) -> Response {
        let request = self
            .edge
            .get(DOMAIN, path)
            .header("cf-connecting-ip", address);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        request.send().await.unwrap()
    }

    /// Requests the origin received whose path and query contain `fragment`.
    fn origin_heard(&self, fragment: &str) -> usize {
        self.origin
            .log
            .received()
            .iter()
            .filter(|received| received.path.contains(fragment))
            .count()
    }
}

/// The `n`-th of the flood's forty addresses, each in a /64 of its own.
fn flood_address(n: u32) -> String {
    format!("2001:db8:f1:{:x}::1", n % ADDRESSES)
}

fn policy_name(response: &Response) -> Option<String> {
    rate_limit_fields::policy(response.headers()).map(|named| named.policy)
}

/// What the shop's admin and shoppers see while (and after) a flood runs: each read's path,
/// status and cache status.
async fn honest_rounds(w: &World, rounds: usize) -> Vec<(String, StatusCode, String)> {
    let admin = w.token(Role::Admin, "owner");
    let shopper = w.token(Role::Shopper, "alice");
    let mut seen = Vec::new();
    for _ in 0..rounds {
        for (path, token, address) in [
            (
                "/api/admin/kill-switch",
                Some(admin.as_str()),
                "198.51.100.1",
            ),
            ("/api/admin/audit", Some(admin.as_str()), "198.51.100.1"),
            ("/api/inventory", None, "198.51.100.2"),
            ("/api/inventory", Some(shopper.as_str()), "198.51.100.3"),
        ] {
            let response = w.read(path, address, token).await;
            let cache = response
                .headers()
                .get(EDGE_CACHE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            seen.push((path.to_owned(), response.status(), cache));
        }
    }
    seen
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_and_shoppers_are_answered_while_forty_addresses_flood_unknown_items(db: PgPool) {
    // A ceiling the flood would spend twenty times over if its not-founds counted against it.
    let w = world(
        db,
        json!({"shop_read": {"limit": 60, "window_seconds": 60}}),
    )
    .await;
    let w = &w;
    assert_eq!(
        w.read("/api/inventory", "198.51.100.2", None)
            .await
            .status(),
        StatusCode::OK
    );
    let flood = (0..ADDRESSES).map(|n| async move {
        let mut answers = Vec::new();
        for _ in 0..32 {
            let path = format!("/api/inventory/{}", Uuid::new_v4());
            let response = w.read(&path, &flood_address(n), None).await;
            answers.push((response.status(), policy_name(&response)));
        }
        answers
    });
    let (flood, during) = futures::join!(join_all(flood), honest_rounds(w, 10));
    let after = honest_rounds(w, 2).await;

    for (path, status, cache) in during.iter().chain(&after) {
        assert_eq!(*status, StatusCode::OK, "{path} ({cache})");
        // The last good copy is how the edge covers for a refused list: a 200 all the same,
        // but not an answer.
        assert_ne!(cache, "stale", "{path}: answered from the last good copy");
    }
    let flood: Vec<_> = flood.into_iter().flatten().collect();
    let not_found = flood.iter().filter(|(s, _)| *s == StatusCode::NOT_FOUND);
    let refused: Vec<_> = flood
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        not_found.count() > 60,
        "the flood's not-founds went past the shop's ceiling of 60"
    );
    assert!(
        !refused.is_empty(),
        "the flooders ran out of their own quota"
    );
    for (status, policy) in &refused {
        assert_eq!(
            policy.as_deref(),
            Some("read"),
            "{status}: charged to the flooder, not the shop"
        );
    }
    assert!(
        flood
            .iter()
            .all(|(s, _)| *s == StatusCode::NOT_FOUND || *s == StatusCode::TOO_MANY_REQUESTS),
        "the flood got only not-founds and refusals"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_spent_anonymous_ceiling_leaves_admins_signed_in_shoppers_and_lists_answered(db: PgPool) {
    let w = world(
        db,
        json!({"shop_read": {"limit": 20, "window_seconds": 60}}),
    )
    .await;
    let w = &w;
    let list = w.read("/api/inventory", "198.51.100.2", None).await;
    assert_eq!(list.status(), StatusCode::OK);
    let fresh: InventoryList = list.json().await.unwrap();

    // Pages that all miss the cache (each `limit` is an entry of its own) from forty /64s: the
    // anonymous ceiling is spent within the first twenty.
    let flood = (0..120u32).map(|n| async move {
        let path = format!("/api/inventory?limit={}", n + 1);
        let response = w.read(&path, &flood_address(n), None).await;
        (response.status(), policy_name(&response))
    });
    let flood = join_all(flood).await;
    let spent = flood
        .iter()
        .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .inspect(|(_, policy)| assert_eq!(policy.as_deref(), Some("shop-read")))
        .count();
    assert!(spent >= 90, "the anonymous ceiling held: {spent} refused");

    // A list whose fresh entry has expired: refused by the ceiling, answered from the last
    // good copy, marked stale.
    let stale = poll_until_stale(w, "/api/inventory").await;
    let copy: InventoryList = stale.json().await.unwrap();
    assert_eq!(copy, fresh);
    let never_read = w
        .read("/api/inventory?limit=150", "198.51.100.4", None)
        .await;
    assert_eq!(never_read.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(policy_name(&never_read).as_deref(), Some("shop-read"));

    // A signed-in shopper's reads have their own ceiling: a page no one read is fetched.
    let alice = w.token(Role::Shopper, "alice");
    let page = w
        .read("/api/inventory?limit=151", "198.51.100.3", Some(&alice))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[EDGE_CACHE], "miss");
    // A token that does not check out is no way in: the read is anonymous.
    let forged = w
        .read(
            "/api/inventory?limit=152",
            "198.51.100.3",
            Some("not.a.token"),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);

    // The owner reads the console, pauses the sale and restocks.
    let admin = w.token(Role::Admin, "owner");
    for path in ["/api/admin/kill-switch", "/api/admin/audit"] {
        let response = w.read(path, "198.51.100.1", Some(&admin)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let paused = w
        .edge
        .request(Method::PUT, DOMAIN, "/api/admin/kill-switch")
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({"engaged": true, "reason": "restocking"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::OK);
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let restocked = w
        .edge
        .request(
            Method::PATCH,
            DOMAIN,
            &format!("/api/admin/items/{}", chair.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({"stock_delta": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(restocked.status(), StatusCode::OK);
    assert_eq!(w.shop.item(&w.db, "CHAIR").await.stock, 60);
}

/// Reads `path` anonymously until the edge answers it from the last good copy (the fresh entry
/// lives a second).
async fn poll_until_stale(w: &World, path: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = w.read(path, "198.51.100.2", None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        if response.headers()[EDGE_CACHE] == "stale" {
            assert!(response.headers().contains_key("age"));
            return response;
        }
        assert!(Instant::now() < deadline, "{path} was never answered stale");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn invented_and_edited_cursors_are_refused_at_the_edge_and_at_the_origin(db: PgPool) {
    let w = world(db, json!({})).await;
    let first: InventoryList = w
        .read("/api/inventory?limit=1", "198.51.100.2", None)
        .await
        .json()
        .await
        .unwrap();
    let next = first.next.unwrap();
    let second = w
        .read(
            &format!("/api/inventory?limit=1&after={next}"),
            "198.51.100.2",
            None,
        )
        .await;
    assert_eq!(second.status(), StatusCode::OK, "an issued cursor opens");
    let second: InventoryList = second.json().await.unwrap();
    assert_eq!(second.items[0].sku, "BENCH");

    let chair = w.shop.item(&w.db, "CHAIR").await;
    let (_, mac) = next.split_once('.').unwrap();
    let invented = [
        Uuid::new_v4().to_string(),
        chair.id.to_string(),
        format!("{}.{mac}", chair.id),
        format!("{next}A"),
        format!("{}.{}", chair.id, "A".repeat(22)),
    ];
    let heard_before = w.origin_heard("/inventory");
    for cursor in &invented {
        let path = format!("/api/inventory?limit=1&after={cursor}");
        let response = w.read(&path, "198.51.100.2", None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{cursor}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Problem = response.json().await.unwrap();
        assert!(problem.is(ProblemKind::MalformedRequest), "{problem:?}");
    }
    assert_eq!(
        w.origin_heard("/inventory"),
        heard_before,
        "no invented cursor reached the origin"
    );

    // Asked directly, the origin refuses them too.
    let http = reqwest::Client::new();
    let direct = |cursor: &str| {
        let url = format!(
            "{}/api/tenant/{}/inventory?limit=1&after={cursor}",
            w.origin.url, w.shop.org_id
        );
        e2e::edge_hop::SendAsEdge::send_as_edge(http.get(url), SECRET)
    };
    assert_eq!(direct(&next).await.unwrap().status(), StatusCode::OK);
    for cursor in &invented {
        let response = direct(cursor).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{cursor}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn head_is_answered_as_get_from_the_same_cache_entry(db: PgPool) {
    let w = world(db, json!({})).await;
    let head = |path: String| {
        w.edge
            .request(Method::HEAD, DOMAIN, &path)
            .header("cf-connecting-ip", "198.51.100.2")
            .send()
    };
    let get = w.read("/api/inventory", "198.51.100.2", None).await;
    assert_eq!(get.headers()[EDGE_CACHE], "miss");
    let got = get.headers().clone();
    let headed = head("/api/inventory".to_owned()).await.unwrap();
    assert_eq!(headed.status(), StatusCode::OK);
    assert_eq!(headed.headers()[EDGE_CACHE], "hit");
    for name in ["content-type", "cache-control", "ratelimit-policy"] {
        assert_eq!(headed.headers().get(name), got.get(name), "{name}");
    }
    assert!(headed.bytes().await.unwrap().is_empty(), "no body");

    // A HEAD that misses fills the entry the GET then reads; the origin is asked with GET.
    let bench = w.shop.item(&w.db, "BENCH").await;
    let item = format!("/api/inventory/{}", bench.id);
    let headed = head(item.clone()).await.unwrap();
    assert_eq!(
        (
            headed.status(),
            headed.headers()[EDGE_CACHE].to_str().unwrap()
        ),
        (StatusCode::OK, "miss")
    );
    let get = w.read(&item, "198.51.100.2", None).await;
    assert_eq!(get.headers()[EDGE_CACHE], "hit");
    let unknown = head(format!("/api/inventory/{}", Uuid::new_v4()))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.bytes().await.unwrap().is_empty());
    let inventory = format!("/api/tenant/{}/inventory", w.shop.org_id);
    for received in w.origin.log.received() {
        if received.path.starts_with(&inventory) {
            assert_eq!(received.method, "GET", "{}", received.path);
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_flood_of_one_unknown_item_reaches_the_origin_about_once_a_second(db: PgPool) {
    let w = world(db, json!({})).await;
    let w = &w;
    let unknown = Uuid::new_v4();
    let path = format!("/api/inventory/{unknown}");
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let wave = (0..10u32).map(|n| {
            let path = path.clone();
            async move { w.read(&path, &flood_address(n), None).await.status() }
        });
        for status in join_all(wave).await {
            assert_eq!(status, StatusCode::NOT_FOUND);
            answered += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let reached = w.origin_heard(&unknown.to_string());
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let allowed = seconds.ceil() as usize + 1;
    assert!(
        reached <= allowed,
        "{reached} of {answered} reads of one unknown item reached the origin in {seconds:.1} s \
         (at most {allowed})"
    );
    assert!(answered > 4 * allowed, "the flood was a flood: {answered}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_shop_profile_and_sales_status_count_shoppers_and_admins_as_who_they_are(db: PgPool) {
    let ceiling = json!({"limit": 3, "window_seconds": 60});
    let w = world(
        db,
        json!({"shop_read": ceiling, "shop_signed_in_read": ceiling}),
    )
    .await;
    let statuses = |responses: Vec<Response>| -> Vec<StatusCode> {
        responses.iter().map(Response::status).collect()
    };
    // Anonymous addresses spend the anonymous ceiling on the shop's profile.
    let anonymous = (0..6).map(|n| {
        let w = &w;
        async move { w.read("/api/shop", &flood_address(n), None).await }
    });
    let anonymous = statuses(join_all(anonymous).await);
    let refused = |statuses: &[StatusCode]| {
        statuses
            .iter()
            .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
            .count()
    };
    assert!(refused(&anonymous) >= 3, "{anonymous:?}");

    // A signed-in shopper is counted as one: the profile and the sales status are answered.
    let alice = w.token(Role::Shopper, "alice");
    for path in ["/api/shop", "/api/sales"] {
        let response = w.read(path, "198.51.100.3", Some(&alice)).await;
        assert_eq!(response.status(), StatusCode::OK, "alice: {path}");
    }
    // Shoppers spend their own ceiling in turn.
    let mut shoppers = Vec::new();
    for n in 0..6 {
        let token = w.token(Role::Shopper, &format!("shopper-{n}"));
        let address = format!("198.51.100.{}", 10 + n);
        shoppers.push(w.read("/api/shop", &address, Some(&token)).await.status());
    }
    assert!(refused(&shoppers) >= 3, "{shoppers:?}");

    // The owner is counted as the admin: the profile, the sales status and the console's item
    // list (a page no one read, so it reaches the origin) are answered.
    let admin = w.token(Role::Admin, "owner");
    for path in ["/api/shop", "/api/sales", "/api/inventory?limit=77"] {
        let response = w.read(path, "198.51.100.1", Some(&admin)).await;
        assert_eq!(response.status(), StatusCode::OK, "the owner: {path}");
    }
}
