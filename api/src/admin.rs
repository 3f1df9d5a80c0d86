//! What shop admins send to manage their inventory.

use serde::{Deserialize, Serialize};

use crate::page::PageLimit;

/// Entries per page of the audit log: 50 when the caller names no `limit`, at most 500.
pub const AUDIT_PAGE: PageLimit = PageLimit {
    default: 50,
    max: 500,
};

/// Limits on item fields, checked by the origin before any SQL runs.
pub const MAX_SKU_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_STOCK: i64 = 1_000_000;

/// `POST /api/admin/items`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateItem {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub sku: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub price_cents: i64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000))]
    pub stock: i64,
}

/// `PATCH /api/admin/items/{id}`: every field optional; `stock` sets, `stock_delta` adds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_delta: Option<i64>,
}

/// Why an admin request is refused before it reaches the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemFieldError {
    #[error("sku must be 1 to {MAX_SKU_LEN} characters")]
    Sku,
    #[error("name must be 1 to {MAX_NAME_LEN} characters")]
    Name,
    #[error("price_cents must be zero or more")]
    Price,
    #[error("stock must be between 0 and {MAX_STOCK}")]
    Stock,
    #[error("stock_delta must be between -{MAX_STOCK} and {MAX_STOCK}")]
    StockDelta,
    #[error("give either stock or stock_delta, not both")]
    StockAndDelta,
    #[error("the patch changes nothing")]
    Empty,
}

fn check_name(name: &str) -> Result<(), ItemFieldError> {
    let len = name.trim().chars().count();
    (1..=MAX_NAME_LEN)
        .contains(&len)
        .then_some(())
        .ok_or(ItemFieldError::Name)
}

fn check_stock(stock: i64) -> Result<i32, ItemFieldError> {
    (0..=MAX_STOCK)
        .contains(&stock)
        .then(|| i32::try_from(stock).ok())
        .flatten()
        .ok_or(ItemFieldError::Stock)
}

impl CreateItem {
    /// The stock as stored, once every field is within its limits.
    pub fn validate(&self) -> Result<i32, ItemFieldError> {
        let sku_len = self.sku.trim().chars().count();
        if !(1..=MAX_SKU_LEN).contains(&sku_len) {
            return Err(ItemFieldError::Sku);
        }
        check_name(&self.name)?;
        if self.price_cents < 0 {
            return Err(ItemFieldError::Price);
        }
        check_stock(self.stock)
    }
}

/// A patch whose fields passed their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPatch {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub stock: Option<i32>,
    pub stock_delta: Option<i32>,
}

impl ItemPatch {
    pub fn validate(&self) -> Result<CheckedPatch, ItemFieldError> {
        if self.stock.is_some() && self.stock_delta.is_some() {
            return Err(ItemFieldError::StockAndDelta);
        }
        if self == &Self::default() {
            return Err(ItemFieldError::Empty);
        }
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        if self.price_cents.is_some_and(|p| p < 0) {
            return Err(ItemFieldError::Price);
        }
        let stock = self.stock.map(check_stock).transpose()?;
        let stock_delta = self
            .stock_delta
            .map(|d| {
                (-MAX_STOCK..=MAX_STOCK)
                    .contains(&d)
                    .then(|| i32::try_from(d).ok())
                    .flatten()
                    .ok_or(ItemFieldError::StockDelta)
            })
            .transpose()?;
        Ok(CheckedPatch {
            name: self.name.as_ref().map(|n| n.trim().to_owned()),
            price_cents: self.price_cents,
            stock,
            stock_delta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_must_change_something_and_not_both_stocks() {
        assert_eq!(ItemPatch::default().validate(), Err(ItemFieldError::Empty));
        let both = ItemPatch {
            stock: Some(1),
            stock_delta: Some(1),
            ..ItemPatch::default()
        };
        assert_eq!(both.validate(), Err(ItemFieldError::StockAndDelta));
        let negative = ItemPatch {
            stock: Some(-1),
            ..ItemPatch::default()
        };
        assert_eq!(negative.validate(), Err(ItemFieldError::Stock));
    }

    #[test]
    fn new_items_need_sane_fields() {
        let item = CreateItem {
            sku: "CHAIR".into(),
            name: "Chair".into(),
            price_cents: 100,
            stock: 5,
        };
        assert_eq!(item.validate(), Ok(5));
        let blank = CreateItem {
            sku: " ".into(),
            ..item.clone()
        };
        assert_eq!(blank.validate(), Err(ItemFieldError::Sku));
        let huge = CreateItem {
            stock: i64::MAX,
            ..item
        };
        assert_eq!(huge.validate(), Err(ItemFieldError::Stock));
    }
}
