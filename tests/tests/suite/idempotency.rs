//! Idempotency keys: retries never buy twice, and every retry gets the same answer.

use api::{purchase::Order, token::Role, Problem, ProblemKind};
use e2e::{EdgeConfig, Shop, Stage};
use origin::{
    idempotency::{self, IdempotencyKey, KeyUse},
    purchase::{apply_batch, BuyOrder, Lane},
    Settings,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub(super) const DOMAIN: &str = "retry.shop.test";

/// One impatient shopper retrying 200 times at once is over any sane write quota; these tests
/// are about what the origin does with the retries, so the shop's writes are unlimited.
pub(super) async fn setup(db: &PgPool, stock: i32) -> Stage {
    let unlimited_writes = |config: EdgeConfig, shop: &Shop| {
        config.shop_rate_limits(shop.org_id, json!({"write": "unlimited"}))
    };
    Stage::open_with_edge(
        db,
        DOMAIN,
        &[("CHAIR", stock)],
        Settings::default(),
        unlimited_writes,
    )
    .await
}

/// Buys with an explicit key; answers (status, Idempotent-Replayed, body bytes).
pub(super) async fn buy(
    s: &Stage,
    token: &str,
    key: &str,
    body: &serde_json::Value,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let response = s
        .edge
        .post(DOMAIN, "/api/buy")
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// (status, Idempotent-Replayed, body bytes) of a keyed write's answer.
async fn answer(response: reqwest::Response) -> (StatusCode, Option<String>, Vec<u8>) {
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, response.bytes().await.unwrap().to_vec())
}

/// Keys `shop` has stored anywhere: on orders, on queued buys and beside other writes.
pub(super) async fn stored_keys(db: &PgPool, shop: &Shop) -> i64 {
    sqlx::query_scalar!(
        r#"SELECT (SELECT count(*) FROM orders
                   WHERE organization_id = $1 AND idempotency_key IS NOT NULL)
                + (SELECT count(*) FROM purchase_queue
                   WHERE organization_id = $1 AND idempotency_key IS NOT NULL)
                + (SELECT count(*) FROM idempotency_keys WHERE organization_id = $1) AS "n!""#,
        shop.org_id
    )
    .fetch_one(db)
    .await
    .unwrap()
}

