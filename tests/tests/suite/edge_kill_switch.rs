//! The kill switch at the edge: once a shop's sales are paused (here flipped at the origin, as
//! another data centre or the operators' CLI would), the Worker refuses its purchases itself
//! within two seconds, without sending them to the origin, and lets them through again within
//! two seconds of the release. Status reads are shared and remembered, so a crowd of buyers
//! costs the origin about one status request per second.

use std::time::{Duration, Instant};

use api::{token::Role, Problem, ProblemKind};
use e2e::{rate_limit_fields, wait, Stage};
use origin::Settings;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "switch.shop.test";
/// How soon the edge must obey a flip it did not see.
const LEARNS_WITHIN: Duration = Duration::from_secs(2);

struct World {
    db: PgPool,
    stage: Stage,
}

async fn world(db: PgPool) -> World {
    let settings = Settings {
        kill_switch_cooldown: chrono::Duration::zero(),
        ..Settings::default()
    };
    let stage = Stage::open_with(&db, DOMAIN, &[("CHAIR", 1_000)], settings).await;
    World { db, stage }
}

impl World {
    /// Flips the switch at the origin, behind the edge's back.
    async fn flip_at_origin(&self, body: Value) {
        let s = &self.stage;
        let url = format!(
            "{}/api/tenant/{}/admin/kill-switch",
            s.origin.url, s.shop.org_id
        );
        let flipped = s
            .edge
            .http
            .put(url)
            .bearer_auth(s.token(Role::Admin, "boss"))
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(flipped.status(), StatusCode::OK);
    }

    async fn buy(&self, sub: &str) -> Response {
        let chair = self.stage.shop.item(&self.db, "CHAIR").await;
        self.stage.buy(sub, chair.id, 1).send().await.unwrap()
    }

    fn buys_at_origin(&self) -> usize {
        self.stage.origin.log.count_ending_with("/buy")
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_edge_obeys_a_flip_within_two_seconds_and_stops_sending_buys(db: PgPool) {
    let w = world(db).await;
    assert_eq!(w.buy("alice").await.status(), StatusCode::CREATED);

    w.flip_at_origin(json!({"engaged": true, "reason": "payment glitch"}))
        .await;
    let flipped = Instant::now();
    let refusal = wait::until(LEARNS_WITHIN * 2, "the edge refusing buys", || async {
        let before = w.buys_at_origin();
        let response = w.buy("alice").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        (w.buys_at_origin() == before).then_some(response)
    })
    .await;
    let learned = flipped.elapsed();
    assert!(learned <= LEARNS_WITHIN, "learned after {learned:?}");
    assert!(rate_limit_fields::retry_after(refusal.headers()).unwrap() >= 1);
    assert!(
        rate_limit_fields::ratelimit(refusal.headers()).is_none(),
        "a paused sale uses no quota"
    );
    let problem: Problem = refusal.json().await.unwrap();
    assert!(problem.is(ProblemKind::SalesPaused), "{problem:?}");
    assert!(problem.detail.contains("payment glitch"));

    let buys_before = w.buys_at_origin();
    let statuses_before = w.stage.origin.log.count_ending_with("/sales");
    let w = &w;
    let crowd = (0..20).map(|n| async move { w.buy(&format!("buyer-{n}")).await.status() });
    let statuses = futures::future::join_all(crowd).await;
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(
        w.buys_at_origin(),
        buys_before,
        "no paused buy reached the origin"
    );
    assert!(w.stage.origin.log.count_ending_with("/sales") - statuses_before <= 2);
    assert_eq!(w.stage.shop.order_totals(&w.db).await, (1, 1));

    w.flip_at_origin(json!({"engaged": false})).await;
    let released = Instant::now();
    wait::until(LEARNS_WITHIN * 2, "the edge selling again", || async {
        (w.buy("alice").await.status() == StatusCode::CREATED).then_some(())
    })
    .await;
    let resumed = released.elapsed();
    assert!(resumed <= LEARNS_WITHIN, "resumed after {resumed:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_flip_through_the_edge_is_obeyed_at_once(db: PgPool) {
    let w = world(db).await;
    assert_eq!(w.buy("alice").await.status(), StatusCode::CREATED);
    let admin = w.stage.token(Role::Admin, "boss");
    let flip = |engaged: bool| {
        w.stage
            .edge
            .request(reqwest::Method::PUT, DOMAIN, "/api/admin/kill-switch")
            .bearer_auth(&admin)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&json!({"engaged": engaged}))
            .send()
    };
    assert_eq!(flip(true).await.unwrap().status(), StatusCode::OK);
    let buys_before = w.buys_at_origin();
    let refused = w.buy("alice").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.buys_at_origin(), buys_before, "refused at the edge");
    assert_eq!(flip(false).await.unwrap().status(), StatusCode::OK);
    assert_eq!(w.buy("alice").await.status(), StatusCode::CREATED);
}
