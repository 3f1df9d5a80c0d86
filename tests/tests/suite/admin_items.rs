//! Shop admins adding, changing and removing items through the Worker.

use api::{inventory::Item, token::Role, Problem, ProblemKind};
use e2e::{Edge, OriginServer, Shop, Stage, TestKeys, TwoShops};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

const DOMAIN: &str = "admin.shop.test";

async fn setup(db: &PgPool) -> (TestKeys, Shop, OriginServer, Edge) {
    let stage = Stage::open(db, DOMAIN, &[("CHAIR", 5)]).await;
    (stage.keys, stage.shop, stage.origin, stage.edge)
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_add_items_and_duplicates_conflict(db: PgPool) {
    let (keys, shop, _origin, edge) = setup(&db).await;
    let admin = keys.token(shop.org_id, Role::Admin, "boss");
    let body = json!({"sku": "LAMP", "name": "Arc lamp", "price_cents": 4900, "stock": 7});

    let created = edge
        .post(DOMAIN, "/api/admin/items")
        .bearer_auth(&admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let item: Item = created.json().await.unwrap();
    assert_eq!(
        (item.sku.as_str(), item.stock, item.price_cents),
        ("LAMP", 7, 4900)
    );
    assert_eq!(shop.item(&db, "LAMP").await, item);

    let again = edge
        .post(DOMAIN, "/api/admin/items")
        .bearer_auth(&admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again
        .json::<Problem>()
        .await
        .unwrap()
        .is(ProblemKind::Conflict));

    for bad in [
        json!({"sku": "", "name": "x", "price_cents": 1, "stock": 1}),
        json!({"sku": "NEG", "name": "x", "price_cents": -1, "stock": 1}),
        json!({"sku": "HUGE", "name": "x", "price_cents": 1, "stock": 10_000_000_000_i64}),
        json!({"sku": "EXTRA", "name": "x", "price_cents": 1, "stock": 1, "owner": "me"}),
    ] {
        let refused = edge
            .post(DOMAIN, "/api/admin/items")
            .bearer_auth(&admin)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let count: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM inventory WHERE organization_id = $1"#,
        shop.org_id
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(count, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_restock_absolutely_or_by_delta(db: PgPool) {
    let (keys, shop, _origin, edge) = setup(&db).await;
    let admin = keys.token(shop.org_id, Role::Admin, "boss");
    let chair = shop.item(&db, "CHAIR").await;
    let path = format!("/api/admin/items/{}", chair.id);
    let patch = |body: serde_json::Value| {
        edge.request(Method::PATCH, DOMAIN, &path)
            .bearer_auth(&admin)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
    };

    let set: Item = patch(json!({"stock": 20, "price_cents": 1234}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((set.stock, set.price_cents), (20, 1234));
    let added: Item = patch(json!({"stock_delta": -5}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added.stock, 15);

    let below_zero = patch(json!({"stock_delta": -16})).await.unwrap();
    assert_eq!(below_zero.status(), StatusCode::CONFLICT);
    let both = patch(json!({"stock": 1, "stock_delta": 1})).await.unwrap();
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
    let empty = patch(json!({})).await.unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert_eq!(shop.item(&db, "CHAIR").await.stock, 15);

    let missing = edge
        .request(
            Method::PATCH,
            DOMAIN,
            &format!("/api/admin/items/{}", uuid::Uuid::new_v4()),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"stock": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn restocks_cannot_push_stock_past_the_maximum(db: PgPool) {
    let (keys, shop, _origin, edge) = setup(&db).await;
    let admin = keys.token(shop.org_id, Role::Admin, "boss");
    let chair = shop.item(&db, "CHAIR").await;
    let restock = |delta: i64| {
        edge.request(
            Method::PATCH,
            DOMAIN,
            &format!("/api/admin/items/{}", chair.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({ "stock_delta": delta }))
        .send()
    };
    let to_the_top = restock(1_000_000 - 5).await.unwrap();
    assert_eq!(to_the_top.status(), StatusCode::OK);
    for delta in [1, 1_000_000, 1_000_000] {
        let refused = restock(delta).await.unwrap();
        assert_eq!(refused.status(), StatusCode::CONFLICT, "+{delta}");
        let problem: Problem = refused.json().await.unwrap();
        assert!(problem.is(ProblemKind::Conflict), "{problem:?}");
    }
    assert_eq!(shop.item(&db, "CHAIR").await.stock, 1_000_000);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE organization_id = $1 AND action = 'item.update'",
    )
    .bind(shop.org_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(audited, 1, "only the accepted restock is audited");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_shops_admins_remove_an_item_and_one_with_orders_stays(db: PgPool) {
    const A: &str = "a.remove.test";
    const B: &str = "b.remove.test";
    let items = [("CHAIR", 5), ("SOFA", 5)];
    let w = TwoShops::open(&db, [A, B], &items, |config, _, _| config).await;
    let chair = w.a.item(&db, "CHAIR").await.id;
    let sofa = w.a.item(&db, "SOFA").await.id;
    let shopper = w.keys.token(w.a.org_id, Role::Shopper, "shopper");
    let bought = w.edge.buy(A, &shopper, chair, 1).send().await.unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    let remove = |domain: &'static str, item: uuid::Uuid, token: Option<&str>, key: &str| {
        let request = w
            .edge
            .request(Method::DELETE, domain, &format!("/api/admin/items/{item}"))
            .header("idempotency-key", key);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap().status() }
    };
    let rival = w.keys.token(w.b.org_id, Role::Admin, "rival");
    let fresh = || uuid::Uuid::new_v4().to_string();
    for (who, domain, token, status) in [
        ("no token", A, None, StatusCode::UNAUTHORIZED),
        (
            "a shopper",
            A,
            Some(shopper.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "another shop's admin",
            A,
            Some(rival.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "on its own domain",
            B,
            Some(rival.as_str()),
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(remove(domain, sofa, token, &fresh()).await, status, "{who}");
    }
    assert_eq!(w.a.item(&db, "SOFA").await.id, sofa, "still there");

    let owner = w.keys.token(w.a.org_id, Role::Admin, "owner");
    let key = fresh();
    for attempt in ["first", "the same key again"] {
        let status = remove(A, sofa, Some(&owner), &key).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{attempt}");
    }
    // The chair has an order: it stays, as the order's item.
    let refused = remove(A, chair, Some(&owner), &fresh()).await;
    assert_eq!(refused, StatusCode::CONFLICT);
    let left = sqlx::query_scalar!(
        "SELECT sku FROM inventory WHERE organization_id = $1",
        w.a.org_id
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(left, vec!["CHAIR".to_owned()]);
    assert_eq!(w.a.order_totals(&db).await, (1, 1));
    assert_eq!(w.b.item(&db, "SOFA").await.stock, 5);
    let audited = sqlx::query_scalar!(
        r#"SELECT target FROM audit_log
           WHERE organization_id = $1 AND action = 'item.delete'"#,
        w.a.org_id
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(audited, vec![format!("item:{sofa}")]);
}
