//! The pools `serve` opens: the primary, and the replica when one is configured.
//!
//! Both are bounded and quick to say "busy" (see `PoolLimits`), and every connection carries a
//! `statement_timeout`, so a stuck query frees its connection instead of starving the pool.
//! The replica pool connects lazily: the origin starts, and serves reads from the primary,
//! while the replica is down.
//!
//! With `DATABASE_POOLED_URL` the primary pool goes through a transaction pooler, and a one-
//! connection session pool on `DATABASE_URL` serves what must keep a session (see
//! `super::pooler`).

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::{postgres::PgConnectOptions, PgPool};

use super::ServeArgs;
use crate::db::{self, connect_lazily, with_statement_timeout, PoolLimits};

#[derive(Debug, Clone)]
pub struct Pools {
    pub primary: PgPool,
    pub replica: Option<PgPool>,
    /// Direct, for session-bound work, when `primary` goes through a transaction pooler.
    pub session: Option<PgPool>,
}

/// Connects to the primary as the application role, and prepares the replica pool.
pub async fn open(args: &ServeArgs) -> anyhow::Result<Pools> {
    let role = args.app_role();
    let statement_timeout = args.operations.statement_timeout();
    let direct = role.connect_options(&args.database.url().parse()?);
    let (primary, session) = match &args.pooler.database_pooled_url {
        None => (with_statement_timeout(direct, statement_timeout), None),
        Some(url) => {
            let pooled: PgConnectOptions = url
                .expose_secret()
                .parse()
                .context("DATABASE_POOLED_URL is not a Postgres URL")?;
            let session_limits = PoolLimits {
                max_connections: 1,
                acquire_timeout: db::BACKGROUND_ACQUIRE_TIMEOUT,
            };
            let session = connect_lazily(
                with_statement_timeout(direct, statement_timeout),
                session_limits,
            );
            (role.connect_options(&pooled), Some(session))
        }
    };
    let primary = primary.statement_cache_capacity(args.pooler.statement_cache_capacity);
    let primary = db::connect_with(primary, args.pool_limits())
        .await
        .context("cannot connect as the application role (DATABASE_APP_USER)")?;
    if session.is_some() {
        warn_without_role_timeout(&primary, statement_timeout).await;
    }
    let replica = match &args.operations.database_replica_url {
        None => None,
        Some(url) => {
            let options = url
                .expose_secret()
                .parse()
                .context("DATABASE_REPLICA_URL is not a Postgres URL")?;
            let limits = PoolLimits {
                max_connections: args.operations.replica_max_connections,
                ..args.pool_limits()
            };
            let replica = connect_lazily(
                with_statement_timeout(role.connect_options(&options), statement_timeout),
                limits,
            );
            warn_unless_replica(&replica).await;
            Some(replica)
        }
    };
    Ok(Pools {
        primary,
        replica,
        session,
    })
}

/// Start-up check: a replica URL that points at a primary, or at nothing, is worth a warning.
async fn warn_unless_replica(replica: &PgPool) {
    match sqlx::query_scalar!(r#"SELECT pg_is_in_recovery() AS "in_recovery!""#)
        .fetch_one(replica)
        .await
    {
        Ok(true) => tracing::info!("reads go to the replica"),
        Ok(false) => tracing::warn!("DATABASE_REPLICA_URL points at a primary, not a replica"),
        Err(err) => {
            tracing::warn!(error = %err, "replica unreachable: reads use the primary until it answers");
        }
    }
}

/// Start-up check through a pooler, which cannot carry `statement_timeout` at connect: the
/// role's own setting must stand in for `DATABASE_STATEMENT_TIMEOUT_MS`.
async fn warn_without_role_timeout(pooled: &PgPool, wanted: Option<Duration>) {
    if wanted.is_none() {
        return;
    }
    let setting = async {
        let mut tx = pooled.begin().await?;
        let setting =
            sqlx::query_scalar!(r#"SELECT current_setting('statement_timeout') AS "setting!""#)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(setting)
    };
    match setting.await {
        Ok(setting) if setting == "0" => tracing::warn!(
            "through DATABASE_POOLED_URL statements have no timeout: set one on the role \
             (ALTER ROLE ... SET statement_timeout)"
        ),
        Ok(setting) => tracing::info!(%setting, "statement timeout through the pooler"),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read statement_timeout through the pooler")
        }
    }
}
