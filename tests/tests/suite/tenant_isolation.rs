//! Two shops whose items share ids: neither can read, buy or change the other's, by any route,
//! and Postgres itself refuses to show one tenant's rows to another.

use api::{inventory::InventoryList, token::Role, Problem, ProblemKind};
use e2e::{origin_server::app_pool, Edge, OriginServer, Shop, TestKeys};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const SHOP_A: &str = "a.shop.test";
const SHOP_B: &str = "b.shop.test";

struct Twins {
    db: PgPool,
    keys: TestKeys,
    a: Shop,
    b: Shop,
    shared_id: Uuid,
    origin: OriginServer,
    edge: Edge,
}

/// Shop A and shop B each hold an item with the same id (A's is "A chair", B's "B chair").
async fn twins(db: PgPool) -> Twins {
    let keys = TestKeys::new();
    let a = Shop::create(&db, SHOP_A, &[]).await;
    let b = Shop::create(&db, SHOP_B, &[]).await;
    let shared_id = Uuid::new_v4();
    for (shop, name) in [(&a, "A chair"), (&b, "B chair")] {
        sqlx::query!(
            "INSERT INTO inventory (organization_id, id, sku, name, price_cents, stock)
             VALUES ($1, $2, 'CHAIR', $3, 1000, 5)",
            shop.org_id,
            shared_id,
            name
        )
        .execute(&db)
        .await
        .unwrap();
    }
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start(&origin.url, &[a.clone(), b.clone()], &keys).await;
    Twins {
        db,
        keys,
        a,
        b,
        shared_id,
        origin,
        edge,
    }
}

impl Twins {
    async fn stocks(&self) -> (i32, i32) {
        (
            self.a.item(&self.db, "CHAIR").await.stock,
            self.b.item(&self.db, "CHAIR").await.stock,
        )
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn each_domain_lists_only_its_own_items(db: PgPool) {
    let t = twins(db).await;
    for (domain, name) in [(SHOP_A, "A chair"), (SHOP_B, "B chair")] {
        let list: InventoryList = t
            .edge
            .get(domain, "/api/inventory")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.items[0].name, name);
        let one: api::inventory::Item = t
            .edge
            .get(domain, &format!("/api/inventory/{}", t.shared_id))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one.name, name);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_buyer_only_ever_touches_their_own_shop(db: PgPool) {
    let t = twins(db).await;
    let a_token = t.keys.token(t.a.org_id, Role::Shopper, "alice");
    let body = json!({"item_id": t.shared_id, "quantity": 1});

    let own = t
        .edge
        .post(SHOP_A, "/api/buy")
        .bearer_auth(&a_token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::CREATED);
    assert_eq!(t.stocks().await, (4, 5));

    let via_b_domain = t
        .edge
        .post(SHOP_B, "/api/buy")
        .bearer_auth(&a_token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(via_b_domain.status(), StatusCode::FORBIDDEN);

    // Skipping the edge and naming shop B in the origin path does not help either.
    let direct = t
        .edge
        .http
        .post(format!("{}/api/tenant/{}/buy", t.origin.url, t.b.org_id))
        .bearer_auth(&a_token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);
    let problem: Problem = direct.json().await.unwrap();
    assert!(problem.is(ProblemKind::Forbidden));

    assert_eq!(t.stocks().await, (4, 5));
    assert_eq!(t.b.order_totals(&t.db).await, (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_admin_cannot_change_another_shops_items(db: PgPool) {
    let t = twins(db).await;
    let a_admin = t.keys.token(t.a.org_id, Role::Admin, "a-admin");
    let patch = json!({"stock": 99, "name": "hijacked"});
    let path = format!("/api/admin/items/{}", t.shared_id);

    let via_b_domain = t
        .edge
        .request(reqwest::Method::PATCH, SHOP_B, &path)
        .bearer_auth(&a_admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(via_b_domain.status(), StatusCode::FORBIDDEN);
    let direct = t
        .edge
        .http
        .patch(format!(
            "{}/api/tenant/{}/admin/items/{}",
            t.origin.url, t.b.org_id, t.shared_id
        ))
        .bearer_auth(&a_admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);

    let own = t
        .edge
        .request(reqwest::Method::PATCH, SHOP_A, &path)
        .bearer_auth(&a_admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(t.stocks().await, (99, 5));
    assert_eq!(t.b.item(&t.db, "CHAIR").await.name, "B chair");
}

#[sqlx::test(migrations = "../migrations")]
async fn postgres_shows_the_app_role_only_the_tenant_in_its_claims(db: PgPool) {
    let t = twins(db).await;
    let app = app_pool(&t.db).await;

    let mut tx = app.begin().await.unwrap();
    let claims = json!({"sub": "x", "app_metadata": {"org_id": t.a.org_id, "role": "shopper"}});
    sqlx::query_scalar!(
        "SELECT set_config('request.jwt.claims', $1, true)",
        claims.to_string()
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    // No WHERE clause: whatever comes back is what row-level security lets through.
    let visible: Vec<Uuid> = sqlx::query_scalar!("SELECT organization_id FROM inventory")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible, vec![t.a.org_id]);
    let updated = sqlx::query!("UPDATE inventory SET stock = 0")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    tx.rollback().await.unwrap();

    let none: i64 = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM inventory"#)
        .fetch_one(&app)
        .await
        .unwrap();
    assert_eq!(none, 0, "with no claims set the app role sees nothing");

    let role = sqlx::query!(
        r#"SELECT rolbypassrls AS "bypass!", rolsuper AS "superuser!",
                  (SELECT count(*) FROM pg_tables WHERE tableowner = 'furnitureops_app') AS "owned!"
           FROM pg_roles WHERE rolname = 'furnitureops_app'"#
    )
    .fetch_one(&t.db)
    .await
    .unwrap();
    assert!(!role.bypass && !role.superuser);
    assert_eq!(role.owned, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_origin_refuses_calls_that_skip_the_edge_when_a_secret_is_set(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, SHOP_A, &[("CHAIR", 5)]).await;
    let secret = "edge-secret-for-this-test-0123456789abcdef";
    let state = origin::AppState::new(app_pool(&db).await, keys.verifier())
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(secret)));
    let origin = OriginServer::start_with(state).await;
    let edge = Edge::start_with(
        e2e::EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
            .var("EDGE_SHARED_SECRET", secret),
    )
    .await;
    let chair = shop.item(&db, "CHAIR").await;
    let token = keys.token(shop.org_id, Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 1});

    let direct = edge
        .http
        .post(format!("{}/api/tenant/{}/buy", origin.url, shop.org_id))
        .bearer_auth(&token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);
    let wrong = edge
        .http
        .post(format!("{}/api/tenant/{}/buy", origin.url, shop.org_id))
        .header(api::edge_proof::HEADER, "v1.0.AAAA")
        .bearer_auth(&token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(shop.order_totals(&db).await, (0, 0));

    let through_edge = edge
        .post(SHOP_A, "/api/buy")
        .bearer_auth(&token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(through_edge.status(), StatusCode::CREATED);
    assert_eq!(shop.order_totals(&db).await, (1, 1));
}
