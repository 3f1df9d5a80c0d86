//! Background upkeep run by `serve` (and once by `origin maintain`): idempotency-key partitions
//! made ahead and dropped past retention. Every origin process may run it; the SQL is idempotent.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use sqlx::PgPool;

use crate::idempotency::partitions::{self, Report};

const EVERY: StdDuration = StdDuration::from_secs(3600);

pub async fn run_once(owner: &PgPool, retention: Duration) -> Result<Report, sqlx::Error> {
    let report = partitions::maintain(owner, Utc::now(), retention).await?;
    if report.created > 0 || !report.dropped.is_empty() {
        tracing::info!(created = report.created, dropped = ?report.dropped, "idempotency partitions maintained");
    }
    Ok(report)
}

/// Runs `run_once` every hour until the process ends; failures are logged and retried.
pub async fn run_forever(owner: PgPool, retention: Duration) {
    let mut tick = tokio::time::interval(EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(err) = run_once(&owner, retention).await {
            tracing::warn!(error = %err, "idempotency partition maintenance failed");
        }
    }
}
