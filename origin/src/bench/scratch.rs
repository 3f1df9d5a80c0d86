//! A throwaway database for one benchmark run: created and migrated at the start, dropped at
//! the end whatever happened in between.

use std::{future::Future, time::Duration};

use anyhow::Context;
use sqlx::{postgres::PgConnectOptions, Connection, PgConnection, PgPool};

use crate::db::{self, PoolLimits, MIGRATOR};

/// Runs `body` against a fresh, migrated database named after `purpose`.
pub async fn with_scratch_database<F, Fut, T>(
    owner_url: &str,
    purpose: &str,
    body: F,
) -> anyhow::Result<T>
where
    F: FnOnce(PgConnectOptions, PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let owner_options: PgConnectOptions = owner_url.parse()?;
    let name = format!("furnitureops_bench_{purpose}_{}", std::process::id());
    let mut admin = PgConnection::connect_with(&owner_options).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .context("create the scratch database")?;
    let options = owner_options.database(&name);
    let outcome = async {
        let limits = PoolLimits {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
        };
        let owner = db::connect_with(options.clone(), limits).await?;
        MIGRATOR.run(&owner).await?;
        let result = body(options, owner.clone()).await;
        owner.close().await;
        result
    }
    .await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    outcome
}