/// Restocks the chair by `delta` as the shop's admin, with an explicit key; answers (status,
/// Idempotent-Replayed, body bytes).
pub(super) async fn restock(
    s: &Stage,
    item_id: Uuid,
    key: &str,
    delta: i32,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let response = s
        .edge
        .request(
            Method::PATCH,
            DOMAIN,
            &format!("/api/admin/items/{item_id}"),
        )
        .bearer_auth(s.token(Role::Admin, "boss"))
        .header("idempotency-key", key)
        .json(&json!({"stock_delta": delta}))
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// 200 copies of one purchase at once: one buys, and every copy is answered with that sale,
/// byte for byte, or (a copy that met the first still running in an overlapping batch) told
/// `409` key-in-flight with `Retry-After`, as the contract says; sent again then, it gets the
/// sale too. Nothing is bought twice.
#[sqlx::test(migrations = "../migrations")]
async fn two_hundred_concurrent_retries_buy_once_and_all_get_the_same_answer(db: PgPool) {
    let s = setup(&db, 50).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "impatient");
    let body = json!({"item_id": chair.id, "quantity": 2});
    let copies =
        || futures::future::join_all((0..200).map(|_| buy(&s, &token, "checkout-7", &body)));
    let answers = copies().await;

    let sales: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::CREATED)
        .collect();
    let (_, _, sale) = sales.first().expect("one copy bought");
    let mut running = 0;
    for (status, _, bytes) in &answers {
        if *status == StatusCode::CREATED {
            assert_eq!(bytes, sale, "every answer is byte-identical");
        } else {
            assert_eq!(*status, StatusCode::CONFLICT);
            let problem: Problem = serde_json::from_slice(bytes).unwrap();
            assert!(problem.is(ProblemKind::KeyInFlight), "{problem:?}");
            running += 1;
        }
    }
    let replays = answers
        .iter()
        .filter(|(_, r, _)| r.as_deref() == Some("true"))
        .count();
    assert_eq!(
        replays,
        sales.len() - 1,
        "all sales but the first are replays"
    );
    if running > 0 {
        // Told to come back: every copy then gets the sale.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        for (status, replayed, bytes) in copies().await {
            assert_eq!(status, StatusCode::CREATED);
            assert_eq!(replayed.as_deref(), Some("true"));
            assert_eq!(&bytes, sale);
        }
    }
    assert_eq!(s.shop.order_totals(&db).await, (1, 2));
    assert_eq!(s.shop.item(&db, "CHAIR").await.stock, 48);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_key_reused_with_another_body_is_a_422_and_buys_nothing(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "alice");
    let (first, _, _) = buy(
        &s,
        &token,
        "k1",
        &json!({"item_id": chair.id, "quantity": 1}),
    )
    .await;
    assert_eq!(first, StatusCode::CREATED);
    let (second, _, bytes) = buy(
        &s,
        &token,
        "k1",
        &json!({"item_id": chair.id, "quantity": 2}),
    )
    .await;
    assert_eq!(second, StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Problem = serde_json::from_slice(&bytes).unwrap();
    assert!(problem.is(ProblemKind::KeyReused));
    assert_eq!(s.shop.order_totals(&db).await, (1, 1));

    // Keys are per user: another shopper may use the same key for their own purchase.
    let bob = s.token(Role::Shopper, "bob");
    let (bobs, _, _) = buy(&s, &bob, "k1", &json!({"item_id": chair.id, "quantity": 2})).await;
    assert_eq!(bobs, StatusCode::CREATED);
    assert_eq!(s.shop.order_totals(&db).await, (2, 3));
}

