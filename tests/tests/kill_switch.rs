//! The kill switch: it stops buys through the Worker at once, resists flapping, and a forced
//! flip is audited.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use api::{token::Role, Problem, ProblemKind};
use e2e::{origin_server::app_pool, Edge, OriginServer, Shop, TestKeys};
use origin::{state::Settings, AppState};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "paused.shop.test";

struct Setup {
    keys: TestKeys,
    shop: Shop,
    edge: Edge,
    _origin: OriginServer,
}

async fn setup(db: &PgPool) -> Setup {
    let keys = TestKeys::new();
    let shop = Shop::create(db, DOMAIN, &[("CHAIR", 5)]).await;
    let settings = Settings {
        kill_switch_cooldown: chrono::Duration::minutes(5),
        ..Settings::default()
    };
    let origin = OriginServer::start_with(AppState::with_settings(
        app_pool(db).await,
        keys.verifier(),
        settings,
    ))
    .await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    Setup {
        keys,
        shop,
        edge,
        _origin: origin,
    }
}

impl Setup {
    async fn flip(&self, body: Value) -> reqwest::Response {
        let admin = self.keys.token(self.shop.org_id, Role::Admin, "boss");
        self.edge
            .request(Method::PUT, DOMAIN, "/api/admin/kill-switch")
            .bearer_auth(admin)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn buy(&self, db: &PgPool) -> reqwest::Response {
        let chair = self.shop.item(db, "CHAIR").await;
        self.edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(self.keys.token(self.shop.org_id, Role::Shopper, "alice"))
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&json!({"item_id": chair.id, "quantity": 1}))
            .send()
            .await
            .unwrap()
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn engaging_stops_buys_with_a_503_and_retry_after(db: PgPool) {
    let s = setup(&db).await;
    let engaged = s
        .flip(json!({"engaged": true, "reason": "flash sale glitch"}))
        .await;
    assert_eq!(engaged.status(), StatusCode::OK);
    let state: Value = engaged.json().await.unwrap();
    assert_eq!(state["engaged"], true);
    assert!(state["cooldown_until"].is_string());

    let refused = s.buy(&db).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: i64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let problem: Problem = refused.json().await.unwrap();
    assert!(problem.is(ProblemKind::SalesPaused));
    assert!(problem.detail.contains("flash sale glitch"));
    assert_eq!(s.shop.order_totals(&db).await, (0, 0));
    assert_eq!(s.shop.item(&db, "CHAIR").await.stock, 5);

    let status: Value = s
        .edge
        .get(DOMAIN, "/api/sales")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["paused"], true);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_cooldown_blocks_flapping_until_forced_and_the_force_is_audited(db: PgPool) {
    let s = setup(&db).await;
    assert_eq!(
        s.flip(json!({"engaged": true})).await.status(),
        StatusCode::OK
    );

    let too_soon = s.flip(json!({"engaged": false})).await;
    assert_eq!(too_soon.status(), StatusCode::CONFLICT);
    let problem: Problem = too_soon.json().await.unwrap();
    assert!(problem.detail.contains("cooldown until"), "{problem:?}");
    assert_eq!(s.buy(&db).await.status(), StatusCode::SERVICE_UNAVAILABLE);

    let forced = s.flip(json!({"engaged": false, "force": true})).await;
    assert_eq!(forced.status(), StatusCode::OK);
    assert_eq!(s.buy(&db).await.status(), StatusCode::CREATED);

    let actions: Vec<String> = sqlx::query_scalar!(
        "SELECT action FROM audit_log WHERE organization_id = $1 AND target = 'kill_switch' ORDER BY id",
        s.shop.org_id
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        ["kill_switch.engage", "kill_switch.release_forced"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_operators_global_switch_pauses_every_shop(db: PgPool) {
    let s = setup(&db).await;
    let mut tx = db.begin().await.unwrap();
    let order = origin::kill_switch::FlipOrder {
        org_id: origin::kill_switch::GLOBAL,
        engaged: true,
        reason: Some("payment provider down"),
        force: false,
        actor: "operator-cli",
        cooldown: chrono::Duration::minutes(5),
        now: chrono::Utc::now(),
    };
    origin::kill_switch::flip(&mut tx, &order).await.unwrap();
    tx.commit().await.unwrap();
    let refused = s.buy(&db).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(s.shop.order_totals(&db).await, (0, 0));
}
