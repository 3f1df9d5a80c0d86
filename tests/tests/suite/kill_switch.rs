//! The kill switch: it stops buys through the Worker at once, resists flapping, and a forced
//! flip is audited.

use api::{token::Role, Problem, ProblemKind};
use e2e::Stage;
use origin::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "paused.shop.test";

async fn setup(db: &PgPool) -> Stage {
    let settings = Settings {
        kill_switch_cooldown: chrono::Duration::minutes(5),
        ..Settings::default()
    };
    Stage::open_with(db, DOMAIN, &[("CHAIR", 5)], settings).await
}

async fn flip(s: &Stage, body: Value) -> reqwest::Response {
    s.edge
        .request(Method::PUT, DOMAIN, "/api/admin/kill-switch")
        .bearer_auth(s.token(Role::Admin, "boss"))
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn buy(s: &Stage, db: &PgPool) -> reqwest::Response {
    let chair = s.shop.item(db, "CHAIR").await;
    s.buy("alice", chair.id, 1).send().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn engaging_stops_buys_with_a_503_and_retry_after(db: PgPool) {
    let s = setup(&db).await;
    let engaged = flip(&s, json!({"engaged": true, "reason": "flash sale glitch"})).await;
    assert_eq!(engaged.status(), StatusCode::OK);
    let state: Value = engaged.json().await.unwrap();
    assert_eq!(state["engaged"], true);
    assert!(state["cooldown_until"].is_string());

    let refused = buy(&s, &db).await;
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
        flip(&s, json!({"engaged": true})).await.status(),
        StatusCode::OK
    );

    let too_soon = flip(&s, json!({"engaged": false})).await;
    assert_eq!(too_soon.status(), StatusCode::CONFLICT);
    let problem: Problem = too_soon.json().await.unwrap();
    assert!(problem.detail.contains("cooldown until"), "{problem:?}");
    assert_eq!(buy(&s, &db).await.status(), StatusCode::SERVICE_UNAVAILABLE);

    let forced = flip(&s, json!({"engaged": false, "force": true})).await;
    assert_eq!(forced.status(), StatusCode::OK);
    assert_eq!(buy(&s, &db).await.status(), StatusCode::CREATED);

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
    let refused = buy(&s, &db).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(s.shop.order_totals(&db).await, (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_read_the_switch_back_with_its_cooldown(db: PgPool) {
    let s = setup(&db).await;
    let read = || async {
        let response = s
            .edge
            .get(DOMAIN, "/api/admin/kill-switch")
            .bearer_auth(s.token(Role::Admin, "boss"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    let never_flipped = read().await;
    assert_eq!(never_flipped["engaged"], false);
    assert!(never_flipped["since"].is_null());
    assert!(never_flipped["operators_paused"].is_null());

    assert_eq!(
        flip(&s, json!({"engaged": true, "reason": "recount"}))
            .await
            .status(),
        StatusCode::OK
    );
    let paused = read().await;
    assert_eq!(paused["engaged"], true);
    assert_eq!(paused["reason"], "recount");
    let since = chrono::DateTime::parse_from_rfc3339(paused["since"].as_str().unwrap()).unwrap();
    let until =
        chrono::DateTime::parse_from_rfc3339(paused["cooldown_until"].as_str().unwrap()).unwrap();
    assert_eq!(until - since, chrono::Duration::minutes(5));

    let shopper = s
        .edge
        .get(DOMAIN, "/api/admin/kill-switch")
        .bearer_auth(s.token(Role::Shopper, "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(shopper.status(), StatusCode::FORBIDDEN);
}
