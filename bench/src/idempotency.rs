//! Idempotency keys at scale: lookup latency with 1M vs 10M stored keys, and retiring one day of
//! keys by `DROP TABLE` of its partition vs `DELETE` of the same rows (time and WAL written).

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    scratch::with_scratch_database,
    stats::{micros, summarize},
};
use origin::idempotency::{self, IdempotencyKey, KeyUse};

/// Benchmark sizes.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub small: i64,
    pub large: i64,
    pub day: i64,
    pub lookups: usize,
}

const ORG: Uuid = Uuid::from_u128(0x0f0f_0000_0000_4000_8000_0000_0000_0001);

pub async fn run(owner_url: &str, sizes: Sizes) -> anyhow::Result<()> {
    with_scratch_database(owner_url, "idempotency", |_, owner| async move {
        lookups(&owner, sizes).await?;
        retention(&owner, sizes.day).await
    })
    .await
}

/// Stores keys `from..to` spread over today and the two days before, as traffic would.
async fn store_keys(owner: &PgPool, from: i64, to: i64) -> anyhow::Result<()> {
    sqlx::query("SELECT ensure_idempotency_partitions(current_date - 3, 5)")
        .execute(owner)
        .await?;
    sqlx::query(
        "INSERT INTO idempotency_keys
             (organization_id, customer_sub, idempotency_key, fingerprint, response_status,
              response_body, request_id, created_at)
         SELECT $1, 'user-' || (n % 100000), 'key-' || n, sha256(n::text::bytea), 201,
                convert_to('{\"order_id\":\"' || gen_random_uuid() || '\",\"status\":\"confirmed\"}', 'UTF8'),
                'req-' || n, now() - ((n % 3) * interval '1 day') - (n % 3600) * interval '1 second'
         FROM generate_series($2::bigint, $3::bigint - 1) AS n",
    )
    .bind(ORG)
    .bind(from)
    .bind(to)
    .execute(owner)
    .await?;
    sqlx::query("ANALYZE idempotency_keys")
        .execute(owner)
        .await?;
    Ok(())
}

/// Looks up `lookups` stored keys spread over the whole key space (`salt` picks the sample).
async fn lookup_latency(
    owner: &PgPool,
    stored: i64,
    lookups: usize,
    salt: i64,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(lookups);
    for i in 0..lookups {
        // Spread over the whole key space, deterministic per run.
        let n = (i as i64 * 7_919_993 + salt) % stored;
        let key = KeyUse {
            org_id: ORG,
            customer_sub: format!("user-{}", n % 100_000),
            key: IdempotencyKey::parse(&format!("key-{n}"))
                .ok_or_else(|| anyhow::anyhow!("key"))?,
            fingerprint: Vec::new(),
            request_id: String::new(),
        };
        let started = Instant::now();
        let mut tx = owner.begin().await?;
        let claim = idempotency::claim(&mut tx, &key).await?;
        tx.rollback().await?;
        samples.push(started.elapsed());
        anyhow::ensure!(
            claim == idempotency::Claim::Mismatch,
            "key {n} must be found"
        );
    }
    Ok(samples)
}

async fn lookups(owner: &PgPool, sizes: Sizes) -> anyhow::Result<()> {
    println!(
        "idempotency lookup (advisory lock + lookup across live partitions), {} lookups each",
        sizes.lookups
    );
    println!(
        "{:<14} {:>10} {:>10} {:>10}",
        "stored keys", "p50 us", "p99 us", "max us"
    );
    // Each size is measured in steady state: a first pass over another sample of keys warms
    // the caches the way live traffic keeps them warm, then the measured pass runs.
    store_keys(owner, 0, sizes.small).await?;
    lookup_latency(owner, sizes.small, sizes.lookups, 1).await?;
    let mut small = lookup_latency(owner, sizes.small, sizes.lookups, 0).await?;
    let small = summarize(&mut small);
    store_keys(owner, sizes.small, sizes.large).await?;
    lookup_latency(owner, sizes.large, sizes.lookups, 1).await?;
    let mut large = lookup_latency(owner, sizes.large, sizes.lookups, 0).await?;
    let large = summarize(&mut large);
    for (n, s) in [(sizes.small, small), (sizes.large, large)] {
        println!(
            "{n:<14} {:>10.0} {:>10.0} {:>10.0}",
            micros(s.p50),
            micros(s.p99),
            micros(s.max)
        );
    }
    println!(
        "large / small: p50 {:.2}x, p99 {:.2}x",
        large.p50.as_secs_f64() / small.p50.as_secs_f64(),
        large.p99.as_secs_f64() / small.p99.as_secs_f64()
    );
    sqlx::query("TRUNCATE idempotency_keys")
        .execute(owner)
        .await?;
    Ok(())
}

