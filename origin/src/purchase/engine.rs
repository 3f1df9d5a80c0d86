//! One transaction for a whole batch of buys of one item.
//!
//! The item row is locked once (`FOR UPDATE`), which is what serialises batches across origin
//! processes; everything else is set-based, and all the writes of a batch (stock, orders, audit
//! rows, idempotency records, the stock event) go in one statement, so a batch costs the same
//! few round trips whatever its size. Requests that cannot proceed (a key in flight or reused, a
//! replay) are answered without touching the others.

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    keys::{self, KeyRecords},
    order::{BuyOrder, Outcome},
    queue,
};
use crate::{auth::Scope, db, kill_switch};

/// Channel on which committed stock changes are announced (see `events`).
pub const STOCK_CHANNEL: &str = "furnitureops_stock";

/// What a batch is for: buying one item now, or storing buys for the queue workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    Item(Uuid),
    Enqueue,
}

/// Applies `orders` (all for `org_id` and `lane`, in arrival order) in one transaction and
/// returns one outcome per order, in the same order.
pub async fn apply_batch(
    db: &PgPool,
    org_id: Uuid,
    lane: Lane,
    orders: &[BuyOrder],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = db::begin_scoped(db, &Scope::service(org_id)).await?;
    if let Some(paused) = kill_switch::paused(&mut tx, org_id, Utc::now()).await? {
        tx.rollback().await?;
        return Ok(vec![Outcome::Paused(paused); orders.len()]);
    }
    let mut settled = keys::settle(&mut tx, org_id, orders).await?;
    let fresh: Vec<usize> = (0..orders.len())
        .filter(|i| settled[*i].is_none())
        .collect();
    let fresh_orders: Vec<&BuyOrder> = fresh.iter().map(|&i| &orders[i]).collect();
    match lane {
        Lane::Item(item_id) => {
            let reserved = reserve(&mut tx, org_id, item_id, &fresh_orders).await?;
            for (&i, decision) in fresh.iter().zip(&reserved.decisions) {
                settled[i] = Some(decision.outcome(&orders[i]));
            }
            let outcomes = finish(orders, settled);
            let keys = KeyRecords::of(orders, &fresh, &outcomes);
            reserved.write(&mut tx, org_id, item_id, &keys).await?;
            tx.commit().await?;
            Ok(outcomes)
        }
        Lane::Enqueue => {
            let purchase_ids: Vec<Uuid> = fresh.iter().map(|_| Uuid::new_v4()).collect();
            for (&i, purchase_id) in fresh.iter().zip(&purchase_ids) {
                settled[i] = Some(queue::accepted(*purchase_id));
            }
            let outcomes = finish(orders, settled);
            let keys = KeyRecords::of(orders, &fresh, &outcomes);
            queue::store(&mut tx, org_id, &fresh_orders, &purchase_ids, &keys).await?;
            tx.commit().await?;
            Ok(outcomes)
        }
    }
}

fn finish(orders: &[BuyOrder], settled: Vec<Option<Outcome>>) -> Vec<Outcome> {
    let outcomes = settled
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::KeyInFlight))
        .collect();
    keys::resolve_duplicates(orders, outcomes)
}

/// What became of one buy of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirmed { order_id: Uuid },
    OutOfStock { available: i32 },
    UnknownItem,
}

impl Decision {
    pub fn outcome(self, order: &BuyOrder) -> Outcome {
        match self {
            Self::Confirmed { order_id } => Outcome::confirmed(order, order_id),
            Self::OutOfStock { available } => Outcome::out_of_stock(order, available),
            Self::UnknownItem => Outcome::unknown_item(order),
        }
    }
}

/// Stock reserved for a batch (the item row is locked), not yet written.
#[derive(Debug, Default)]
pub struct Reserved {
    pub decisions: Vec<Decision>,
    price_cents: i64,
    stock_after: i32,
    order_ids: Vec<Uuid>,
    subs: Vec<String>,
    quantities: Vec<i32>,
    stock_before: Vec<i32>,
    request_ids: Vec<String>,
}

