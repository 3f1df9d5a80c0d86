//! Three origin processes behind HAProxy, the Worker in front: a flash sale across them, and a
//! rolling restart in the middle of one. Across origins, who gets the last chairs is decided by
//! Postgres (the item row's lock, one batch at a time), not by arrival order at the edge.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use api::{purchase::Order, token::Role};
use e2e::{
    load_balancer::{Backend, LoadBalancer},
    Edge, OriginConfig, OriginProcess, Shop, TestKeys,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "flash.shop.test";
const BUYERS: usize = 500;
const STOCK: i32 = 200;

struct Deployment {
    keys: TestKeys,
    shop: Shop,
    config: OriginConfig,
    origins: Vec<OriginProcess>,
    _balancer: LoadBalancer,
    edge: Edge,
}

async fn deploy(db: &PgPool) -> Deployment {
    let keys = TestKeys::new();
    let shop = Shop::create(db, DOMAIN, &[("CHAIR", STOCK)]).await;
    let config = OriginConfig::new(&db.connect_options(), &keys);
    let mut origins = Vec::new();
    for _ in 0..3 {
        origins.push(OriginProcess::start(&config).await);
    }
    let ports: Vec<Backend> = origins
        .iter()
        .map(|o| Backend {
            port: o.port,
            ops_port: o.ops_port,
        })
        .collect();
    let balancer = LoadBalancer::start(&ports).await;
    let edge = Edge::start(&balancer.url, std::slice::from_ref(&shop), &keys).await;
    Deployment {
        keys,
        shop,
        config,
        origins,
        _balancer: balancer,
        edge,
    }
}

/// One buyer's purchase, sent again under the same key after a retryable answer.
#[derive(Debug)]
struct Outcome {
    status: StatusCode,
    body: Value,
    /// Answers sent again, as (status, had `Retry-After`); status 0 for a dropped connection.
    retried: Vec<(u16, bool)>,
    replayed: bool,
    answered_at: Instant,
}

async fn buy(d: &Deployment, buyer: usize, item_id: Uuid) -> Outcome {
    let token = d
        .keys
        .token(d.shop.org_id, Role::Shopper, &format!("buyer-{buyer}"));
    let key = format!("purchase-of-buyer-{buyer}");
    let mut retried = Vec::new();
    loop {
        let response = d
            .edge
            .post(DOMAIN, "/api/buy")
            .bearer_auth(&token)
            .header("idempotency-key", &key)
            .json(&json!({"item_id": item_id, "quantity": 1}))
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            // The buyer's own connection to the Worker dropped (a keep-alive connection closed
            // as it was reused): as safe to send again as a 503.
            Err(err) => {
                assert!(err.is_request() || err.is_connect(), "{err}");
                retried.push((0, false));
                assert!(
                    retried.len() < 50,
                    "buyer {buyer} kept failing: {retried:?}"
                );
                continue;
            }
        };
        let status = response.status();
        if status.is_server_error() {
            retried.push((
                status.as_u16(),
                response.headers().contains_key("retry-after"),
            ));
            assert!(
                retried.len() < 50,
                "buyer {buyer} kept failing: {retried:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let replayed = response.headers().contains_key("idempotent-replayed");
        let body = response.json().await.unwrap();
        return Outcome {
            status,
            body,
            retried,
            replayed,
            answered_at: Instant::now(),
        };
    }
}

/// Exactly the stock was sold: every 201 has its order, every 409 none, nothing else.
async fn assert_sold_exactly_the_stock(db: &PgPool, d: &Deployment, outcomes: &[Outcome]) {
    let statuses: BTreeMap<u16, usize> = outcomes.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(o.status.as_u16()).or_default() += 1;
        m
    });
    assert_eq!(
        statuses,
        BTreeMap::from([(201, STOCK as usize), (409, BUYERS - STOCK as usize)])
    );
    let mut promised: Vec<Uuid> = outcomes
        .iter()
        .filter(|o| o.status == StatusCode::CREATED)
        .map(|o| {
            serde_json::from_value::<Order>(o.body.clone())
                .unwrap()
                .order_id
        })
        .collect();
    let mut committed = d.shop.order_ids(db).await;
    promised.sort();
    committed.sort();
    assert_eq!(committed, promised, "every 201 committed, nothing else");
    assert_eq!(d.shop.item(db, "CHAIR").await.stock, 0);
    for o in outcomes.iter().filter(|o| o.status == StatusCode::CONFLICT) {
        assert!(o.body.get("order_id").is_none(), "{}", o.body);
    }
}

