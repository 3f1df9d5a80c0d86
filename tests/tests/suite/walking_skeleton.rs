//! The whole path, shop domain -> Worker -> origin -> Postgres, as a shopper uses it.

use api::{inventory::InventoryList, purchase::Order, token::Role, Problem, ProblemKind};
use e2e::{Edge, OriginServer, Shop, TestKeys};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

struct World {
    db: PgPool,
    keys: TestKeys,
    shop: Shop,
    edge: Edge,
    _origin: OriginServer,
}

const DOMAIN: &str = "chairs.acme.test";

async fn world(db: PgPool, items: &[(&str, i32)]) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, items).await;
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    World {
        db,
        keys,
        shop,
        edge,
        _origin: origin,
    }
}

impl World {
    fn shopper(&self, sub: &str) -> String {
        self.keys.token(self.shop.org_id, Role::Shopper, sub)
    }

    async fn buy(&self, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .expect("buy request")
    }
}

async fn problem(response: reqwest::Response) -> Problem {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    response.json().await.expect("problem body")
}

#[sqlx::test(migrations = "../migrations")]
async fn lists_the_shops_inventory_through_the_worker(db: PgPool) {
    let w = world(db, &[("CHAIR", 3), ("TABLE", 1)]).await;
    let response = w.edge.get(DOMAIN, "/api/inventory").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let list: InventoryList = response.json().await.unwrap();
    let mut skus: Vec<(String, i32)> = list.items.into_iter().map(|i| (i.sku, i.stock)).collect();
    skus.sort();
    assert_eq!(skus, vec![("CHAIR".into(), 3), ("TABLE".into(), 1)]);
}

#[sqlx::test(migrations = "../migrations")]
async fn one_item_and_unknown_items(db: PgPool) {
    let w = world(db, &[("CHAIR", 3)]).await;
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let found = w
        .edge
        .get(DOMAIN, &format!("/api/inventory/{}", chair.id))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(found.json::<api::inventory::Item>().await.unwrap(), chair);

    let missing = w
        .edge
        .get(DOMAIN, &format!("/api/inventory/{}", Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(problem(missing).await.is(ProblemKind::NotFound));
}

#[sqlx::test(migrations = "../migrations")]
async fn buying_confirms_an_order_and_takes_stock(db: PgPool) {
    let w = world(db, &[("CHAIR", 3)]).await;
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let response = w
        .buy(
            &w.shopper("alice"),
            json!({"item_id": chair.id, "quantity": 2}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Order = response.json().await.unwrap();
    assert_eq!((order.item_id, order.quantity), (chair.id, 2));
    assert_eq!(w.shop.item(&w.db, "CHAIR").await.stock, 1);
    let stored: String = sqlx::query_scalar!(
        "SELECT customer_sub FROM orders WHERE organization_id = $1 AND id = $2",
        w.shop.org_id,
        order.order_id
    )
    .fetch_one(&w.db)
    .await
    .unwrap();
    assert_eq!(stored, "alice");
}

#[sqlx::test(migrations = "../migrations")]
async fn buying_more_than_is_left_is_a_409_and_changes_nothing(db: PgPool) {
    let w = world(db, &[("SOFA", 1)]).await;
    let sofa = w.shop.item(&w.db, "SOFA").await;
    let response = w
        .buy(
            &w.shopper("bob"),
            json!({"item_id": sofa.id, "quantity": 2}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(problem(response).await.is(ProblemKind::OutOfStock));
    assert_eq!(w.shop.item(&w.db, "SOFA").await.stock, 1);
    assert_eq!(w.shop.order_totals(&w.db).await, (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_shop_domain_is_a_404(db: PgPool) {
    let w = world(db, &[("CHAIR", 3)]).await;
    let response = w
        .edge
        .get("nobody.example.test", "/api/inventory")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = problem(response).await;
    assert!(body.is(ProblemKind::UnknownShop));
    assert!(body.request_id.is_some());
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_purchase_requests_are_refused_and_write_nothing(db: PgPool) {
    let w = world(db, &[("CHAIR", 5)]).await;
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let token = w.shopper("mallory");

    let malformed = w
        .edge
        .post(DOMAIN, "/api/buy")
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .body("{\"item_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(problem(malformed).await.is(ProblemKind::MalformedRequest));

    let not_a_uuid = w
        .buy(&token, json!({"item_id": "chair", "quantity": 1}))
        .await;
    assert_eq!(not_a_uuid.status(), StatusCode::BAD_REQUEST);

    for quantity in [
        json!(0),
        json!(-1),
        json!(101),
        json!(1_000_000_000_000_i64),
        json!(1e300),
    ] {
        let response = w
            .buy(&token, json!({"item_id": chair.id, "quantity": quantity}))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "quantity {quantity}"
        );
        problem(response).await;
    }

    let unknown = w
        .buy(&token, json!({"item_id": Uuid::new_v4(), "quantity": 1}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(problem(unknown).await.is(ProblemKind::NotFound));

    let no_token = w
        .edge
        .post(DOMAIN, "/api/buy")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"item_id": chair.id, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    assert!(problem(no_token).await.is(ProblemKind::Unauthenticated));

    let too_big = w
        .edge
        .post(DOMAIN, "/api/buy")
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .body(format!(
            "{{\"item_id\":\"{}\",\"quantity\":1,\"pad\":\"{}\"}}",
            chair.id,
            "x".repeat(17 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    problem(too_big).await;

    assert_eq!(w.shop.item(&w.db, "CHAIR").await.stock, 5);
    assert_eq!(w.shop.order_totals(&w.db).await, (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn fifty_concurrent_buyers_of_ten_chairs_never_oversell(db: PgPool) {
    let w = world(db, &[("CHAIR", 10)]).await;
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let attempts = (0..50).map(|n| {
        let token = w.shopper(&format!("buyer-{n}"));
        let w = &w;
        async move {
            w.buy(&token, json!({"item_id": chair.id, "quantity": 1}))
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let confirmed = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let sold_out = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((confirmed, sold_out), (10, 40), "statuses: {statuses:?}");
    assert_eq!(w.shop.item(&w.db, "CHAIR").await.stock, 0);
    assert_eq!(w.shop.order_totals(&w.db).await, (10, 10));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_edge_mints_request_ids_and_keeps_the_callers_as_correlation(db: PgPool) {
    let w = world(db, &[("CHAIR", 1)]).await;
    let kept = w
        .edge
        .get(DOMAIN, "/api/inventory")
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-correlation-id"], "trace-me-42");
    let minted = kept.headers()["x-request-id"].to_str().unwrap();
    assert!(Uuid::parse_str(minted).is_ok(), "minted id {minted}");
    let replaced = w
        .edge
        .get(DOMAIN, "/api/inventory")
        .header("x-request-id", "x".repeat(200))
        .send()
        .await
        .unwrap();
    let fresh = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(Uuid::parse_str(&fresh).is_ok(), "fresh id {fresh}");
    assert!(
        replaced.headers().get("x-correlation-id").is_none(),
        "an unusable id is not kept"
    );
}
