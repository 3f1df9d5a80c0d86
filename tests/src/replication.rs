//! A real primary and a real streaming replica for replica tests: two throwaway clusters
//! (`clusters`), the schema migrated on the primary and streamed to the replica,
//! plus the controls a test needs to make the replica visibly stale on purpose.

use std::time::Duration;

use origin::db::{self, AppRole, PoolLimits, MIGRATOR};
use sqlx::PgPool;

use crate::{
    clusters::{self, ThrowawayCluster},
    origin_server::app_pool,
};

/// How long a test waits for the replica before failing.
const REPLICA_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Replicated {
    /// The schema owner on the primary (tests create shops with it).
    pub primary_owner: PgPool,
    /// A superuser on the replica (pauses and resumes replay).
    pub replica_admin: PgPool,
    _replica: ThrowawayCluster,
    _primary: ThrowawayCluster,
}

impl Replicated {
    /// Starts both clusters and migrates the primary.
    pub async fn start() -> Self {
        let primary = ThrowawayCluster::primary().expect("start a throwaway primary");
        let replica = ThrowawayCluster::replica_of(&primary).expect("start a streaming replica");
        let primary_owner = owner_pool(&primary).await;
        MIGRATOR.run(&primary_owner).await.expect("migrate");
        let replicated = Self {
            primary_owner,
            replica_admin: owner_pool(&replica).await,
            _replica: replica,
            _primary: primary,
        };
        replicated.wait_until_caught_up().await;
        replicated
    }

    /// Pools as the application role on the primary and on the replica, as `serve` opens them.
    pub async fn app_pools(&self) -> (PgPool, PgPool) {
        (
            app_pool(&self.primary_owner).await,
            app_pool(&self.replica_admin).await,
        )
    }

    /// Stops applying WAL on the replica: from now on it shows the data as it was.
    pub async fn pause_replay(&self) {
        sqlx::query("SELECT pg_wal_replay_pause()")
            .execute(&self.replica_admin)
            .await
            .expect("pause replay");
        let deadline = tokio::time::Instant::now() + REPLICA_DEADLINE;
        loop {
            let state: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
                .fetch_one(&self.replica_admin)
                .await
                .expect("replay state");
            if state == "paused" {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "replay never paused"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn resume_replay(&self) {
        sqlx::query("SELECT pg_wal_replay_resume()")
            .execute(&self.replica_admin)
            .await
            .expect("resume replay");
    }

    /// Waits until the replica has replayed the position of `sealed` (an `X-Write-LSN` value,
    /// whose first part is the WAL position).
    pub async fn wait_for_replay(&self, sealed: &str) {
        let lsn = sealed
            .split('.')
            .next()
            .and_then(|lsn| lsn.parse().ok())
            .expect("a sealed WAL position");
        clusters::wait_for_replay(&self.replica_admin, lsn, REPLICA_DEADLINE)
            .await
            .expect("the replica replays the write");
    }

    /// Waits until the replica has replayed everything the primary has written so far.
    pub async fn wait_until_caught_up(&self) {
        clusters::wait_until_caught_up(&self.primary_owner, &self.replica_admin, REPLICA_DEADLINE)
            .await
            .expect("the replica catches up");
    }
}

async fn owner_pool(cluster: &ThrowawayCluster) -> PgPool {
    let limits = PoolLimits {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    db::connect(&cluster.url("postgres"), limits)
        .await
        .expect("connect as the owner")
}

/// A replica pool for `owner`'s database pointed at a port where nothing listens: a replica
/// that is down.
pub fn unreachable_replica(owner: &PgPool) -> PgPool {
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = nowhere.local_addr().expect("local addr").port();
    drop(nowhere);
    let role = AppRole {
        user: "furnitureops_app".to_owned(),
        password: None,
    };
    db::connect_lazily(
        role.connect_options(&owner.connect_options()).port(port),
        PoolLimits {
            max_connections: 2,
            acquire_timeout: Duration::from_millis(300),
        },
    )
}