/// Buy requests the origin whose operations listener is `url` answered, from its `/metrics`.
async fn buys_served(url: &str) -> f64 {
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .filter(|line| line.starts_with("origin_http_requests_total{") && line.contains("buy"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_flash_sale_across_three_origins_sells_exactly_the_stock(db: PgPool) {
    let d = deploy(&db).await;
    let chair = d.shop.item(&db, "CHAIR").await;
    let outcomes =
        futures::future::join_all((0..BUYERS).map(|buyer| buy(&d, buyer, chair.id))).await;
    assert!(outcomes.iter().all(|o| o.retried.is_empty()), "no 5xx");
    assert_sold_exactly_the_stock(&db, &d, &outcomes).await;
    for origin in &d.origins {
        assert!(
            buys_served(&origin.ops_url).await > 0.0,
            "every origin sold"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rolling_restart_mid_sale_loses_nothing_and_doubles_nothing(db: PgPool) {
    let mut d = deploy(&db).await;
    let chair = d.shop.item(&db, "CHAIR").await;
    let (restarted_tx, restarted) = tokio::sync::oneshot::channel();
    let config = d.config.clone();
    let old = std::mem::take(&mut d.origins);
    let first_sigterm = Instant::now() + Duration::from_millis(300);
    let restart = tokio::spawn(async move {
        // Each origin in turn, while the buyers keep arriving.
        let mut fresh = Vec::new();
        for origin in old {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (port, ops_port) = (origin.port, origin.ops_port);
            let exit = origin.terminate().await;
            assert!(
                exit.success(),
                "the origin drained and exited cleanly: {exit}"
            );
            fresh.push(OriginProcess::start_on(port, ops_port, &config).await);
        }
        let _ = restarted_tx.send(());
        fresh
    });
    // Buyers arrive one every 10 ms, over the restarts.
    let buyers = futures::future::join_all((0..BUYERS).map(|buyer| {
        let d = &d;
        async move {
            tokio::time::sleep(Duration::from_millis(10 * buyer as u64)).await;
            buy(d, buyer, chair.id).await
        }
    }));
    let (outcomes, ()) = tokio::join!(buyers, async {
        restarted.await.unwrap();
    });
    d.origins = restart.await.unwrap();

    let retried: Vec<(u16, bool)> = outcomes.iter().flat_map(|o| o.retried.clone()).collect();
    let dropped = retried.iter().filter(|&&(status, _)| status == 0).count();
    assert!(
        retried
            .iter()
            .all(|&(status, retry_after)| status == 0 || (status == 503 && retry_after)),
        "no 5xx but 503 with Retry-After: {retried:?}"
    );
    assert_sold_exactly_the_stock(&db, &d, &outcomes).await;
    let sold_during_restarts = outcomes
        .iter()
        .filter(|o| o.status == StatusCode::CREATED && o.answered_at > first_sigterm)
        .count();
    assert!(sold_during_restarts > 0, "the restarts happened mid-sale");
    println!(
        "rolling restart: {sold_during_restarts} chairs sold after the first SIGTERM, {} retryable \
         503s, {dropped} buyer connections dropped, {} answers replayed",
        retried.len() - dropped,
        outcomes.iter().filter(|o| o.replayed).count()
    );
}
