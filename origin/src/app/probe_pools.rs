//! The operations routes' own connections: `/readyz` and `/metrics` read the database through
//! a pool of one connection per database, opened on first use, never through the pools the
//! requests use. A flood of probes then queues on that one connection and is answered `503`
//! after `PROBE_TIMEOUT`, while an owner's write still finds its connection.

use std::{
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use sqlx::PgPool;

use crate::db;

/// The longest a probe waits for its connection and its answer together.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The probes' connections: to the primary, and to the replica when there is one.
#[derive(Debug, Clone, Default)]
pub struct ProbePools {
    primary: Arc<OnceLock<PgPool>>,
    replica: Arc<OnceLock<PgPool>>,
}

impl ProbePools {
    /// The probes' connection to the primary `requests` connects to.
    pub fn primary(&self, requests: &PgPool) -> &PgPool {
        self.primary.get_or_init(|| own_pool(requests))
    }

    /// The probes' connection to the replica `requests` connects to.
    pub fn replica(&self, requests: &PgPool) -> &PgPool {
        self.replica.get_or_init(|| own_pool(requests))
    }
}

fn own_pool(requests: &PgPool) -> PgPool {
    db::side_pool(requests, 1, PROBE_TIMEOUT)
}

/// `probe`'s answer, or `None` when it took longer than `PROBE_TIMEOUT`.
pub async fn within_timeout<T>(probe: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(PROBE_TIMEOUT, probe).await.ok()
}
