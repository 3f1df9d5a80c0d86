//! Inventory as shoppers see it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{images::ItemImage, page::PageLimit};

/// One item of a shop's inventory.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: i32,
    /// Its pictures, in the order the shop set, the first the one shown on the item's card.
    #[serde(default)]
    pub images: Vec<ItemImage>,
}

/// Items per page of `GET /api/inventory`: 50 when the caller names no `limit`, at most 200.
pub const INVENTORY_PAGE: PageLimit = PageLimit {
    default: 50,
    max: 200,
};

/// `GET /api/inventory`: one page of the shop's items in name order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryList {
    pub items: Vec<Item>,
    /// Pass as `after` for the next page (sealed by the origin, see `cursor`); absent on the
    /// last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
