//! Serving the application: the HTTP listeners, and beside them the process's background work
//! (the event listener, the refusal counts' publication, the queue workers), stopped together.

use std::future::Future;

use tokio::net::TcpListener;

use super::{router, state::AppState};
use crate::{db, observability, purchase};

/// Serves `app(state)` on `listener` until `shutdown` resolves, then drains in-flight requests.
///
/// Alongside the HTTP server it runs the process's event listener, the publication of its
/// refusal counts and its queue workers; they stop with it (a worker stopped mid-batch rolls back, and the rows wait for the next claim).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_split(listener, None, state, shutdown).await
}

/// Like `serve`; with `operations` given, the probes, `/metrics` and `/openapi.json` are served
/// there only, and `listener` serves the tenant API alone (`OPS_LISTEN_ADDR`).
pub async fn serve_split(
    listener: TcpListener,
    operations: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = tokio::spawn(observability::recorder::run_upkeep());
    let mut background = tokio::task::JoinSet::new();
    // Background work has connections of its own, so it never takes one a request is waiting for.
    let listen_db = state
        .session_db
        .clone()
        .unwrap_or_else(|| db::side_pool(&state.db, 1, db::BACKGROUND_ACQUIRE_TIMEOUT));
    background.spawn(state.events.clone().listen(listen_db));
    // Refusal counts go out once a second, and only when there were any: the connection is
    // made the first time.
    let publish_db = db::side_pool(&state.db, 1, db::BACKGROUND_ACQUIRE_TIMEOUT);
    background.spawn(state.refusals.clone().publish_every_second(publish_db));
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
    let public_routes = match operations {
        Some(operations) => {
            let ops = router::routes(state.clone(), router::Routes::Operations);
            let ops = axum::serve(operations, ops);
            background.spawn(async move {
                if let Err(err) = ops.await {
                    tracing::error!(error = %err, "the operations listener stopped");
                }
            });
            router::Routes::Api
        }
        None => router::Routes::Everything,
    };
    let served = axum::serve(listener, router::routes(state, public_routes))
        .with_graceful_shutdown(shutdown)
        .await;
    background.shutdown().await;
    upkeep.abort();
    served
}
