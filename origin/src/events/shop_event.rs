//! What the hub carries: a shop's committed stock changes, its decided queued purchases and
//! its refusal counts, each as announced on its channel, and the observer that sees them all.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::channels::RefusalCounts;

/// A committed stock level.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StockEvent {
    pub org_id: Uuid,
    pub item_id: Uuid,
    pub stock: i32,
    /// Units the change sold: a purchase batch's; 0 for an admin's edit or restock.
    #[serde(default)]
    pub sold: u64,
}

/// A decided queued purchase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PurchaseEvent {
    pub org_id: Uuid,
    pub sub: String,
    pub purchase_id: Uuid,
    pub status: String,
    pub order_id: Option<Uuid>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ShopEvent {
    Stock(StockEvent),
    Purchase(PurchaseEvent),
    /// Purchases refused in the last second or so, as one origin process counted them.
    Refusals(RefusalCounts),
}

impl ShopEvent {
    pub fn org_id(&self) -> Uuid {
        match self {
            Self::Stock(e) => e.org_id,
            Self::Purchase(e) => e.org_id,
            Self::Refusals(e) => e.org_id,
        }
    }
}

/// Something that sees every shop's events as they arrive, whether or not the shop has open
/// streams. It runs on the listener's task, so it must be quick: a map lookup, a few adds.
pub trait EventObserver: Send + Sync + std::fmt::Debug {
    fn observe(&self, event: &ShopEvent);
}
