//! When the rate limiter's Durable Object cannot be reached (here: the Worker runs without its
//! binding), requests that need it fail open (reads) or closed (purchases) by default, and both
//! are configurable. Reads the isolate decides on its own (below half the client's quota) never
//! needed the object, so they are served with their standing; the fallback tests make every
//! read ask the object (`exact_reads`).

use api::{Problem, ProblemKind};
use e2e::{rate_limit_fields, EdgeConfig, Shop, Stage};
use origin::Settings;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

const DOMAIN: &str = "no-limiter.shop.test";

/// A Worker without the limiter binding; `when_unreachable` is its fallback setting, if any.
/// Every read of the shop asks the object, unless `reads_counted_locally`.
async fn stage(db: &PgPool, when_unreachable: Option<&str>, reads_counted_locally: bool) -> Stage {
    let without_limiter = |mut config: EdgeConfig, shop: &Shop| {
        config.without_rate_limiter = true;
        let config =
            config.shop_rate_limits(shop.org_id, json!({"exact_reads": !reads_counted_locally}));
        match when_unreachable {
            Some(setting) => config.var("RATE_LIMIT_WHEN_UNREACHABLE", setting),
            None => config,
        }
    };
    let items = [("CHAIR", 5)];
    Stage::open_with_edge(db, DOMAIN, &items, Settings::default(), without_limiter).await
}

async fn buy(s: &Stage, db: &PgPool) -> reqwest::Response {
    let chair = s.shop.item(db, "CHAIR").await;
    s.buy("alice", chair.id, 1).send().await.unwrap()
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
    let s = stage(&db, None, false).await;
    let read = s.edge.get(DOMAIN, "/api/inventory").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert!(
        rate_limit_fields::ratelimit(read.headers()).is_none(),
        "no quota was checked"
    );

    assert_unavailable(buy(&s, &db).await).await;
    assert_eq!(s.shop.order_totals(&db).await, (0, 0));
    assert_eq!(s.shop.item(&db, "CHAIR").await.stock, 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_fallback_of_each_class_is_configurable(db: PgPool) {
    let s = stage(&db, Some(r#"{"read": "closed", "write": "open"}"#), false).await;
    assert_unavailable(s.edge.get(DOMAIN, "/api/inventory").send().await.unwrap()).await;
    assert_eq!(buy(&s, &db).await.status(), StatusCode::CREATED);
    assert_eq!(s.shop.order_totals(&db).await, (1, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn reads_the_isolate_decides_need_no_object(db: PgPool) {
    let s = stage(&db, Some(r#"{"read": "closed", "write": "closed"}"#), true).await;
    let read = s.edge.get(DOMAIN, "/api/inventory").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let standing = rate_limit_fields::ratelimit(read.headers()).unwrap();
    assert_eq!(
        (standing.policy.as_str(), standing.get("r")),
        ("read", Some(299))
    );
    assert_unavailable(buy(&s, &db).await).await;
}