/// Fills the partition of the day `days_ago` with `rows` keys.
async fn fill_day(owner: &PgPool, days_ago: i32, rows: i64) -> anyhow::Result<String> {
    let day = (Utc::now() - chrono::Duration::days(i64::from(days_ago))).date_naive();
    sqlx::query("SELECT ensure_idempotency_partitions($1, 1)")
        .bind(day)
        .execute(owner)
        .await?;
    sqlx::query(
        "INSERT INTO idempotency_keys
             (organization_id, customer_sub, idempotency_key, fingerprint, response_status,
              response_body, request_id, created_at)
         SELECT $1, 'user-' || (n % 100000), 'key-' || n, sha256(n::text::bytea), 201,
                convert_to('{\"order_id\":\"' || gen_random_uuid() || '\"}', 'UTF8'),
                'req-' || n, $2::date + (n % 86400) * interval '1 second'
         FROM generate_series(1, $3::bigint) AS n",
    )
    .bind(ORG)
    .bind(day)
    .bind(rows)
    .execute(owner)
    .await?;
    sqlx::query("CHECKPOINT").execute(owner).await?;
    Ok(format!("idempotency_keys_p{}", day.format("%Y%m%d")))
}

/// Runs `statement` and reports its time and the WAL it wrote.
async fn timed_with_wal(
    owner: &PgPool,
    statement: &str,
    bind_day: Option<String>,
) -> anyhow::Result<(Duration, i64)> {
    let mut conn = owner.acquire().await?;
    let before: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
        .fetch_one(&mut *conn)
        .await?;
    let started = Instant::now();
    let query = sqlx::query(statement);
    let query = match bind_day {
        Some(day) => query.bind(day),
        None => query,
    };
    query.execute(&mut *conn).await?;
    let elapsed = started.elapsed();
    let wal: i64 = sqlx::query_scalar("SELECT (pg_current_wal_insert_lsn() - $1::pg_lsn)::bigint")
        .bind(before)
        .fetch_one(&mut *conn)
        .await?;
    Ok((elapsed, wal))
}

async fn retention(owner: &PgPool, rows: i64) -> anyhow::Result<()> {
    let deleted_day = fill_day(owner, 10, rows).await?;
    let (delete_time, delete_wal) = timed_with_wal(
        owner,
        "DELETE FROM idempotency_keys WHERE created_at >= to_date(substring($1 FROM '[0-9]{8}$'), 'YYYYMMDD')
           AND created_at < to_date(substring($1 FROM '[0-9]{8}$'), 'YYYYMMDD') + 1",
        Some(deleted_day),
    )
    .await?;
    sqlx::query("TRUNCATE idempotency_keys")
        .execute(owner)
        .await?;
    fill_day(owner, 10, rows).await?;
    let cutoff = (Utc::now() - chrono::Duration::days(9)).date_naive();
    let (drop_time, drop_wal) = timed_with_wal(
        owner,
        "SELECT drop_idempotency_partitions_before($1::date::timestamptz)",
        Some(cutoff.to_string()),
    )
    .await?;
    println!("retiring one day of {rows} keys");
    println!("{:<26} {:>12} {:>14}", "", "time ms", "WAL bytes");
    println!(
        "{:<26} {:>12.1} {:>14}",
        "DELETE (baseline)",
        delete_time.as_secs_f64() * 1e3,
        delete_wal
    );
    println!(
        "{:<26} {:>12.1} {:>14}",
        "DROP TABLE of partition",
        drop_time.as_secs_f64() * 1e3,
        drop_wal
    );
    println!(
        "DROP is {:.0}x faster and writes {:.0}x less WAL",
        delete_time.as_secs_f64() / drop_time.as_secs_f64(),
        delete_wal as f64 / drop_wal.max(1) as f64
    );
    Ok(())
}
