//! One transaction for a whole batch of buys of one item.
//!
//! The item row is locked once (`FOR UPDATE`), which is what serialises batches across origin
//! processes; everything else is set-based: one `UPDATE` of the stock, one `INSERT` each for
//! orders, audit rows and idempotency records, whatever the batch size. Requests that cannot
//! proceed (a key in flight or reused, a replay) are answered without touching the others.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    order::{BuyOrder, Outcome},
    queue,
};
use crate::{
    auth::Scope,
    db,
    idempotency::{lock_id, StoredResponse, RETENTION_HOURS},
    kill_switch,
};

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
    let mut outcomes = settle_keys(&mut tx, org_id, orders).await?;
    let fresh: Vec<usize> = (0..orders.len())
        .filter(|i| outcomes[*i].is_none())
        .collect();
    let fresh_orders: Vec<&BuyOrder> = fresh.iter().map(|&i| &orders[i]).collect();
    let decided: Vec<Outcome> = match lane {
        Lane::Item(item_id) => sell(&mut tx, org_id, item_id, &fresh_orders)
            .await?
            .into_iter()
            .zip(&fresh_orders)
            .map(|(decision, order)| decision.outcome(order))
            .collect(),
        Lane::Enqueue => queue::store(&mut tx, org_id, &fresh_orders).await?,
    };
    for (&i, outcome) in fresh.iter().zip(decided) {
        outcomes[i] = Some(outcome);
    }
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::KeyInFlight))
        .collect();
    let outcomes = resolve_duplicates(orders, outcomes);
    record_keys(&mut tx, org_id, orders, &fresh, &outcomes).await?;
    tx.commit().await?;
    Ok(outcomes)
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

/// Sells `orders` of one item, first come first served, inside the caller's transaction (which
/// must be scoped to `org_id`): one row lock, one stock update, set-based inserts.
pub async fn sell(
    conn: &mut PgConnection,
    org_id: Uuid,
    item_id: Uuid,
    orders: &[&BuyOrder],
) -> Result<Vec<Decision>, sqlx::Error> {
    if orders.is_empty() {
        return Ok(Vec::new());
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
        return Ok(vec![Decision::UnknownItem; orders.len()]);
    };
    let mut sold = Sold::default();
    let mut left = item.stock;
    let decisions = orders
        .iter()
        .map(|order| {
            if order.quantity <= left {
                let order_id = Uuid::new_v4();
                sold.push(order, order_id, left);
                left -= order.quantity;
                Decision::Confirmed { order_id }
            } else {
                Decision::OutOfStock { available: left }
            }
        })
        .collect();
    if !sold.is_empty() {
        write_sales(conn, org_id, item_id, item.price_cents, &sold, left).await?;
    }
    Ok(decisions)
}

/// The confirmed part of a batch, column by column for `unnest`.
#[derive(Debug, Default)]
struct Sold {
    order_ids: Vec<Uuid>,
    subs: Vec<String>,
    quantities: Vec<i32>,
    stock_before: Vec<i32>,
    request_ids: Vec<String>,
}

impl Sold {
    fn push(&mut self, order: &BuyOrder, order_id: Uuid, stock_before: i32) {
        self.order_ids.push(order_id);
        self.subs.push(order.customer_sub.clone());
        self.quantities.push(order.quantity);
        self.stock_before.push(stock_before);
        self.request_ids.push(order.request_id.clone());
    }

    fn is_empty(&self) -> bool {
        self.order_ids.is_empty()
    }

    fn units(&self) -> i32 {
        self.quantities.iter().sum()
    }
}

