//! While the database cannot be used yet (no primary elected, a failover under way, Postgres
//! still starting), the origin is up and says so instead of exiting: its listeners are bound
//! at once, `/healthz` answers 200 (the process is alive, do not restart it), `/readyz` 503
//! (send it no traffic), and any other request a 503 problem+json with `Retry-After`. Once the
//! start-up work is done the same sockets serve the application.

use std::{future::Future, os::fd::AsFd, time::Duration};

use api::{Problem, ProblemKind};
use axum::{http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};

use super::health;
use crate::web::error::problem_response;

/// Runs `work` while `listeners` answer as described above; returns its output once done.
pub async fn serve_until<T>(
    listeners: &[&TcpListener],
    work: impl Future<Output = T>,
) -> std::io::Result<T> {
    let (done, finished) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let copy = duplicate(listener)?;
        let mut finished = finished.clone();
        servers.spawn(async move {
            axum::serve(copy, waiting_routes())
                .with_graceful_shutdown(async move {
                    let _ = finished.wait_for(|done| *done).await;
                })
                .await
        });
    }
    let output = work.await;
    let _ = done.send(true);
    while let Some(served) = servers.join_next().await {
        served.map_err(std::io::Error::other)??;
    }
    Ok(output)
}

/// Retries `attempt` every `every` until it succeeds, logging each failure: how `serve` waits
/// for a primary it can migrate and write to.
pub async fn retry<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    every: Duration,
    mut attempt: impl FnMut() -> F,
) -> T {
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(err) => {
                tracing::warn!(error = %err, "{what}: waiting for a writable database, retrying");
                tokio::time::sleep(every).await;
            }
        }
    }
}

/// A second handle on the same socket, so the waiting server can stop without closing it.
fn duplicate(listener: &TcpListener) -> std::io::Result<TcpListener> {
    let fd = listener.as_fd().try_clone_to_owned()?;
    let std_listener = std::net::TcpListener::from(fd);
    std_listener.set_nonblocking(true)?;
    TcpListener::from_std(std_listener)
}

fn waiting_routes() -> Router {
    Router::new()
        .route("/healthz", get(health::live))
        .route(
            "/readyz",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"database": "waiting", "migrated": false})),
                )
            }),
        )
        .fallback(|| async {
            problem_response(&Problem::new(
                ProblemKind::Unavailable,
                "the origin is waiting for its database".to_owned(),
            ))
            .into_response()
        })
}
