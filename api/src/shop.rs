//! A shop as its storefront introduces it to shoppers.

use serde::{Deserialize, Serialize};

/// `GET /api/shop`: public, like the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopProfile {
    pub name: String,
}
