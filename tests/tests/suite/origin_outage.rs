//! The shop stays up when the origin does not, through the real Worker: with the origin frozen
//! (nothing refused, nothing answered) or killed (connections refused and reset), inventory
//! reads get the last good stock, marked stale, within the read deadline; purchases get a 503
//! with `Retry-After` within the write deadline; after repeated failures the edge stops
//! calling and refuses at once; and everything comes back by itself once the origin does.
//!
//! The faults come from an `OriginLink`, a TCP proxy between the Worker and the in-process
//! origin (see its module doc for why a proxy rather than signals to an origin process). The
//! Worker runs with short deadlines (reads 500 ms, writes 1.5 s) so the tests are quick; the
//! time bounds asserted are generous hang bounds, not performance targets.

use std::time::{Duration, Instant};

use api::{
    headers::EDGE_CACHE,
    token::Role,
    write_position::{WritePosition, WritePositionKey},
    Problem, ProblemKind,
};
use e2e::{rate_limit_fields, wait, Edge, EdgeConfig, OriginLink, OriginServer, Shop, TestKeys};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "outage.shop.test";
const OTHER: &str = "other-outage.shop.test";
const READ_DEADLINE: Duration = Duration::from_millis(500);
const WRITE_DEADLINE: Duration = Duration::from_millis(1_500);
/// Time on top of a deadline for miniflare, a busy machine and the test's own client.
const SLACK: Duration = Duration::from_millis(1_000);
/// Longer than any answer may take: a request still open by then has hung.
const HANG: Duration = Duration::from_secs(20);

struct World {
    db: PgPool,
    keys: TestKeys,
    shop: Shop,
    _origin: OriginServer,
    link: OriginLink,
    edge: Edge,
}

/// Two shops behind one origin, reached by the Worker through a link the test can break;
/// `vars` adjusts the Worker's settings.
async fn world(db: PgPool, vars: &[(&str, &str)]) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 100)]).await;
    let other = Shop::create(&db, OTHER, &[("LAMP", 5)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let link = OriginLink::start(&origin.url).await;
    let unlimited = json!({"read": "unlimited", "write": "unlimited"});
    let deadlines = json!({"read": READ_DEADLINE.as_millis(), "write": WRITE_DEADLINE.as_millis()});
    let breaker = json!({"after_failures": 3, "first_pause_ms": 2_000, "longest_pause_ms": 4_000});
    let mut config = EdgeConfig::new(&link.url, &[shop.clone(), other.clone()], &keys)
        .shop_rate_limits(shop.org_id, unlimited.clone())
        .shop_rate_limits(other.org_id, unlimited)
        .var("ORIGIN_DEADLINES_MS", deadlines.to_string())
        .var("ORIGIN_BREAKER", breaker.to_string());
    for (name, value) in vars {
        config = config.var(name, *value);
    }
    let edge = Edge::start_with(config).await;
    World {
        db,
        keys,
        shop,
        _origin: origin,
        link,
        edge,
    }
}

impl World {
    async fn chair(&self) -> Uuid {
        self.shop.item(&self.db, "CHAIR").await.id
    }

    /// `POST /api/buy` of one chair as `sub` under `key`.
    fn buy(&self, sub: &str, chair: Uuid, key: &str) -> RequestBuilder {
        self.edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(self.keys.token(self.shop.org_id, Role::Shopper, sub))
            .header("idempotency-key", key)
            .json(&json!({"item_id": chair, "quantity": 1}))
    }

    /// Orders `sub` holds in the shop.
    async fn orders_of(&self, sub: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM orders WHERE organization_id = $1 AND customer_sub = $2",
        )
        .bind(self.shop.org_id)
        .bind(sub)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }
}

