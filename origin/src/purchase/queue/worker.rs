//! Queue workers: claim pending rows (`FOR UPDATE SKIP LOCKED`), sell them per item with the
//! same `engine::buy_item` as synchronous buys, and record each outcome in that same
//! transaction, announcing it on `PURCHASE_CHANNEL`.

use std::{collections::BTreeMap, time::Duration};

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    db::Scope,
    events::channels::{OUT_OF_STOCK_REASON, PURCHASE_CHANNEL},
    purchase::{
        engine::{buy_item, Decision},
        order::BuyOrder,
    },
};

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
                Some(format!("{OUT_OF_STOCK_REASON}: only {available} left")),
            ),
            Decision::UnknownItem => ("rejected", None, Some("no such item".to_owned())),
            Decision::Answered(_) => return,
        };
        self.ids.push(claimed.id);
        self.statuses.push(status);
        self.order_ids.push(order_id);
        self.reasons.push(reason);
    }

    /// Records the outcomes, counts them off the shop's backlog and announces each one
    /// (delivered only if the batch commits), in one statement.
    async fn record(&self, conn: &mut PgConnection, org_id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query!(
            r#"WITH recorded AS (
                   UPDATE purchase_queue q
                   SET status = r.status, order_id = r.order_id, reason = r.reason, decided_at = now()
                   FROM unnest($3::uuid[], $4::text[], $5::uuid[], $6::text[]) AS r(id, status, order_id, reason)
                   WHERE q.organization_id = $2 AND q.id = r.id
                   RETURNING q.id, q.customer_sub, q.status, q.order_id, q.reason
               ), counted AS (
                   UPDATE purchase_queue_backlog
                   SET pending = pending - (SELECT count(*) FROM recorded)
                   WHERE organization_id = $2
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
