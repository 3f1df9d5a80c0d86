//! The audit log: one entry per change, in the change's transaction, append-only for the app.

use api::token::Role;
use e2e::{origin_server::app_pool, Edge, OriginServer, Shop, TestKeys};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

const DOMAIN: &str = "audited.shop.test";

#[sqlx::test(migrations = "../migrations")]
async fn every_purchase_and_admin_change_has_exactly_one_entry_with_its_request_id(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 3)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    let chair = shop.item(&db, "CHAIR").await;
    let shopper = keys.token(shop.org_id, Role::Shopper, "alice");
    let admin = keys.token(shop.org_id, Role::Admin, "boss");

    let mut request_ids = Vec::new();
    for (n, quantity) in [1, 1, 5].into_iter().enumerate() {
        let id = format!("buy-{n}");
        let response = edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(&shopper)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .header("x-request-id", &id)
            .json(&json!({"item_id": chair.id, "quantity": quantity}))
            .send()
            .await
            .unwrap();
        // The edge mints the request id; the caller's own is only a correlation id.
        let minted = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(minted, id);
        assert_eq!(response.headers()["x-correlation-id"], id.as_str());
        if response.status() == StatusCode::CREATED {
            request_ids.push(minted);
        } else {
            assert_eq!(
                response.status(),
                StatusCode::CONFLICT,
                "the 5-unit buy is refused"
            );
        }
    }
    let patched = edge
        .request(
            Method::PATCH,
            DOMAIN,
            &format!("/api/admin/items/{}", chair.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", "restock-1")
        .header("x-request-id", "restock")
        .json(&json!({"stock_delta": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    request_ids.push(
        patched.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    );

    let page: Value = edge
        .get(DOMAIN, "/api/admin/audit?limit=2")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let next = page["next"].as_i64().unwrap();
    let rest: Value = edge
        .get(DOMAIN, &format!("/api/admin/audit?after={next}&limit=50"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries: Vec<&Value> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["entries"].as_array().unwrap())
        .collect();
    let seen: Vec<&str> = entries
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen, request_ids,
        "one entry per change, oldest first, none for the refusal"
    );
    assert_eq!(entries[0]["action"], "purchase");
    assert_eq!(entries[0]["before"]["stock"], 3);
    assert_eq!(entries[0]["after"]["stock"], 2);
    assert_eq!(entries[2]["action"], "item.update");
    assert_eq!(entries[2]["actor"], "boss");
    assert_eq!(entries[2]["after"]["stock"], 11);

    let shopper_reads = edge
        .get(DOMAIN, "/api/admin/audit")
        .bearer_auth(&shopper)
        .send()
        .await
        .unwrap();
    assert_eq!(shopper_reads.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_app_role_cannot_rewrite_or_erase_history(db: PgPool) {
    let shop = Shop::create(&db, DOMAIN, &[]).await;
    sqlx::query!(
        "INSERT INTO audit_log (organization_id, actor_sub, action, target, request_id)
         VALUES ($1, 'boss', 'item.create', 'item:x', 'r1')",
        shop.org_id
    )
    .execute(&db)
    .await
    .unwrap();
    let app = app_pool(&db).await;
    let claims = json!({"sub": "boss", "app_metadata": {"org_id": shop.org_id, "role": "admin"}})
        .to_string();
    for statement in [
        "UPDATE audit_log SET action = 'nothing'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let mut tx = app.begin().await.unwrap();
        sqlx::query_scalar!("SELECT set_config('request.jwt.claims', $1, true)", claims)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let err = sqlx::query(statement).execute(&mut *tx).await.unwrap_err();
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(
            code.as_deref(),
            Some("42501"),
            "{statement}: permission denied, got {err}"
        );
    }
    let remaining: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_log WHERE action = 'item.create'"#
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(remaining, 1);
}

/// What the console's audit view asks for: newest first, a page at a time, of one action.
#[sqlx::test(migrations = "../migrations")]
async fn admins_page_back_from_the_newest_entry_and_filter_by_action(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 50)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    let chair = shop.item(&db, "CHAIR").await;
    let shopper = keys.token(shop.org_id, Role::Shopper, "alice");
    let admin = keys.token(shop.org_id, Role::Admin, "boss");
    let mut restocks = Vec::new();
    for n in 0..5 {
        let buy = edge
            .buy(DOMAIN, &shopper, chair.id, 1)
            .send()
            .await
            .unwrap();
        assert_eq!(buy.status(), StatusCode::CREATED);
        let restock = edge
            .request(
                Method::PATCH,
                DOMAIN,
                &format!("/api/admin/items/{}", chair.id),
            )
            .bearer_auth(&admin)
            .header("idempotency-key", format!("restock-{n}"))
            .json(&json!({"stock_delta": n + 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(restock.status(), StatusCode::OK);
        restocks.push(n + 1);
    }
    let page = |query: String| {
        let request = edge
            .get(DOMAIN, &format!("/api/admin/audit?{query}"))
            .bearer_auth(&admin);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{query}");
            response.json::<Value>().await.unwrap()
        }
    };
    let ids = |page: &Value| -> Vec<i64> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };

    // Every entry, newest first, three at a time: ten entries in four pages.
    let mut seen = Vec::new();
    let mut query = "order=newest&limit=3".to_owned();
    loop {
        let page = page(query.clone()).await;
        seen.extend(ids(&page));
        match page["next"].as_i64() {
            Some(next) => query = format!("order=newest&limit=3&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seen:?}"
    );

    // Only the restocks, newest first: the last restock added 5.
    let updates = page("order=newest&action=item.update&limit=10".to_owned()).await;
    let deltas: Vec<i64> = updates["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["after"]["stock"].as_i64().unwrap() - e["before"]["stock"].as_i64().unwrap())
        .collect();
    assert_eq!(deltas, vec![5, 4, 3, 2, 1]);
    assert!(updates["next"].is_null(), "a short page is the last");
    let purchases = page("order=newest&action=purchase&limit=10".to_owned()).await;
    assert_eq!(ids(&purchases).len(), 5);
    let oldest_updates = page("action=item.update&limit=2".to_owned()).await;
    assert_eq!(oldest_updates["entries"][0]["after"]["stock"], 50);
    let none = page("order=newest&action=kill_switch.engage".to_owned()).await;
    assert!(ids(&none).is_empty());

    for bad in ["order=sideways", "action=DROP%20TABLE", "limit=0"] {
        let response = edge
            .get(DOMAIN, &format!("/api/admin/audit?{bad}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Buys that commit together are audited as one batch, and read as one entry per sale: every
/// sale exactly once, oldest first and newest first, a page boundary inside a batch included.
#[sqlx::test(migrations = "../migrations")]
async fn sales_committed_together_read_as_one_entry_each_both_ways(db: PgPool) {
    const BUYERS: usize = 40;
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 100)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    let chair = shop.item(&db, "CHAIR").await;
    let admin = keys.token(shop.org_id, Role::Admin, "boss");
    let buys = (0..BUYERS).map(|n| {
        let sub = format!("buyer-{n}");
        let request = edge.buy(
            DOMAIN,
            &keys.token(shop.org_id, Role::Shopper, &sub),
            chair.id,
            2,
        );
        async move { (sub, request.send().await.unwrap()) }
    });
    // request id -> (buyer, order id)
    let mut sales = HashMap::new();
    for (sub, response) in join_all(buys).await {
        assert_eq!(response.status(), StatusCode::CREATED);
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let order: Value = response.json().await.unwrap();
        sales.insert(
            request_id,
            (sub, order["order_id"].as_str().unwrap().to_owned()),
        );
    }
    // Each batch's sales, oldest batch first.
    let batches: Vec<i32> = sqlx::query_scalar(
        "SELECT coalesce(cardinality(sales), 1) FROM audit_log
         WHERE organization_id = $1 AND action = 'purchase' ORDER BY id",
    )
    .bind(shop.org_id)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(batches.iter().sum::<i32>(), BUYERS as i32, "{batches:?}");
    let (largest, &size) = batches
        .iter()
        .enumerate()
        .max_by_key(|(_, size)| **size)
        .unwrap();
    assert!(
        size > 1,
        "some of {BUYERS} simultaneous buys commit together"
    );
    // Pages sized so the first one ends on the largest batch's first sale in reading order:
    // the next page starts inside that batch.
    let before: i32 = batches[..largest].iter().sum();
    let after: i32 = batches[largest + 1..].iter().sum();

    for (order, limit) in [("oldest", before + 1), ("newest", after + 1)] {
        let mut pages: Vec<Vec<Value>> = Vec::new();
        let mut query = format!("order={order}&action=purchase&limit={limit}");
        loop {
            let page: Value = edge
                .get(DOMAIN, &format!("/api/admin/audit?{query}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let got = page["entries"].as_array().unwrap().clone();
            let done = got.is_empty();
            if !done {
                pages.push(got);
            }
            let cursor = if order == "oldest" { "after" } else { "before" };
            match page["next"].as_i64() {
                Some(next) if !done => {
                    query = format!("order={order}&action=purchase&limit={limit}&{cursor}={next}");
                }
                _ => break,
            }
        }
        // An entry's id is its batch row's id * 1024 + its place in the batch.
        let batch_of = |entry: &Value| entry["id"].as_i64().unwrap() / 1024;
        assert!(
            pages
                .windows(2)
                .any(|w| batch_of(w[0].last().unwrap()) == batch_of(&w[1][0])),
            "{order}: a page boundary falls inside a batch"
        );
        let mut entries: Vec<Value> = pages.into_iter().flatten().collect();
        if order == "newest" {
            entries.reverse();
        }
        assert_eq!(entries.len(), BUYERS, "{order}: one entry per sale");
        let mut stock = 100;
        for entry in &entries {
            let (sub, order_id) = &sales[entry["request_id"].as_str().unwrap()];
            assert_eq!(entry["actor"], sub.as_str(), "{order}: who");
            assert_eq!(
                entry["target"],
                format!("item:{}", chair.id),
                "{order}: what"
            );
            assert_eq!(
                entry["after"]["order_id"],
                order_id.as_str(),
                "{order}: which order"
            );
            assert_eq!(entry["after"]["quantity"], 2);
            assert_eq!(
                entry["before"]["stock"], stock,
                "{order}: in the order sold"
            );
            stock -= 2;
            assert_eq!(entry["after"]["stock"], stock);
        }
        let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{order}: {ids:?}");
    }
}
