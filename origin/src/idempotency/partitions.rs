//! Daily partitions of `idempotency_keys`: made ahead of time, dropped whole once past retention.
//! `DROP TABLE` of a day costs a catalog change; `DELETE` of the same rows writes every one of
//! them to the WAL and leaves the index bloated.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// Days of partitions kept ready ahead of today.
pub const DAYS_AHEAD: i32 = 2;

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub created: i32,
    pub dropped: Vec<String>,
}

/// Ensures partitions from yesterday to `DAYS_AHEAD` days after `now`, and drops those that end
/// more than `retention` before `now`. Runs as the schema owner.
pub async fn maintain(
    owner: &PgPool,
    now: DateTime<Utc>,
    retention: Duration,
) -> Result<Report, sqlx::Error> {
    let yesterday = (now - Duration::days(1)).date_naive();
    let created = sqlx::query_scalar!(
        r#"SELECT ensure_idempotency_partitions($1, $2) AS "created!""#,
        yesterday,
        DAYS_AHEAD + 2
    )
    .fetch_one(owner)
    .await?;
    let dropped = sqlx::query_scalar!(
        r#"SELECT name AS "name!" FROM drop_idempotency_partitions_before($1) AS name"#,
        now - retention
    )
    .fetch_all(owner)
    .await?;
    Ok(Report { created, dropped })
}
