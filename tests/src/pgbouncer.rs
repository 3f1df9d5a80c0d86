//! A throwaway PgBouncer (Debian's) in transaction mode in front of a Postgres server, on a free
//! port, stopped on drop: what operators put between the origin and Postgres.
//!
//! It trusts the harness's roles like the local Postgres does. PgBouncer refuses to run as
//! root, so as root it is started with `-u postgres` and its files are given to that user.

use std::{path::Path, process::Stdio, time::Duration};

use nix::unistd::{chown, geteuid, User};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::ports;

/// How the pooler treats server connections.
#[derive(Debug, Clone, Copy)]
pub struct PgBouncerSettings {
    /// Server connections per (database, user): 1 makes every client share one.
    pub pool_size: u32,
    /// Runs `DEALLOCATE ALL` whenever a transaction gives its server connection back, which
    /// PgBouncer before 1.21 needs when clients name prepared statements (see
    /// `origin::config::pooler`).
    pub deallocate_after_transaction: bool,
}

/// A running PgBouncer. Dropping it kills the process and deletes its files.
#[derive(Debug)]
pub struct PgBouncer {
    pub port: u16,
    _child: Child,
    _dir: TempDir,
}

impl PgBouncer {
    /// PgBouncer on a free port in front of the server on `upstream_port` of 127.0.0.1.
    pub async fn start(upstream_port: u16, settings: PgBouncerSettings) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = ports::free_port();
        let reset = if settings.deallocate_after_transaction {
            "server_reset_query = DEALLOCATE ALL\nserver_reset_query_always = 1\n"
        } else {
            "server_reset_query =\n"
        };
        let config = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={upstream_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {users}\n\
             pool_mode = transaction\n\
             default_pool_size = {pool_size}\n\
             max_client_conn = 500\n\
             ignore_startup_parameters = extra_float_digits\n\
             {reset}",
            users = dir.path().join("users.txt").display(),
            pool_size = settings.pool_size,
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), config).expect("write pgbouncer.ini");
        std::fs::write(
            dir.path().join("users.txt"),
            "\"postgres\" \"\"\n\"furnitureops_app\" \"\"\n",
        )
        .expect("write users.txt");
        let mut command = Command::new("pgbouncer");
        if geteuid().is_root() {
            give_to_postgres(dir.path());
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start pgbouncer (scripts/setup installs it)");
        ports::wait_until_listening(port, Duration::from_secs(10), "pgbouncer listening").await;
        Self {
            port,
            _child: child,
            _dir: dir,
        }
    }

    /// `postgres://user@127.0.0.1:<port>/database` through this pooler.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

fn give_to_postgres(dir: &Path) {
    let user = User::from_name("postgres")
        .expect("look up the postgres user")
        .expect("a postgres user exists");
    for path in [
        dir.to_path_buf(),
        dir.join("pgbouncer.ini"),
        dir.join("users.txt"),
    ] {
        chown(&path, Some(user.uid), Some(user.gid)).expect("chown to postgres");
    }
}
