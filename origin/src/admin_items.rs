//! Admins managing their shop's items. The role comes from the token; the tenant from the path
//! and, underneath, from row-level security.

use api::{
    admin::{CreateItem, ItemPatch},
    inventory::Item,
    token::Role,
    Problem,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use uuid::Uuid;

use crate::routes::openapi::{TenantPath, TokenRefusals, TooLarge, Unavailable};
use crate::{auth::Caller, db, error::ApiError, extract::JsonBody, state::AppState};

/// A caller whose token says `admin`.
#[derive(Debug)]
pub struct Admin(pub Caller);

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.role() != Role::Admin {
            return Err(ApiError::Forbidden("this route is for shop admins"));
        }
        Ok(Self(caller))
    }
}

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
        (status = 409, description = "An item with this sku exists", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(new): JsonBody<CreateItem>,
) -> Result<(StatusCode, Json<Item>), ApiError> {
    let stock = new
        .validate()
        .map_err(|e| ApiError::Malformed(e.to_string()))?;
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let item = sqlx::query_as!(
        Item,
        "INSERT INTO inventory (organization_id, sku, name, price_cents, stock)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, sku, name, price_cents, stock",
        caller.org_id,
        new.sku.trim(),
        new.name.trim(),
        new.price_cents,
        stock
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_on(e, "23505", "an item with this sku already exists"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(item)))
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
pub async fn patch(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, item_id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<ItemPatch>,
) -> Result<Json<Item>, ApiError> {
    let item_id = Uuid::parse_str(&item_id)
        .map_err(|_| ApiError::Malformed("the item id is not a UUID".into()))?;
    let patch = patch
        .validate()
        .map_err(|e| ApiError::Malformed(e.to_string()))?;
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let item = sqlx::query_as!(
        Item,
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
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| conflict_on(e, "23514", "stock cannot go below zero"))?
    .ok_or(ApiError::NotFound("no such item"))?;
    tx.commit().await?;
    Ok(Json(item))
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
