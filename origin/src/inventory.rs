//! Listing a shop's inventory (public; cached at the edge for a second).

use api::inventory::{InventoryList, Item};
use axum::{
    extract::{Path, State},
    Json,
};
use uuid::Uuid;

use crate::{
    auth::{Scope, Tenant},
    db,
    error::ApiError,
    state::AppState,
};

/// `GET /api/tenant/{org_id}/inventory`
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<InventoryList>, ApiError> {
    let scope = Scope::anonymous(tenant);
    let mut tx = db::begin_scoped(&state.db, &scope).await?;
    let items = sqlx::query_as!(
        Item,
        "SELECT id, sku, name, price_cents, stock FROM inventory
         WHERE organization_id = $1 ORDER BY name, id",
        scope.org_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(InventoryList { items }))
}

/// `GET /api/tenant/{org_id}/inventory/{item_id}`
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((_, item_id)): Path<(String, String)>,
) -> Result<Json<Item>, ApiError> {
    let item_id = Uuid::parse_str(&item_id)
        .map_err(|_| ApiError::Malformed("the item id is not a UUID".into()))?;
    let scope = Scope::anonymous(tenant);
    let mut tx = db::begin_scoped(&state.db, &scope).await?;
    let item = sqlx::query_as!(
        Item,
        "SELECT id, sku, name, price_cents, stock FROM inventory
         WHERE organization_id = $1 AND id = $2",
        scope.org_id,
        item_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    item.map(Json).ok_or(ApiError::NotFound("no such item"))
}
