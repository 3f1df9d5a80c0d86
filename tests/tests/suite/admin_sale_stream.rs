//! The admins' live sale stream (`GET /api/admin/events`) through the real Worker: one
//! aggregate a second whose units sold add up to the orders made, whose refusals by reason add
//! up to the answers buyers got (sold out from the origin, rate limited and paused from the
//! edge), for the shop's admins only; a stream like any other under the caps and the token's
//! expiry; and the same whole-shop view from an origin that took none of the purchases.

use e2e::edge_hop::SendAsEdge;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use api::{
    live_sale::{Refusals, SaleSecond},
    token::{KeyAlgorithm, Lifetime, Role},
};
use e2e::{
    origin_server::app_pool, sse::SseReader, tokens::claims, Edge, EdgeConfig, OriginServer, Shop,
    TestKeys,
};
use origin::{events::hub::StreamCaps, AppState, Settings};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const SHOP: &str = "live.shop.test";
const OTHER: &str = "quiet.shop.test";
const SECRET: &str = "edge-secret-for-the-live-view-0123456789";
/// Writes one buyer may make a minute in the first shop: the greedy buyer goes past it.
const WRITE_QUOTA: u32 = 6;

struct World {
    keys: TestKeys,
    shop: Shop,
    other: Shop,
    origin: OriginServer,
    edge: Edge,
}

/// Two shops behind an origin and a Worker that share the edge secret, as in production; the
/// first shop's buyers may each make `WRITE_QUOTA` writes a minute.
async fn world(db: &PgPool, settings: Settings) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(db, SHOP, &[("CHAIR", 30), ("LAMP", 50)]).await;
    let other = Shop::create(db, OTHER, &[("CHAIR", 30)]).await;
    let state = AppState::with_settings(app_pool(db).await, keys.verifier(), settings)
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
    let origin = OriginServer::start_with(state).await;
    let limits = json!({
        "write": {"limit": WRITE_QUOTA, "window_seconds": 60},
        "cooldown": {"after_refusals": 1000, "seconds": 1}
    });
    let config = EdgeConfig::new(&origin.url, &[shop.clone(), other.clone()], &keys)
        .var("EDGE_SHARED_SECRET", SECRET)
        .shop_rate_limits(shop.org_id, limits);
    let edge = Edge::start_with(config).await;
    World {
        keys,
        shop,
        other,
        origin,
        edge,
    }
}