/// Sends `request`, answering the response and how long it took.
async fn timed(request: RequestBuilder) -> (Response, Duration) {
    let started = Instant::now();
    let response = request.timeout(HANG).send().await.expect("an answer");
    (response, started.elapsed())
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A fresh inventory answer of `domain` (from the origin or the one-second cache): its body.
async fn fresh_inventory(edge: &Edge, domain: &str) -> String {
    let response = edge.get(domain, "/api/inventory").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(header(&response, EDGE_CACHE), "stale");
    response.text().await.unwrap()
}

/// Reads `domain`'s inventory until it comes from the last good copy, checking that no read
/// is held past the read deadline; answers the stale response.
async fn until_stale(edge: &Edge, domain: &str) -> Response {
    wait::until(
        Duration::from_secs(5),
        "a stale inventory answer",
        || async {
            let (response, took) = timed(edge.get(domain, "/api/inventory")).await;
            assert!(took < READ_DEADLINE + SLACK, "a read was held {took:?}");
            assert_eq!(response.status(), StatusCode::OK, "reads never fail here");
            (header(&response, EDGE_CACHE) == "stale").then_some(response)
        },
    )
    .await
}

/// Checks a stale answer: marked, young, not to be cached, and exactly the last good body.
async fn assert_stale_copy_of(response: Response, last_good: &str) {
    let age: u64 = header(&response, "age").parse().expect("an Age in seconds");
    assert!(age <= 10, "age {age}");
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(response.text().await.unwrap(), last_good);
}

/// Checks a refusal because the origin cannot answer: 503, `Retry-After`, problem+json.
async fn assert_origin_refusal(response: Response) -> Problem {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(rate_limit_fields::retry_after(response.headers()).unwrap() >= 1);
    assert_eq!(
        response.headers()["content-type"],
        api::headers::PROBLEM_JSON
    );
    let problem: Problem = response.json().await.unwrap();
    assert!(
        problem.is(ProblemKind::OriginTimeout) || problem.is(ProblemKind::OriginUnavailable),
        "{problem:?}"
    );
    problem
}

/// Buys under fresh keys until one is refused at once (the edge has stopped calling the
/// origin), checking every answer on the way is a quick enough refusal.
async fn until_refused_at_once(w: &World, chair: Uuid) {
    wait::until(Duration::from_secs(10), "a buy refused at once", || async {
        let key = Uuid::new_v4().to_string();
        let (response, took) = timed(w.buy("bob", chair, &key)).await;
        assert!(took < WRITE_DEADLINE + SLACK, "a buy was held {took:?}");
        let problem = assert_origin_refusal(response).await;
        (took < WRITE_DEADLINE / 2 && problem.is(ProblemKind::OriginUnavailable)).then_some(())
    })
    .await;
}

/// Waits for the shop to answer fresh stock again, without a restart of anything.
async fn until_recovered(edge: &Edge, domain: &str) -> String {
    wait::until(Duration::from_secs(15), "fresh stock again", || async {
        let (response, _) = timed(edge.get(domain, "/api/inventory")).await;
        let fresh = response.status() == StatusCode::OK
            && matches!(header(&response, EDGE_CACHE).as_str(), "hit" | "miss");
        if fresh {
            Some(response.text().await.unwrap())
        } else {
            None
        }
    })
    .await
}

#[sqlx::test(migrations = "../migrations")]
async fn a_frozen_origin_gets_readers_the_last_good_stock_and_buyers_a_quick_503(db: PgPool) {
    let w = world(db, &[]).await;
    let chair = w.chair().await;
    let committed_key = Uuid::new_v4().to_string();
    let committed = w.buy("alice", chair, &committed_key).send().await.unwrap();
    assert_eq!(committed.status(), StatusCode::CREATED);
    let order: Value = committed.json().await.unwrap();
    let last_good = fresh_inventory(&w.edge, DOMAIN).await;

    w.link.freeze();
    assert_stale_copy_of(until_stale(&w.edge, DOMAIN).await, &last_good).await;
    // The purchase that committed before the freeze, retried: refused, not made again.
    let (retried, took) = timed(w.buy("alice", chair, &committed_key)).await;
    assert!(took < WRITE_DEADLINE + SLACK, "the retry was held {took:?}");
    assert_origin_refusal(retried).await;
    until_refused_at_once(&w, chair).await;
    // While the edge rests the origin, stock is answered from the copy without waiting.
    let (response, took) = timed(w.edge.get(DOMAIN, "/api/inventory")).await;
    assert!(took < READ_DEADLINE, "a read waited {took:?}");
    assert_eq!(header(&response, EDGE_CACHE), "stale");

    w.link.thaw();
    until_recovered(&w.edge, DOMAIN).await;
    let replayed = w.buy("alice", chair, &committed_key).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::CREATED);
    assert_eq!(header(&replayed, "idempotent-replayed"), "true");
    assert_eq!(replayed.json::<Value>().await.unwrap(), order);
    assert_eq!(w.orders_of("alice").await, 1);
    let new_key = Uuid::new_v4().to_string();
    let bought = w.buy("carol", chair, &new_key).send().await.unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED, "buying works again");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_killed_origin_gets_each_shop_its_own_last_good_stock_and_buyers_a_quick_503(db: PgPool) {
    let w = world(db, &[]).await;
    let chair = w.chair().await;
    let committed_key = Uuid::new_v4().to_string();
    let committed = w.buy("alice", chair, &committed_key).send().await.unwrap();
    assert_eq!(committed.status(), StatusCode::CREATED);
    let last_good = fresh_inventory(&w.edge, DOMAIN).await;
    let other_last_good = fresh_inventory(&w.edge, OTHER).await;
    assert!(last_good.contains("CHAIR") && other_last_good.contains("LAMP"));

    w.link.kill().await;
    assert_stale_copy_of(until_stale(&w.edge, DOMAIN).await, &last_good).await;
    assert_stale_copy_of(until_stale(&w.edge, OTHER).await, &other_last_good).await;
    let (retried, took) = timed(w.buy("alice", chair, &committed_key)).await;
    assert!(took < WRITE_DEADLINE + SLACK, "the retry was held {took:?}");
    assert_origin_refusal(retried).await;
    until_refused_at_once(&w, chair).await;

    w.link.revive().await;
    until_recovered(&w.edge, DOMAIN).await;
    until_recovered(&w.edge, OTHER).await;
    let replayed = w.buy("alice", chair, &committed_key).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::CREATED);
    assert_eq!(header(&replayed, "idempotent-replayed"), "true");
    assert_eq!(w.orders_of("alice").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_reader_who_asked_for_its_own_writes_gets_the_error_not_stale_stock(db: PgPool) {
    const SECRET: &str = "edge-secret-for-outages-0123456789abcdef";
    let w = world(db, &[("EDGE_SHARED_SECRET", SECRET)]).await;
    fresh_inventory(&w.edge, DOMAIN).await;
    w.link.kill().await;
    until_stale(&w.edge, DOMAIN).await;
    // The position an origin would have handed this writer (sealed under the shared key).
    let key = WritePositionKey::from_edge_secret(SECRET.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let sealed =
        WritePosition::issued("0/16B3748".parse().unwrap(), w.shop.org_id, "alice", now).seal(&key);
    let alice = w.keys.token(w.shop.org_id, Role::Shopper, "alice");
    let with_header = w
        .edge
        .get(DOMAIN, "/api/inventory")
        .bearer_auth(&alice)
        .header(api::headers::WRITE_LSN, &sealed);
    let with_cookie = w
        .edge
        .get(DOMAIN, "/api/inventory")
        .bearer_auth(&alice)
        .header(
            "cookie",
            format!("{}={sealed}", api::headers::WRITE_LSN_COOKIE),
        );
    for request in [with_header, with_cookie] {
        let (response, took) = timed(request).await;
        assert!(took < READ_DEADLINE + SLACK, "a read was held {took:?}");
        assert_ne!(header(&response, EDGE_CACHE), "stale");
        assert_origin_refusal(response).await;
    }
    // A position nobody sealed asks for nothing: that reader gets the stale copy like anyone.
    let forged = w
        .edge
        .get(DOMAIN, "/api/inventory")
        .header(api::headers::WRITE_LSN, "0/16B3748")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&forged, EDGE_CACHE), "stale");
}

