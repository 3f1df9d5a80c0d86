//! `GET /api/tenant/{org_id}/purchases/{id}`: where a queued purchase stands. Shoppers see their
//! own purchases; admins see every purchase of their shop.

use api::token::Role;
use axum::{
    extract::{Path, State},
    Json,
};
use serde::Serialize;
use uuid::Uuid;

use api::Problem;

use crate::web::doc_types::{TenantPath, TokenRefusals, Unavailable};
use crate::{app::state::AppState, db, web::caller::Caller, web::error::ApiError};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PurchaseStatus {
    pub purchase_id: Uuid,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/purchases/{purchase_id}",
    summary = "Where a queued purchase stands",
    tag = "shop",
    params(TenantPath, ("purchase_id" = Uuid, Path, description = "From the 202's Location")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "pending, confirmed (with order_id) or rejected (with reason)", body = PurchaseStatus),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "No such purchase of this caller", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn purchase_status(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, purchase_id)): Path<(String, String)>,
) -> Result<Json<PurchaseStatus>, ApiError> {
    let purchase_id = Uuid::parse_str(&purchase_id)
        .map_err(|_| ApiError::Malformed("the purchase id is not a UUID".into()))?;
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let found = sqlx::query_as!(
        PurchaseStatus,
        "SELECT id AS purchase_id, status, order_id, reason FROM purchase_queue
         WHERE organization_id = $1 AND id = $2 AND (customer_sub = $3 OR $4)",
        caller.org_id,
        purchase_id,
        caller.sub(),
        caller.role() == Role::Admin
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    found
        .map(Json)
        .ok_or(ApiError::NotFound("no such purchase"))
}
