//! The shop's public profile, `GET /api/tenant/{org_id}/shop`: what a storefront needs to greet
//! shoppers before they sign in. Read under the anonymous scope, so row-level security shows
//! the path's shop and nothing else.

use api::{shop::ShopProfile, Problem};
use axum::{extract::State, Json};

use crate::web::doc_types::{TenantPath, Unavailable};
use crate::{app::state::AppState, db, db::Scope, web::caller::Tenant, web::error::ApiError};

/// `GET /api/tenant/{org_id}/shop`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/shop",
    summary = "The shop's public profile (its name)",
    tag = "shop",
    params(TenantPath),
    responses(
        (status = 200, description = "The shop", body = ShopProfile),
        (status = 404, description = "Unknown shop", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn shop_profile(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<ShopProfile>, ApiError> {
    let scope = Scope::anonymous(tenant.0);
    let mut tx = db::begin_scoped(&state.db, &scope).await?;
    let profile = sqlx::query_as!(
        ShopProfile,
        "SELECT name FROM organizations WHERE id = $1",
        scope.org_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    profile.map(Json).ok_or(ApiError::NotFound("unknown shop"))
}
