//! Flash sales when things fall over: the database cut off mid-sale, a queue worker killed
//! mid-batch. Nothing is oversold, nothing confirmed is lost, nothing is applied twice.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use api::token::Role;
use e2e::{origin_server::app_pool, wait, Edge, OriginServer, Shop, Stage, TestKeys};
use futures::FutureExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "flash.shop.test";

#[sqlx::test(migrations = "../migrations")]
async fn a_database_outage_mid_sale_fails_fast_and_heals(db: PgPool) {
    let s = Stage::open(&db, DOMAIN, &[("CHAIR", 10_000)]).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let database: String = sqlx::query_scalar!(r#"SELECT current_database() AS "db!""#)
        .fetch_one(&db)
        .await
        .unwrap();
    let sale_over = AtomicBool::new(false);
    let load = futures::future::join_all((0..300).map(|n| {
        let request = s
            .buy(&format!("buyer-{n}"), chair.id, 1)
            .timeout(Duration::from_secs(30));
        async move {
            let started = Instant::now();
            let response = request.send().await.unwrap();
            let retry_after = response.headers().get("retry-after").is_some();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, retry_after, body, started.elapsed())
        }
    }))
    .inspect(|_| sale_over.store(true, Ordering::SeqCst));
    let outage = async {
        // Once the sale has reached the database, cut every connection to it, again and
        // again, until the sale is over: batches in flight lose their connection.
        wait::until(
            Duration::from_secs(20),
            "the sale's first order",
            || async { (s.shop.order_totals(&db).await.0 > 0).then_some(()) },
        )
        .await;
        while !sale_over.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            sqlx::query!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid() AND usename = 'furnitureops_app'",
                database
            )
            .fetch_all(&db)
            .await
            .unwrap();
        }
    };
    let (answers, ()) = tokio::join!(load, outage);
    for (status, retry_after, body, took) in &answers {
        assert!(
            [StatusCode::CREATED, StatusCode::SERVICE_UNAVAILABLE].contains(status),
            "only confirmations and fast refusals: {status} {body}"
        );
        if *status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(retry_after, "a 503 says when to retry");
        }
        assert!(
            *took < Duration::from_secs(10),
            "no request hangs: {took:?}"
        );
    }
    let failed = answers
        .iter()
        .filter(|a| a.0 == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    eprintln!("outage: {failed} of {} buys answered 503", answers.len());
    assert!(failed > 0, "the outage refused buys in flight");

    // It heals without a restart: once the edge's breaker lets buys through again (it opened
    // on the outage's 503s), a buy is confirmed.
    let mut attempt = 0;
    wait::until(
        Duration::from_secs(30),
        "a confirmed buy after the outage",
        || {
            attempt += 1;
            let request = s.buy(&format!("after-outage-{attempt}"), chair.id, 1);
            async move {
                let response = request.send().await.unwrap();
                (response.status() == StatusCode::CREATED).then_some(())
            }
        },
    )
    .await;

    // Nothing oversold, nothing lost: stock + sold units = initial, every 201 is committed.
    let sold: i64 = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(quantity), 0)::bigint AS "n!" FROM orders WHERE organization_id = $1"#,
        s.shop.org_id
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        i64::from(s.shop.item(&db, "CHAIR").await.stock) + sold,
        10_000
    );
    let committed = s.shop.order_ids(&db).await;
    for (status, _, body, _) in &answers {
        if *status == StatusCode::CREATED {
            let id: Uuid = body["order_id"].as_str().unwrap().parse().unwrap();
            assert!(committed.contains(&id));
        }
    }
    drop(s.origin);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_queue_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 30)]).await;
    // No workers inside the server: this test runs them by hand.
    let settings = origin::Settings {
        queue_workers: 0,
        ..Default::default()
    };
    let app = app_pool(&db).await;
    let origin = OriginServer::start_with(origin::AppState::with_settings(
        app.clone(),
        keys.verifier(),
        settings,
    ))
    .await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    let chair = shop.item(&db, "CHAIR").await;
    for n in 0..40 {
        let accepted = edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(keys.token(shop.org_id, Role::Shopper, &format!("q-{n}")))
            .header("idempotency-key", "q")
            .header("prefer", "respond-async")
            .json(&json!({"item_id": chair.id, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    }

    // Hold the item row so the first worker stalls inside its batch, then kill it there.
    let mut blocker = db.begin().await.unwrap();
    sqlx::query!(
        "SELECT stock FROM inventory WHERE organization_id = $1 AND id = $2 FOR UPDATE",
        shop.org_id,
        chair.id
    )
    .fetch_one(&mut *blocker)
    .await
    .unwrap();
    let worker_pool = app.clone();
    let doomed =
        tokio::spawn(async move { origin::purchase::queue::drain_once(&worker_pool, 50).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    let worker_pid = loop {
        let waiting = sqlx::query_scalar!(
            r#"SELECT pid AS "pid!" FROM pg_stat_activity
               WHERE usename = 'furnitureops_app' AND wait_event_type = 'Lock' AND datname = current_database()"#
        )
        .fetch_optional(&db)
        .await
        .unwrap();
        if let Some(pid) = waiting {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never reached the item lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    sqlx::query!("SELECT pg_terminate_backend($1)", worker_pid)
        .fetch_one(&db)
        .await
        .unwrap();
    doomed.abort();
    // Termination is only signalled: until the backend has exited, its claims are still locked
    // and a second worker would skip them and find nothing to do.
    wait::until(
        Duration::from_secs(10),
        "the killed worker gone",
        || async {
            let alive = sqlx::query_scalar!(
                r#"SELECT count(*) AS "alive!" FROM pg_stat_activity WHERE pid = $1"#,
                worker_pid
            )
            .fetch_one(&db)
            .await
            .unwrap();
            (alive == 0).then_some(())
        },
    )
    .await;
    blocker.rollback().await.unwrap();

    // Another worker takes over and decides every purchase exactly once.
    while origin::purchase::queue::drain_once(&app, 50).await.unwrap() > 0 {}
    let decided = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'confirmed') AS "confirmed!",
                  count(*) FILTER (WHERE status = 'rejected') AS "rejected!",
                  count(*) FILTER (WHERE status = 'pending') AS "pending!",
                  count(DISTINCT order_id) AS "distinct_orders!"
           FROM purchase_queue WHERE organization_id = $1"#,
        shop.org_id
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (decided.confirmed, decided.rejected, decided.pending),
        (30, 10, 0)
    );
    assert_eq!(decided.distinct_orders, 30);
    assert_eq!(shop.order_totals(&db).await, (30, 30));
    assert_eq!(shop.item(&db, "CHAIR").await.stock, 0);
}
