//! One shop cannot stall the purchase queue (`Prefer: respond-async`) for the others: buys the
//! queue could never fill are refused before they are stored, a shop's backlog is capped,
//! claims share each batch between the shops that wait, and a paused shop's backlog is not read
//! by claims however long it is.

use api::token::Role;
use e2e::{origin_server::app_pool, Shop, TwoShops};
use origin::{purchase::queue::drain_once, Settings};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const A: &str = "a.queue.test";
const B: &str = "b.queue.test";

/// An async buy of `item_id` on `shop` as shopper `sub`, under idempotency `key`.
fn async_buy(s: &TwoShops, shop: &Shop, sub: &str, key: &str, item_id: Uuid) -> RequestBuilder {
    s.edge
        .post(&shop.domain, "/api/buy")
        .bearer_auth(s.keys.token(shop.org_id, Role::Shopper, sub))
        .header("idempotency-key", key)
        .header("prefer", "respond-async")
        .json(&json!({"item_id": item_id, "quantity": 1}))
}

/// Queue rows and stored idempotency keys of `shop`.
async fn written(db: &PgPool, shop: &Shop) -> (i64, i64) {
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM purchase_queue WHERE organization_id = $1")
            .bind(shop.org_id)
            .fetch_one(db)
            .await
            .unwrap();
    // A queued buy's key lives on its queue row; any other record would be a stray.
    let keys: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM purchase_queue
                 WHERE organization_id = $1 AND idempotency_key IS NOT NULL)
              + (SELECT count(*) FROM idempotency_keys WHERE organization_id = $1)",
    )
    .bind(shop.org_id)
    .fetch_one(db)
    .await
    .unwrap();
    (queued, keys)
}

