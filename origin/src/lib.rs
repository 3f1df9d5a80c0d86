//! The origin: the only place that touches Postgres.
//!
//! The edge Worker forwards shop traffic here as `/api/tenant/{org_id}/...`. Every tenant route
//! checks the bearer token itself (the origin may be reached directly), runs its SQL inside a
//! transaction that carries the caller's claims, and answers refusals as problem+json.
//! `app(state)` builds the whole router so tests serve exactly what production serves.

pub mod admin_items;
pub mod admin_write;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod config;
pub mod db;
pub mod dev_tokens;
pub mod edge_secret;
pub mod error;
pub mod events;
pub mod extract;
pub mod idempotency;
pub mod inventory;
pub mod keys;
pub mod kill_switch;
pub mod maintenance;
pub mod observability;
pub mod ops;
pub mod pools;
pub mod purchase;
pub mod replay;
pub mod replica;
pub mod request_id;
pub mod request_timeout;
pub mod routes;
pub mod shop;
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
///
/// Alongside the HTTP server it runs the process's event listener and its queue workers; they
/// stop with it (a worker stopped mid-batch rolls back, and the rows wait for the next claim).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = tokio::spawn(observability::prometheus::run_upkeep());
    let mut background = tokio::task::JoinSet::new();
    // Background work has connections of its own, so it never takes one a request is waiting for.
    background.spawn(state.events.clone().listen(db::side_pool(
        &state.db,
        1,
        db::BACKGROUND_ACQUIRE_TIMEOUT,
    )));
    if state.settings.queue_workers > 0 {
        let workers = db::side_pool(
            &state.db,
            state.settings.queue_workers,
            db::BACKGROUND_ACQUIRE_TIMEOUT,
        );
        for _ in 0..state.settings.queue_workers {
            background.spawn(purchase::queue::run_worker(
                workers.clone(),
                state.settings.queue_batch,
            ));
        }
    }
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    background.shutdown().await;
    upkeep.abort();
    served
}
