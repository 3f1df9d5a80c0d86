//! The raw-SQL reference: what a sale's writes cost Postgres with nothing else in the way.
//!
//! A purchase stands on four writes: the stock, an order, an idempotency record and an audit
//! row. Here they are as plain as SQL makes them, in a schema of their own (`raw_sql`, primary
//! keys only, no row-level security, no partitions, no functions): one client, batches of
//! `UNITS_PER_BATCH` units, each one transaction of a conditional decrement and three
//! `INSERT ... SELECT ... FROM generate_series(1, n)`. Its machine CPU per unit is the yardstick
//! every mode's CPU per purchase is divided by, in the same run, because absolute rates move
//! twice over between machines and between hours on a shared one.

use std::time::{Duration, Instant};

use sqlx::{postgres::PgConnectOptions, Connection, PgConnection};
use uuid::Uuid;

use super::{load::LoadResult, report::Row};
use crate::{cpu::CpuMeter, stats::summarize};

/// Units per batch (one transaction).
pub const UNITS_PER_BATCH: i64 = 256;

/// The reference's name in the table.
pub const MODE: &str = "raw-sql";

/// The reference's tables, as plain as the writes they stand for.
const SCHEMA: &str = r"
CREATE SCHEMA IF NOT EXISTS raw_sql;
CREATE TABLE raw_sql.inventory (
    org uuid, id bigint, stock bigint CHECK (stock >= 0), PRIMARY KEY (org, id));
CREATE TABLE raw_sql.orders (
    org uuid, id uuid DEFAULT gen_random_uuid(), item bigint, qty int,
    created_at timestamptz DEFAULT now(), PRIMARY KEY (org, id));
CREATE TABLE raw_sql.idempotency_keys (
    org uuid, key text, fingerprint bytea, status int, body jsonb,
    created_at timestamptz DEFAULT now(), PRIMARY KEY (org, key));
CREATE TABLE raw_sql.audit_log (
    org uuid, id bigserial, actor text, action text, target text, detail jsonb,
    created_at timestamptz DEFAULT now(), PRIMARY KEY (org, id));
";

const ITEM: i64 = 1;

/// Makes the reference's schema in the scratch database and stocks its one item.
pub async fn prepare(options: &PgConnectOptions, org: Uuid) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect_with(options).await?;
    sqlx::raw_sql(SCHEMA).execute(&mut conn).await?;
    sqlx::query("INSERT INTO raw_sql.inventory (org, id, stock) VALUES ($1, $2, $3)")
        .bind(org)
        .bind(ITEM)
        .bind(i64::MAX / 2)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// One client selling batches of `UNITS_PER_BATCH` for `duration`. A row's purchases are units;
/// its latencies are whole batches.
pub async fn run(options: &PgConnectOptions, org: Uuid, duration: Duration) -> anyhow::Result<Row> {
    let mut conn = PgConnection::connect_with(options).await?;
    let mut result = LoadResult::default();
    let cpu = CpuMeter::start();
    let started = Instant::now();
    while started.elapsed() < duration {
        let t = Instant::now();
        sell_batch(&mut conn, org).await?;
        result.latencies.push(t.elapsed());
        result.confirmed += UNITS_PER_BATCH as u64;
    }
    result.elapsed = started.elapsed();
    result.cpu = cpu.stop();
    conn.close().await?;
    let summary = summarize(&mut result.latencies);
    Ok(Row {
        level: "reference",
        mode: MODE,
        result,
        summary,
        oversell: false,
        drain_per_second: None,
        sales_per_batch: Some(UNITS_PER_BATCH as f64),
    })
}

/// One batch: the decrement, then `n` orders, idempotency keys (random uuid text) and audit
/// rows, in one transaction.
async fn sell_batch(conn: &mut PgConnection, org: Uuid) -> anyhow::Result<()> {
    let n = UNITS_PER_BATCH;
    let mut tx = conn.begin().await?;
    let sold = sqlx::query(
        "UPDATE raw_sql.inventory SET stock = stock - $3
         WHERE org = $1 AND id = $2 AND stock >= $3",
    )
    .bind(org)
    .bind(ITEM)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    anyhow::ensure!(sold.rows_affected() == 1, "the reference ran out of stock");
    sqlx::query(
        "INSERT INTO raw_sql.orders (org, item, qty)
         SELECT $1, $2, 1 FROM generate_series(1, $3)",
    )
    .bind(org)
    .bind(ITEM)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO raw_sql.idempotency_keys (org, key, fingerprint, status, body)
         SELECT $1, k.key, sha256(convert_to(k.key, 'UTF8')), 201,
                jsonb_build_object('order_id', k.key, 'item_id', $2, 'quantity', 1,
                                   'status', 'confirmed')
         FROM (SELECT gen_random_uuid()::text AS key FROM generate_series(1, $3)) k",
    )
    .bind(org)
    .bind(ITEM)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO raw_sql.audit_log (org, actor, action, target, detail)
         SELECT $1, 'buyer-' || i, 'purchase', 'item:' || $2,
                jsonb_build_object('stock', i, 'quantity', 1)
         FROM generate_series(1, $3) AS i",
    )
    .bind(org)
    .bind(ITEM)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
