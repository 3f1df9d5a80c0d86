//! Probes: `healthz` says the process answers, `readyz` that the database does and is migrated.
//! Both are served on the operations listener only (`OPS_LISTEN_ADDR`); `readyz` reads through
//! the probes' own connection (`probe_pools`), so no flood of it takes a request's connection.

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};
use sqlx::migrate::Migrate;

use crate::{
    app::{probe_pools, state::AppState},
    db::MIGRATOR,
    web::error::ApiError,
};

#[utoipa::path(
    get,
    path = "/healthz",
    summary = "Liveness: the process answers",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Object))
)]
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(
    get,
    path = "/readyz",
    summary = "Readiness: the database answers and is migrated",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers and every migration is applied", body = Object),
        (status = 503, description = "Migrations are missing, or the database is down", body = Object),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let db = state.probes.primary(&state.db);
    let applied = probe_pools::within_timeout(applied_migrations(db))
        .await
        .ok_or(ApiError::Database(sqlx::Error::PoolTimedOut))??;
    let migrated = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.iter().any(|a| a.version == m.version));
    let status = if migrated {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        Json(json!({"database": "ok", "migrated": migrated})),
    ))
}

/// The migrations the database has applied. In a transaction, so a transaction pooler keeps the
/// query on one server connection.
async fn applied_migrations(
    db: &sqlx::PgPool,
) -> Result<Vec<sqlx::migrate::AppliedMigration>, sqlx::Error> {
    let mut conn = db.begin().await?;
    let applied = conn.list_applied_migrations().await?;
    conn.commit().await?;
    Ok(applied)
}
