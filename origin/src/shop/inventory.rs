//! Listing a shop's inventory (public; cached at the edge for a second). Reads go to the replica
//! when there is one (see `db::replica`).

use api::{
    inventory::{InventoryList, Item},
    Problem,
};
use axum::{
    extract::{Path, State},
    Json,
};
use uuid::Uuid;

use crate::http::openapi::doc_types::{ReadAfterHeader, TenantPath, Unavailable};
use crate::{
    db::replica::{self, ReadAfter},
    db::Scope,
    http::caller::Tenant,
    http::error::ApiError,
    http::state::AppState,
};

/// `GET /api/tenant/{org_id}/inventory`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/inventory",
    summary = "List the shop's items",
    tag = "shop",
    params(TenantPath, ReadAfterHeader),
    responses(
        (status = 200, description = "The shop's items", body = InventoryList),
        (status = 404, description = "The shop id is not a UUID", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn list_items(
    State(state): State<AppState>,
    tenant: Tenant,
    read_after: ReadAfter,
) -> Result<Json<InventoryList>, ApiError> {
    let scope = Scope::anonymous(tenant.0);
    let mut tx = replica::begin_read(&state, &scope, read_after).await?;
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
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/inventory/{item_id}",
    summary = "One item",
    tag = "shop",
    params(TenantPath, ("item_id" = Uuid, Path, description = "The item"), ReadAfterHeader),
    responses(
        (status = 200, description = "The item", body = Item),
        (status = 400, description = "The item id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn get_item(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((_, item_id)): Path<(String, String)>,
    read_after: ReadAfter,
) -> Result<Json<Item>, ApiError> {
    let item_id = Uuid::parse_str(&item_id)
        .map_err(|_| ApiError::Malformed("the item id is not a UUID".into()))?;
    let scope = Scope::anonymous(tenant.0);
    let mut tx = replica::begin_read(&state, &scope, read_after).await?;
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
