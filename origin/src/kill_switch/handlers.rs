//! The kill switch over HTTP: admins flip their shop's switch (idempotent, audited), and anyone
//! may ask whether a shop sells right now (the edge polls that to stop buys early).

use api::{sales::SalesStatus, Problem};
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
    Json,
};
use chrono::Utc;
use serde_json::json;

use super::switch::{flip, paused, view, Flip, FlipOrder, FlipRequest, SwitchState, SwitchView};
use crate::{
    admin::{audit::AuditEntry, guarded_write::AdminWrite},
    app::state::AppState,
    db::{self, Scope},
    web::{
        caller::{Admin, Tenant},
        doc_types::{TenantPath, TokenRefusals, TooLarge, Unavailable},
        error::ApiError,
        json_body::parse_json,
    },
};

/// `PUT /api/tenant/{org_id}/admin/kill-switch`
#[utoipa::path(
    put,
    path = "/api/tenant/{org_id}/admin/kill-switch",
    summary = "Engage or release the shop's kill switch",
    tag = "admin",
    params(TenantPath, ("idempotency-key" = String, Header, description = "1-255 printable ASCII; retries with the same key and body get the first answer")),
    request_body = FlipRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The switch now", body = SwitchState),
        (status = 400, description = "Malformed body or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 409, description = "In its cooldown (force overrides), or the key is in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The key was used with a different request", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn set_kill_switch(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: FlipRequest = parse_json(&body)?;
    if request
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 500)
    {
        return Err(ApiError::Malformed(
            "reason must be at most 500 characters".into(),
        ));
    }
    let mut write = match AdminWrite::begin(&state, &caller, &headers, "kill-switch", &body).await?
    {
        Ok(write) => write,
        Err(replayed) => return Ok(replayed),
    };
    let order = FlipOrder {
        org_id: caller.org_id,
        engaged: request.engaged,
        reason: request.reason.as_deref(),
        force: request.force,
        actor: caller.sub(),
        cooldown: state.settings.kill_switch_cooldown,
        now: Utc::now(),
    };
    let request_id = write.key.request_id.clone();
    let (current, entry) = match flip(&mut write.tx, &order).await? {
        Flip::InCooldown { until } => return Err(ApiError::Cooldown { until }),
        Flip::Unchanged(current) => (current, None),
        Flip::Changed { before, after } => {
            let action = match (after.engaged, request.force) {
                (true, false) => "kill_switch.engage",
                (false, false) => "kill_switch.release",
                (true, true) => "kill_switch.engage_forced",
                (false, true) => "kill_switch.release_forced",
            };
            let entry = AuditEntry {
                org_id: caller.org_id,
                actor_sub: caller.sub(),
                action,
                target: "kill_switch".into(),
                before: Some(json!(before)),
                after: Some(json!({ "state": after, "forced": request.force })),
                request_id: &request_id,
            };
            (after, Some(entry))
        }
    };
    write.finish(entry, StatusCode::OK, &current).await
}

/// `GET /api/tenant/{org_id}/admin/kill-switch`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/admin/kill-switch",
    summary = "The shop's kill switch: engaged or not, why, since when, its cooldown",
    tag = "admin",
    params(TenantPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The switch now, and the operators' pause of every shop if any", body = SwitchView),
        TokenRefusals,
        Unavailable,
    )
)]
pub async fn kill_switch_state(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<SwitchView>, ApiError> {
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let current = view(&mut tx, caller.org_id).await?;
    tx.commit().await?;
    Ok(Json(current))
}

/// `GET /api/tenant/{org_id}/sales`: public, cheap; the edge polls it to stop buys early.
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/sales",
    summary = "Whether the shop may sell right now (the edge polls this)",
    tag = "shop",
    params(TenantPath),
    responses(
        (status = 200, description = "Paused or not, and for how long to wait", body = SalesStatus),
        Unavailable,
    )
)]
pub async fn sales_status(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<SalesStatus>, ApiError> {
    let mut tx = db::begin_scoped(&state.db, &Scope::anonymous(tenant.0)).await?;
    let paused = paused(&mut tx, tenant.0, Utc::now()).await?;
    tx.commit().await?;
    Ok(Json(match paused {
        Some(p) => SalesStatus {
            paused: true,
            reason: p.reason,
            retry_after_seconds: Some(p.retry_after_seconds),
        },
        None => SalesStatus {
            paused: false,
            reason: None,
            retry_after_seconds: None,
        },
    }))
}
