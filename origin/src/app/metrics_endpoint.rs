//! `GET /metrics`: samples what is only known on demand (pool use, replica lag, queue depth),
//! then renders every metric the process recorded as Prometheus text. What it samples from
//! the database it reads through the probes' own connections (`probe_pools`), within
//! `PROBE_TIMEOUT`: a flood of scrapes never takes a request's connection, and a gauge that
//! cannot be read in time keeps its last value.

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use sqlx::PgPool;

use super::{probe_pools, state::AppState};
use crate::{
    db::replica::positions::{committed_position, replayed_position},
    observability::recorder::{handle, names},
};

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"))
)]
pub async fn render(State(state): State<AppState>) -> Response {
    record_pool("primary", &state.db);
    record_pool("committer", state.committer.pool());
    let primary = state.probes.primary(&state.db);
    if let Some(replica) = &state.replica {
        record_pool("replica", replica);
        let replica = state.probes.replica(replica);
        let lag = probe_pools::within_timeout(replica_lag_bytes(primary, replica)).await;
        if let Some(Some(lag)) = lag {
            metrics::gauge!(names::DB_REPLICA_LAG_BYTES).set(lag as f64);
        }
    }
    if let Some(Ok(depth)) = probe_pools::within_timeout(queue_depth(primary)).await {
        metrics::gauge!(names::PURCHASE_QUEUE_DEPTH).set(depth as f64);
    }
    let text = handle().render();
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Purchases waiting in the queue, across every shop.
/// In a transaction, so a transaction pooler keeps the query on one server connection.
async fn queue_depth(db: &PgPool) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let depth = sqlx::query_scalar!(r#"SELECT pending AS "pending!" FROM purchase_queue_depth()"#)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(depth)
}

fn record_pool(pool: &'static str, db: &PgPool) {
    let open = db.size();
    let idle = u32::try_from(db.num_idle()).unwrap_or(u32::MAX).min(open);
    metrics::gauge!(names::DB_POOL_CONNECTIONS, "pool" => pool, "state" => "in_use")
        .set(f64::from(open - idle));
    metrics::gauge!(names::DB_POOL_CONNECTIONS, "pool" => pool, "state" => "idle")
        .set(f64::from(idle));
    metrics::gauge!(names::DB_POOL_MAX_CONNECTIONS, "pool" => pool)
        .set(f64::from(db.options().get_max_connections()));
}

/// Bytes between the primary's position and the replica's replay position, when both answer.
async fn replica_lag_bytes(primary: &PgPool, replica: &PgPool) -> Option<u64> {
    let written = committed_position(primary).await.ok()?;
    let replayed = replayed_position(replica).await.ok()??;
    Some(written.bytes_after(replayed))
}
