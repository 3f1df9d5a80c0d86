//! Lists have bounds: the inventory comes a page at a time with a cursor to the next, a page
//! cannot be asked to be larger than the maximum, and a shop cannot grow past its item cap.

use std::collections::BTreeSet;

use api::{inventory::InventoryList, token::Role, Problem, ProblemKind};
use e2e::Stage;
use origin::Settings;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

const DOMAIN: &str = "pages.shop.test";

#[sqlx::test(migrations = "../migrations")]
async fn the_inventory_comes_a_page_at_a_time_and_the_pages_add_up(db: PgPool) {
    let skus: Vec<String> = (0..120).map(|n| format!("SKU-{n:03}")).collect();
    let items: Vec<(&str, i32)> = skus.iter().map(|s| (s.as_str(), 1)).collect();
    let s = Stage::open(&db, DOMAIN, &items).await;

    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut path = "/api/inventory".to_owned();
    loop {
        let response = s.edge.get(DOMAIN, &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: InventoryList = response.json().await.unwrap();
        pages.push(page.items.len());
        seen.extend(page.items.iter().map(|item| (item.name.clone(), item.id)));
        match page.next {
            Some(next) => path = format!("/api/inventory?after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, vec![50, 50, 20], "default pages of 50");
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 120, "every item once");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in name order");

    let small: InventoryList = s
        .edge
        .get(DOMAIN, "/api/inventory?limit=7")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(small.items.len(), 7);
    assert!(small.next.is_some());
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_past_the_maximum_or_malformed_are_refused(db: PgPool) {
    let s = Stage::open(&db, DOMAIN, &[("CHAIR", 1)]).await;
    for query in [
        "limit=201",
        "limit=0",
        "limit=-5",
        "limit=lots",
        "after=not-an-id",
    ] {
        let response = s
            .edge
            .get(DOMAIN, &format!("/api/inventory?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let problem: Problem = response.json().await.unwrap();
        assert!(
            problem.is(ProblemKind::MalformedRequest),
            "{query}: {problem:?}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shop_cannot_grow_past_its_item_cap(db: PgPool) {
    let settings = Settings {
        item_cap: 3,
        ..Settings::default()
    };
    let s = Stage::open_with(&db, DOMAIN, &[("CHAIR", 1), ("TABLE", 1)], settings).await;
    let admin = s.token(Role::Admin, "owner");
    let create = |sku: &str| {
        s.edge
            .post(DOMAIN, "/api/admin/items")
            .bearer_auth(&admin)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"sku": sku, "name": sku, "price_cents": 100, "stock": 1}))
            .send()
    };
    assert_eq!(create("LAMP").await.unwrap().status(), StatusCode::CREATED);
    let refused = create("SOFA").await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let problem: Problem = refused.json().await.unwrap();
    assert!(problem.detail.contains("3 items"), "{problem:?}");

    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM inventory WHERE organization_id = $1")
        .bind(s.shop.org_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(held, 3, "nothing written for the refused create");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE organization_id = $1 AND action = 'item.create'",
    )
    .bind(s.shop.org_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(audited, 1, "only the accepted create is audited");
}