/// Locks the item and decides `orders` first come first served: an order that does not fit is
/// refused and the ones behind it may still be filled, as if they had come one by one.
pub async fn reserve(
    conn: &mut PgConnection,
    org_id: Uuid,
    item_id: Uuid,
    orders: &[&BuyOrder],
) -> Result<Reserved, sqlx::Error> {
    if orders.is_empty() {
        return Ok(Reserved::default());
    }
    let item = sqlx::query!(
        "SELECT stock, price_cents FROM inventory
         WHERE organization_id = $1 AND id = $2 FOR UPDATE",
        org_id,
        item_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(item) = item else {
        return Ok(Reserved {
            decisions: vec![Decision::UnknownItem; orders.len()],
            ..Reserved::default()
        });
    };
    let mut reserved = Reserved {
        price_cents: item.price_cents,
        stock_after: item.stock,
        ..Reserved::default()
    };
    for order in orders {
        let decision = if order.quantity <= reserved.stock_after {
            let order_id = Uuid::new_v4();
            reserved.order_ids.push(order_id);
            reserved.subs.push(order.customer_sub.clone());
            reserved.quantities.push(order.quantity);
            reserved.stock_before.push(reserved.stock_after);
            reserved.request_ids.push(order.request_id.clone());
            reserved.stock_after -= order.quantity;
            Decision::Confirmed { order_id }
        } else {
            Decision::OutOfStock {
                available: reserved.stock_after,
            }
        };
        reserved.decisions.push(decision);
    }
    Ok(reserved)
}

impl Reserved {
    /// Writes the batch in one statement: the stock, every order and audit row, the idempotency
    /// records in `keys`, and the stock event (delivered to listeners only if this commits).
    pub async fn write(
        &self,
        conn: &mut PgConnection,
        org_id: Uuid,
        item_id: Uuid,
        keys: &KeyRecords,
    ) -> Result<(), sqlx::Error> {
        let units: i32 = self.quantities.iter().sum();
        sqlx::query!(
            r#"WITH sold AS (
                   UPDATE inventory SET stock = stock - $3, updated_at = now()
                   WHERE organization_id = $1 AND id = $2 AND $3 > 0
                   RETURNING stock
               ), placed AS (
                   INSERT INTO orders (organization_id, id, item_id, customer_sub, quantity, unit_price_cents)
                   SELECT $1, o.id, $2, o.sub, o.quantity, $4
                   FROM unnest($5::uuid[], $6::text[], $7::int[]) AS o(id, sub, quantity)
               ), audited AS (
                   INSERT INTO audit_log (organization_id, actor_sub, action, target, before, after, request_id)
                   SELECT $1, a.sub, 'purchase', 'item:' || $2::uuid,
                          jsonb_build_object('stock', a.before),
                          jsonb_build_object('stock', a.before - a.quantity, 'order_id', a.id,
                                             'quantity', a.quantity),
                          a.request_id
                   FROM unnest($5::uuid[], $6::text[], $7::int[], $8::int[], $9::text[])
                        AS a(id, sub, quantity, before, request_id)
               ), remembered AS (
                   INSERT INTO idempotency_keys
                       (organization_id, customer_sub, idempotency_key, fingerprint,
                        response_status, response_body, request_id)
                   SELECT $1, k.sub, k.key, k.fingerprint, k.status, k.body, k.request_id
                   FROM unnest($10::text[], $11::text[], $12::bytea[], $13::smallint[], $14::bytea[], $15::text[])
                        AS k(sub, key, fingerprint, status, body, request_id)
               )
               SELECT pg_notify($16, json_build_object('org_id', $1::uuid, 'item_id', $2::uuid,
                                                       'stock', sold.stock)::text) AS "notified!: String"
               FROM sold"#,
            org_id,
            item_id,
            units,
            self.price_cents,
            &self.order_ids,
            &self.subs,
            &self.quantities,
            &self.stock_before,
            &self.request_ids,
            &keys.subs,
            &keys.keys,
            &keys.fingerprints,
            &keys.statuses,
            &keys.bodies,
            &keys.request_ids,
            STOCK_CHANNEL
        )
        .fetch_all(conn)
        .await?;
        Ok(())
    }
}
