//! One purchase request inside a batch, and what became of it.

use api::{
    purchase::{Order, OrderStatus},
    Problem, ProblemKind,
};
use uuid::Uuid;

use crate::{
    idempotency::{KeyUse, StoredResponse},
    kill_switch::Paused,
};

/// A buy waiting for its batch.
#[derive(Debug, Clone)]
pub struct BuyOrder {
    pub org_id: Uuid,
    pub customer_sub: String,
    pub item_id: Uuid,
    pub quantity: i32,
    pub request_id: String,
    /// Synchronous buys carry their idempotency key; queued ones stored it when enqueued.
    pub key: Option<KeyUse>,
}

/// What the batch decided for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This request's own answer: confirmed (201, stored with the idempotency key in the
    /// batch's transaction), accepted for the queue (202, stored likewise), or refused: out of
    /// stock (409) or unknown item (404), which write nothing.
    Final(StoredResponse),
    /// The key was used before with the same request: its first answer.
    Replay(StoredResponse),
    KeyReused,
    KeyInFlight,
    Paused(Paused),
    /// An async buy refused because its shop already has `cap` buys waiting in the queue.
    QueueFull {
        cap: i64,
    },
}

impl Outcome {
    /// The `201` a confirmed purchase answers, stored with its key.
    pub fn confirmed_response(order: &BuyOrder, order_id: Uuid) -> StoredResponse {
        let body = Order {
            order_id,
            item_id: order.item_id,
            quantity: order.quantity,
            status: OrderStatus::Confirmed,
        };
        StoredResponse {
            status: 201,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }

    pub fn out_of_stock(order: &BuyOrder, available: i32) -> Self {
        Self::refused(order, Problem::out_of_stock(available))
    }

    pub fn unknown_item(order: &BuyOrder) -> Self {
        Self::refused(order, Problem::new(ProblemKind::NotFound, "no such item"))
    }

    fn refused(order: &BuyOrder, problem: Problem) -> Self {
        let problem = problem.with_request_id(Some(order.request_id.clone()));
        Self::Final(StoredResponse {
            status: problem.status,
            body: serde_json::to_vec(&problem).unwrap_or_default(),
        })
    }

    /// Whether this is the refusal of a buy the stock could not cover.
    pub fn is_sold_out(&self) -> bool {
        matches!(self, Self::Final(stored) if stored.status == ProblemKind::OutOfStock.status())
    }

    /// The order id, when the purchase was confirmed by this batch.
    pub fn confirmed_order_id(&self) -> Option<Uuid> {
        match self {
            Self::Final(stored) if stored.status == 201 => {
                serde_json::from_slice::<Order>(&stored.body)
                    .ok()
                    .map(|o| o.order_id)
            }
            _ => None,
        }
    }
}
