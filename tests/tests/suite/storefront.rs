//! A shopper's browser on the storefront: headless Chromium against the real Worker under
//! miniflare and the real origin. The scenario (tests/browser/storefront.mjs) buys, watches
//! stock sell out live in other tabs, double-clicks, and visits a second shop; this test sets
//! the world up and then checks in the database that every purchase happened exactly once.

use std::time::Duration;

use api::token::Role;
use e2e::{browser, Edge, OriginServer, Shop, TestKeys};
use sqlx::PgPool;
use uuid::Uuid;

const DEMO: &str = "demo.shop.test";
const OTHER: &str = "other.shop.test";
/// Items of the other shop besides its lamp: more than the storefront's 200-item pages.
const SHELVES: usize = 250;

/// Orders per shopper: (sub, orders, units).
async fn orders_by_shopper(db: &PgPool, org_id: Uuid) -> Vec<(String, i64, i64)> {
    sqlx::query!(
        r#"SELECT customer_sub, count(*) AS "orders!", sum(quantity)::bigint AS "units!"
           FROM orders WHERE organization_id = $1 GROUP BY customer_sub ORDER BY customer_sub"#,
        org_id
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.customer_sub, row.orders, row.units))
    .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shopper_uses_the_storefront_in_a_real_browser(db: PgPool) {
    let keys = TestKeys::new();
    let demo = Shop::create(&db, DEMO, &[("CHAIR", 10), ("SOFA", 1), ("TABLE", 5)]).await;
    // More items than one page holds, so the storefront must follow the list's cursor.
    let shelves: Vec<String> = (0..SHELVES).map(|n| format!("ZZ-SHELF-{n:03}")).collect();
    let mut other_items: Vec<(&str, i32)> = vec![("LAMP", 3)];
    other_items.extend(shelves.iter().map(|sku| (sku.as_str(), 1)));
    let other = Shop::create(&db, OTHER, &other_items).await;
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start(&origin.url, &[demo.clone(), other.clone()], &keys).await;
    let port = reqwest::Url::parse(&edge.url).unwrap().port().unwrap();
    let shopper = |sub: &str| keys.token(demo.org_id, Role::Shopper, sub);

    let run = browser::run_scenario(
        "storefront.mjs",
        &[
            ("EDGE_PORT", port.to_string()),
            ("DEMO_DOMAIN", DEMO.to_owned()),
            ("OTHER_DOMAIN", OTHER.to_owned()),
            ("OTHER_ITEMS", (SHELVES + 1).to_string()),
            ("ALICE_TOKEN", shopper("alice")),
            ("BOB_TOKEN", shopper("bob")),
            ("CAROL_TOKEN", shopper("carol")),
            ("ADMIN_TOKEN", keys.token(demo.org_id, Role::Admin, "owner")),
            (
                "SCREENSHOT_DIR",
                browser::workspace_root()
                    .join("target/storefront")
                    .display()
                    .to_string(),
            ),
        ],
        Duration::from_secs(180),
    )
    .await;
    println!("{}", run.output);
    assert!(run.passed, "the browser scenario failed:\n{}", run.output);

    assert_eq!(
        orders_by_shopper(&db, demo.org_id).await,
        vec![
            ("alice".to_owned(), 1, 2), // 2 chairs; the refused table and paused chair wrote nothing
            ("bob".to_owned(), 1, 1),   // the last sofa
            ("carol".to_owned(), 2, 2), // one table from a double click, one chair after retries
        ]
    );
    assert_eq!(demo.item(&db, "CHAIR").await.stock, 7);
    assert_eq!(demo.item(&db, "SOFA").await.stock, 0);
    assert_eq!(demo.item(&db, "TABLE").await.stock, 4);
    assert_eq!(other.order_totals(&db).await, (0, 0));
    assert_eq!(other.item(&db, "LAMP").await.stock, 3);
}
