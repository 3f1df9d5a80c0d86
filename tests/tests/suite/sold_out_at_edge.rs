//! Sold out at the edge: once the Worker has seen that an item has no unit left, buys of it are
//! answered `409` `out-of-stock` by the Worker itself (`X-Edge-Refusal: sold-out`) and never
//! reach the origin; a restock through the Worker reopens the item at once; a restock in the
//! database is found by the next admitted buy, however a client over its quota floods the item;
//! and a buyer who retries a key whose first answer was a sale gets that sale back, not the
//! refusal.

use std::time::{Duration, Instant};

use api::{headers, purchase::Order, token::Role, Problem, ProblemKind};
use e2e::Stage;
use futures::future::join_all;
use origin::Settings;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "soldout.shop.test";

struct World {
    db: PgPool,
    stage: Stage,
    chair: Uuid,
}

async fn world(db: PgPool, stock: i32) -> World {
    let stage = Stage::open(&db, DOMAIN, &[("CHAIR", stock)]).await;
    let chair = stage.shop.item(&db, "CHAIR").await.id;
    World { db, stage, chair }
}

impl World {
    async fn buy(&self, sub: &str) -> Response {
        self.stage.buy(sub, self.chair, 1).send().await.unwrap()
    }

    async fn buy_with_key(&self, sub: &str, key: &str) -> Response {
        self.stage
            .edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(self.stage.token(Role::Shopper, sub))
            .header("idempotency-key", key)
            .json(&json!({"item_id": self.chair, "quantity": 1}))
            .send()
            .await
            .unwrap()
    }

    fn buys_at_origin(&self) -> usize {
        self.stage.origin.log.count_ending_with("/buy")
    }

    /// Buys until one is refused by the edge itself; returns that refusal.
    async fn sell_out(&self, units: usize) -> Response {
        for n in 0..units {
            let sold = self.buy(&format!("early-{n}")).await;
            assert_eq!(sold.status(), StatusCode::CREATED);
        }
        let from_origin = self.buy("first-too-late").await;
        assert_eq!(from_origin.status(), StatusCode::CONFLICT);
        assert!(from_origin.headers().get(headers::EDGE_REFUSAL).is_none());
        self.buy("second-too-late").await
    }

    async fn stock(&self) -> i32 {
        self.stage.shop.item(&self.db, "CHAIR").await.stock
    }
}

fn edge_refusal(response: &Response) -> Option<&str> {
    response
        .headers()
        .get(headers::EDGE_REFUSAL)
        .and_then(|value| value.to_str().ok())
}

#[sqlx::test(migrations = "../migrations")]
async fn once_an_item_is_sold_out_its_buys_are_refused_by_the_edge_without_the_origin(db: PgPool) {
    let w = world(db, 3).await;
    let refused = w.sell_out(3).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(edge_refusal(&refused), Some("sold-out"));
    let problem: Problem = refused.json().await.unwrap();
    assert!(problem.is(ProblemKind::OutOfStock), "{problem:?}");
    assert_eq!(
        problem.available,
        Some(0),
        "the edge's refusal says none is left"
    );

    let at_origin = w.buys_at_origin();
    let crowd = join_all((0..20).map(|n| w.buy_owned(format!("crowd-{n}")))).await;
    let statuses: Vec<_> = crowd.iter().map(|(status, _)| *status).collect();
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    // At most one buy asks the origin whether the item is still sold out, if the edge's
    // knowledge ran out (a second) while the crowd was buying.
    let reached = w.buys_at_origin() - at_origin;
    assert!(
        reached <= 1,
        "{reached} of 20 sold-out buys reached the origin"
    );
    let from_edge = crowd.iter().filter(|(_, edge)| *edge).count();
    assert!(from_edge >= 19, "{from_edge} of 20 refused at the edge");
    assert_eq!(w.stock().await, 0);
    assert_eq!(w.stage.shop.order_totals(&w.db).await, (3, 3));
}

