//! The durable purchase queue (`Prefer: respond-async`).
//!
//! Enqueueing rides the group committer too (lane `Enqueue`): concurrent async buys of a shop
//! are stored by one transaction, together with their idempotency records, and answered `202`.
//! Workers then claim pending rows (`FOR UPDATE SKIP LOCKED`), sell them per item with the same
//! `engine::buy_item` as synchronous buys, and record each outcome in that same transaction: a
//! worker that dies mid-batch rolls back, and another takes the rows. Nothing is applied twice.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use chrono::Utc;

use super::{
    engine::{buy_item, Decision},
    keys::{self, KeyRecords},
    order::{BuyOrder, Outcome},
};
use crate::{auth::Scope, db, idempotency::StoredResponse, kill_switch};

/// Channel on which decided queued purchases are announced (see `events`).
pub const PURCHASE_CHANNEL: &str = "furnitureops_purchase";

/// `202` body of an accepted async buy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Accepted {
    pub purchase_id: Uuid,
    pub status: String,
}

/// The `202` answer of an accepted async buy.
pub(super) fn accepted(purchase_id: Uuid) -> Outcome {
    let body = Accepted {
        purchase_id,
        status: "pending".into(),
    };
    Outcome::Final(StoredResponse {
        status: 202,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// Stores a batch of async buys of one shop in one transaction: each fresh one is answered
/// `202` with a new purchase id; keys already used answer by themselves.
pub(super) async fn enqueue(
    db: &PgPool,
    org_id: Uuid,
    orders: &[&BuyOrder],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = db::begin_scoped(db, &Scope::service(org_id)).await?;
    if let Some(paused) = kill_switch::paused(&mut tx, org_id, Utc::now()).await? {
        tx.rollback().await?;
        return Ok(vec![Outcome::Paused(paused); orders.len()]);
    }
    let settled = keys::settle(&mut tx, org_id, orders).await?;
    let mut fresh = Vec::new();
    let mut purchase_ids = Vec::new();
    let outcomes: Vec<Outcome> = orders
        .iter()
        .zip(settled)
        .map(|(&order, settled)| {
            settled.unwrap_or_else(|| {
                let purchase_id = Uuid::new_v4();
                fresh.push(order);
                purchase_ids.push(purchase_id);
                accepted(purchase_id)
            })
        })
        .collect();
    // Only the fresh orders' answers are final; the others answered from their keys.
    let keys = KeyRecords::of(orders, &outcomes);
    store(&mut tx, org_id, &fresh, &purchase_ids, &keys).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Stores fresh async buys under `purchase_ids`, with their idempotency records, in one
/// statement inside the batch transaction.
async fn store(
    conn: &mut PgConnection,
    org_id: Uuid,
    orders: &[&BuyOrder],
    purchase_ids: &[Uuid],
    keys: &KeyRecords,
) -> Result<(), sqlx::Error> {
    let subs: Vec<&str> = orders.iter().map(|o| o.customer_sub.as_str()).collect();
    let items: Vec<Uuid> = orders.iter().map(|o| o.item_id).collect();
    let quantities: Vec<i32> = orders.iter().map(|o| o.quantity).collect();
    let request_ids: Vec<&str> = orders.iter().map(|o| o.request_id.as_str()).collect();
    sqlx::query!(
        "WITH queued AS (
             INSERT INTO purchase_queue (organization_id, id, customer_sub, item_id, quantity, request_id)
             SELECT $1, q.id, q.sub, q.item, q.quantity, q.request_id
             FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::int[], $6::text[])
                  WITH ORDINALITY AS q(id, sub, item, quantity, request_id, n)
             ORDER BY q.n
         )
         INSERT INTO idempotency_keys
             (organization_id, customer_sub, idempotency_key, fingerprint,
              response_status, response_body, request_id)
         SELECT $1, k.sub, k.key, k.fingerprint, k.status, k.body, k.request_id
         FROM unnest($7::text[], $8::text[], $9::bytea[], $10::smallint[], $11::bytea[], $12::text[])
              AS k(sub, key, fingerprint, status, body, request_id)",
        org_id,
        purchase_ids,
        &subs as &[&str],
        &items,
        &quantities,
        &request_ids as &[&str],
        &keys.subs,
        &keys.keys,
        &keys.fingerprints,
        &keys.statuses,
        &keys.bodies,
        &keys.request_ids
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One claimed queue row.
struct Claimed {
    id: Uuid,
    order: BuyOrder,
}

/// Claims up to `batch_size` pending purchases and applies them in one transaction. Returns how
/// many were decided.
pub async fn drain_once(db: &PgPool, batch_size: i32) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query!(
        r#"SELECT organization_id AS "organization_id!", id AS "id!", customer_sub AS "customer_sub!",
                  item_id AS "item_id!", quantity AS "quantity!", request_id AS "request_id!"
           FROM claim_purchases($1)"#,
        batch_size
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let decided = rows.len();
    // Per shop, per item, in queue order.
    let mut by_shop: BTreeMap<Uuid, BTreeMap<Uuid, Vec<Claimed>>> = BTreeMap::new();
    for row in rows {
        by_shop
            .entry(row.organization_id)
            .or_default()
            .entry(row.item_id)
            .or_default()
            .push(Claimed {
                id: row.id,
                order: BuyOrder {
                    org_id: row.organization_id,
                    customer_sub: row.customer_sub,
                    item_id: row.item_id,
                    quantity: row.quantity,
                    request_id: row.request_id,
                    key: None,
                },
            });
    }
    for (org_id, items) in by_shop {
        let scope = Scope::service(org_id);
        sqlx::query_scalar!(
            "SELECT set_config('request.jwt.claims', $1, true)",
            scope.claims_json
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut results = Results::default();
        for (item_id, claimed) in items {
            let orders: Vec<&BuyOrder> = claimed.iter().map(|c| &c.order).collect();
            let decisions = buy_item(&mut *tx, org_id, item_id, &orders)
                .await?
                .decisions;
            for (claimed, decision) in claimed.iter().zip(decisions) {
                results.push(claimed, decision);
            }
        }
        results.record(&mut tx, org_id).await?;
    }
    tx.commit().await?;
    Ok(decided)
}

/// Outcomes of one shop's claimed purchases, column by column for `unnest`.
#[derive(Default)]
struct Results {
    ids: Vec<Uuid>,
    statuses: Vec<&'static str>,
    order_ids: Vec<Option<Uuid>>,
    reasons: Vec<Option<String>>,
}

impl Results {
    /// Records `decision`; a purchase that was not decided (its shop was paused after the
    /// claim) stays pending for a later claim.
    fn push(&mut self, claimed: &Claimed, decision: Decision) {
        let (status, order_id, reason) = match decision {
            Decision::Confirmed { order_id, .. } => ("confirmed", Some(order_id), None),
            Decision::OutOfStock { available } => (
                "rejected",
                None,
                Some(format!("out of stock: only {available} left")),
            ),
            Decision::UnknownItem => ("rejected", None, Some("no such item".to_owned())),
            Decision::Answered(_) => return,
        };
        self.ids.push(claimed.id);
        self.statuses.push(status);
        self.order_ids.push(order_id);
        self.reasons.push(reason);
    }

    /// Records the outcomes and announces each one (delivered only if the batch commits), in
    /// one statement.
    async fn record(&self, conn: &mut PgConnection, org_id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query!(
            r#"WITH recorded AS (
                   UPDATE purchase_queue q
                   SET status = r.status, order_id = r.order_id, reason = r.reason, decided_at = now()
                   FROM unnest($3::uuid[], $4::text[], $5::uuid[], $6::text[]) AS r(id, status, order_id, reason)
                   WHERE q.organization_id = $2 AND q.id = r.id
                   RETURNING q.id, q.customer_sub, q.status, q.order_id, q.reason
               )
               SELECT pg_notify($1, json_build_object(
                   'org_id', $2::uuid, 'sub', customer_sub, 'purchase_id', id, 'status', status,
                   'order_id', order_id, 'reason', reason)::text) AS "notified!: String"
               FROM recorded"#,
            PURCHASE_CHANNEL,
            org_id,
            &self.ids,
            &self.statuses as &[&str],
            &self.order_ids as &[Option<Uuid>],
            &self.reasons as &[Option<String>]
        )
        .fetch_all(&mut *conn)
        .await?;
        Ok(())
    }
}

/// How long an idle worker waits before looking again.
const IDLE_POLL: Duration = Duration::from_millis(20);
/// How long a worker backs off after a database error.
const ERROR_BACKOFF: Duration = Duration::from_millis(500);

/// A queue worker: drains until the process ends. Runs inside `serve` and as `origin worker`.
pub async fn run_worker(db: PgPool, batch_size: i32) {
    loop {
        match drain_once(&db, batch_size).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => tokio::time::sleep(IDLE_POLL).await,
            Err(err) => {
                tracing::warn!(error = %err, "purchase queue worker: batch failed, retrying");
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
}
