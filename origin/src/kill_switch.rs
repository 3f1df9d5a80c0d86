//! The kill switch: pause every purchase of a shop (or, for operators, of all shops) at once.
//!
//! The origin is authoritative: every purchase transaction reads the switch. A cooldown stops
//! flapping: after a flip the switch cannot flip back until the cooldown ends, unless an admin
//! forces it, which the audit log records.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
    Json,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

pub use api::sales::SalesStatus;
use api::Problem;

use crate::routes::openapi::{TenantPath, TokenRefusals, TooLarge, Unavailable};
use crate::{
    admin_write::{Admin, AdminWrite},
    audit::AuditEntry,
    auth::{Scope, Tenant},
    db,
    error::ApiError,
    extract::parse_json,
    state::AppState,
};

/// The operators' switch that pauses every shop, flipped only from the CLI.
pub const GLOBAL: Uuid = Uuid::nil();

/// How long a paused buyer is told to wait when no cooldown says otherwise.
const DEFAULT_RETRY_AFTER_SECONDS: i64 = 30;

/// Sales are paused: why, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub reason: Option<String>,
    pub retry_after_seconds: i64,
}

impl Paused {
    /// The engaged switch's reason and cooldown, as seen at `now`.
    pub fn from_switch(
        reason: Option<String>,
        cooldown_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            reason,
            retry_after_seconds: cooldown_until
                .map(|until| (until - now).num_seconds())
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS),
        }
    }
}

/// Whether `org_id` may sell right now, read inside the caller's transaction (the database's
/// `sales_pause`, which purchase batches also read).
pub async fn paused(
    conn: &mut PgConnection,
    org_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Paused>, sqlx::Error> {
    let row = sqlx::query!("SELECT reason, cooldown_until FROM sales_pause($1)", org_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|row| Paused::from_switch(row.reason, row.cooldown_until, now)))
}

/// `PUT /api/admin/kill-switch` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlipRequest {
    pub engaged: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// Flip even inside the cooldown (audited as forced).
    #[serde(default)]
    pub force: bool,
}

/// The switch as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SwitchState {
    pub engaged: bool,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    pub cooldown_until: Option<DateTime<Utc>>,
}

/// What a flip did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flip {
    Changed {
        before: SwitchState,
        after: SwitchState,
    },
    Unchanged(SwitchState),
    InCooldown {
        until: DateTime<Utc>,
    },
}

/// Who flips, to what, and under which rules.
#[derive(Debug, Clone)]
pub struct FlipOrder<'a> {
    pub org_id: Uuid,
    pub engaged: bool,
    pub reason: Option<&'a str>,
    pub force: bool,
    pub actor: &'a str,
    pub cooldown: Duration,
    pub now: DateTime<Utc>,
}

/// Flips a switch inside the caller's transaction (the row is locked until it commits).
pub async fn flip(conn: &mut PgConnection, order: &FlipOrder<'_>) -> Result<Flip, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO kill_switches (organization_id) VALUES ($1) ON CONFLICT DO NOTHING",
        order.org_id
    )
    .execute(&mut *conn)
    .await?;
    let before = sqlx::query_as!(
        SwitchState,
        r#"SELECT engaged, reason, changed_at AS since, cooldown_until
           FROM kill_switches WHERE organization_id = $1 FOR UPDATE"#,
        order.org_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if before.engaged == order.engaged {
        return Ok(Flip::Unchanged(before));
    }
    if let Some(until) = before.cooldown_until.filter(|until| *until > order.now) {
        if !order.force {
            return Ok(Flip::InCooldown { until });
        }
    }
    let after = sqlx::query_as!(
        SwitchState,
        r#"UPDATE kill_switches
           SET engaged = $2, reason = $3, changed_at = $4, changed_by = $5, cooldown_until = $6
           WHERE organization_id = $1
           RETURNING engaged, reason, changed_at AS since, cooldown_until"#,
        order.org_id,
        order.engaged,
        order.reason,
        order.now,
        order.actor,
        order.now + order.cooldown
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Flip::Changed { before, after })
}

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
pub async fn put(
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
pub async fn sales(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<SalesStatus>, ApiError> {
    let mut tx = db::begin_scoped(&state.db, &Scope::anonymous(tenant)).await?;
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
