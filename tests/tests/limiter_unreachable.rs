//! When the rate limiter's Durable Object cannot be reached (here: the Worker runs without its
//! binding), reads fail open and purchases fail closed by default, and both are configurable.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use api::{token::Role, Problem, ProblemKind};
use e2e::{rate_limit_fields, Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use reqwest::StatusCode;
use sqlx::PgPool;

const DOMAIN: &str = "no-limiter.shop.test";

struct World {
    db: PgPool,
    keys: TestKeys,
    shop: Shop,
    edge: Edge,
    _origin: OriginServer,
}

/// A Worker without the limiter binding; `when_unreachable` is its fallback setting, if any.
async fn world(db: PgPool, when_unreachable: Option<&str>) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 5)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let mut config = EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys);
    config.without_rate_limiter = true;
    if let Some(setting) = when_unreachable {
        config = config.var("RATE_LIMIT_WHEN_UNREACHABLE", setting);
    }
    let edge = Edge::start_with(config).await;
    World {
        db,
        keys,
        shop,
        edge,
        _origin: origin,
    }
}

impl World {
    async fn buy(&self) -> reqwest::Response {
        let token = self.keys.token(self.shop.org_id, Role::Shopper, "alice");
        let chair = self.shop.item(&self.db, "CHAIR").await;
        self.edge
            .buy(DOMAIN, &token, chair.id, 1)
            .send()
            .await
            .unwrap()
    }
}

async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(rate_limit_fields::retry_after(response.headers()).unwrap() >= 1);
    assert_eq!(
        response.headers()["content-type"],
        api::headers::PROBLEM_JSON
    );
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(ProblemKind::Unavailable), "{problem:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn by_default_reads_are_served_and_purchases_refused(db: PgPool) {
    let w = world(db, None).await;
    let read = w.edge.get(DOMAIN, "/api/inventory").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert!(
        rate_limit_fields::ratelimit(read.headers()).is_none(),
        "no quota was checked"
    );

    assert_unavailable(w.buy().await).await;
    assert_eq!(w.shop.order_totals(&w.db).await, (0, 0));
    assert_eq!(w.shop.item(&w.db, "CHAIR").await.stock, 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_fallback_of_each_class_is_configurable(db: PgPool) {
    let w = world(db, Some(r#"{"read": "closed", "write": "open"}"#)).await;
    assert_unavailable(w.edge.get(DOMAIN, "/api/inventory").send().await.unwrap()).await;
    assert_eq!(w.buy().await.status(), StatusCode::CREATED);
    assert_eq!(w.shop.order_totals(&w.db).await, (1, 1));
}
