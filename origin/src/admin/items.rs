//! Admins managing their shop's items: adding, changing and removing them. The role comes from
//! the token; the tenant from the path and, underneath, from row-level security. Every change
//! is idempotent (`Idempotency-Key`) and audited in its own transaction; a stock change is
//! announced on the stock channel as a purchase batch does (delivered only if it commits), so
//! open storefronts and the admins' live view show a restock at once. A removed item takes its
//! pictures' rows with it; an item with orders cannot be removed (the database keeps every
//! order's item), so the shop's history stays whole.

use api::{
    admin::{CreateItem, ItemPatch, MAX_STOCK},
    inventory::Item,
    Problem,
};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::web::doc_types::{TenantPath, TokenRefusals, TooLarge, Unavailable};
use crate::{
    admin::audit::AuditEntry, admin::guarded_write::AdminWrite, app::state::AppState,
    events::channels::STOCK_CHANNEL, pictures, pictures::ItemRow, web::caller::Admin,
    web::error::ApiError, web::json_body::parse_json,
};

/// `POST /api/tenant/{org_id}/admin/items`
#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/admin/items",
    summary = "Add an item",
    tag = "admin",
    params(TenantPath),
    request_body = CreateItem,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new item", body = Item,
         headers(("x-write-lsn" = String, description = "The write's WAL position, when reads may go to a replica"))),
        (status = 400, description = "Malformed body or a field out of its limits", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 409, description = "An item with this sku exists, or the shop holds as many items as it may", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn create_item(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let new: CreateItem = parse_json(&body)?;
    let stock = new
        .validate()
        .map_err(|e| ApiError::Malformed(e.to_string()))?;
    let mut write = match AdminWrite::begin(&state, &caller, &headers, "create-item", &body).await?
    {
        Ok(write) => write,
        Err(replayed) => return Ok(replayed),
    };
    within_item_cap(&mut write.tx, caller.org_id, state.settings.item_cap).await?;
    let item = sqlx::query_as!(
        ItemRow,
        "INSERT INTO inventory (organization_id, sku, name, price_cents, stock)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, sku, name, price_cents, stock",
        caller.org_id,
        new.sku.trim(),
        new.name.trim(),
        new.price_cents,
        stock
    )
    .fetch_one(&mut *write.tx)
    .await
    .map_err(|e| conflict_on(e, "23505", "an item with this sku already exists"))?
    .into_item();
    announce_stock(&mut write.tx, caller.org_id, &item).await?;
    let request_id = write.key.request_id.clone();
    let entry = AuditEntry {
        org_id: caller.org_id,
        actor_sub: caller.sub(),
        action: "item.create",
        target: format!("item:{}", item.id),
        before: None,
        after: Some(json!(item)),
        request_id: &request_id,
    };
    write.finish(Some(entry), StatusCode::CREATED, &item).await
}

/// `PATCH /api/tenant/{org_id}/admin/items/{item_id}`
#[utoipa::path(
    patch,
    path = "/api/tenant/{org_id}/admin/items/{item_id}",
    summary = "Change an item: name, price, stock (absolute or delta)",
    tag = "admin",
    params(TenantPath, ("item_id" = Uuid, Path, description = "The item")),
    request_body = ItemPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The item after the change", body = Item,
         headers(("x-write-lsn" = String, description = "The write's WAL position, when reads may go to a replica"))),
        (status = 400, description = "Malformed body, an empty patch, or both stock and stock_delta", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stock would go below zero", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn update_item(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, item_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let item_id = Uuid::parse_str(&item_id)
        .map_err(|_| ApiError::Malformed("the item id is not a UUID".into()))?;
    let patch: ItemPatch = parse_json(&body)?;
    let patch = patch
        .validate()
        .map_err(|e| ApiError::Malformed(e.to_string()))?;
    let route = format!("patch-item:{item_id}");
    let mut write = match AdminWrite::begin(&state, &caller, &headers, &route, &body).await? {
        Ok(write) => write,
        Err(replayed) => return Ok(replayed),
    };
    let before = locked_item(&mut write.tx, caller.org_id, item_id).await?;
    // Each delta is within its limits; what they add up to must be too (the row is locked).
    let restocked = patch
        .stock_delta
        .map(|delta| i64::from(before.stock) + i64::from(delta));
    if restocked.is_some_and(|stock| stock > MAX_STOCK) {
        return Err(ApiError::Conflict(
            "the restock would take stock above the maximum of 1000000",
        ));
    }
    let item = sqlx::query_as!(
        ItemRow,
        "UPDATE inventory SET
             name = coalesce($3, name),
             price_cents = coalesce($4, price_cents),
             stock = coalesce($5, stock + $6, stock),
             updated_at = now()
         WHERE organization_id = $1 AND id = $2
         RETURNING id, sku, name, price_cents, stock",
        caller.org_id,
        item_id,
        patch.name,
        patch.price_cents,
        patch.stock,
        patch.stock_delta
    )
    .fetch_one(&mut *write.tx)
    .await
    .map_err(|e| conflict_on(e, "23514", "stock cannot go below zero"))?
    .into_item();
    let mut item = item;
    item.images = pictures::load_for(&mut write.tx, caller.org_id, &[item_id])
        .await?
        .remove(&item_id)
        .unwrap_or_default();
    if item.stock != before.stock {
        announce_stock(&mut write.tx, caller.org_id, &item).await?;
    }
    let request_id = write.key.request_id.clone();
    let entry = AuditEntry {
        org_id: caller.org_id,
        actor_sub: caller.sub(),
        action: "item.update",
        target: format!("item:{item_id}"),
        before: Some(json!(before)),
        after: Some(json!(item)),
        request_id: &request_id,
    };
    write.finish(Some(entry), StatusCode::OK, &item).await
}

