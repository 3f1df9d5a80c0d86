//! The origin, served in-process on a free port for the duration of a test.

use std::time::Duration;

use origin::{
    db::{self, AppRole, PoolLimits},
    AppState,
};
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::tokens::TestKeys;

#[derive(Debug)]
pub struct OriginServer {
    pub url: String,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

impl OriginServer {
    /// Serves `origin::app` over the database of `owner` (connecting as the application role,
    /// as production does), trusting tokens signed by `keys`.
    pub async fn start(owner: &PgPool, keys: &TestKeys) -> Self {
        Self::start_with(AppState::new(app_pool(owner).await, keys.verifier())).await
    }

    pub async fn start_with(state: AppState) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(origin::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self { url, stop, served }
    }

    /// Starts a graceful shutdown (as SIGTERM does) and returns once in-flight requests drained.
    pub async fn shutdown(self) {
        drop(self.stop);
        self.served
            .await
            .expect("the server task ran")
            .expect("the server stopped cleanly");
    }
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
