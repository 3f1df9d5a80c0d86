//! The edge's inventory cache, against the real Worker: keys per shop, a one-second life,
//! one origin request for many concurrent misses, an unknown item cached like an item, and purchases that drop
//! stale stock (and only that). Origin hits are counted where the origin receives them.

use std::time::{Duration, Instant};

use api::{
    headers::EDGE_CACHE,
    inventory::{InventoryList, Item},
    token::Role,
};
use e2e::{wait, Edge, EdgeConfig, Shop, TwoShops};
use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

const SHOP_A: &str = "a.cache.test";
const SHOP_B: &str = "b.cache.test";

struct World {
    db: PgPool,
    shops: TwoShops,
}

/// Two shops holding `items` each and a Worker caching for `ttl_seconds`.
async fn world(db: PgPool, ttl_seconds: u32, items: &[(&str, i32)]) -> World {
    let ttl = |config: EdgeConfig, _: &Shop, _: &Shop| {
        config.var("INVENTORY_CACHE_TTL_SECONDS", ttl_seconds.to_string())
    };
    let shops = TwoShops::open(&db, [SHOP_A, SHOP_B], items, ttl).await;
    World { db, shops }
}

/// Status, `X-Edge-Cache` and body of a GET.
async fn get(edge: &Edge, domain: &str, path: &str) -> (StatusCode, String, String) {
    let response = edge.get(domain, path).send().await.unwrap();
    let status = response.status();
    let cache = response
        .headers()
        .get(EDGE_CACHE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cache, response.text().await.unwrap())
}