async fn write_sales(
    conn: &mut PgConnection,
    org_id: Uuid,
    item_id: Uuid,
    price_cents: i64,
    sold: &Sold,
    stock_after: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE inventory SET stock = stock - $3, updated_at = now()
         WHERE organization_id = $1 AND id = $2",
        org_id,
        item_id,
        sold.units()
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO orders (organization_id, id, item_id, customer_sub, quantity, unit_price_cents)
         SELECT $1, o.id, $2, o.sub, o.quantity, $3
         FROM unnest($4::uuid[], $5::text[], $6::int[]) AS o(id, sub, quantity)",
        org_id,
        item_id,
        price_cents,
        &sold.order_ids,
        &sold.subs,
        &sold.quantities
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO audit_log (organization_id, actor_sub, action, target, before, after, request_id)
         SELECT $1, a.sub, 'purchase', 'item:' || $2::uuid,
                jsonb_build_object('stock', a.before),
                jsonb_build_object('stock', a.before - a.quantity, 'order_id', a.order_id,
                                   'quantity', a.quantity),
                a.request_id
         FROM unnest($3::text[], $4::int[], $5::int[], $6::uuid[], $7::text[])
              AS a(sub, before, quantity, order_id, request_id)",
        org_id,
        item_id,
        &sold.subs,
        &sold.stock_before,
        &sold.quantities,
        &sold.order_ids,
        &sold.request_ids
    )
    .execute(&mut *conn)
    .await?;
    let event = serde_json::json!({"org_id": org_id, "item_id": item_id, "stock": stock_after});
    sqlx::query_scalar!(
        r#"SELECT pg_notify($1, $2) AS "notified!: String""#,
        STOCK_CHANNEL,
        event.to_string()
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

/// Locks every key of the batch (without waiting) and answers the requests whose key already
/// holds a response. `None` means "go ahead".
async fn settle_keys(
    conn: &mut PgConnection,
    org_id: Uuid,
    orders: &[BuyOrder],
) -> Result<Vec<Option<Outcome>>, sqlx::Error> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; orders.len()];
    let keyed: Vec<usize> = (0..orders.len())
        .filter(|i| orders[*i].key.is_some())
        .collect();
    if keyed.is_empty() {
        return Ok(outcomes);
    }
    let lock_ids: Vec<i64> = keyed
        .iter()
        .filter_map(|i| orders[*i].key.as_ref().map(lock_id))
        .collect();
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock(l.id) AS "locked!"
           FROM unnest($1::bigint[]) WITH ORDINALITY AS l(id, n) ORDER BY l.n"#,
        &lock_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let subs: Vec<String> = keyed
        .iter()
        .map(|i| orders[*i].customer_sub.clone())
        .collect();
    let keys: Vec<String> = keyed
        .iter()
        .filter_map(|i| orders[*i].key.as_ref().map(|k| k.key.as_str().to_owned()))
        .collect();
    let cutoff = Utc::now() - Duration::hours(RETENTION_HOURS + 24);
    let stored = sqlx::query!(
        "SELECT customer_sub, idempotency_key, fingerprint, response_status, response_body
         FROM idempotency_keys
         WHERE organization_id = $1 AND created_at >= $2
           AND (customer_sub, idempotency_key) IN (SELECT * FROM unnest($3::text[], $4::text[]))",
        org_id,
        cutoff,
        &subs,
        &keys
    )
    .fetch_all(&mut *conn)
    .await?;
    let stored: HashMap<(String, String), _> = stored
        .into_iter()
        .map(|row| ((row.customer_sub.clone(), row.idempotency_key.clone()), row))
        .collect();
    for (n, &i) in keyed.iter().enumerate() {
        let Some(key) = &orders[i].key else { continue };
        outcomes[i] = if !locked.get(n).copied().unwrap_or(false) {
            Some(Outcome::KeyInFlight)
        } else {
            stored
                .get(&(key.customer_sub.clone(), key.key.as_str().to_owned()))
                .map(|row| {
                    if row.fingerprint == key.fingerprint {
                        Outcome::Replay(StoredResponse {
                            status: u16::try_from(row.response_status).unwrap_or(500),
                            body: row.response_body.clone(),
                        })
                    } else {
                        Outcome::KeyReused
                    }
                })
        };
    }
    // Within one batch only the first use of a key runs; `resolve_duplicates` answers the rest.
    let mut seen: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    for &i in &keyed {
        let Some(key) = &orders[i].key else { continue };
        if !seen.insert((key.customer_sub.as_str(), key.key.as_str())) {
            outcomes[i] = Some(Outcome::KeyInFlight);
        }
    }
    Ok(outcomes)
}

/// Later uses of a key inside the same batch get the first use's answer (same request) or
/// `422` (different request), exactly as if they had arrived just after it committed.
fn resolve_duplicates(orders: &[BuyOrder], mut outcomes: Vec<Outcome>) -> Vec<Outcome> {
    let mut first_use: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, order) in orders.iter().enumerate() {
        let Some(key) = &order.key else { continue };
        let slot = (key.customer_sub.as_str(), key.key.as_str());
        match first_use.get(&slot) {
            None => {
                first_use.insert(slot, i);
            }
            Some(&first) => {
                let same_request = orders[first]
                    .key
                    .as_ref()
                    .is_some_and(|k| k.fingerprint == key.fingerprint);
                outcomes[i] = match (&outcomes[first], same_request) {
                    (_, false) => Outcome::KeyReused,
                    (Outcome::Final(stored) | Outcome::Replay(stored), true) => {
                        Outcome::Replay(stored.clone())
                    }
                    (other, true) => other.clone(),
                };
            }
        }
    }
    outcomes
}

/// Stores the final answer of every fresh keyed request, in the batch's transaction.
async fn record_keys(
    conn: &mut PgConnection,
    org_id: Uuid,
    orders: &[BuyOrder],
    fresh: &[usize],
    outcomes: &[Outcome],
) -> Result<(), sqlx::Error> {
    let mut subs = Vec::new();
    let mut keys = Vec::new();
    let mut fingerprints = Vec::new();
    let mut statuses = Vec::new();
    let mut bodies = Vec::new();
    let mut request_ids = Vec::new();
    for &i in fresh {
        let (Some(key), Outcome::Final(stored)) = (&orders[i].key, &outcomes[i]) else {
            continue;
        };
        subs.push(key.customer_sub.clone());
        keys.push(key.key.as_str().to_owned());
        fingerprints.push(key.fingerprint.clone());
        statuses.push(i16::try_from(stored.status).unwrap_or(500));
        bodies.push(stored.body.clone());
        request_ids.push(key.request_id.clone());
    }
    if subs.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO idempotency_keys
             (organization_id, customer_sub, idempotency_key, fingerprint,
              response_status, response_body, request_id)
         SELECT $1, k.sub, k.key, k.fingerprint, k.status, k.body, k.request_id
         FROM unnest($2::text[], $3::text[], $4::bytea[], $5::smallint[], $6::bytea[], $7::text[])
              AS k(sub, key, fingerprint, status, body, request_id)",
        org_id,
        &subs,
        &keys,
        &fingerprints,
        &statuses,
        &bodies,
        &request_ids
    )
    .execute(conn)
    .await?;
    Ok(())
}
