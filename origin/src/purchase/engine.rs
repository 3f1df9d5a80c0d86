//! One transaction for a whole batch of buys of one item, in one round trip.
//!
//! The steps (claims, kill switch, idempotency keys, the item's row lock, first come first
//! served, the writes) run inside the database's `buy_batch` (its current body is in
//! `db/schema.sql`), as the request role so row-level security applies. A batch then
//! costs one round trip whatever its size, and the item row is locked only while the database
//! itself works: a lone buyer is faster than with the simple per-purchase transaction, and
//! under load the row lock is never held across the network. Requests that cannot proceed (a
//! key in flight or reused, a replay, paused sales) are answered without touching the others.
//!
//! Only confirmed purchases are remembered with their key: a refusal (out of stock, unknown
//! item) writes nothing, so a retry of a refused buy is decided afresh.

use api::live_sale::Refusals;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{
    batch_outcome::BatchOutcome,
    key_records::{self, outcome_of_claim, KeyColumns},
    order::{BuyOrder, Outcome},
    queue::enqueue,
};
use crate::{
    db::Scope,
    idempotency::{Claim, StoredResponse},
    kill_switch::Paused,
};

/// What a batch is for: buying one item now, or storing buys for the queue workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    Item(Uuid),
    Enqueue,
}

/// A committed batch: one outcome per order, in order.
#[derive(Debug)]
pub struct Applied {
    pub outcomes: Vec<Outcome>,
    /// The item's stock once the batch was through, when it reached the item.
    pub stock_left: Option<i32>,
}

impl Applied {
    /// The orders this batch refused because the item was sold out or sales were paused.
    pub fn refusals(&self) -> Refusals {
        let mut refused = Refusals::default();
        for outcome in &self.outcomes {
            if outcome.is_sold_out() {
                refused.sold_out += 1;
            } else if matches!(outcome, Outcome::Paused(_)) {
                refused.paused += 1;
            }
        }
        refused
    }
}

/// How a batch's one statement becomes a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchTransaction {
    /// The statement alone, a transaction of its own: one round trip.
    Implicit,
    /// Inside `BEGIN` ... `COMMIT`, so a transaction pooler keeps the prepared statement and its
    /// execution on one server connection (see `config::pooler`): two round trips more.
    Explicit,
}

/// Most async buys one shop may have waiting in the queue, unless configured otherwise.
pub const DEFAULT_QUEUE_PENDING_CAP: i64 = 10_000;

/// How batches are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRules {
    /// How an item batch's statement becomes a transaction.
    pub transaction: BatchTransaction,
    /// Most async buys one shop may have waiting; the enqueue lane refuses more with `429`.
    pub queue_pending_cap: i64,
}

impl Default for BatchRules {
    fn default() -> Self {
        Self {
            transaction: BatchTransaction::Implicit,
            queue_pending_cap: DEFAULT_QUEUE_PENDING_CAP,
        }
    }
}

/// Applies `orders` (all for `org_id` and `lane`, in arrival order) in one transaction.
pub async fn apply_batch(
    db: &PgPool,
    org_id: Uuid,
    lane: Lane,
    orders: &[BuyOrder],
) -> Result<Applied, sqlx::Error> {
    apply_batch_in(db, BatchRules::default(), org_id, lane, orders).await
}

/// `apply_batch`, under the given `rules`.
pub async fn apply_batch_in(
    db: &PgPool,
    rules: BatchRules,
    org_id: Uuid,
    lane: Lane,
    orders: &[BuyOrder],
) -> Result<Applied, sqlx::Error> {
    let firsts = key_records::first_uses(orders);
    let first_orders: Vec<&BuyOrder> = firsts.iter().map(|&i| &orders[i]).collect();
    let (decided, stock_left) = match lane {
        Lane::Item(item_id) => {
            let sold = match rules.transaction {
                BatchTransaction::Implicit => buy_item(db, org_id, item_id, &first_orders).await?,
                BatchTransaction::Explicit => {
                    let mut tx = db.begin().await?;
                    let sold = buy_item(&mut *tx, org_id, item_id, &first_orders).await?;
                    tx.commit().await?;
                    sold
                }
            };
            let outcomes = sold
                .decisions
                .into_iter()
                .zip(&first_orders)
                .map(|(decision, order)| decision.into_outcome(order))
                .collect();
            (outcomes, sold.stock_left)
        }
        Lane::Enqueue => (
            enqueue::enqueue(db, org_id, &first_orders, rules.queue_pending_cap).await?,
            None,
        ),
    };
    let mut outcomes = vec![Outcome::KeyInFlight; orders.len()];
    for (i, outcome) in firsts.into_iter().zip(decided) {
        outcomes[i] = outcome;
    }
    Ok(Applied {
        outcomes: key_records::resolve_duplicates(orders, outcomes),
        stock_left,
    })
}

/// What `buy_item` decided for each order, in order, and the stock it left.
#[derive(Debug)]
pub struct Sold {
    pub decisions: Vec<Decision>,
    pub stock_left: Option<i32>,
}

