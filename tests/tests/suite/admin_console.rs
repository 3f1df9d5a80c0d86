//! A shop owner's browser on the admin console: headless Chromium against the real Worker under
//! miniflare and the real origin, sharing the edge secret as in production. The scenario
//! (tests/browser/admin-console.mjs) adds an item, restocks it, pauses sales (the storefront
//! then shows the pause), forces them back on, watches the live chart while a bounded load of
//! purchases runs, reads the audit log, uses the console at 375 px by keyboard, and checks that
//! a shopper's token and another shop's console see none of the shop's data. This test sets the
//! world up and then checks in the database that every write happened exactly once.

use std::time::Duration;

use api::token::Role;
use e2e::{browser, origin_server::app_pool, Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use origin::AppState;
use sqlx::PgPool;

const DEMO: &str = "demo.shop.test";
const OTHER: &str = "other.shop.test";
const SECRET: &str = "edge-secret-for-the-console-0123456789ab";
/// Buyers in the load, and buys each: with the greedy buyer's, more than the bench's stock.
const BUYERS: usize = 12;
const PER_BUYER: usize = 14;
/// Past the default write quota (30 a minute), so some are refused at the edge.
const GREEDY_BUYS: usize = 40;

async fn actions(db: &PgPool, shop: &Shop) -> Vec<(String, i64)> {
    sqlx::query!(
        r#"SELECT action, count(*) AS "n!" FROM audit_log
           WHERE organization_id = $1 AND action <> 'purchase'
           GROUP BY action ORDER BY action"#,
        shop.org_id
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.action, row.n))
    .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shop_owner_runs_the_shop_from_the_console_in_a_real_browser(db: PgPool) {
    let keys = TestKeys::new();
    let demo = Shop::create(&db, DEMO, &[("CHAIR", 10), ("SOFA", 1)]).await;
    let other = Shop::create(&db, OTHER, &[("LAMP", 3)]).await;
    let state = AppState::new(app_pool(&db).await, keys.verifier())
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
    let origin = OriginServer::start_with(state).await;
    let config = EdgeConfig::new(&origin.url, &[demo.clone(), other.clone()], &keys)
        .var("EDGE_SHARED_SECRET", SECRET);
    let edge = Edge::start_with(config).await;
    let port = reqwest::Url::parse(&edge.url).unwrap().port().unwrap();
    let shopper = |sub: &str| keys.token(demo.org_id, Role::Shopper, sub);
    let buyers: Vec<String> = (0..BUYERS)
        .map(|n| shopper(&format!("buyer-{n}")))
        .collect();

    let run = browser::run_scenario(
        "admin-console.mjs",
        &[
            ("EDGE_PORT", port.to_string()),
            ("DEMO_DOMAIN", DEMO.to_owned()),
            ("OTHER_DOMAIN", OTHER.to_owned()),
            ("ADMIN_TOKEN", keys.token(demo.org_id, Role::Admin, "owner")),
            (
                "OTHER_ADMIN_TOKEN",
                keys.token(other.org_id, Role::Admin, "other-owner"),
            ),
            ("SHOPPER_TOKEN", shopper("alice")),
            ("BUYER_TOKENS", serde_json::to_string(&buyers).unwrap()),
            ("GREEDY_TOKEN", shopper("greedy")),
            ("LOAD_PER_BUYER", PER_BUYER.to_string()),
            ("GREEDY_BUYS", GREEDY_BUYS.to_string()),
            (
                "SCREENSHOT_DIR",
                browser::workspace_root()
                    .join("target/admin-console")
                    .display()
                    .to_string(),
            ),
        ],
        Duration::from_secs(240),
    )
    .await;
    println!("{}", run.output);
    assert!(run.passed, "the browser scenario failed:\n{}", run.output);

    // Added once despite the double click, restocked twice (+30, +20: the double click once),
    // renamed, sold out (1 + 149) and restocked by 5 from the narrow screen.
    let bench = demo.item(&db, "BENCH").await;
    assert_eq!(bench.name, "Oak bench, long");
    assert_eq!(bench.price_cents, 25_900);
    assert_eq!(bench.stock, 5);
    let sold: i64 = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(quantity), 0)::bigint AS "units!" FROM orders
           WHERE organization_id = $1 AND item_id = $2"#,
        demo.org_id,
        bench.id
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(sold, 150);
    assert_eq!(
        actions(&db, &demo).await,
        vec![
            ("item.create".to_owned(), 1),
            ("item.update".to_owned(), 4),
            ("kill_switch.engage".to_owned(), 1),
            ("kill_switch.release_forced".to_owned(), 1),
        ]
    );
    // The other shop was only looked at.
    assert_eq!(other.order_totals(&db).await, (0, 0));
    assert!(actions(&db, &other).await.is_empty());
    assert_eq!(other.item(&db, "LAMP").await.stock, 3);
}