async fn problem(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn async_buys_of_unknown_items_are_refused_before_they_are_queued(db: PgPool) {
    let s = TwoShops::open(&db, [A, B], &[("CHAIR", 10)], |config, _, _| config).await;
    let chair = s.a.item(&db, "CHAIR").await;
    let other_shops_chair = s.b.item(&db, "CHAIR").await;

    for (key, item) in [
        ("made-up", Uuid::new_v4()),
        ("other-shop", other_shops_chair.id),
    ] {
        let refused = async_buy(&s, &s.a, "ann", key, item).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{key}");
        assert_eq!(problem(refused).await["status"], 404);
    }
    assert_eq!(written(&db, &s.a).await, (0, 0), "a refusal writes nothing");

    // The refused key was not spent: the same key, now for a real chair, is accepted.
    let accepted = async_buy(&s, &s.a, "ann", "made-up", chair.id)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(written(&db, &s.a).await, (1, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shop_at_its_queue_cap_is_refused_while_other_shops_are_not(db: PgPool) {
    // No workers: what is queued stays queued until the test drains it.
    let settings = Settings {
        queue_pending_cap: 5,
        queue_workers: 0,
        ..Settings::default()
    };
    let s = TwoShops::open_with(&db, [A, B], &[("CHAIR", 100)], settings, |c, _, _| c).await;
    let chair_a = s.a.item(&db, "CHAIR").await;
    let chair_b = s.b.item(&db, "CHAIR").await;

    let mut statuses = Vec::new();
    for n in 0..8 {
        let key = format!("a-{n}");
        let answer = async_buy(&s, &s.a, &format!("bot-{n}"), &key, chair_a.id)
            .send()
            .await
            .unwrap();
        statuses.push(answer.status());
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
            let body = problem(answer).await;
            assert!(
                body["detail"].as_str().unwrap().contains("5 buys waiting"),
                "{body}"
            );
        }
    }
    let accepted = statuses
        .iter()
        .filter(|&&s| s == StatusCode::ACCEPTED)
        .count();
    let refused = statuses
        .iter()
        .filter(|&&s| s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((accepted, refused), (5, 3), "{statuses:?}");
    assert_eq!(written(&db, &s.a).await, (5, 5), "refusals write nothing");

    // The cap is the shop's own: the other shop's buyers still get in.
    for n in 0..5 {
        let answer = async_buy(&s, &s.b, "bea", &format!("b-{n}"), chair_b.id)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }

    // Once workers decide the backlog, the shop takes buys again.
    let app = app_pool(&db).await;
    while drain_once(&app, 50).await.unwrap() > 0 {}
    let again = async_buy(&s, &s.a, "bot-7", "a-7", chair_a.id)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
}

/// Queues `count` pending buys of `shop`'s chair straight into the table, as the schema owner,
/// keeping the shop's backlog count as enqueueing does.
async fn queue_pending(db: &PgPool, shop: &Shop, count: i32) {
    let chair = shop.item(db, "CHAIR").await;
    sqlx::query(
        "INSERT INTO purchase_queue (organization_id, id, customer_sub, item_id, quantity, request_id)
         SELECT $1, gen_random_uuid(), 'buyer-' || n, $2, 1, 'req-' || n
         FROM generate_series(1, $3) AS n",
    )
    .bind(shop.org_id)
    .bind(chair.id)
    .bind(count)
    .execute(db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO purchase_queue_backlog (organization_id, pending) VALUES ($1, $2)
         ON CONFLICT (organization_id) DO UPDATE SET pending = purchase_queue_backlog.pending + $2",
    )
    .bind(shop.org_id)
    .bind(count)
    .execute(db)
    .await
    .unwrap();
}

async fn still_pending(db: &PgPool, shop: &Shop) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM purchase_queue WHERE organization_id = $1 AND status = 'pending'",
    )
    .bind(shop.org_id)
    .fetch_one(db)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn one_claim_serves_every_waiting_shop(db: PgPool) {
    let big = Shop::create(&db, A, &[("CHAIR", 1_000_000)]).await;
    let small = Shop::create(&db, B, &[("CHAIR", 100)]).await;
    // The big shop's backlog is older than the small shop's buys.
    queue_pending(&db, &big, 2_000).await;
    queue_pending(&db, &small, 10).await;

    let decided = drain_once(&app_pool(&db).await, 50).await.unwrap();
    assert_eq!(decided, 50);
    assert_eq!(still_pending(&db, &small).await, 0, "no wait behind 2,000");
    assert_eq!(still_pending(&db, &big).await, 2_000 - 40);
}

/// Rows of `purchase_queue` read by sequential and index scans so far, as the statistics
/// collector counts them (flushed by this connection first).
async fn rows_read(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
         FROM pg_stat_user_tables WHERE relname = 'purchase_queue'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn claims_do_not_read_a_paused_shops_backlog(db: PgPool) {
    let paused = Shop::create(&db, A, &[("CHAIR", 1_000_000)]).await;
    let open = Shop::create(&db, B, &[("CHAIR", 100)]).await;
    queue_pending(&db, &paused, 20_000).await;
    queue_pending(&db, &open, 10).await;
    sqlx::query("INSERT INTO kill_switches (organization_id, engaged, reason) VALUES ($1, true, 'stock count')")
        .bind(paused.org_id)
        .execute(&db)
        .await
        .unwrap();

    let mut conn = db.acquire().await.unwrap();
    let before = rows_read(&mut conn).await;
    let claimed: Vec<Uuid> = sqlx::query_scalar("SELECT organization_id FROM claim_purchases(50)")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let read = rows_read(&mut conn).await - before;
    assert_eq!(claimed, vec![open.org_id; 10]);
    assert!(read < 100, "a claim read {read} rows of the queue");

    // Workers decide the open shop's buys and leave the paused shop's waiting.
    let app = app_pool(&db).await;
    while drain_once(&app, 50).await.unwrap() > 0 {}
    assert_eq!(still_pending(&db, &open).await, 0);
    assert_eq!(still_pending(&db, &paused).await, 20_000);
}
