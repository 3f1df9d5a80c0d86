//! Purchases per second through HAProxy with one origin process and with three, side by side:
//! one hot item (every buy takes the same row lock, so more origins only add batches that queue
//! on it) and many items (buys spread over rows, so origins add parallel work until Postgres or
//! the machine's cores run out).
//!
//! The origins are the release binary (`cargo build --release -p origin`), each with the same
//! small pools so the runs compare origins, not pool sizes, and the whole deployment stays
//! inside the connection budget of a shared Postgres (see docs/operations.md).

use std::{sync::Arc, time::Duration};

use api::token::Role;
use e2e::{
    load_balancer::{Backend, LoadBalancer},
    OriginConfig, OriginProcess, TestKeys,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    load::{drive, Until},
    scratch::{stocked_shop, with_scratch_database},
    stats::{micros, summarize},
};

/// What one run is given.
#[derive(Debug, Clone, Copy)]
pub struct ScaleOutBench {
    pub seconds: f64,
    pub clients: usize,
    pub items: usize,
    /// `DATABASE_MAX_CONNECTIONS` of every origin.
    pub pool_size: u32,
}

pub async fn run(owner_url: &str, bench: ScaleOutBench) -> anyhow::Result<()> {
    with_scratch_database(owner_url, "scale_out", |options, owner| async move {
        let org = stocked_shop(&owner, "scale.bench.test", bench.items).await?;
        sqlx::query!(
            "UPDATE inventory SET stock = 100000000 WHERE organization_id = $1",
            org
        )
        .execute(&owner)
        .await?;
        let items: Arc<Vec<Uuid>> = Arc::new(
            sqlx::query_scalar!(
                "SELECT id FROM inventory WHERE organization_id = $1 ORDER BY sku",
                org
            )
            .fetch_all(&owner)
            .await?,
        );
        let keys = TestKeys::new();
        let config = OriginConfig::new(&options, &keys)
            .var("DATABASE_MAX_CONNECTIONS", bench.pool_size.to_string());
        let tokens: Arc<Vec<String>> = Arc::new(
            (0..bench.clients)
                .map(|i| keys.token(org, Role::Shopper, &format!("buyer-{i}")))
                .collect(),
        );

        println!(
            "scale-out: POST /api/buy through HAProxy, {} clients, {} s per run, \
             {} connections per origin pool, {} items",
            bench.clients, bench.seconds, bench.pool_size, bench.items
        );
        println!(
            "{:<8} {:<10} {:>12} {:>10} {:>10}  statuses",
            "origins", "items", "buys/s", "p50 ms", "p99 ms"
        );
        for origins in [1, 3] {
            let mut processes = Vec::new();
            for _ in 0..origins {
                processes.push(OriginProcess::start(&config).await);
            }
            let ports: Vec<Backend> = processes
                .iter()
                .map(|p| Backend {
                    port: p.port,
                    ops_port: p.ops_port,
                })
                .collect();
            let balancer = LoadBalancer::start(&ports).await;
            for (label, spread) in [("one hot", 1), ("many", items.len())] {
                let url = format!("{}/api/tenant/{org}/buy", balancer.url);
                let (items, tokens) = (Arc::clone(&items), Arc::clone(&tokens));
                let make: crate::load::MakeRequest = Arc::new(move |http, i| {
                    http.post(&url)
                        .bearer_auth(&tokens[i % tokens.len()])
                        .header("idempotency-key", Uuid::new_v4().to_string())
                        .json(&json!({"item_id": items[i % spread], "quantity": 1}))
                });
                let mut load = drive(
                    bench.clients,
                    Until::Elapsed(Duration::from_secs_f64(bench.seconds)),
                    make,
                )
                .await?;
                let rate = load.per_second();
                let summary = summarize(&mut load.latencies);
                println!(
                    "{:<8} {:<10} {:>12.0} {:>10.1} {:>10.1}  {:?}",
                    origins,
                    label,
                    rate,
                    micros(summary.p50) / 1e3,
                    micros(summary.p99) / 1e3,
                    load.statuses
                );
            }
            drop(balancer);
            for process in processes {
                process.terminate().await;
            }
        }
        Ok(())
    })
    .await
}