#[sqlx::test(migrations = "../migrations")]
async fn stale_stock_is_never_served_past_its_maximum_age(db: PgPool) {
    let w = world(db, &[("INVENTORY_STALE_MAX_SECONDS", "2")]).await;
    // The copy is stored during the fresh read, so no earlier than this.
    let stored = Instant::now();
    fresh_inventory(&w.edge, DOMAIN).await;
    w.link.kill().await;
    until_stale(&w.edge, DOMAIN).await;
    let refused = wait::until(Duration::from_secs(10), "the copy too old", || async {
        let (response, took) = timed(w.edge.get(DOMAIN, "/api/inventory")).await;
        assert!(took < READ_DEADLINE + SLACK, "a read was held {took:?}");
        (response.status() != StatusCode::OK).then_some(response)
    })
    .await;
    assert!(
        stored.elapsed() >= Duration::from_secs(2),
        "{:?}",
        stored.elapsed()
    );
    assert_origin_refusal(refused).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_purchase_whose_answer_is_lost_in_a_freeze_is_replayed_on_retry(db: PgPool) {
    let w = world(db, &[]).await;
    let chair = w.chair().await;
    let key = Uuid::new_v4().to_string();
    // Hold the chair's row so the purchase waits inside the origin, then freeze the link while
    // it waits: the origin commits, but its answer never reaches the edge.
    let mut lock = w.db.begin().await.unwrap();
    sqlx::query("SELECT stock FROM inventory WHERE id = $1 FOR UPDATE")
        .bind(chair)
        .execute(&mut *lock)
        .await
        .unwrap();
    let purchase = tokio::spawn(timed(w.buy("alice", chair, &key)));
    wait::until(Duration::from_secs(5), "the purchase waiting", || async {
        let waiting = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&w.db)
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;
    w.link.freeze();
    lock.commit().await.unwrap();
    let (lost, took) = purchase.await.unwrap();
    assert!(
        took < WRITE_DEADLINE + SLACK,
        "the purchase was held {took:?}"
    );
    let problem = assert_origin_refusal(lost).await;
    assert!(problem.is(ProblemKind::OriginTimeout), "{problem:?}");
    wait::until(Duration::from_secs(5), "the purchase committed", || async {
        (w.orders_of("alice").await == 1).then_some(())
    })
    .await;

    w.link.thaw();
    let replayed = wait::until(Duration::from_secs(10), "the replay", || async {
        let response = w.buy("alice", chair, &key).send().await.unwrap();
        (response.status() == StatusCode::CREATED).then_some(response)
    })
    .await;
    assert_eq!(header(&replayed, "idempotent-replayed"), "true");
    assert_eq!(w.orders_of("alice").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn readers_arriving_while_a_fetch_hangs_get_the_last_good_copy_at_once(db: PgPool) {
    // A long read deadline, so waiting for it and not waiting are far apart.
    let deadlines = json!({"read": 4_000, "write": WRITE_DEADLINE.as_millis()});
    let w = world(db, &[("ORIGIN_DEADLINES_MS", &deadlines.to_string())]).await;
    let last_good = fresh_inventory(&w.edge, DOMAIN).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await; // the fresh entry lapses
    w.link.freeze();
    let first = tokio::spawn(timed(w.edge.get(DOMAIN, "/api/inventory")));
    // Past a quarter of the deadline, the first reader's fetch is still hanging.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (later, took) = timed(w.edge.get(DOMAIN, "/api/inventory")).await;
    assert!(
        took < Duration::from_millis(1_000),
        "a later reader waited {took:?} for a fetch that had already hung for 1.5 s"
    );
    assert_eq!(header(&later, EDGE_CACHE), "stale");
    assert_stale_copy_of(later, &last_good).await;
    let (first, first_took) = first.await.unwrap();
    assert!(
        first_took < Duration::from_millis(4_000) + SLACK,
        "{first_took:?}"
    );
    assert_stale_copy_of(first, &last_good).await;
}

/// A load balancer in front of the origin that cannot reach any origin answers 502 (or 504 when
/// one timed out): the Worker passes neither on, but answers as if it had reached no origin
/// itself, 503 with `Retry-After`, so buyers retry the same key, which is never sold twice.
#[sqlx::test(migrations = "../migrations")]
async fn a_gateway_error_in_front_of_the_origin_is_a_503_with_retry_after(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 5)]).await;
    let chair = shop.item(&db, "CHAIR").await.id;
    for (gateway, kind) in [
        (StatusCode::BAD_GATEWAY, ProblemKind::OriginUnavailable),
        (StatusCode::GATEWAY_TIMEOUT, ProblemKind::OriginTimeout),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let balancer = axum::Router::new().fallback(move || async move { gateway });
        let served = tokio::spawn(async move { axum::serve(listener, balancer).await });
        let edge = Edge::start(&url, std::slice::from_ref(&shop), &keys).await;
        let token = keys.token(shop.org_id, Role::Shopper, "alice");
        let response = edge.buy(DOMAIN, &token, chair, 1).send().await.unwrap();
        let problem = assert_origin_refusal(response).await;
        assert!(problem.is(kind), "{gateway}: {problem:?}");
        served.abort();
    }
    assert_eq!(shop.order_totals(&db).await, (0, 0));
}
