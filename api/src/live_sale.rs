//! The live sale view shop admins watch: one aggregate per shop and second on
//! `GET /api/admin/events`, and the refusal counts the edge reports to the origin.
//!
//! An aggregate is the same size whether a shop sells one unit a second or twenty thousand:
//! counts, not events. The edge counts what it refuses by itself (rate limits, paused sales,
//! items it knows are sold out, buys shed while the origin is overloaded) and reports the counts at most once a second per shop and isolate; the origin adds what the
//! database refused (sold out, paused).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Refused purchases, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusals {
    /// Not enough stock (synchronous `409`, or a queued purchase rejected).
    #[serde(default)]
    pub sold_out: u64,
    /// Over a rate limit at the edge (`429`).
    #[serde(default)]
    pub rate_limited: u64,
    /// Sales paused by the kill switch, at the edge or the origin (`503`).
    #[serde(default)]
    pub paused: u64,
    /// Shed at the edge while the origin was overloaded by the shop's purchases (`503`).
    #[serde(default)]
    pub busy: u64,
}

impl Refusals {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn add(&mut self, other: Self) {
        self.sold_out = self.sold_out.saturating_add(other.sold_out);
        self.rate_limited = self.rate_limited.saturating_add(other.rate_limited);
        self.paused = self.paused.saturating_add(other.paused);
        self.busy = self.busy.saturating_add(other.busy);
    }
}

/// What the edge refused for one shop since its last report: the body of
/// `POST /api/tenant/{org_id}/edge/refusals`, which only the edge may call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EdgeRefusals {
    #[serde(default)]
    pub rate_limited: u64,
    #[serde(default)]
    pub paused: u64,
    /// Buys of an item the edge knew to be sold out, answered `409` without the origin.
    #[serde(default)]
    pub sold_out: u64,
    /// Buys shed while the origin was overloaded by the shop's purchases.
    #[serde(default)]
    pub busy: u64,
}

/// The most one report may count: an isolate cannot refuse more than this in a second.
pub const MAX_REPORTED: u64 = 10_000_000;

/// One item's second: units sold, and its stock at the end of the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemSecond {
    pub item_id: Uuid,
    pub sold: u64,
    pub stock: i32,
}

/// A shop's second: the `second` event of the admin stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SaleSecond {
    /// When the second ended, in Unix milliseconds (the origin's clock).
    pub at_ms: i64,
    /// The items whose stock changed in this second (sold, restocked or edited), and only those.
    pub items: Vec<ItemSecond>,
    pub refused: Refusals,
}
