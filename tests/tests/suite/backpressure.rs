//! Under overload the origin answers quickly instead of hanging: a bounded pool that refuses
//! with `503` + `Retry-After` after a short wait, statements cancelled by `statement_timeout`,
//! a whole-request deadline, and a graceful drain on shutdown.
//!
//! Overload is made real by locking the inventory table from the test: every request that gets
//! a connection blocks on the lock and keeps it, exactly like a slow database.

use std::time::{Duration, Instant};

use api::{Problem, ProblemKind};
use e2e::{OriginServer, Shop, TestKeys};
use futures::{stream::FuturesUnordered, StreamExt};
use origin::{
    config::operations::OpsSettings,
    db::{self, AppRole, PoolLimits},
    AppState,
};
use reqwest::StatusCode;
use sqlx::{PgPool, Postgres, Transaction};

const DOMAIN: &str = "busy.shop.test";

struct Limits {
    pool_size: u32,
    acquire_timeout: Duration,
    statement_timeout: Option<Duration>,
    request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            pool_size: 2,
            acquire_timeout: Duration::from_millis(100),
            statement_timeout: None,
            request_timeout: Duration::from_secs(30),
        }
    }
}

async fn origin_with(db: &PgPool, limits: Limits) -> (Shop, String, OriginServer) {
    let shop = Shop::create(db, DOMAIN, &[("CHAIR", 5)]).await;
    let role = AppRole {
        user: "furnitureops_app".to_owned(),
        password: None,
    };
    let options = origin::db::with_statement_timeout(
        role.connect_options(&db.connect_options()),
        limits.statement_timeout,
    );
    let pool = db::connect_with(
        options,
        PoolLimits {
            max_connections: limits.pool_size,
            acquire_timeout: limits.acquire_timeout,
        },
    )
    .await
    .unwrap();
    let state = AppState::new(pool, TestKeys::new().verifier()).with_ops(OpsSettings {
        request_timeout: limits.request_timeout,
        ..OpsSettings::default()
    });
    let origin = OriginServer::start_with(state).await;
    let url = format!("{}/api/tenant/{}/inventory", origin.url, shop.org_id);
    (shop, url, origin)
}

/// Holds an exclusive lock on `inventory` until committed: readers block behind it.
async fn lock_inventory(db: &PgPool) -> Transaction<'static, Postgres> {
    let mut tx = db.begin().await.unwrap();
    sqlx::query!("LOCK TABLE inventory IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

fn client() -> reqwest::Client {
    // A hang would show up as this timeout failing the test, never as a stuck suite.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn assert_unavailable(response: reqwest::Response) -> Problem {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(ProblemKind::Unavailable));
    assert!(problem.request_id.is_some());
    problem
}

#[sqlx::test(migrations = "../migrations")]
async fn a_flood_beyond_the_pool_gets_fast_503s_and_the_origin_recovers(db: PgPool) {
    const FLOOD: usize = 40;
    let limits = Limits::default();
    let pool_size = limits.pool_size as usize;
    let (_shop, url, _origin) = origin_with(&db, limits).await;
    let http = client();
    let lock = lock_inventory(&db).await;

    let mut pending: FuturesUnordered<_> = (0..FLOOD)
        .map(|_| {
            let request = http.get(&url).send();
            async move {
                let started = Instant::now();
                let response = request.await.unwrap();
                (started.elapsed(), response)
            }
        })
        .collect();
    // Every request that found no free connection is refused, quickly, while the pool's
    // connections are still stuck behind the lock.
    for _ in 0..FLOOD - pool_size {
        let (elapsed, response) = pending.next().await.unwrap();
        assert_unavailable(response).await;
        assert!(
            elapsed < Duration::from_secs(3),
            "refused after {elapsed:?}"
        );
    }
    lock.commit().await.unwrap();
    // The requests that held connections finish once the database moves again.
    while let Some((_, response)) = pending.next().await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    for _ in 0..10 {
        assert_eq!(
            http.get(&url).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stuck_statement_is_cancelled_and_answered_503(db: PgPool) {
    let limits = Limits {
        acquire_timeout: Duration::from_secs(2),
        statement_timeout: Some(Duration::from_millis(200)),
        ..Limits::default()
    };
    let (_shop, url, _origin) = origin_with(&db, limits).await;
    let http = client();
    let lock = lock_inventory(&db).await;
    let started = Instant::now();
    assert_unavailable(http.get(&url).send().await.unwrap()).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    lock.commit().await.unwrap();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_request_past_its_deadline_is_a_problem_json_503(db: PgPool) {
    let limits = Limits {
        acquire_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (_shop, url, _origin) = origin_with(&db, limits).await;
    let http = client();
    let lock = lock_inventory(&db).await;
    let started = Instant::now();
    let problem = assert_unavailable(http.get(&url).send().await.unwrap()).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(problem.detail.contains("too long"), "{}", problem.detail);
    lock.commit().await.unwrap();
    // The abandoned transaction was rolled back and its connection reused.
    for _ in 0..3 {
        assert_eq!(
            http.get(&url).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn shutdown_lets_in_flight_requests_finish(db: PgPool) {
    let (_shop, url, origin) = origin_with(&db, Limits::default()).await;
    let http = client();
    let lock = lock_inventory(&db).await;
    let in_flight = tokio::spawn(http.get(&url).send());
    // Shut down only once the request is inside the origin, holding a connection.
    e2e::wait::until_a_lock_is_awaited(&db).await;
    let stopped = tokio::spawn(origin.shutdown());
    lock.commit().await.unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server stops once drained")
        .unwrap();
    assert!(http.get(&url).send().await.is_err(), "no longer listening");
}
