//! A shop as its storefront introduces it to shoppers.

use serde::{Deserialize, Serialize};

/// `GET /api/shop`: public, like the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShopProfile {
    pub name: String,
}
