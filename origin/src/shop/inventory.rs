//! Listing a shop's inventory (public; cached at the edge for a second). Reads go to the replica
//! when there is one (see `db::replica`).
//!
//! The list comes a page at a time (`limit`, at most `INVENTORY_PAGE.max`), in (name, id) order,
//! resuming after the item named by the `after` cursor: no request makes the database, the
//! origin or the edge carry a whole shop, however large it grows. Cursors are sealed
//! (`api::cursor`), so a made-up `after` is refused here as at the edge, and a page is only
//! ever asked for after an item the shop listed. Each item carries its pictures, in order,
//! read in the same transaction (one query for the page).

use api::{
    inventory::{InventoryList, Item, INVENTORY_PAGE},
    Problem,
};
use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::web::doc_types::{ReadAfterHeader, TenantPath, Unavailable};
use crate::{
    app::state::AppState, db::replica, db::Scope, pictures, pictures::ItemRow, web::caller::Tenant,
    web::error::ApiError, web::read_after::ReadAfter,
};

/// Which page of the inventory.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items on this page: 1 to 200, default 50.
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// `GET /api/tenant/{org_id}/inventory`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/inventory",
    summary = "List the shop's items, a page at a time",
    tag = "shop",
    params(TenantPath, PageQuery, ReadAfterHeader),
    responses(
        (status = 200, description = "A page of the shop's items, and the cursor of the next", body = InventoryList),
        (status = 400, description = "limit outside 1..=200, or after not a cursor this shop's pages gave", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The shop id is not a UUID", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn list_items(
    State(state): State<AppState>,
    tenant: Tenant,
    read_after: ReadAfter,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<InventoryList>, ApiError> {
    let Query(page) = page.map_err(|_| {
        ApiError::Malformed("limit must be a whole number and after a cursor".into())
    })?;
    let limit = INVENTORY_PAGE
        .check(page.limit)
        .map_err(ApiError::Malformed)?;
    let after = page
        .after
        .map(|cursor| state.cursors.open(tenant.0, &cursor))
        .transpose()
        .map_err(|refused| ApiError::Malformed(refused.to_string()))?;
    let scope = Scope::anonymous(tenant.0);
    let mut tx =
        replica::begin_read(&state.db, state.replica.as_ref(), &scope, read_after.0).await?;
    // One more than the page: whether it comes back says whether there is a next page.
    let mut items = sqlx::query_as!(
        ItemRow,
        "SELECT id, sku, name, price_cents, stock FROM inventory
         WHERE organization_id = $1
           AND ($2::uuid IS NULL OR (name, id) > (
                SELECT name, id FROM inventory WHERE organization_id = $1 AND id = $2))
         ORDER BY name, id
         LIMIT $3",
        scope.org_id,
        after,
        limit + 1
    )
    .fetch_all(&mut *tx)
    .await?;
    let more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let items = items.into_iter().map(ItemRow::into_item).collect();
    let items = pictures::with_pictures(&mut tx, scope.org_id, items).await?;
    tx.commit().await?;
    let next = more
        .then(|| {
            items
                .last()
                .map(|item| state.cursors.issue(scope.org_id, item.id))
        })
        .flatten();
    Ok(Json(InventoryList { items, next }))
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
    let mut tx =
        replica::begin_read(&state.db, state.replica.as_ref(), &scope, read_after.0).await?;
    let item = sqlx::query_as!(
        ItemRow,
        "SELECT id, sku, name, price_cents, stock FROM inventory
         WHERE organization_id = $1 AND id = $2",
        scope.org_id,
        item_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound("no such item"))?;
    let mut items = pictures::with_pictures(&mut tx, scope.org_id, vec![item.into_item()]).await?;
    tx.commit().await?;
    items
        .pop()
        .map(Json)
        .ok_or(ApiError::NotFound("no such item"))
}
