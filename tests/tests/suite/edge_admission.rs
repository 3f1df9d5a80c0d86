//! Admission at the edge: a shop's purchases are shed only while the origin shows it is
//! overloaded by them, with `503` `shop-busy` and `Retry-After` (never a `429` that blames the
//! shopper), and another shop whose buys the origin still answers is not touched. The shop's
//! owner is never locked out of their own sale by shoppers' demand: pausing and restocking
//! through the edge do not count against the shop's write ceiling.
//!
//! Overload is made real by locking one shop's hot item in the database: its batches wait on
//! the lock, and the origin answers its buyers `503` overloaded at its request deadline.

use std::time::{Duration, Instant};

use api::{headers, live_sale::SaleSecond, token::Role, Problem, ProblemKind};
use e2e::{
    origin_server::app_pool, sse::SseReader, Edge, EdgeConfig, OriginServer, Shop, Stage, TestKeys,
};
use futures::future::join_all;
use origin::{config::operations::OpsSettings, AppState, Settings};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const BUSY: &str = "busy.shop.test";
const CALM: &str = "calm.shop.test";
const SECRET: &str = "edge-secret-for-admission-0123456789abcdef";

#[sqlx::test(migrations = "../migrations")]
async fn under_origin_pressure_one_shops_sale_is_shed_and_another_shops_buys_go_through(
    db: PgPool,
) {
    let keys = TestKeys::new();
    let busy = Shop::create(&db, BUSY, &[("HOT", 1_000)]).await;
    let calm = Shop::create(&db, CALM, &[("CHAIR", 1_000)]).await;
    let hot = busy.item(&db, "HOT").await.id;
    let chair = calm.item(&db, "CHAIR").await.id;
    let state = AppState::new(app_pool(&db).await, keys.verifier())
        .with_ops(OpsSettings {
            request_timeout: Duration::from_millis(500),
            ..OpsSettings::default()
        })
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
    let origin = OriginServer::start_with(state).await;
    let config = EdgeConfig::new(&origin.url, &[busy.clone(), calm.clone()], &keys)
        .var("EDGE_SHARED_SECRET", SECRET);
    let edge = Edge::start_with(config).await;
    let owner = keys.token(busy.org_id, Role::Admin, "owner");
    let live = edge.get(BUSY, "/api/admin/events").bearer_auth(&owner);
    let mut live = SseReader::new(live.send().await.unwrap());
    assert!(live
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    let buy = |shop: &Shop, item: Uuid, sub: String| {
        let token = keys.token(shop.org_id, Role::Shopper, &sub);
        edge.buy(&shop.domain, &token, item, 1).send()
    };
    // Both shops sell before the pressure starts: the Worker and the origin are warm.
    for (shop, item) in [(&busy, hot), (&calm, chair)] {
        let warm = buy(shop, item, "early-bird".to_owned()).await.unwrap();
        assert_eq!(warm.status(), StatusCode::CREATED);
    }

    let mut lock = db.begin().await.unwrap();
    sqlx::query("SELECT stock FROM inventory WHERE id = $1 FOR UPDATE")
        .bind(hot)
        .execute(&mut *lock)
        .await
        .unwrap();

    let mut busy_answers = Vec::new();
    let mut calm_statuses = Vec::new();
    for wave in 0..4 {
        let sale = (0..25).map(|n| buy(&busy, hot, format!("fan-{wave}-{n}")));
        let others = (0..5).map(|n| buy(&calm, chair, format!("calm-{wave}-{n}")));
        let (sale, others) = futures::join!(join_all(sale), join_all(others));
        busy_answers.extend(sale.into_iter().map(Result::unwrap));
        for answer in others {
            let answer = answer.unwrap();
            calm_statuses.push((answer.status(), answer.text().await.unwrap()));
        }
    }
    lock.rollback().await.unwrap();

    assert!(
        calm_statuses.iter().all(|(s, _)| *s == StatusCode::CREATED),
        "the calm shop's buys: {calm_statuses:?}"
    );
    let mut shed = 0_u64;
    for answer in busy_answers {
        assert_ne!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        if answer.headers().get(headers::EDGE_REFUSAL).is_some() {
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(answer.headers().get(headers::RETRY_AFTER).is_some());
            let problem: Problem = answer.json().await.unwrap();
            assert!(problem.is(ProblemKind::ShopBusy), "{problem:?}");
            shed += 1;
        }
    }
    // The early bird's buy reached it too.
    let reached = origin
        .log
        .count_ending_with(&format!("/{}/buy", busy.org_id));
    assert!(shed >= 30, "only {shed} of 100 buys shed at the edge");
    assert_eq!(
        reached as u64 - 1 + shed,
        100,
        "every buy either shed or sent"
    );
    assert_eq!(calm.order_totals(&db).await, (21, 21));

    // The owner's live view counts the shed buys as the shop being busy.
    let mut counted = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while counted < shed && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(second) = live.wait_for("second", left).await else {
            break;
        };
        counted += serde_json::from_value::<SaleSecond>(second)
            .unwrap()
            .refused
            .busy;
    }
    assert_eq!(counted, shed, "shed buys in the live view");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_owner_pauses_and_restocks_through_the_edge_while_shoppers_exceed_every_quota(
    db: PgPool,
) {
    let settings = Settings {
        kill_switch_cooldown: chrono::Duration::zero(),
        ..Settings::default()
    };
    let limits = json!({
        "write": {"limit": 3, "window_seconds": 60},
        "shop_write": {"limit": 10, "window_seconds": 60}
    });
    let stage = Stage::open_with_edge(&db, BUSY, &[("HOT", 1_000)], settings, |config, shop| {
        config.shop_rate_limits(shop.org_id, limits)
    })
    .await;
    let hot = stage.shop.item(&db, "HOT").await.id;
    let crowd = (0..40).map(|n| stage.buy(&format!("fan-{}", n % 8), hot, 1).send());
    let statuses: Vec<_> = join_all(crowd)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused, 30, "the shop's ceiling is spent: {statuses:?}");

    let owner = stage.token(Role::Admin, "owner");
    let admin = |method: Method, path: &str, body: serde_json::Value| {
        stage
            .edge
            .request(method, BUSY, path)
            .bearer_auth(&owner)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
    };
    let paused = admin(
        Method::PUT,
        "/api/admin/kill-switch",
        json!({"engaged": true}),
    );
    assert_eq!(paused.await.unwrap().status(), StatusCode::OK);
    let during_pause = stage.buy("latecomer", hot, 1).send().await.unwrap();
    assert_eq!(during_pause.status(), StatusCode::SERVICE_UNAVAILABLE);
    let restock = admin(
        Method::PATCH,
        &format!("/api/admin/items/{hot}"),
        json!({"stock": 2_000}),
    );
    assert_eq!(restock.await.unwrap().status(), StatusCode::OK);
    let resumed = admin(
        Method::PUT,
        "/api/admin/kill-switch",
        json!({"engaged": false}),
    );
    assert_eq!(resumed.await.unwrap().status(), StatusCode::OK);
    assert_eq!(stage.shop.item(&db, "HOT").await.stock, 2_000);
}
