//! The database: connections and their limits, the embedded migrations, tenant-scoped
//! transactions (`scope`) and read routing to a replica (`replica`). Which pools `serve` opens
//! is configuration (`config::pools`).

pub mod replica;
pub mod scope;
pub mod server_identity;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

pub use scope::{begin_scoped, Scope};

/// The schema, embedded so `origin migrate` and the tests apply exactly what ships.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Pool limits: bounded, and quick to say "busy" instead of queueing forever.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// The role requests run as, which row-level security applies to.
#[derive(Debug, Clone)]
pub struct AppRole {
    pub user: String,
    pub password: Option<SecretString>,
}

impl AppRole {
    /// `owner`'s connection (host, port, database) under this role's name.
    pub fn connect_options(&self, owner: &PgConnectOptions) -> PgConnectOptions {
        let options = owner.clone().username(&self.user);
        match &self.password {
            Some(password) => options.password(password.expose_secret()),
            None => options,
        }
    }
}

/// A pool for the schema owner: migrations and operator commands.
pub async fn connect(url: &str, limits: PoolLimits) -> Result<PgPool, sqlx::Error> {
    connect_with(url.parse()?, limits).await
}

pub async fn connect_with(
    options: PgConnectOptions,
    limits: PoolLimits,
) -> Result<PgPool, sqlx::Error> {
    pool_options(limits.max_connections, limits.acquire_timeout)
        .connect_with(options)
        .await
}

/// A connection idle at least this long is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Every pool's options. sqlx pings a connection both before handing it out and when it comes
/// back; under load the first ping is one more round trip for every transaction (about a fifth
/// of a group-commit batch's time). The ping on return still finds a connection that broke
/// while in use, so only a connection that sat idle long enough for the server to go away
/// meanwhile (a restart, a failover) is pinged before use, as PgBouncer's `server_check_delay`
/// does. A connection that died in the last second fails its one transaction fast, like any
/// lost connection, and is replaced.
fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .after_connect(|conn, _meta| Box::pin(server_identity::observe(conn)))
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// How long background work (the event listener, queue workers) waits for a connection.
pub const BACKGROUND_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of `connections` on the same database and role as `pool`, for work that must not
/// compete with requests for connections: the event listener and queue workers, and the
/// purchase committer. It connects lazily, so its connections are made, and served, by the
/// runtime that first uses them.
pub fn side_pool(pool: &PgPool, connections: usize, acquire_timeout: Duration) -> PgPool {
    pool_options(
        u32::try_from(connections.max(1)).unwrap_or(u32::MAX),
        acquire_timeout,
    )
    .connect_lazy_with((*pool.connect_options()).clone())
}

/// `options` with a server-side `statement_timeout` (none when `timeout` is `None`).
pub fn with_statement_timeout(
    options: PgConnectOptions,
    timeout: Option<Duration>,
) -> PgConnectOptions {
    match timeout {
        Some(timeout) => {
            options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))])
        }
        None => options,
    }
}

/// A pool that opens its first connection when a request needs one.
pub fn connect_lazily(options: PgConnectOptions, limits: PoolLimits) -> PgPool {
    PgPoolOptions::new()
        .max_connections(limits.max_connections)
        .acquire_timeout(limits.acquire_timeout)
        .connect_lazy_with(options)
}

/// Errors that mean "try again shortly" rather than "this request is wrong".
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
            // 53300 too many connections, 57014 statement timeout, 25006 read-only
            // transaction (a connection still on a primary that was demoted by a failover),
            // 53100 disk full (a primary whose disk filled refuses new rows until it is freed
            // or fails over: docs/operations.md, "Faults tried").
            matches!(
                &*code,
                "57P01" | "57P02" | "57P03" | "53300" | "57014" | "25006" | "53100"
            )
        }),
        _ => false,
    }
}
