//! Storing async buys: one transaction per batch of a shop's `Prefer: respond-async` buys
//! (the group committer's `Enqueue` lane) writes the queue rows, each carrying its idempotency
//! key and answer, and each fresh buy is answered `202` with its purchase id.
//!
//! A buy the queue could never fill is refused up front, writing nothing: an unknown item
//! (`404`, as a synchronous buy would be), or a shop whose backlog already holds its cap of
//! pending buys (`429` with `Retry-After`). The cap is checked against the shop's count in
//! `purchase_queue_backlog`, which the batch raises in its last statement and queue workers
//! lower as they decide buys. The count is read without a lock, so the row is held only from
//! that last statement to the commit and a shop's enqueue batches still commit side by side:
//! batches running at the same moment may together pass the cap by less than their own size
//! (at most `ENQUEUE_DRIVERS` x `PURCHASE_BATCH_MAX`), a bounded overshoot that buys the
//! queue its throughput.

use api::purchase::Accepted;
use std::collections::HashSet;

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    db::{self, Scope},
    idempotency::StoredResponse,
    kill_switch,
    purchase::{
        key_records::{self, KeyColumns},
        order::{BuyOrder, Outcome},
    },
};

/// The `202` answer of an accepted async buy.
fn accepted(purchase_id: Uuid) -> Outcome {
    let body = Accepted {
        purchase_id,
        status: "pending".into(),
    };
    Outcome::Final(StoredResponse {
        status: 202,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// Stores a batch of async buys of one shop in one transaction: each fresh one for a known item
/// is answered `202` with a new purchase id while the shop's backlog stays within
/// `pending_cap`; keys already used answer by themselves.
pub(crate) async fn enqueue(
    db: &PgPool,
    org_id: Uuid,
    orders: &[&BuyOrder],
    pending_cap: i64,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = db::begin_scoped(db, &Scope::service(org_id)).await?;
    if let Some(paused) = kill_switch::paused(&mut tx, org_id, Utc::now()).await? {
        tx.rollback().await?;
        return Ok(vec![Outcome::Paused(paused); orders.len()]);
    }
    let settled = key_records::settle(&mut tx, org_id, orders).await?;
    let known = known_items(&mut tx, org_id, orders).await?;
    let mut room = pending_cap.saturating_sub(pending(&mut tx, org_id).await?);
    let mut fresh = Vec::new();
    let outcomes: Vec<Outcome> = orders
        .iter()
        .zip(settled)
        .map(|(&order, settled)| {
            settled.unwrap_or_else(|| {
                if !known.contains(&order.item_id) {
                    return Outcome::unknown_item(order);
                }
                if room <= 0 {
                    return Outcome::QueueFull { cap: pending_cap };
                }
                room -= 1;
                // Time-ordered, as an order's id (see `engine::buy_item`).
                let purchase_id = Uuid::now_v7();
                let answer = accepted(purchase_id);
                fresh.push((order, purchase_id, answer.clone()));
                answer
            })
        })
        .collect();
    // Only the accepted orders are stored; the others answered from their keys or were
    // refused, which writes nothing.
    if !fresh.is_empty() {
        store(&mut tx, org_id, &fresh).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The items among `orders`' that the shop holds.
async fn known_items(
    conn: &mut PgConnection,
    org_id: Uuid,
    orders: &[&BuyOrder],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let items: Vec<Uuid> = orders.iter().map(|o| o.item_id).collect();
    let known = sqlx::query_scalar!(
        "SELECT id FROM inventory WHERE organization_id = $1 AND id = ANY($2)",
        org_id,
        &items
    )
    .fetch_all(conn)
    .await?;
    Ok(known.into_iter().collect())
}

/// The shop's pending buys as last committed (none before its first async buy).
async fn pending(conn: &mut PgConnection, org_id: Uuid) -> Result<i64, sqlx::Error> {
    let pending = sqlx::query_scalar!(
        "SELECT pending FROM purchase_queue_backlog WHERE organization_id = $1",
        org_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(pending.map_or(0, i64::from))
}

/// A fresh async buy: the order, its purchase id and its `202` answer.
type Fresh<'a> = (&'a BuyOrder, Uuid, Outcome);

/// Stores fresh async buys, each with its key and answer, and counts them into the shop's
/// backlog, in one statement inside the batch transaction.
async fn store(
    conn: &mut PgConnection,
    org_id: Uuid,
    fresh: &[Fresh<'_>],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = fresh.iter().map(|(_, id, _)| *id).collect();
    let orders: Vec<&BuyOrder> = fresh.iter().map(|(order, ..)| *order).collect();
    let keys = KeyColumns::of(&orders);
    let items: Vec<Uuid> = orders.iter().map(|o| o.item_id).collect();
    let quantities: Vec<i32> = orders.iter().map(|o| o.quantity).collect();
    let request_ids: Vec<&str> = orders.iter().map(|o| o.request_id.as_str()).collect();
    let answers: Vec<Option<&[u8]>> = fresh
        .iter()
        .map(|(o, _, answer)| match answer {
            Outcome::Final(stored) if o.key.is_some() => Some(stored.body.as_slice()),
            _ => None,
        })
        .collect();
    sqlx::query!(
        "WITH queued AS (
             INSERT INTO purchase_queue (organization_id, id, customer_sub, item_id, quantity,
                                         request_id, key_hash, idempotency_key, fingerprint,
                                         response_body)
             SELECT $1, q.id, q.sub, q.item, q.quantity, q.request_id, q.hash, q.key,
                    q.fingerprint, q.body
             FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::int[], $6::text[],
                         $7::bigint[], $8::text[], $9::bytea[], $10::bytea[])
                  WITH ORDINALITY
                  AS q(id, sub, item, quantity, request_id, hash, key, fingerprint, body, n)
             ORDER BY q.n
         )
         INSERT INTO purchase_queue_backlog AS b (organization_id, pending)
         VALUES ($1, cardinality($2::uuid[]))
         ON CONFLICT (organization_id) DO UPDATE SET pending = b.pending + excluded.pending",
        org_id,
        &ids,
        &keys.subs as &[&str],
        &items,
        &quantities,
        &request_ids as &[&str],
        &keys.lock_ids as &[Option<i64>],
        &keys.keys as &[Option<&str>],
        &keys.fingerprints as &[Option<&[u8]>],
        &answers as &[Option<&[u8]>]
    )
    .execute(conn)
    .await?;
    Ok(())
}
