//! The storefront in headless Chromium while the origin is frozen and then killed: the page
//! keeps the stock on screen with its age, explains a purchase it cannot make yet, and returns
//! to live stock by itself. The scenario (tests/browser/storefront-outage.mjs) breaks the link
//! between the Worker and the origin through a small control server this test runs; the test
//! then checks in the database that the purchase tried during the outage and pressed again
//! after it was made exactly once. Screenshots land in `target/storefront/`.

use std::{sync::Arc, time::Duration};

use api::token::Role;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::post,
    Router,
};
use e2e::{browser, Edge, EdgeConfig, OriginLink, OriginServer, Shop, TestKeys};
use serde_json::json;
use sqlx::PgPool;

const DOMAIN: &str = "outage.storefront.test";

/// Serves `POST /{freeze|thaw|kill|revive}` on 127.0.0.1 for the browser scenario; answers its
/// URL.
async fn link_controls(link: Arc<OriginLink>) -> String {
    async fn apply(State(link): State<Arc<OriginLink>>, Path(fault): Path<String>) -> StatusCode {
        match fault.as_str() {
            "freeze" => link.freeze(),
            "thaw" => link.thaw(),
            "kill" => link.kill().await,
            "revive" => link.revive().await,
            _ => return StatusCode::NOT_FOUND,
        }
        StatusCode::NO_CONTENT
    }
    let app = Router::new()
        .route("/{fault}", post(apply))
        .with_state(link);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[sqlx::test(migrations = "../migrations")]
async fn the_storefront_shows_stale_stock_while_the_origin_is_down_and_recovers(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 10)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let link = Arc::new(OriginLink::start(&origin.url).await);
    let config = EdgeConfig::new(&link.url, std::slice::from_ref(&shop), &keys)
        .var(
            "ORIGIN_DEADLINES_MS",
            json!({"read": 500, "write": 1_500}).to_string(),
        )
        .var(
            "ORIGIN_BREAKER",
            json!({"after_failures": 3, "first_pause_ms": 1_000, "longest_pause_ms": 4_000})
                .to_string(),
        );
    let edge = Edge::start_with(config).await;
    let port = reqwest::Url::parse(&edge.url).unwrap().port().unwrap();

    let run = browser::run_scenario(
        "storefront-outage.mjs",
        &[
            ("EDGE_PORT", port.to_string()),
            ("DOMAIN", DOMAIN.to_owned()),
            (
                "ALICE_TOKEN",
                keys.token(shop.org_id, Role::Shopper, "alice"),
            ),
            ("LINK_URL", link_controls(link.clone()).await),
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

    assert_eq!(shop.order_totals(&db).await, (1, 1));
    assert_eq!(shop.item(&db, "CHAIR").await.stock, 9);
}