impl World {
    /// A buy's status, and whether the edge refused it by itself.
    async fn buy_owned(&self, sub: String) -> (StatusCode, bool) {
        let response = self.buy(&sub).await;
        (response.status(), edge_refusal(&response).is_some())
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_restock_through_the_edge_reopens_a_sold_out_item_at_once(db: PgPool) {
    let w = world(db, 1).await;
    let refused = w.sell_out(1).await;
    assert_eq!(edge_refusal(&refused), Some("sold-out"));

    let restocked = w
        .stage
        .edge
        .request(
            Method::PATCH,
            DOMAIN,
            &format!("/api/admin/items/{}", w.chair),
        )
        .bearer_auth(w.stage.token(Role::Admin, "owner"))
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({"stock": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(restocked.status(), StatusCode::OK);
    let bought = w.buy("after-restock").await;
    assert_eq!(bought.status(), StatusCode::CREATED);
    assert_eq!(w.stock().await, 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_retried_key_whose_first_answer_was_a_sale_gets_the_sale_after_the_sell_out(db: PgPool) {
    let w = world(db, 2).await;
    let key = Uuid::new_v4().to_string();
    let first = w.buy_with_key("alice", &key).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let order: Order = first.json().await.unwrap();
    let refused = w.sell_out(1).await;
    assert_eq!(edge_refusal(&refused), Some("sold-out"));

    let at_origin = w.buys_at_origin();
    let retried = w.buy_with_key("alice", &key).await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert_eq!(
        retried
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(retried.json::<Order>().await.unwrap(), order);
    assert_eq!(w.buys_at_origin(), at_origin, "replayed by the edge");

    // The same key from another shopper is not alice's sale.
    let stranger = w.buy_with_key("mallory", &key).await;
    assert_eq!(stranger.status(), StatusCode::CONFLICT);
    assert_eq!(w.stage.shop.order_totals(&w.db).await, (2, 2));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_client_over_its_quota_cannot_hold_a_restocked_item_sold_out(db: PgPool) {
    // Three buys a minute per client; the attacker spends its three on tables.
    let stage = Stage::open_with_edge(
        &db,
        DOMAIN,
        &[("CHAIR", 1), ("TABLE", 100)],
        Settings::default(),
        |config, shop| {
            config.shop_rate_limits(
                shop.org_id,
                json!({"write": {"limit": 3, "window_seconds": 60}}),
            )
        },
    )
    .await;
    let chair = stage.shop.item(&db, "CHAIR").await.id;
    let table = stage.shop.item(&db, "TABLE").await.id;
    let w = World { db, stage, chair };
    for _ in 0..3 {
        let bought = w.stage.buy("mallory", table, 1).send().await.unwrap();
        assert_eq!(bought.status(), StatusCode::CREATED);
    }
    let over = w.stage.buy("mallory", table, 1).send().await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    let refused = w.sell_out(1).await;
    assert_eq!(edge_refusal(&refused), Some("sold-out"));

    sqlx::query("UPDATE inventory SET stock = 5 WHERE id = $1")
        .bind(w.chair)
        .execute(&w.db)
        .await
        .unwrap();
    // The attacker floods buys of the chair without a key, from the moment of the restock
    // until well past the sold-out mark's second and a probe's lease.
    let flood_until = Instant::now() + Duration::from_millis(4_500);
    let flooder = |_| {
        let (edge, token) = (&w.stage.edge, w.stage.token(Role::Shopper, "mallory"));
        async move {
            let mut statuses = Vec::new();
            while Instant::now() < flood_until {
                let response = edge
                    .post(DOMAIN, "/api/buy")
                    .bearer_auth(&token)
                    .json(&json!({"item_id": w.chair, "quantity": 1}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status());
            }
            statuses
        }
    };
    let honest = async {
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        // An honest buyer with a key, trying for less than one probe's lease (2 s).
        let started = Instant::now();
        let mut answers = Vec::new();
        while started.elapsed() < Duration::from_millis(1_500) {
            let bought = w.buy_with_key("alice", &Uuid::new_v4().to_string()).await;
            answers.push((bought.status(), edge_refusal(&bought).map(str::to_owned)));
            if bought.status() == StatusCode::CREATED {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        answers
    };
    let (flood, answers) = futures::future::join(join_all((0..6).map(flooder)), honest).await;
    let flood: Vec<StatusCode> = flood.into_iter().flatten().collect();
    assert!(flood.len() > 50, "the flood sent only {} buys", flood.len());
    assert!(
        flood.iter().all(|status| *status != StatusCode::CREATED),
        "a buy over the quota went through"
    );
    assert_eq!(
        answers.last().map(|(status, _)| *status),
        Some(StatusCode::CREATED),
        "the honest buyer's answers: {answers:?}"
    );
    assert_eq!(w.stock().await, 4);
}
