//! Inventory as shoppers see it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One item of a shop's inventory.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: i32,
}

/// `GET /api/inventory`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryList {
    pub items: Vec<Item>,
}
