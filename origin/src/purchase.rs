//! Buying: one atomic conditional decrement plus the order insert, in one statement.
//!
//! `UPDATE ... WHERE stock >= $qty` takes the row lock and re-checks stock under it, so
//! concurrent buyers can never oversell; `CHECK (stock >= 0)` backs it in the schema.

use api::{
    purchase::{BuyRequest, Order, OrderStatus},
    Problem,
};
use axum::{extract::State, http::StatusCode, Json};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::routes::openapi::{TenantPath, TokenRefusals, TooLarge, Unavailable};
use crate::{auth::Caller, db, error::ApiError, extract::JsonBody, state::AppState};

/// `POST /api/tenant/{org_id}/buy`
#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/buy",
    summary = "Buy an item",
    tag = "shop",
    params(TenantPath),
    request_body = BuyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The order", body = Order,
         headers(("x-write-lsn" = String, description = "The write's WAL position, when reads may go to a replica"))),
        (status = 400, description = "Malformed body or quantity outside 1..=100", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not enough stock (type .../out-of-stock)", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn buy(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<BuyRequest>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let quantity = request.checked_quantity().ok_or_else(|| {
        ApiError::InvalidQuantity(format!(
            "quantity must be between 1 and {}, got {}",
            api::purchase::MAX_QUANTITY,
            request.quantity
        ))
    })?;
    let scope = caller.scope();
    let mut tx = db::begin_scoped(&state.db, &scope).await?;
    let order_id = place_order(
        &mut tx,
        caller.org_id,
        caller.sub(),
        request.item_id,
        quantity,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Order {
            order_id,
            item_id: request.item_id,
            quantity,
            status: OrderStatus::Confirmed,
        }),
    ))
}

/// Reserves `quantity` of `item_id` and records the order, or says why not.
pub async fn place_order(
    tx: &mut Transaction<'static, Postgres>,
    org_id: Uuid,
    customer_sub: &str,
    item_id: Uuid,
    quantity: i32,
) -> Result<Uuid, ApiError> {
    let placed = sqlx::query_scalar!(
        r#"WITH reserved AS (
               UPDATE inventory SET stock = stock - $3, updated_at = now()
               WHERE organization_id = $1 AND id = $2 AND stock >= $3
               RETURNING organization_id, id, price_cents
           )
           INSERT INTO orders (organization_id, item_id, customer_sub, quantity, unit_price_cents)
           SELECT organization_id, id, $4, $3, price_cents FROM reserved
           RETURNING id"#,
        org_id,
        item_id,
        quantity,
        customer_sub
    )
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(order_id) = placed {
        return Ok(order_id);
    }
    let available = sqlx::query_scalar!(
        "SELECT stock FROM inventory WHERE organization_id = $1 AND id = $2",
        org_id,
        item_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    match available {
        Some(available) => Err(ApiError::OutOfStock { available }),
        None => Err(ApiError::NotFound("no such item")),
    }
}