async fn open_admin_stream(edge: &Edge, domain: &str, token: &str) -> reqwest::Response {
    edge.get(domain, "/api/admin/events")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// What a stream showed, added up over its seconds.
#[derive(Debug, Default)]
struct Totals {
    seconds: usize,
    sold: HashMap<Uuid, u64>,
    stock: HashMap<Uuid, i32>,
    refused: Refusals,
}

impl Totals {
    fn add(&mut self, second: &SaleSecond) {
        self.seconds += 1;
        for item in &second.items {
            *self.sold.entry(item.item_id).or_default() += item.sold;
            self.stock.insert(item.item_id, item.stock);
        }
        self.refused.add(second.refused);
    }
}

/// Reads `stream`'s seconds until `done` holds of their totals, or `within` passes.
async fn watch_until(
    stream: &mut SseReader,
    totals: &mut Totals,
    within: Duration,
    done: impl Fn(&Totals) -> bool,
) {
    let deadline = Instant::now() + within;
    while !done(totals) && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(data) = stream.wait_for("second", left).await else {
            break;
        };
        totals.add(&serde_json::from_value(data).unwrap());
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn buys_the_edge_refuses_as_sold_out_are_counted_as_sold_out(db: PgPool) {
    let w = world(&db, Settings::default()).await;
    let lamp = w.shop.item(&db, "LAMP").await.id;
    let admin = w.keys.token(w.shop.org_id, Role::Admin, "owner");
    let mut stream = SseReader::new(open_admin_stream(&w.edge, SHOP, &admin).await);
    assert!(stream
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    let lamps = w.keys.token(w.shop.org_id, Role::Shopper, "collector");
    let bought = w.edge.buy(SHOP, &lamps, lamp, 50).send().await.unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    // The first late buyer is told by the origin, the others by the edge.
    let mut from_edge = 0;
    for n in 0..5 {
        let late = w
            .keys
            .token(w.shop.org_id, Role::Shopper, &format!("late-{n}"));
        let refused = w.edge.buy(SHOP, &late, lamp, 1).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        if refused.headers().contains_key(api::headers::EDGE_REFUSAL) {
            from_edge += 1;
        }
    }
    assert!(from_edge >= 3, "{from_edge} of 5 refused at the edge");

    let mut totals = Totals::default();
    watch_until(&mut stream, &mut totals, Duration::from_secs(20), |t| {
        t.refused.sold_out == 5
    })
    .await;
    assert_eq!(totals.refused.sold_out, 5, "{totals:?}");
    assert_eq!(totals.sold.get(&lamp), Some(&50), "{totals:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_admin_stream_adds_up_to_what_buyers_were_answered(db: PgPool) {
    let w = world(&db, Settings::default()).await;
    let chair = w.shop.item(&db, "CHAIR").await.id;
    let admin = w.keys.token(w.shop.org_id, Role::Admin, "owner");
    let mut stream = SseReader::new(open_admin_stream(&w.edge, SHOP, &admin).await);
    let ready = stream
        .wait_for("ready", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ready["edge_counted"], true, "{ready}");
    let other_admin = w.keys.token(w.other.org_id, Role::Admin, "other-owner");
    let mut other_stream = SseReader::new(open_admin_stream(&w.edge, OTHER, &other_admin).await);
    assert!(other_stream
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());

    // Four greedy buyers, each one buy past its quota while chairs are left (24 sold, four
    // refusals of four clients), then ten buyers at once for the 6 left (four told the chairs
    // are gone, by the origin or by the edge), then buys while sales are paused: every answer
    // is counted by its status. The edge counts a client once a second, so every refusal here
    // comes from a client of its own, except the paused shopper who tries three times.
    let mut answers: HashMap<u16, u64> = HashMap::new();
    for greedy in 0..4 {
        let greedy = w
            .keys
            .token(w.shop.org_id, Role::Shopper, &format!("greedy{greedy}"));
        for _ in 0..WRITE_QUOTA + 1 {
            let status = w
                .edge
                .buy(SHOP, &greedy, chair, 1)
                .send()
                .await
                .unwrap()
                .status();
            *answers.entry(status.as_u16()).or_default() += 1;
        }
    }
    let mut buys = Vec::new();
    for buyer in 0..10 {
        let token = w
            .keys
            .token(w.shop.org_id, Role::Shopper, &format!("b{buyer}"));
        buys.push(w.edge.buy(SHOP, &token, chair, 1).send());
    }
    for answer in futures::future::join_all(buys).await {
        *answers
            .entry(answer.unwrap().status().as_u16())
            .or_default() += 1;
    }
    let pause = w
        .edge
        .request(reqwest::Method::PUT, SHOP, "/api/admin/kill-switch")
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({"engaged": true, "reason": "counting"}))
        .send()
        .await
        .unwrap();
    assert_eq!(pause.status(), StatusCode::OK);
    // Three late shoppers, the first one trying three times: a client counts once a second
    // however often it is refused, so the view shows three shoppers turned away, not five.
    for (late, tries) in [("late0", 3), ("late1", 1), ("late2", 1)] {
        let late = w.keys.token(w.shop.org_id, Role::Shopper, late);
        for _ in 0..tries {
            let status = w
                .edge
                .buy(SHOP, &late, chair, 1)
                .send()
                .await
                .unwrap()
                .status();
            *answers.entry(status.as_u16()).or_default() += 1;
        }
    }
    assert_eq!(answers.get(&201), Some(&30), "{answers:?}");
    assert_eq!(answers.get(&429), Some(&4), "{answers:?}");
    assert_eq!(answers.get(&503), Some(&5), "{answers:?}");
    let sold_out = answers[&409];
    assert_eq!(sold_out, 4, "{answers:?}");

    let mut totals = Totals::default();
    let expected = Refusals {
        sold_out,
        rate_limited: 4,
        paused: 3,
        busy: 0,
    };
    watch_until(&mut stream, &mut totals, Duration::from_secs(20), |t| {
        t.sold.get(&chair) == Some(&30) && t.refused == expected
    })
    .await;
    assert_eq!(totals.sold.get(&chair), Some(&30), "{totals:?}");
    assert_eq!(totals.stock.get(&chair), Some(&0), "{totals:?}");
    assert_eq!(totals.refused, expected, "{totals:?}");
    assert_eq!(totals.sold.len(), 1, "only the chair sold: {totals:?}");
    assert_eq!(w.shop.item(&db, "CHAIR").await.stock, 0);

    // The other shop's admin saw seconds go by, and none of this.
    let mut quiet = Totals::default();
    watch_until(&mut other_stream, &mut quiet, Duration::from_secs(5), |t| {
        t.seconds >= 3
    })
    .await;
    assert!(quiet.seconds >= 3, "quiet seconds still tick: {quiet:?}");
    assert!(quiet.sold.is_empty(), "{quiet:?}");
    assert_eq!(quiet.refused, Refusals::default(), "{quiet:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_restock_shows_as_stock_not_as_sales(db: PgPool) {
    let w = world(&db, Settings::default()).await;
    let lamp = w.shop.item(&db, "LAMP").await.id;
    let admin = w.keys.token(w.shop.org_id, Role::Admin, "owner");
    let mut stream = SseReader::new(open_admin_stream(&w.edge, SHOP, &admin).await);
    assert!(stream
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    let restock = w
        .edge
        .request(
            reqwest::Method::PATCH,
            SHOP,
            &format!("/api/admin/items/{lamp}"),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({"stock_delta": 25}))
        .send()
        .await
        .unwrap();
    assert_eq!(restock.status(), StatusCode::OK);
    let mut totals = Totals::default();
    watch_until(&mut stream, &mut totals, Duration::from_secs(10), |t| {
        t.stock.contains_key(&lamp)
    })
    .await;
    assert_eq!(totals.stock.get(&lamp), Some(&75), "{totals:?}");
    assert_eq!(totals.sold.get(&lamp), Some(&0), "{totals:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_shops_admins_get_its_stream(db: PgPool) {
    let w = world(&db, Settings::default()).await;
    let shopper = w.keys.token(w.shop.org_id, Role::Shopper, "curious");
    let foreign_admin = w.keys.token(w.other.org_id, Role::Admin, "other-owner");
    for (token, status) in [
        (Some(shopper.as_str()), StatusCode::FORBIDDEN),
        (Some(foreign_admin.as_str()), StatusCode::FORBIDDEN),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        let mut request = w.edge.get(SHOP, "/api/admin/events");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let body = response.text().await.unwrap();
        assert!(!body.contains("event:"), "a refusal, not a stream: {body}");
    }
    // The origin checks again: a shopper who reaches it with the edge's proof is refused too.
    let direct = reqwest::Client::new()
        .get(format!(
            "{}/api/tenant/{}/admin/events",
            w.origin.url, w.shop.org_id
        ))
        .bearer_auth(&shopper)
        .send_as_edge(SECRET)
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrations = "../migrations")]
async fn nobody_but_the_edge_reports_refusals(db: PgPool) {
    let w = world(&db, Settings::default()).await;
    let report = json!({"rate_limited": 1000, "paused": 1000});
    // Through the Worker: no such route, so it is never forwarded with the edge's secret.
    let admin = w.keys.token(w.shop.org_id, Role::Admin, "owner");
    let through_edge = w
        .edge
        .post(SHOP, "/api/edge/refusals")
        .bearer_auth(&admin)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(through_edge.status(), StatusCode::NOT_FOUND);
    // Straight to the origin without the secret: refused.
    let url = format!(
        "{}/api/tenant/{}/edge/refusals",
        w.origin.url, w.shop.org_id
    );
    let direct = reqwest::Client::new()
        .post(&url)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);

    // An origin that shares no secret with its edge takes no report at all.
    let keys = TestKeys::new();
    let open = OriginServer::start(&db, &keys).await;
    let url = format!("{}/api/tenant/{}/edge/refusals", open.url, w.shop.org_id);
    let unguarded = reqwest::Client::new()
        .post(&url)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(unguarded.status(), StatusCode::FORBIDDEN);

    // And the admin's view shows none of it.
    let mut stream = SseReader::new(open_admin_stream(&w.edge, SHOP, &admin).await);
    let mut totals = Totals::default();
    watch_until(&mut stream, &mut totals, Duration::from_secs(5), |t| {
        t.seconds >= 3
    })
    .await;
    assert!(totals.seconds >= 3, "{totals:?}");
    assert_eq!(totals.refused, Refusals::default(), "{totals:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn admin_streams_count_against_the_caps_and_end_with_their_token(db: PgPool) {
    let settings = Settings {
        stream_caps: StreamCaps {
            per_user: 2,
            per_shop: 100,
        },
        ..Settings::default()
    };
    let w = world(&db, settings).await;
    let admin = w.keys.token(w.shop.org_id, Role::Admin, "owner");
    let mut live = SseReader::new(open_admin_stream(&w.edge, SHOP, &admin).await);
    assert!(live
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    // The admin's shop event stream takes the second place; a third stream of either kind is
    // refused.
    let events = w
        .edge
        .get(SHOP, "/api/events")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let mut events = SseReader::new(events);
    assert!(events
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    let third = open_admin_stream(&w.edge, SHOP, &admin).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));

    let now = chrono::Utc::now();
    let brief = w.keys.token_with(
        KeyAlgorithm::Hs256,
        claims(w.shop.org_id, Role::Admin, "brief-owner"),
        Lifetime {
            issued_at: now,
            not_before: None,
            expires_at: now + chrono::Duration::seconds(3),
        },
    );
    let opened = Instant::now();
    let mut short = SseReader::new(open_admin_stream(&w.edge, SHOP, &brief).await);
    assert!(short
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    // Seconds arrive until the token expires; then the stream ends by itself.
    while short.next_event(Duration::from_secs(12)).await.is_some() {
        assert!(opened.elapsed() < Duration::from_secs(12), "still open");
    }
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_secs(2) && lived < Duration::from_secs(12),
        "the stream lived {lived:?} on a token valid for 3 s"
    );
}

/// Two origins on one database, as behind a load balancer: a console attached to one sees the
/// purchases and refusals the other one took.
#[sqlx::test(migrations = "../migrations")]
async fn an_origin_that_took_no_purchase_shows_the_whole_shop(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 20)]).await;
    let chair = shop.item(&db, "CHAIR").await.id;
    let watched = OriginServer::start(&db, &keys).await;
    let selling = OriginServer::start(&db, &keys).await;
    let admin = keys.token(shop.org_id, Role::Admin, "owner");
    let http = reqwest::Client::new();
    let response = http
        .get(format!(
            "{}/api/tenant/{}/admin/events",
            watched.url, shop.org_id
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(response);
    assert!(stream
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    let buyer = keys.token(shop.org_id, Role::Shopper, "buyer");
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let answer = http
            .post(format!("{}/api/tenant/{}/buy", selling.url, shop.org_id))
            .bearer_auth(&buyer)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&json!({"item_id": chair, "quantity": 1}))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 20);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 5);
    let mut totals = Totals::default();
    watch_until(&mut stream, &mut totals, Duration::from_secs(15), |t| {
        t.sold.get(&chair) == Some(&20) && t.refused.sold_out == 5
    })
    .await;
    assert_eq!(totals.sold.get(&chair), Some(&20), "{totals:?}");
    assert_eq!(totals.stock.get(&chair), Some(&0), "{totals:?}");
    assert_eq!(totals.refused.sold_out, 5, "{totals:?}");
}
