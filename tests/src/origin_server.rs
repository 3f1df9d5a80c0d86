//! The origin, served in-process on a free port for the duration of a test.
//!
//! `origin::serve` runs the origin's background work (event listener, queue workers) next to its
//! HTTP server. The harness runs it as is on a private port, and serves the same application
//! state on the public port behind an `OriginLog`, so tests see every request that reached it.

use std::time::Duration;

use origin::{
    db::{self, AppRole, PoolLimits},
    AppState,
};
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{origin_log::OriginLog, tokens::TestKeys};

#[derive(Debug)]
pub struct OriginServer {
    pub url: String,
    /// Every request that reached `url`.
    pub log: OriginLog,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
    background: JoinHandle<std::io::Result<()>>,
}

impl OriginServer {
    /// Serves `origin::app` over the database of `owner` (connecting as the application role,
    /// as production does), trusting tokens signed by `keys`.
    pub async fn start(owner: &PgPool, keys: &TestKeys) -> Self {
        Self::start_with(AppState::new(app_pool(owner).await, keys.verifier())).await
    }

    pub async fn start_with(state: AppState) -> Self {
        Self::start_in_front(state, axum::Router::new()).await
    }

    /// Like `start_with`, with `front`'s routes answered before the origin's (a stand-in for a
    /// route the test provides itself).
    pub async fn start_in_front(state: AppState, front: axum::Router) -> Self {
        let bind = || async {
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a free port")
        };
        let (private, public) = (bind().await, bind().await);
        let url = format!("http://{}", public.local_addr().expect("local addr"));
        let log = OriginLog::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = futures::FutureExt::shared(stopped);
        let observed = log.around(front.fallback_service(origin::app(state.clone())));
        let public_stopped = stopped.clone();
        let served = tokio::spawn(async move {
            axum::serve(public, observed)
                .with_graceful_shutdown(async move {
                    let _ = public_stopped.await;
                })
                .await
        });
        let background = tokio::spawn(origin::serve(private, state, async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            log,
            stop,
            served,
            background,
        }
    }

    /// Starts a graceful shutdown (as SIGTERM does) and returns once in-flight requests drained.
    pub async fn shutdown(self) {
        drop(self.stop);
        for task in [self.served, self.background] {
            task.await
                .expect("the server task ran")
                .expect("the server stopped cleanly");
        }
    }
}

/// The value of one series in `/metrics` text: `series` is its name and labels exactly as
/// rendered, e.g. `origin_purchase_batch_size_count`.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A pool on `owner`'s database as `furnitureops_app`, the role row-level security applies to.
pub async fn app_pool(owner: &PgPool) -> PgPool {
    let role = AppRole {
        user: "furnitureops_app".to_owned(),
        password: None,
    };
    let limits = PoolLimits {
        max_connections: 10,
        acquire_timeout: Duration::from_secs(5),
    };
    db::connect_with(role.connect_options(&owner.connect_options()), limits)
        .await
        .expect("connect as the application role")
}
