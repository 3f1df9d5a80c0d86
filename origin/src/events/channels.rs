//! The names of the `NOTIFY` channels committed facts are announced on, and the payload the
//! refusal counts travel as. The writers (`purchase`, `admin`, `live_sale`) and the listener
//! (`hub`) both read them here, so neither has to know the other.

use api::live_sale::Refusals;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Committed stock changes; `buy_batch` and an admin's edit notify on it.
pub const STOCK_CHANNEL: &str = "furnitureops_stock";

/// Decided queued purchases.
pub const PURCHASE_CHANNEL: &str = "furnitureops_purchase";

/// The once-a-second refusal counts of every origin process (`live_sale::refusal_tally`).
pub const REFUSALS_CHANNEL: &str = "furnitureops_refusals";

/// How the reason of a queued purchase rejected for want of stock begins (the admins' live
/// view counts those as sold out).
pub const OUT_OF_STOCK_REASON: &str = "out of stock";

/// One shop's refusals as one process counted them: the payload on `REFUSALS_CHANNEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCounts {
    pub org_id: Uuid,
    #[serde(flatten)]
    pub refused: Refusals,
}
