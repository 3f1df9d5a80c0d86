//! What several benchmarks set up: a scratch database on the operator's server, dropped
//! afterwards whatever happened, and shops stocked with numbered items.

use std::{future::Future, time::Duration};

use anyhow::Context;
use sqlx::{postgres::PgConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

use origin::{
    db::{self, PoolLimits, MIGRATOR},
    operator::tenants::{self, NewItem},
};

/// Runs `bench` against a fresh database `furnitureops_bench_<purpose>_<pid>` on the server of
/// `owner_url`, then drops it.
pub async fn in_scratch_database<T, F, Fut>(
    owner_url: &str,
    purpose: &str,
    bench: F,
) -> anyhow::Result<T>
where
    F: FnOnce(PgConnectOptions) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let owner_options: PgConnectOptions = owner_url.parse()?;
    let scratch = format!("furnitureops_bench_{purpose}_{}", std::process::id());
    let mut admin = PgConnection::connect_with(&owner_options).await?;
    sqlx::query(&format!("CREATE DATABASE {scratch}"))
        .execute(&mut admin)
        .await
        .context("create the scratch database")?;
    let outcome = bench(owner_options.clone().database(&scratch)).await;
    // A fresh connection: a proxy in front (HAProxy, for the HA stack) may have cut the first
    // one during a long run.
    drop(admin);
    let mut admin = PgConnection::connect_with(&owner_options).await?;
    sqlx::query(&format!("DROP DATABASE {scratch} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    outcome
}

/// Like `in_scratch_database`, with the schema migrated and an owner pool handed over.
pub async fn with_scratch_database<F, Fut, T>(
    owner_url: &str,
    purpose: &str,
    body: F,
) -> anyhow::Result<T>
where
    F: FnOnce(PgConnectOptions, PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    in_scratch_database(owner_url, purpose, |options| async move {
        let limits = PoolLimits {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
        };
        let owner = db::connect_with(options.clone(), limits).await?;
        MIGRATOR.run(&owner).await?;
        let result = body(options, owner.clone()).await;
        owner.close().await;
        result
    })
    .await
}

/// A shop on `domain` holding `items` items `SKU-0`, `SKU-1`, ... (10 in stock, 1.00 each).
pub async fn stocked_shop(owner: &PgPool, domain: &str, items: usize) -> anyhow::Result<Uuid> {
    let org = tenants::add(owner, &format!("Bench {domain}"), domain).await?;
    let skus: Vec<String> = (0..items).map(|i| format!("SKU-{i}")).collect();
    let items: Vec<NewItem<'_>> = skus
        .iter()
        .map(|sku| NewItem {
            sku,
            name: sku,
            price_cents: 100,
            stock: 10,
        })
        .collect();
    tenants::stock_items(owner, org, &items).await?;
    Ok(org)
}
