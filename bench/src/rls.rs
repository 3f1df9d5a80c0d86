//! What row-level security costs on `GET inventory`: the same transaction (set claims, select
//! the tenant's items, commit) run as the application role, where the policy applies, and as the
//! table owner, where it does not. Rounds alternate so drift hits both sides alike.

use std::time::{Duration, Instant};

use sqlx::{postgres::PgConnectOptions, PgPool};
use uuid::Uuid;

use crate::{
    scratch::{in_scratch_database, stocked_shop},
    stats::{micros, summarize},
};
use origin::db::{self, AppRole, PoolLimits, MIGRATOR};

const TENANTS: usize = 50;
const ITEMS_PER_TENANT: usize = 200;

pub async fn run(owner_url: &str, app_role: &AppRole, iterations: usize) -> anyhow::Result<()> {
    in_scratch_database(owner_url, "rls", |options| async move {
        measure(&options, app_role, iterations).await
    })
    .await
}

async fn measure(
    options: &PgConnectOptions,
    app_role: &AppRole,
    iterations: usize,
) -> anyhow::Result<()> {
    let limits = PoolLimits {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(10),
    };
    let owner = db::connect_with(options.clone(), limits).await?;
    MIGRATOR.run(&owner).await?;
    let mut orgs = Vec::new();
    for t in 0..TENANTS {
        orgs.push(stocked_shop(&owner, &format!("bench-{t}.test"), ITEMS_PER_TENANT).await?);
    }
    sqlx::query("ANALYZE").execute(&owner).await?;
    let app = db::connect_with(app_role.connect_options(options), limits).await?;

    let mut as_app = Vec::with_capacity(iterations);
    let mut as_owner = Vec::with_capacity(iterations);
    for round in 0..iterations {
        let org = orgs[round % orgs.len()];
        as_owner.push(list_once(&owner, org).await?);
        as_app.push(list_once(&app, org).await?);
    }
    let app = summarize(&mut as_app);
    let owner = summarize(&mut as_owner);
    println!(
        "GET inventory transaction ({TENANTS} tenants x {ITEMS_PER_TENANT} items, {iterations} runs each, one connection)"
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "", "mean us", "p50 us", "p99 us"
    );
    for (label, s) in [("owner (no RLS, baseline)", owner), ("app role (RLS)", app)] {
        println!(
            "{label:<28} {:>10.0} {:>10.0} {:>10.0}",
            micros(s.mean),
            micros(s.p50),
            micros(s.p99)
        );
    }
    println!(
        "RLS overhead: mean {:+.1}%, p50 {:+.1}%",
        (app.mean.as_secs_f64() / owner.mean.as_secs_f64() - 1.0) * 100.0,
        (app.p50.as_secs_f64() / owner.p50.as_secs_f64() - 1.0) * 100.0
    );
    Ok(())
}

async fn list_once(pool: &PgPool, org: Uuid) -> anyhow::Result<Duration> {
    let claims =
        serde_json::json!({"role": "anon", "app_metadata": {"org_id": org, "role": "anon"}})
            .to_string();
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!("SELECT set_config('request.jwt.claims', $1, true)", claims)
        .fetch_one(&mut *tx)
        .await?;
    let rows = sqlx::query!(
        "SELECT id, sku, name, price_cents, stock FROM inventory
         WHERE organization_id = $1 ORDER BY name, id",
        org
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        rows.len() == ITEMS_PER_TENANT,
        "expected {ITEMS_PER_TENANT} rows, got {}",
        rows.len()
    );
    Ok(elapsed)
}
