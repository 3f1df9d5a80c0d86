//! `POST /api/tenant/{org_id}/edge/images/referenced`: which of the shop's stored picture keys
//! its pictures still name. The edge's orphan sweep asks before it deletes anything, and
//! deletes only the keys left out of the answer.
//!
//! The answer tells nothing a shopper cannot read: every named key is a picture URL the
//! shop's inventory lists. The edge never forwards a client's `/api/edge/...`, and an origin
//! with `EDGE_SHARED_SECRET` takes tenant routes only with the edge's proof.

use api::{
    images::{ImageKeys, MAX_SWEEP_KEYS},
    Problem,
};
use axum::{body::Bytes, extract::State, Json};

use crate::{
    app::state::AppState,
    db::{self, Scope},
    web::{
        caller::Tenant,
        doc_types::{TenantPath, TooLarge, Unavailable},
        error::ApiError,
        json_body::parse_json,
    },
};

/// `POST /api/tenant/{org_id}/edge/images/referenced`
#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/edge/images/referenced",
    summary = "Which of the shop's stored picture keys its pictures name (the edge's orphan sweep)",
    tag = "operations",
    params(TenantPath),
    request_body = ImageKeys,
    responses(
        (status = 200, description = "The keys some picture of the shop names", body = ImageKeys),
        (status = 400, description = "Malformed body, or more keys than one question may ask", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn referenced_keys(
    State(state): State<AppState>,
    Tenant(org_id): Tenant,
    body: Bytes,
) -> Result<Json<ImageKeys>, ApiError> {
    let asked: ImageKeys = parse_json(&body)?;
    if asked.keys.len() > MAX_SWEEP_KEYS {
        return Err(ApiError::Malformed(format!(
            "at most {MAX_SWEEP_KEYS} keys a question"
        )));
    }
    let mut tx = db::begin_scoped(&state.db, &Scope::anonymous(org_id)).await?;
    let keys = sqlx::query_scalar!(
        r#"SELECT DISTINCT object_key AS "key!" FROM item_images
           WHERE organization_id = $1 AND object_key = ANY($2)"#,
        org_id,
        &asked.keys[..]
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(ImageKeys { keys }))
}
