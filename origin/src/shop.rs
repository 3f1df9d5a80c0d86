//! The shop's public profile, `GET /api/tenant/{org_id}/shop`: what a storefront needs to greet
//! shoppers before they sign in. Read under the anonymous scope, so row-level security shows
//! the path's shop and nothing else.

use api::shop::ShopProfile;
use axum::{extract::State, Json};

use crate::{
    auth::{Scope, Tenant},
    db,
    error::ApiError,
    state::AppState,
};

/// `GET /api/tenant/{org_id}/shop`
pub async fn profile(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<ShopProfile>, ApiError> {
    let scope = Scope::anonymous(tenant);
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
