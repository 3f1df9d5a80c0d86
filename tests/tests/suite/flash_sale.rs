//! The hardest case: many shoppers, one chair, one second. Group commit, the async queue, live
//! events. (What happens when things fall over mid-sale: `flash_sale_faults.rs`.)

use std::time::{Duration, Instant};

use api::{purchase::Order, token::Role};
use e2e::{sse::SseReader, Edge, OriginServer, Shop, Stage, TestKeys};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "flash.shop.test";

async fn sale(db: &PgPool, stock: i32) -> Stage {
    Stage::open(db, DOMAIN, &[("CHAIR", stock)]).await
}

#[sqlx::test(migrations = "../migrations")]
async fn five_hundred_buyers_two_hundred_chairs(db: PgPool) {
    let s = sale(&db, 200).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let answers = futures::future::join_all((0..500).map(|n| {
        let request = s.buy(&format!("buyer-{n}"), chair.id, 1);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    }))
    .await;

    let confirmed: Vec<Uuid> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .map(|(_, body)| {
            serde_json::from_value::<Order>(body.clone())
                .unwrap()
                .order_id
        })
        .collect();
    let sold_out = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (confirmed.len(), sold_out),
        (200, 300),
        "nothing but 201 and 409"
    );
    let mut committed = s.shop.order_ids(&db).await;
    let mut promised = confirmed.clone();
    committed.sort();
    promised.sort();
    assert_eq!(
        committed, promised,
        "every 201 has its order row, and nothing else was written"
    );
    assert_eq!(s.shop.item(&db, "CHAIR").await.stock, 0);
    for (status, body) in &answers {
        if *status == StatusCode::CONFLICT {
            assert_eq!(
                body["type"],
                "https://furnitureops.dev/problems/out-of-stock"
            );
            assert!(body.get("order_id").is_none());
        }
    }

    // The buyers went in groups: this sale's orders were written by fewer transactions than
    // there are orders. An order's `created_at` is its transaction's start (`now()`), so the
    // distinct values count this test's batches, whatever other tests run in this process.
    let batches: i64 = sqlx::query_scalar!(
        r#"SELECT count(DISTINCT created_at) AS "batches!" FROM orders WHERE organization_id = $1"#,
        s.shop.org_id
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(
        batches <= 100,
        "at least two orders a batch on average: {batches} batches for 200 orders"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn first_come_first_served_inside_a_batch(db: PgPool) {
    let s = sale(&db, 3).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    // A 5-unit order cannot be filled from 3, but the 1-unit orders behind it still can.
    let big = s.buy("big", chair.id, 5).send().await.unwrap();
    assert_eq!(big.status(), StatusCode::CONFLICT);
    let small =
        futures::future::join_all((0..4).map(|n| s.buy(&format!("small-{n}"), chair.id, 1).send()))
            .await;
    let statuses: Vec<StatusCode> = small.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        3
    );
    assert_eq!(s.shop.order_totals(&db).await, (3, 3));
}

async fn poll_purchase(s: &Stage, token: &str, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: Value = s
            .edge
            .get(DOMAIN, location)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] != "pending" || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn async_buys_are_accepted_then_confirmed_or_rejected(db: PgPool) {
    let s = sale(&db, 3).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let mut locations = Vec::new();
    for n in 0..5 {
        let token = s
            .keys
            .token(s.shop.org_id, Role::Shopper, &format!("async-{n}"));
        let accepted = s
            .edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(&token)
            .header("idempotency-key", format!("async-key-{n}"))
            .header("prefer", "respond-async")
            .json(&json!({"item_id": chair.id, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        let location = accepted.headers()["location"].to_str().unwrap().to_owned();
        let body: Value = accepted.json().await.unwrap();
        assert_eq!(body["status"], "pending");
        assert_eq!(
            location,
            format!("/api/purchases/{}", body["purchase_id"].as_str().unwrap())
        );
        locations.push((token, location));
    }
    let mut outcomes = Vec::new();
    for (token, location) in &locations {
        outcomes.push(poll_purchase(&s, token, location).await);
    }
    let confirmed: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["status"] == "confirmed")
        .collect();
    let rejected = outcomes
        .iter()
        .filter(|o| o["status"] == "rejected")
        .count();
    assert_eq!((confirmed.len(), rejected), (3, 2), "{outcomes:?}");
    let mut committed = s.shop.order_ids(&db).await;
    let mut promised: Vec<Uuid> = confirmed
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().parse().unwrap())
        .collect();
    committed.sort();
    promised.sort();
    assert_eq!(committed, promised);

    // Somebody else's purchase is not yours to look at.
    let stranger = s.token(Role::Shopper, "stranger");
    let peek = s
        .edge
        .get(DOMAIN, &locations[0].1)
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(peek.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn live_events_reach_the_buyer_and_stay_in_their_shop(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 2)]).await;
    let other = Shop::create(&db, "other.shop.test", &[("CHAIR", 9)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start(&origin.url, &[shop.clone(), other.clone()], &keys).await;
    let s = Stage {
        keys,
        shop,
        origin,
        edge,
    };
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "watcher");
    let watch =
        |domain: &str, token: String| s.edge.get(domain, "/api/events").bearer_auth(token).send();
    let mut mine = SseReader::new(watch(DOMAIN, token.clone()).await.unwrap());
    assert!(mine
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    let other_token = s.keys.token(other.org_id, Role::Shopper, "neighbour");
    let mut theirs = SseReader::new(watch("other.shop.test", other_token).await.unwrap());
    assert!(theirs
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());

    assert_eq!(
        s.buy("someone", chair.id, 1).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let stock = mine
        .wait_for("stock", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (
            stock["item_id"].as_str().unwrap(),
            stock["stock"].as_i64().unwrap()
        ),
        (chair.id.to_string().as_str(), 1)
    );

    let accepted = s
        .edge
        .post(DOMAIN, "/api/buy")
        .bearer_auth(&token)
        .header("idempotency-key", "watch-async")
        .header("prefer", "respond-async")
        .json(&json!({"item_id": chair.id, "quantity": 1}))
        .send()
        .await
        .unwrap();
    let purchase_id = accepted.json::<Value>().await.unwrap()["purchase_id"].clone();
    let purchase = mine
        .wait_for("purchase", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(purchase["purchase_id"], purchase_id);
    assert_eq!(purchase["status"], "confirmed");

    assert!(
        theirs
            .wait_for("stock", Duration::from_millis(500))
            .await
            .is_none(),
        "no events of another shop"
    );
}
