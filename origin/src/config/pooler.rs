//! Running behind a transaction pooler: PgBouncer in `pool_mode = transaction`, or a hosted
//! pooler built on it.
//!
//! A transaction pooler hands a server connection to a client for one transaction at a time, so
//! nothing that outlives a transaction may be left on it. Three things in the origin do:
//!
//! - `LISTEN` (the event listener) and the session advisory lock `sqlx::migrate` takes: they
//!   stay on `DATABASE_URL`, a direct connection, and only request work goes to
//!   `DATABASE_POOLED_URL`.
//! - Named prepared statements: sqlx prepares each query once per connection as `sqlx_s_<n>`,
//!   counting from 1 on every connection, so two clients' statements collide on a shared server
//!   connection ("prepared statement sqlx_s_1 already exists"). PgBouncer 1.21 and later track
//!   them itself (`max_prepared_statements`). Older ones (Debian bookworm ships 1.18) need
//!   `DATABASE_STATEMENT_CACHE_CAPACITY=0` here *and* `server_reset_query = DEALLOCATE ALL` with
//!   `server_reset_query_always = 1` there: sqlx 0.8 still names the statements it does not
//!   cache, so the pooler must drop them when the transaction ends (`tests/tests/suite/pgbouncer.rs`
//!   shows both halves are needed).
//! - The `options` startup parameter, which carries `statement_timeout`: PgBouncer refuses it,
//!   so through a pooler the timeout is the role's (`ALTER ROLE ... SET statement_timeout`).

use clap::Args;
use secrecy::SecretString;

use super::secrets::secret;

#[derive(Debug, Clone, Args)]
pub struct PoolerArgs {
    /// A transaction pooler in front of the primary (host, port and database are used; requests
    /// run as DATABASE_APP_USER). Request, purchase and queue connections go through it;
    /// migrations and the LISTEN connection stay on DATABASE_URL. Unset: everything is direct.
    #[arg(long, env = "DATABASE_POOLED_URL", value_parser = secret, hide_env_values = true)]
    pub database_pooled_url: Option<SecretString>,
    /// Prepared statements each request connection keeps. 0 for a pooler that cannot track
    /// named statements (PgBouncer before 1.21; see docs/operations.md).
    #[arg(long, env = "DATABASE_STATEMENT_CACHE_CAPACITY", default_value_t = 100)]
    pub statement_cache_capacity: usize,
}
