//! The baseline the group committer is measured against: the seed's purchase, one transaction
//! per buy that takes the item's row lock with `SELECT ... FOR UPDATE`, then updates the stock
//! and writes the order, idempotency record and audit row one statement at a time, after
//! looking its idempotency key up. Kept only for the benchmark.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use sqlx::PgPool;
use uuid::Uuid;

use origin::{
    db::{self, Scope},
    idempotency,
    purchase::buy::checked_order,
    web::{caller::Caller, error::ApiError},
    AppState,
};

/// What one baseline purchase did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowLockOutcome {
    Confirmed(Uuid),
    OutOfStock,
    /// The key was used before: its stored answer.
    Replayed(Vec<u8>),
}

/// One purchase, row-locked, with the full per-purchase work.
pub async fn buy_one(
    db: &PgPool,
    org_id: Uuid,
    sub: &str,
    item_id: Uuid,
    quantity: i32,
    key: &str,
    request_id: &str,
) -> Result<RowLockOutcome, sqlx::Error> {
    let mut tx = db::begin_scoped(db, &Scope::service(org_id)).await?;
    // An idempotent purchase first looks its key up (the bench's keys are all new).
    let seen: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT response_body FROM idempotency_keys
         WHERE organization_id = $1 AND customer_sub = $2 AND idempotency_key = $3
           AND created_at >= $4",
    )
    .bind(org_id)
    .bind(sub)
    .bind(key)
    .bind(idempotency::lookup_since())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(body) = seen {
        tx.rollback().await?;
        return Ok(RowLockOutcome::Replayed(body));
    }
    let stock: i32 = sqlx::query_scalar(
        "SELECT stock FROM inventory WHERE organization_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org_id)
    .bind(item_id)
    .fetch_one(&mut *tx)
    .await?;
    if stock < quantity {
        tx.rollback().await?;
        return Ok(RowLockOutcome::OutOfStock);
    }
    sqlx::query("UPDATE inventory SET stock = stock - $3 WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(item_id)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
    let order_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO orders (organization_id, id, item_id, customer_sub, quantity, unit_price_cents)
         SELECT $1, $2, $3, $4, $5, price_cents FROM inventory WHERE organization_id = $1 AND id = $3",
    )
    .bind(org_id)
    .bind(order_id)
    .bind(item_id)
    .bind(sub)
    .bind(quantity)
    .execute(&mut *tx)
    .await?;
    let body = serde_json::json!({"order_id": order_id, "status": "confirmed"}).to_string();
    sqlx::query(
        "INSERT INTO idempotency_keys (organization_id, customer_sub, idempotency_key, fingerprint,
                                       response_status, response_body, request_id)
         VALUES ($1, $2, $3, sha256($3::bytea), 201, convert_to($4, 'UTF8'), $5)",
    )
    .bind(org_id)
    .bind(sub)
    .bind(key)
    .bind(body)
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit_log (organization_id, actor_sub, action, target, before, after, request_id)
         VALUES ($1, $2, 'purchase', 'item:' || $3::uuid, jsonb_build_object('stock', $4::int),
                 jsonb_build_object('stock', $4::int - $5::int), $6)",
    )
    .bind(org_id)
    .bind(sub)
    .bind(item_id)
    .bind(stock)
    .bind(quantity)
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(RowLockOutcome::Confirmed(order_id))
}

/// The baseline behind the same HTTP route shape as `purchase::buy`.
pub async fn http_buy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let order = checked_order(&caller, &headers, &body)?;
    let key = order
        .key
        .as_ref()
        .map(|k| k.key.as_str())
        .unwrap_or_default();
    let outcome = buy_one(
        &state.db,
        caller.org_id,
        caller.sub(),
        order.item_id,
        order.quantity,
        key,
        &order.request_id,
    )
    .await?;
    Ok(match outcome {
        RowLockOutcome::Confirmed(order_id) => (
            StatusCode::CREATED,
            Json(serde_json::json!({"order_id": order_id})),
        )
            .into_response(),
        RowLockOutcome::OutOfStock => ApiError::OutOfStock { available: 0 }.into_response(),
        RowLockOutcome::Replayed(body) => (StatusCode::CREATED, body).into_response(),
    })
}