/// A refusal buys nothing and stores nothing: the same request retried once the shop has
/// restocked is decided afresh, and only the purchase it then makes is remembered.
#[sqlx::test(migrations = "../migrations")]
async fn a_refused_buy_stores_nothing_and_its_retry_is_decided_afresh(db: PgPool) {
    let s = setup(&db, 1).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 2});
    let (refused, replayed, bytes) = buy(&s, &token, "k-late", &body).await;
    assert_eq!(refused, StatusCode::CONFLICT);
    assert_eq!(replayed, None);
    let problem: Problem = serde_json::from_slice(&bytes).unwrap();
    assert!(problem.is(ProblemKind::OutOfStock));
    assert_eq!(problem.available, Some(1), "the one unit left, as a member");
    let stored_keys = || stored_keys(&db, &s.shop);
    assert_eq!(stored_keys().await, 0, "a refusal writes no key");

    sqlx::query!(
        "UPDATE inventory SET stock = 5 WHERE organization_id = $1 AND id = $2",
        s.shop.org_id,
        chair.id
    )
    .execute(&db)
    .await
    .unwrap();
    let (bought, replayed, first) = buy(&s, &token, "k-late", &body).await;
    assert_eq!(bought, StatusCode::CREATED);
    assert_eq!(replayed, None, "decided afresh, not replayed");
    let (again, replayed, second) = buy(&s, &token, "k-late", &body).await;
    assert_eq!(
        (again, replayed.as_deref()),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(first, second);
    assert_eq!(stored_keys().await, 1);
    assert_eq!(s.shop.order_totals(&db).await, (1, 2));
    assert_eq!(s.shop.item(&db, "CHAIR").await.stock, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn missing_or_invalid_keys_are_a_400(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 1});
    let missing = s
        .edge
        .post(DOMAIN, "/api/buy")
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let (too_long, _, _) = buy(&s, &token, &"k".repeat(256), &body).await;
    assert_eq!(too_long, StatusCode::BAD_REQUEST);
    assert_eq!(s.shop.order_totals(&db).await, (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_answer_lost_after_commit_is_replayed_from_the_committed_order(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 1});
    // The purchase commits, then the process "crashes" before answering: the outcome is dropped.
    let app = e2e::origin_server::app_pool(&db).await;
    let order = BuyOrder {
        org_id: s.shop.org_id,
        customer_sub: "alice".into(),
        item_id: chair.id,
        quantity: 1,
        request_id: "lost-answer".into(),
        key: Some(KeyUse {
            org_id: s.shop.org_id,
            customer_sub: "alice".into(),
            key: IdempotencyKey::parse("lost-1").unwrap(),
            fingerprint: idempotency::fingerprint("POST", "buy", body.to_string().as_bytes()),
            request_id: "lost-answer".into(),
        }),
    };
    drop(
        apply_batch(&app, s.shop.org_id, Lane::Item(chair.id), &[order])
            .await
            .unwrap(),
    );

    let (status, replayed, bytes) = buy(&s, &token, "lost-1", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(replayed.as_deref(), Some("true"));
    let order: Order = serde_json::from_slice(&bytes).unwrap();
    let committed: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM orders WHERE organization_id = $1 AND id = $2"#,
        s.shop.org_id,
        order.order_id
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(committed, 1);
    assert_eq!(s.shop.order_totals(&db).await, (1, 1));
}

/// A purchase's key is found by its hash (`key_hash`, the key's lock id), then compared in
/// full: the database's hash is the origin's, and an order whose key merely shares the hash
/// does not answer for another key.
#[sqlx::test(migrations = "../migrations")]
async fn a_purchase_key_is_found_by_its_hash_and_told_apart_by_its_text(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let key = |text: &str| KeyUse {
        org_id: s.shop.org_id,
        customer_sub: "alice".into(),
        key: IdempotencyKey::parse(text).unwrap(),
        fingerprint: Vec::new(),
        request_id: String::new(),
    };
    let in_database: i64 = sqlx::query_scalar("SELECT purchase_key_hash($1, 'alice', 'k-hashed')")
        .bind(s.shop.org_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(in_database, idempotency::lock_id(&key("k-hashed")));

    // An earlier order under another key, stored with k-hashed's hash (a collision).
    sqlx::query(
        "INSERT INTO orders (organization_id, id, item_id, customer_sub, quantity,
                             unit_price_cents, key_hash, idempotency_key, fingerprint,
                             response_body)
         VALUES ($1, gen_random_uuid(), $2, 'alice', 1, 100, $3, 'k-other', '\\x00', '{}')",
    )
    .bind(s.shop.org_id)
    .bind(chair.id)
    .bind(in_database)
    .execute(&db)
    .await
    .unwrap();
    let token = s.token(Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 1});
    let (status, replayed, _) = buy(&s, &token, "k-hashed", &body).await;
    assert_eq!(
        (status, replayed),
        (StatusCode::CREATED, None),
        "a purchase of its own"
    );
    let (again, replayed, _) = buy(&s, &token, "k-hashed", &body).await;
    assert_eq!(
        (again, replayed.as_deref()),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(s.shop.order_totals(&db).await, (2, 2));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_refuses_a_second_order_under_one_purchase_key(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 1});
    let (status, _, _) = buy(&s, &token, "one-key", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    // A writer that skipped the advisory lock (a bug, a hand-made repair) writing the same
    // key's purchase again: the unique index refuses it.
    let again = sqlx::query(
        "INSERT INTO orders (organization_id, item_id, customer_sub, quantity, unit_price_cents,
                             key_hash, idempotency_key, fingerprint, response_body)
         SELECT organization_id, item_id, customer_sub, quantity, unit_price_cents,
                key_hash, idempotency_key, fingerprint, response_body
         FROM orders WHERE organization_id = $1 AND idempotency_key = 'one-key'",
    )
    .bind(s.shop.org_id)
    .execute(&db)
    .await
    .unwrap_err();
    let code = again.as_database_error().and_then(|err| err.code());
    assert_eq!(code.as_deref(), Some("23505"), "{again}");
    assert_eq!(s.shop.order_totals(&db).await, (1, 1));
}
