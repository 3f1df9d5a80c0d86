//! `GET /api/inventory` throughput at the origin, reads on the primary versus on a streaming
//! replica. Sets up its own throwaway primary and `pg_basebackup -R` replica (see `clusters`),
//! serves the origin in-process and drives it over HTTP from concurrent clients, one run per
//! routing: primary only, replica, and replica with every read carrying a write position (the
//! read-your-writes check). Reads are counted per pool from `origin_db_reads_total`.

use std::time::Duration;

use sqlx::{postgres::PgConnectOptions, PgPool};

use crate::{
    load::{drive, public_routes_only, BenchServer, MakeRequest, Until},
    scratch::stocked_shop,
    stats::{micros, summarize},
};
use e2e::clusters::{wait_for_replay, ThrowawayCluster};
use origin::{
    db::replica::positions::committed_position,
    db::{self, AppRole, PoolLimits, MIGRATOR},
    observability::recorder,
    AppState,
};

#[derive(Debug, Clone, Copy)]
pub struct ReplicaBench {
    pub seconds: f64,
    pub clients: usize,
    pub items: usize,
    pub pool_size: u32,
}

pub async fn run(bench: ReplicaBench) -> anyhow::Result<()> {
    let primary = ThrowawayCluster::primary()?;
    let replica = ThrowawayCluster::replica_of(&primary)?;
    let limits = PoolLimits {
        max_connections: bench.pool_size,
        acquire_timeout: Duration::from_secs(5),
    };
    let owner = db::connect(&primary.url("postgres"), limits).await?;
    MIGRATOR.run(&owner).await?;
    let org = stocked_shop(&owner, "bench.test", bench.items).await?;
    sqlx::query("ANALYZE").execute(&owner).await?;

    let on_primary = app_pool(&primary, limits).await?;
    let on_replica = app_pool(&replica, limits).await?;
    let position = committed_position(&owner).await?;
    wait_for_replay(&on_replica, position, Duration::from_secs(60)).await?;

    println!(
        "GET /api/inventory at the origin: {} items, {} clients, {} s per run, pools of {}",
        bench.items, bench.clients, bench.seconds, bench.pool_size
    );
    println!("(throwaway primary + streaming replica, both on this machine)");
    println!(
        "{:<30} {:>10} {:>9} {:>9} {:>12} {:>12}",
        "reads from", "req/s", "p50 ms", "p99 ms", "on primary", "on replica"
    );
    let runs = [
        ("primary pool (no replica)", None, None),
        ("replica pool", Some(on_replica.clone()), None),
        (
            "replica pool, X-Write-LSN",
            Some(on_replica.clone()),
            Some(position.to_string()),
        ),
    ];
    for (label, replica_pool, write_lsn) in runs {
        let state =
            AppState::new(on_primary.clone(), public_routes_only()?).with_replica(replica_pool);
        let server = BenchServer::start(state).await?;
        let url = format!("{}/api/tenant/{org}/inventory", server.url);
        let make: MakeRequest = std::sync::Arc::new(move |http, _| {
            let request = http.get(&url);
            match &write_lsn {
                Some(lsn) => request.header(api::headers::WRITE_LSN, lsn),
                None => request,
            }
        });
        drive(
            bench.clients,
            Until::Requests(bench.clients * 20),
            make.clone(),
        )
        .await?;
        let before = reads_by_pool();
        let mut load = drive(
            bench.clients,
            Until::Elapsed(Duration::from_secs_f64(bench.seconds)),
            make,
        )
        .await?;
        let after = reads_by_pool();
        anyhow::ensure!(
            load.statuses.keys().all(|status| *status == 200),
            "not every read succeeded: {:?}",
            load.statuses
        );
        let summary = summarize(&mut load.latencies);
        println!(
            "{label:<30} {:>10.0} {:>9.2} {:>9.2} {:>12.0} {:>12.0}",
            load.per_second(),
            micros(summary.p50) / 1e3,
            micros(summary.p99) / 1e3,
            after.0 - before.0,
            after.1 - before.1,
        );
    }
    Ok(())
}

async fn app_pool(cluster: &ThrowawayCluster, limits: PoolLimits) -> anyhow::Result<PgPool> {
    let owner: PgConnectOptions = cluster.url("postgres").parse()?;
    let role = AppRole {
        user: "furnitureops_app".to_owned(),
        password: None,
    };
    Ok(db::connect_with(role.connect_options(&owner), limits).await?)
}

/// `(primary, replica)` read transactions counted so far.
fn reads_by_pool() -> (f64, f64) {
    let text = recorder::handle().render();
    let mut reads = (0.0, 0.0);
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(recorder::names::DB_READS) else {
            continue;
        };
        let Some(value) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        if rest.contains(r#"pool="replica""#) {
            reads.1 += value;
        } else if rest.contains(r#"pool="primary""#) {
            reads.0 += value;
        }
    }
    reads
}
