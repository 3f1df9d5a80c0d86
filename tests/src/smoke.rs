//! The deployment smoke: what a shop needs from any way of running the origin (a container, a
//! process behind PgBouncer), checked through the real Worker. Inventory, a purchase and its
//! replay under the same `Idempotency-Key`, an admin write, and the live event stream that
//! announces the purchase.

use std::time::Duration;

use api::{inventory::InventoryList, purchase::Order, token::Role};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::{sse::SseReader, Edge, Shop, TestKeys};

/// One shop behind a running Worker, and the database to check rows in (as the owner).
#[derive(Debug, Clone, Copy)]
pub struct SmokeTarget<'a> {
    pub edge: &'a Edge,
    pub keys: &'a TestKeys,
    pub shop: &'a Shop,
    pub db: &'a PgPool,
}

/// The stock the smoke's shop starts with: `Shop::create(db, domain, SMOKE_ITEMS)`.
pub const SMOKE_ITEMS: &[(&str, i32)] = &[("CHAIR", 5)];

/// Runs every step, panicking at the first that fails.
pub async fn run_smoke(target: SmokeTarget<'_>) {
    let SmokeTarget {
        edge,
        keys,
        shop,
        db,
    } = target;
    let domain = shop.domain.as_str();

    let inventory = edge
        .get(domain, "/api/inventory")
        .send()
        .await
        .expect("GET inventory");
    assert_eq!(inventory.status(), StatusCode::OK, "inventory");
    let list: InventoryList = inventory.json().await.expect("inventory body");
    assert_eq!(
        list.items
            .iter()
            .map(|i| (i.sku.as_str(), i.stock))
            .collect::<Vec<_>>(),
        vec![("CHAIR", 5)]
    );
    let chair = shop.item(db, "CHAIR").await;

    let shopper = keys.token(shop.org_id, Role::Shopper, "smoke-shopper");
    let stream = edge
        .get(domain, "/api/events")
        .bearer_auth(&shopper)
        .send()
        .await
        .expect("GET events");
    assert_eq!(stream.status(), StatusCode::OK, "event stream");
    let mut events = SseReader::new(stream);
    assert!(
        events
            .wait_for("ready", Duration::from_secs(10))
            .await
            .is_some(),
        "the event stream says it is ready"
    );

    let buy = || {
        edge.post(domain, "/api/buy")
            .bearer_auth(&shopper)
            .header("idempotency-key", "smoke-purchase-1")
            .json(&json!({"item_id": chair.id, "quantity": 1}))
    };
    let first = buy().send().await.expect("buy");
    assert_eq!(first.status(), StatusCode::CREATED, "buy");
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let order: Order = first.json().await.expect("order body");

    let stock = events
        .wait_for("stock", Duration::from_secs(10))
        .await
        .expect("the purchase is announced on the event stream");
    assert_eq!(stock["stock"], 4, "{stock}");

    let replay = buy().send().await.expect("replay");
    assert_eq!(replay.status(), StatusCode::CREATED, "replay");
    assert_eq!(
        replay
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let replayed: Order = replay.json().await.expect("replayed body");
    assert_eq!(replayed.order_id, order.order_id);
    assert_eq!(
        shop.order_totals(db).await,
        (1, 1),
        "one order, bought once"
    );

    let admin = keys.token(shop.org_id, Role::Admin, "smoke-admin");
    let created = edge
        .post(domain, "/api/admin/items")
        .bearer_auth(&admin)
        .header("idempotency-key", "smoke-item-1")
        .json(&json!({"sku": "LAMP", "name": "Arc lamp", "price_cents": 4900, "stock": 7}))
        .send()
        .await
        .expect("admin write");
    assert_eq!(created.status(), StatusCode::CREATED, "admin write");
    assert_eq!(shop.item(db, "LAMP").await.stock, 7);
}
