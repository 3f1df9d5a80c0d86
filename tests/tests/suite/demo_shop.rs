//! The demo shop `scripts/dev` runs: `origin tenant seed-demo` stocks twelve items, and
//! `scripts/demo-pictures.mjs` draws each a picture and uploads it through the real Worker in
//! three widths, as the console does. Both are idempotent: `scripts/dev` runs them on every
//! start against the same database.

use api::{inventory::InventoryList, token::Role};
use e2e::{browser, Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use origin::operator::{demo_shop, tenants::DEMO_DOMAIN};
use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::process::Command;

/// Runs `scripts/demo-pictures.mjs` against `edge` as the demo shop's admin; answers its output.
async fn draw_pictures(edge: &Edge, admin: &str) -> String {
    let output = Command::new("node")
        .arg(browser::workspace_root().join("scripts/demo-pictures.mjs"))
        .args([edge.url.as_str(), DEMO_DOMAIN, admin])
        .output()
        .await
        .expect("run node");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "demo-pictures.mjs failed:\n{printed}"
    );
    printed
}

async fn inventory(edge: &Edge) -> InventoryList {
    let response = edge
        .get(DEMO_DOMAIN, "/api/inventory")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_demo_shop_has_twelve_items_each_with_a_picture_in_three_sizes(db: PgPool) {
    let org_id = demo_shop::seed(&db).await.unwrap();
    assert_eq!(demo_shop::seed(&db).await.unwrap(), org_id, "seeded once");
    let shop = Shop {
        org_id,
        domain: DEMO_DOMAIN.to_owned(),
    };
    let keys = TestKeys::new();
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start_with(EdgeConfig::new(
        &origin.url,
        std::slice::from_ref(&shop),
        &keys,
    ))
    .await;
    let admin = keys.token(org_id, Role::Admin, "demo-admin");

    let printed = draw_pictures(&edge, &admin).await;
    assert!(printed.contains("12 items given a picture"), "{printed}");
    let items = inventory(&edge).await.items;
    assert_eq!(items.len(), 12);
    for item in &items {
        let [picture] = item.images.as_slice() else {
            panic!("{}: {} pictures", item.sku, item.images.len());
        };
        assert_eq!((picture.width, picture.height), (1280, 960), "{}", item.sku);
        assert!(picture.alt.starts_with(&item.name), "{}", item.sku);
        let widths: Vec<i32> = picture.sizes.iter().map(|size| size.width).collect();
        assert_eq!(widths, vec![320, 640], "{}", item.sku);
        let served = edge.get(DEMO_DOMAIN, &picture.url).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK, "{}", item.sku);
        assert_eq!(served.headers()["content-type"], "image/png");
    }
    assert_eq!(edge.stored_images().await.len(), 36);

    // Run again, as every `scripts/dev` start does: nothing more is drawn.
    let printed = draw_pictures(&edge, &admin).await;
    assert!(printed.contains("0 items given a picture"), "{printed}");
    assert_eq!(edge.stored_images().await.len(), 36);
}
