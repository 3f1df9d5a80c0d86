//! `POST /api/tenant/{org_id}/buy`: validate, then hand the buy to the group committer (or, with
//! `Prefer: respond-async`, to the durable queue).

use api::purchase::{BuyRequest, MAX_QUANTITY};
use api::{
    purchase::{Accepted, Order},
    Problem,
};
use axum::{
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{
    engine::Lane,
    order::{BuyOrder, Outcome},
};
use crate::web::doc_types::{TenantPath, TokenRefusals, TooLarge};
use crate::{
    app::state::AppState,
    idempotency::{self, replay::stored_response, IdempotencyKey, KeyUse},
    observability::request_id,
    web::caller::Caller,
    web::error::ApiError,
    web::json_body::parse_json,
};

#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/buy",
    summary = "Buy an item (group commit), or queue the buy with Prefer: respond-async",
    tag = "shop",
    params(
        TenantPath,
        ("idempotency-key" = String, Header, description = "1-255 printable ASCII; retries with the same key and body get the first answer"),
        ("prefer" = Option<String>, Header, description = "respond-async: store the buy and answer 202"),
    ),
    request_body = BuyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The order (Idempotent-Replayed: true on replays)", body = Order),
        (status = 202, description = "Queued; poll Location", body = Accepted,
         headers(("location" = String, description = "/api/purchases/{purchase_id}"))),
        (status = 400, description = "Malformed body, quantity outside 1..=100, missing or bad Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not enough stock (type .../out-of-stock), or the key is still in flight (Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The key was used with a different request", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        (status = 429, description = "Async buys: the shop already has QUEUE_PENDING_PER_SHOP buys waiting (Retry-After)", body = Problem, content_type = "application/problem+json",
         headers(("retry-after" = u32, description = "Seconds to wait before retrying"))),
        (status = 503, description = "Sales paused by the kill switch, or the database is overloaded or down", body = Problem, content_type = "application/problem+json",
         headers(("retry-after" = u32, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn buy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let order = checked_order(&caller, &headers, &body)?;
    let lane = if prefers_async(&headers) {
        Lane::Enqueue
    } else {
        Lane::Item(order.item_id)
    };
    Ok(state.committer.submit(lane, order).await?.into_response())
}

/// A buy request checked and turned into an order: the key is present and valid, the body is
/// the expected JSON, the quantity is in range. Nothing has touched the database yet.
pub fn checked_order(
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<BuyOrder, ApiError> {
    let key = IdempotencyKey::from_headers(headers)?;
    let request: BuyRequest = parse_json(body)?;
    let quantity = request.checked_quantity().ok_or_else(|| {
        ApiError::InvalidQuantity(format!(
            "quantity must be between 1 and {MAX_QUANTITY}, got {}",
            request.quantity
        ))
    })?;
    let request_id = request_id::current().unwrap_or_default();
    Ok(BuyOrder {
        org_id: caller.org_id,
        customer_sub: caller.sub().to_owned(),
        item_id: request.item_id,
        quantity,
        request_id: request_id.clone(),
        key: Some(KeyUse {
            org_id: caller.org_id,
            customer_sub: caller.sub().to_owned(),
            key,
            fingerprint: idempotency::fingerprint("POST", "buy", body),
            request_id,
        }),
    })
}

/// `Prefer: respond-async` (RFC 7240), possibly among other preferences.
fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// The HTTP answer to what the batch decided for one buy.
impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        match self {
            Self::Final(stored) => stored_response(stored, false),
            Self::Replay(stored) => stored_response(stored, true),
            Self::KeyReused => ApiError::KeyReused.into_response(),
            Self::KeyInFlight => ApiError::KeyInFlight.into_response(),
            Self::Paused(paused) => ApiError::SalesPaused {
                reason: paused.reason,
                retry_after_seconds: paused.retry_after_seconds,
            }
            .into_response(),
            Self::QueueFull { cap } => ApiError::QueueFull { cap }.into_response(),
        }
    }
}