fn stocks(body: &str) -> Vec<i32> {
    let list: InventoryList = serde_json::from_str(body).unwrap();
    list.items.iter().map(|item| item.stock).collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn two_shops_with_equal_paths_never_see_each_others_inventory(db: PgPool) {
    let w = world(db, 30, &[]).await;
    let shared_id = Uuid::new_v4();
    for (shop, name) in [(&w.shops.a, "A chair"), (&w.shops.b, "B chair")] {
        sqlx::query!(
            "INSERT INTO inventory (organization_id, id, sku, name, price_cents, stock)
             VALUES ($1, $2, 'CHAIR', $3, 1000, 5)",
            shop.org_id,
            shared_id,
            name
        )
        .execute(&w.db)
        .await
        .unwrap();
    }
    let item_path = format!("/api/inventory/{shared_id}");

    for round in ["miss", "hit"] {
        for (domain, own, other) in [
            (SHOP_A, "A chair", "B chair"),
            (SHOP_B, "B chair", "A chair"),
        ] {
            let (status, cache, body) = get(&w.shops.edge, domain, "/api/inventory").await;
            assert_eq!((status, cache.as_str()), (StatusCode::OK, round));
            assert!(
                body.contains(own) && !body.contains(other),
                "{domain}: {body}"
            );

            let (status, cache, body) = get(&w.shops.edge, domain, &item_path).await;
            assert_eq!((status, cache.as_str()), (StatusCode::OK, round));
            assert_eq!(serde_json::from_str::<Item>(&body).unwrap().name, own);
        }
    }
    assert_eq!(w.shops.origin.log.count_ending_with("/inventory"), 2);
    assert_eq!(w.shops.origin.log.count_ending_with(&item_path[5..]), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn cached_inventory_lives_for_one_second(db: PgPool) {
    let w = world(db, 1, &[("CHAIR", 3)]).await;
    let (_, cache, first) = get(&w.shops.edge, SHOP_A, "/api/inventory").await;
    let stored_at = Instant::now();
    assert_eq!(cache, "miss");
    // A purchase the edge does not see (another data centre's): the entry stays until it expires.
    let chair = w.shops.a.item(&w.db, "CHAIR").await;
    let elsewhere = w
        .shops
        .edge
        .http
        .post(format!(
            "{}/api/tenant/{}/buy",
            w.shops.origin.url, w.shops.a.org_id
        ))
        .bearer_auth(w.shops.keys.token(w.shops.a.org_id, Role::Shopper, "bob"))
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&serde_json::json!({"item_id": chair.id, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::CREATED);

    let hit = w
        .shops
        .edge
        .get(SHOP_A, "/api/inventory")
        .send()
        .await
        .unwrap();
    assert_eq!(hit.headers()[EDGE_CACHE], "hit");
    assert_eq!(hit.headers()["cache-control"], "public, max-age=1");
    assert_eq!(
        hit.text().await.unwrap(),
        first,
        "a hit serves what was stored"
    );

    let fresh = wait::until(
        Duration::from_secs(5),
        "the cached entry expiring",
        || async {
            let (_, cache, body) = get(&w.shops.edge, SHOP_A, "/api/inventory").await;
            (cache == "miss").then_some(body)
        },
    )
    .await;
    let lived = stored_at.elapsed();
    assert_eq!(stocks(&fresh), vec![2], "the new stock after expiry");
    assert!(
        lived >= Duration::from_millis(900) && lived < Duration::from_secs(3),
        "the entry lived {lived:?}"
    );
    assert_eq!(
        w.shops
            .origin
            .log
            .count_ending_with(&format!("{}/inventory", w.shops.a.org_id)),
        2
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn fifty_concurrent_misses_cost_one_origin_request(db: PgPool) {
    let w = world(db, 30, &[("CHAIR", 3)]).await;
    let requests = (0..50).map(|_| get(&w.shops.edge, SHOP_A, "/api/inventory"));
    let answers = futures::future::join_all(requests).await;
    for (status, cache, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{cache}: {body}");
        assert_eq!(*body, answers[0].2);
    }
    assert_eq!(
        w.shops.origin.log.count_ending_with("/inventory"),
        1,
        "cache: {:?}",
        answers
            .iter()
            .map(|(_, cache, _)| cache.as_str())
            .collect::<Vec<_>>()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_items_not_found_is_cached_like_an_item(db: PgPool) {
    let w = world(db, 30, &[("CHAIR", 3)]).await;
    let path = format!("/api/inventory/{}", Uuid::new_v4());
    for expected in ["miss", "hit", "hit"] {
        let response = w.shops.edge.get(SHOP_A, &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[EDGE_CACHE], expected);
        assert_eq!(response.headers()["cache-control"], "public, max-age=30");
        assert_eq!(
            response.headers()["content-type"],
            api::headers::PROBLEM_JSON
        );
    }
    assert_eq!(w.shops.origin.log.count_ending_with(&path[5..]), 1);
    let other_shop = w.shops.edge.get(SHOP_B, &path).send().await.unwrap();
    assert_eq!(other_shop.headers()[EDGE_CACHE], "miss", "keyed per shop");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_purchase_through_the_edge_drops_the_shops_cached_inventory(db: PgPool) {
    let w = world(db, 30, &[("CHAIR", 3)]).await;
    let chair = w.shops.a.item(&w.db, "CHAIR").await;
    let item_path = format!("/api/inventory/{}", chair.id);
    for path in ["/api/inventory", item_path.as_str()] {
        assert_eq!(get(&w.shops.edge, SHOP_A, path).await.1, "miss");
        assert_eq!(get(&w.shops.edge, SHOP_A, path).await.1, "hit");
    }
    assert_eq!(get(&w.shops.edge, SHOP_B, "/api/inventory").await.1, "miss");

    let token = w.shops.keys.token(w.shops.a.org_id, Role::Shopper, "alice");
    let bought = w
        .shops
        .edge
        .buy(SHOP_A, &token, chair.id, 1)
        .send()
        .await
        .unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);

    let (_, cache, body) = get(&w.shops.edge, SHOP_A, "/api/inventory").await;
    assert_eq!((cache.as_str(), stocks(&body)), ("miss", vec![2]));
    let (_, cache, body) = get(&w.shops.edge, SHOP_A, &item_path).await;
    assert_eq!(cache, "miss");
    assert_eq!(serde_json::from_str::<Item>(&body).unwrap().stock, 2);
    assert_eq!(
        get(&w.shops.edge, SHOP_B, "/api/inventory").await.1,
        "hit",
        "another shop's entries stay"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_purchase_keeps_the_cached_pages_that_do_not_list_the_bought_item(db: PgPool) {
    // Items are listed by name: a page of one holds the armchair, the next one the bench.
    let w = world(db, 30, &[("ARMCHAIR", 3), ("BENCH", 3)]).await;
    let armchair = w.shops.a.item(&w.db, "ARMCHAIR").await;
    let bench = w.shops.a.item(&w.db, "BENCH").await;
    let armchair_page = "/api/inventory?limit=1".to_owned();
    let bench_page = format!("/api/inventory?limit=1&after={}", armchair.id);
    let bench_item = format!("/api/inventory/{}", bench.id);
    for path in [&armchair_page, &bench_page, &bench_item] {
        assert_eq!(get(&w.shops.edge, SHOP_A, path).await.1, "miss", "{path}");
        assert_eq!(get(&w.shops.edge, SHOP_A, path).await.1, "hit", "{path}");
    }

    let token = w.shops.keys.token(w.shops.a.org_id, Role::Shopper, "alice");
    let bought = w
        .shops
        .edge
        .buy(SHOP_A, &token, armchair.id, 1)
        .send()
        .await
        .unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);

    let (_, cache, body) = get(&w.shops.edge, SHOP_A, &armchair_page).await;
    assert_eq!((cache.as_str(), stocks(&body)), ("miss", vec![2]));
    for path in [&bench_page, &bench_item] {
        assert_eq!(
            get(&w.shops.edge, SHOP_A, path).await.1,
            "hit",
            "{path} does not show the armchair"
        );
    }
}