/// What became of one buy of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Confirmed {
        order_id: Uuid,
        response: StoredResponse,
    },
    OutOfStock {
        available: i32,
    },
    UnknownItem,
    /// Nothing was bought: the key or the kill switch answered.
    Answered(Outcome),
}

impl Decision {
    pub fn into_outcome(self, order: &BuyOrder) -> Outcome {
        match self {
            Self::Confirmed { response, .. } => Outcome::Final(response),
            Self::OutOfStock { available } => Outcome::out_of_stock(order, available),
            Self::UnknownItem => Outcome::unknown_item(order),
            Self::Answered(outcome) => outcome,
        }
    }
}

/// Buys `item_id` for `orders` (first come first served) with one call of the database's
/// `buy_batch`: on a pool that is a transaction of its own, on a connection inside a transaction
/// it joins it.
pub async fn buy_item<'c>(
    conn: impl PgExecutor<'c>,
    org_id: Uuid,
    item_id: Uuid,
    orders: &[&BuyOrder],
) -> Result<Sold, sqlx::Error> {
    if orders.is_empty() {
        return Ok(Sold {
            decisions: Vec::new(),
            stock_left: None,
        });
    }
    // Time-ordered (version 7): each new order's primary-key entry lands at the right edge of
    // its shop's part of the index, as the last one did, not on a random page of it.
    let order_ids: Vec<Uuid> = orders.iter().map(|_| Uuid::now_v7()).collect();
    let confirmed: Vec<StoredResponse> = orders
        .iter()
        .zip(&order_ids)
        .map(|(order, &order_id)| Outcome::confirmed_response(order, order_id))
        .collect();
    let bodies: Vec<&[u8]> = confirmed.iter().map(|r| r.body.as_slice()).collect();
    let quantities: Vec<i32> = orders.iter().map(|o| o.quantity).collect();
    let request_ids: Vec<&str> = orders.iter().map(|o| o.request_id.as_str()).collect();
    let columns = KeyColumns::of(orders);
    let rows = sqlx::query_as!(
        BatchRow,
        r#"SELECT n AS "n!", outcome AS "outcome!: BatchOutcome", available, response_status, response_body,
                  paused_reason, paused_until
           FROM buy_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"#,
        Scope::service(org_id).claims_json,
        org_id,
        item_id,
        &columns.subs as &[&str],
        &quantities,
        &request_ids as &[&str],
        &order_ids,
        &bodies as &[&[u8]],
        &columns.lock_ids as &[Option<i64>],
        &columns.keys as &[Option<&str>],
        &columns.fingerprints as &[Option<&[u8]>]
    )
    .fetch_all(conn)
    .await?;
    let now = Utc::now();
    let mut decisions = vec![Decision::Answered(Outcome::KeyInFlight); orders.len()];
    let mut confirmed: Vec<Option<StoredResponse>> = confirmed.into_iter().map(Some).collect();
    // A confirmed order carries the stock after the batch, a refused one the stock it found:
    // the least is what the batch left.
    let stock_left = rows.iter().filter_map(|row| row.available).min();
    for row in rows {
        let Some(i) = usize::try_from(row.n - 1)
            .ok()
            .filter(|&i| i < orders.len())
        else {
            continue;
        };
        let response = confirmed[i].take().unwrap_or_default();
        decisions[i] = row.decision(order_ids[i], response, now);
    }
    Ok(Sold {
        decisions,
        stock_left,
    })
}

/// One order's row of `buy_batch`'s answer.
struct BatchRow {
    /// The order's place in the batch, from 1.
    n: i32,
    outcome: BatchOutcome,
    available: Option<i32>,
    response_status: Option<i16>,
    response_body: Option<Vec<u8>>,
    paused_reason: Option<String>,
    paused_until: Option<DateTime<Utc>>,
}

impl BatchRow {
    /// What the row decided for its order: `order_id` and `response` are what a confirmed order
    /// was stored with.
    fn decision(self, order_id: Uuid, response: StoredResponse, now: DateTime<Utc>) -> Decision {
        match self.outcome {
            BatchOutcome::Confirmed => Decision::Confirmed { order_id, response },
            BatchOutcome::OutOfStock => Decision::OutOfStock {
                available: self.available.unwrap_or(0),
            },
            BatchOutcome::UnknownItem => Decision::UnknownItem,
            BatchOutcome::Paused => Decision::Answered(Outcome::Paused(Paused::from_switch(
                self.paused_reason,
                self.paused_until,
                now,
            ))),
            by_key @ (BatchOutcome::Replay | BatchOutcome::Reused | BatchOutcome::InFlight) => {
                Decision::Answered(
                    by_key
                        .answered_by_key()
                        .and_then(|state| {
                            Claim::from_settled(state, self.response_status, self.response_body)
                        })
                        .and_then(outcome_of_claim)
                        .unwrap_or(Outcome::KeyInFlight),
                )
            }
        }
    }
}