/// `DELETE /api/tenant/{org_id}/admin/items/{item_id}`
#[utoipa::path(
    delete,
    path = "/api/tenant/{org_id}/admin/items/{item_id}",
    summary = "Remove an item with its pictures (their objects go with the edge's next sweep); an item with orders stays",
    tag = "admin",
    params(TenantPath, ("item_id" = Uuid, Path, description = "The item")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The id is not a UUID, or no Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The item has orders: it stays as their history (set its stock to 0 to stop its sales)", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn delete_item(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, item_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let item_id = Uuid::parse_str(&item_id)
        .map_err(|_| ApiError::Malformed("the item id is not a UUID".into()))?;
    let route = format!("delete-item:{item_id}");
    let mut write = match AdminWrite::begin(&state, &caller, &headers, &route, &[]).await? {
        Ok(write) => write,
        Err(replayed) => return Ok(replayed),
    };
    let mut before = locked_item(&mut write.tx, caller.org_id, item_id).await?;
    before.images = pictures::load_for(&mut write.tx, caller.org_id, &[item_id])
        .await?
        .remove(&item_id)
        .unwrap_or_default();
    // Its pictures' rows go with it (`ON DELETE CASCADE`); their objects with the next sweep.
    // An item with orders is refused by the database (`items_with_orders_stay`).
    sqlx::query!(
        "DELETE FROM inventory WHERE organization_id = $1 AND id = $2",
        caller.org_id,
        item_id
    )
    .execute(&mut *write.tx)
    .await
    .map_err(|e| {
        conflict_on(
            e,
            "23503",
            "the item has orders and stays as their history; set its stock to 0 to stop its sales",
        )
    })?;
    let request_id = write.key.request_id.clone();
    let entry = AuditEntry {
        org_id: caller.org_id,
        actor_sub: caller.sub(),
        action: "item.delete",
        target: format!("item:{item_id}"),
        before: Some(json!(before)),
        after: None,
        request_id: &request_id,
    };
    write.finish_empty(Some(entry)).await
}

/// Announces `item`'s stock (it sold nothing) to every origin's listeners, once `conn`'s
/// transaction commits.
async fn announce_stock(
    conn: &mut PgConnection,
    org_id: Uuid,
    item: &Item,
) -> Result<(), ApiError> {
    sqlx::query!(
        r#"SELECT pg_notify($1, json_build_object(
               'org_id', $2::uuid, 'item_id', $3::uuid, 'stock', $4::integer, 'sold', 0)::text)
           AS "notified!: String""#,
        STOCK_CHANNEL,
        org_id,
        item.id,
        item.stock
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Refuses a new item once the shop holds `cap`. Concurrent creates of one shop queue on an
/// advisory lock for the rest of their transaction, so two of them cannot both take the last
/// place.
async fn within_item_cap(conn: &mut PgConnection, org_id: Uuid, cap: i64) -> Result<(), ApiError> {
    sqlx::query_scalar!(
        r#"SELECT pg_advisory_xact_lock(hashtextextended('inventory-cap:' || $1::uuid::text, 0)) IS NULL AS "locked!""#,
        org_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let held = sqlx::query_scalar!(
        r#"SELECT count(*) AS "held!" FROM inventory WHERE organization_id = $1"#,
        org_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if held >= cap {
        return Err(ApiError::ItemCap { cap });
    }
    Ok(())
}

/// Turns the Postgres error `code` into a 409 with `detail`; other errors pass through.
fn conflict_on(err: sqlx::Error, code: &str, detail: &'static str) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(code) => {
            ApiError::Conflict(detail)
        }
        _ => ApiError::Database(err),
    }
}

/// The shop's item `item_id`, its row locked for the write's transaction; `404` when the shop
/// has no such item.
async fn locked_item(tx: &mut PgConnection, org_id: Uuid, item_id: Uuid) -> Result<Item, ApiError> {
    Ok(sqlx::query_as!(
        ItemRow,
        "SELECT id, sku, name, price_cents, stock FROM inventory
         WHERE organization_id = $1 AND id = $2 FOR UPDATE",
        org_id,
        item_id
    )
    .fetch_optional(tx)
    .await?
    .ok_or(ApiError::NotFound("no such item"))?
    .into_item())
}
