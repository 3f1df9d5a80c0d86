//! Buying: the request a shopper sends and the order it gets back.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most units one purchase may ask for.
pub const MAX_QUANTITY: i64 = 100;

/// `POST /api/buy`. `quantity` is read as a wide integer so that huge or negative values are
/// refused with a clear message instead of a JSON type error.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyRequest {
    pub item_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub quantity: i64,
}

impl BuyRequest {
    /// The quantity as stored, when it is within `1..=MAX_QUANTITY`.
    pub fn checked_quantity(&self) -> Option<i32> {
        (1..=MAX_QUANTITY)
            .contains(&self.quantity)
            .then(|| i32::try_from(self.quantity).ok())
            .flatten()
    }
}

/// Where an order stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Confirmed,
}

/// `201` answer to a purchase.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i32,
    pub status: OrderStatus,
}

/// `202` answer to a purchase queued with `Prefer: respond-async`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub purchase_id: Uuid,
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(quantity: i64) -> BuyRequest {
        BuyRequest {
            item_id: Uuid::nil(),
            quantity,
        }
    }

    #[test]
    fn quantity_must_be_between_one_and_the_maximum() {
        assert_eq!(request(1).checked_quantity(), Some(1));
        assert_eq!(request(100).checked_quantity(), Some(100));
        assert_eq!(request(0).checked_quantity(), None);
        assert_eq!(request(-3).checked_quantity(), None);
        assert_eq!(request(101).checked_quantity(), None);
        assert_eq!(request(i64::MAX).checked_quantity(), None);
    }
}
