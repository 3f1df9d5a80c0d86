//! The origin: the only place that touches Postgres.
//!
//! The edge Worker forwards shop traffic here as `/api/tenant/{org_id}/...`. Every tenant route
//! checks the bearer token itself (the origin may be reached directly), runs its SQL inside a
//! transaction that carries the caller's claims, and answers refusals as problem+json.
//! `app(state)` builds the whole router so tests serve exactly what production serves.

pub mod admin_items;
pub mod auth;
pub mod bench;
pub mod config;
pub mod db;
pub mod dev_tokens;
pub mod edge_secret;
pub mod error;
pub mod extract;
pub mod inventory;
pub mod keys;
pub mod observability;
pub mod ops;
pub mod pools;
pub mod purchase;
pub mod replica;
pub mod request_id;
pub mod request_timeout;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod tenants;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use state::AppState;

/// The origin's HTTP application.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = tokio::spawn(observability::prometheus::run_upkeep());
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    served
}
