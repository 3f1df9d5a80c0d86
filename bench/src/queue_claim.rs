//! What a queue worker's claim costs while one shop is paused with a long backlog, and whom
//! the first claim serves: today's `claim_purchases` (per-shop backlogs, fair shares) against
//! the claim it replaced (one walk of every pending purchase in queue order), side by side on
//! the same rows.
//!
//! The previous claim is recreated here under another name, as the migration
//! `claim_in_queue_order` defined it, so both run in the same database in the same run. Each
//! claim runs in a transaction that is rolled back, so every round finds the same queue.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    scratch::{stocked_shop, with_scratch_database},
    stats::{micros, summarize},
};

/// The claim of migration `20261126000002_claim_in_queue_order`, the baseline.
const PREVIOUS_CLAIM: &str = r#"
CREATE FUNCTION claim_purchases_in_queue_order(batch_size integer)
    RETURNS TABLE (organization_id uuid, id uuid)
    LANGUAGE sql AS $$
    SELECT q.organization_id, q.id
    FROM purchase_queue q
    WHERE q.status = 'pending'
      AND q.organization_id <> ALL (ARRAY(SELECT k.organization_id FROM kill_switches k WHERE k.engaged))
      AND NOT EXISTS (
          SELECT 1 FROM kill_switches g
          WHERE g.engaged AND g.organization_id = '00000000-0000-0000-0000-000000000000')
    ORDER BY q.seq
    LIMIT batch_size
    FOR UPDATE OF q SKIP LOCKED
$$;
CREATE INDEX purchase_queue_pending_idx ON purchase_queue (seq) WHERE status = 'pending';
"#;

/// The sizes of the run.
#[derive(Debug, Clone, Copy)]
pub struct QueueClaimBench {
    /// Pending buys of the shop with the long backlog.
    pub backlog: i32,
    /// Pending buys of the other shop, queued after the backlog.
    pub waiting: i32,
    /// Claims timed per function and case.
    pub claims: usize,
    pub batch: i32,
}

pub async fn run(owner_url: &str, bench: QueueClaimBench) -> anyhow::Result<()> {
    with_scratch_database(owner_url, "queue_claim", |_, owner| async move {
        measure(&owner, bench).await
    })
    .await
}

async fn measure(owner: &PgPool, bench: QueueClaimBench) -> anyhow::Result<()> {
    let busy = stocked_shop(owner, "backlog.bench.test", 1).await?;
    let other = stocked_shop(owner, "other.bench.test", 1).await?;
    queue(owner, busy, bench.backlog).await?;
    queue(owner, other, bench.waiting).await?;
    sqlx::raw_sql(PREVIOUS_CLAIM).execute(owner).await?;
    sqlx::query("ANALYZE purchase_queue").execute(owner).await?;
    let mut conn = owner.acquire().await?;

    println!(
        "queue claims of {} buys: one shop with {} pending, another with {} queued after them ({} claims each, rolled back)",
        bench.batch, bench.backlog, bench.waiting, bench.claims
    );
    println!(
        "{:<54} {:>9} {:>9} {:>9} {:>18}",
        "", "mean us", "p50 us", "p99 us", "other shop's buys"
    );
    for paused in [true, false] {
        set_paused(owner, busy, paused).await?;
        let case = if paused {
            "backlog paused"
        } else {
            "backlog selling"
        };
        let mut before = Vec::with_capacity(bench.claims);
        let mut now = Vec::with_capacity(bench.claims);
        let (mut served_before, mut served_now) = (0, 0);
        for _ in 0..bench.claims {
            let (took, served) = claim(
                &mut conn,
                "claim_purchases_in_queue_order",
                bench.batch,
                other,
            )
            .await?;
            before.push(took);
            served_before = served;
            let (took, served) = claim(&mut conn, "claim_purchases", bench.batch, other).await?;
            now.push(took);
            served_now = served;
        }
        for (label, samples, served) in [
            (
                "in queue order (previous, baseline)",
                &mut before,
                served_before,
            ),
            ("per shop, fair shares (now)", &mut now, served_now),
        ] {
            let s = summarize(samples);
            println!(
                "{:<54} {:>9.0} {:>9.0} {:>9.0} {:>12} of {}",
                format!("{case}: {label}"),
                micros(s.mean),
                micros(s.p50),
                micros(s.p99),
                served,
                bench.waiting.min(bench.batch)
            );
        }
    }
    Ok(())
}

/// Queues `count` pending buys of `org`'s first item, keeping its backlog count.
async fn queue(owner: &PgPool, org: Uuid, count: i32) -> anyhow::Result<()> {
    sqlx::query(
        "WITH item AS (SELECT id FROM inventory WHERE organization_id = $1 LIMIT 1)
         INSERT INTO purchase_queue (organization_id, id, customer_sub, item_id, quantity, request_id)
         SELECT $1, gen_random_uuid(), 'buyer-' || n, item.id, 1, 'req-' || n
         FROM item, generate_series(1, $2) AS n",
    )
    .bind(org)
    .bind(count)
    .execute(owner)
    .await?;
    sqlx::query(
        "INSERT INTO purchase_queue_backlog (organization_id, pending) VALUES ($1, $2)
         ON CONFLICT (organization_id) DO UPDATE SET pending = purchase_queue_backlog.pending + $2",
    )
    .bind(org)
    .bind(count)
    .execute(owner)
    .await?;
    Ok(())
}

async fn set_paused(owner: &PgPool, org: Uuid, engaged: bool) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO kill_switches (organization_id, engaged, reason) VALUES ($1, $2, 'bench')
         ON CONFLICT (organization_id) DO UPDATE SET engaged = $2",
    )
    .bind(org)
    .bind(engaged)
    .execute(owner)
    .await?;
    Ok(())
}

/// One claim by `function`, rolled back: how long it took and how many of `other`'s buys it
/// returned.
async fn claim(
    conn: &mut PgConnection,
    function: &str,
    batch: i32,
    other: Uuid,
) -> anyhow::Result<(Duration, usize)> {
    let mut tx = conn.begin().await?;
    let start = Instant::now();
    let shops: Vec<Uuid> =
        sqlx::query_scalar(&format!("SELECT organization_id FROM {function}($1)"))
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
    let took = start.elapsed();
    tx.rollback().await?;
    Ok((took, shops.iter().filter(|&&org| org == other).count()))
}
