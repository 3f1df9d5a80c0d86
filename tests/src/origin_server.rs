//! The origin, served in-process on a free port for the duration of a test.

use origin::AppState;
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::oneshot};

use crate::tokens::TestKeys;

#[derive(Debug)]
pub struct OriginServer {
    pub url: String,
    _stop: oneshot::Sender<()>,
}

impl OriginServer {
    /// Serves `origin::app` over `db`, trusting tokens signed by `keys`.
    pub async fn start(db: PgPool, keys: &TestKeys) -> Self {
        Self::start_with(AppState::new(db, keys.verifier())).await
    }

    pub async fn start_with(state: AppState) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(origin::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self { url, _stop: stop }
    }
}
