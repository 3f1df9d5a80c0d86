//! The origin as users run it: the `origin serve` binary in a process of its own, so a test can
//! send it SIGTERM, start it again, and put several behind a load balancer.
//!
//! The binary is `ORIGIN_BIN`, else `target/<profile>/origin` of this workspace in the profile
//! the caller was built with; `scripts/test` builds it first (`cargo build -p origin`).

use std::{path::PathBuf, process::Stdio, time::Duration};

use nix::{sys::signal, unistd::Pid};
use sqlx::postgres::PgConnectOptions;
use tokio::process::{Child, Command};

use crate::{ports, tokens::TestKeys};

/// What every process of one deployment shares.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// The schema owner's direct connection (`DATABASE_URL`).
    pub database_url: String,
    pub jwks: String,
    /// More variables, e.g. `DATABASE_POOLED_URL`.
    pub env: Vec<(String, String)>,
}

impl OriginConfig {
    /// Serves the database of `owner` (trust authentication) to tokens signed by `keys`.
    pub fn new(owner: &PgConnectOptions, keys: &TestKeys) -> Self {
        Self {
            database_url: database_url(owner),
            jwks: keys.public_jwks(),
            env: Vec::new(),
        }
    }

    pub fn var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }
}

/// `postgres://user@host:port/database` of `options` (no password: the harness trusts local).
pub fn database_url(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// One running `origin serve`. Dropping it kills the process.
#[derive(Debug)]
pub struct OriginProcess {
    pub port: u16,
    pub url: String,
    /// The operations listener (`OPS_LISTEN_ADDR`): `/readyz`, `/metrics` and the like.
    pub ops_port: u16,
    pub ops_url: String,
    child: Child,
}

impl OriginProcess {
    /// Starts `origin serve` on free ports (the API's and the operations listener's) and waits
    /// until `/readyz` answers 200.
    pub async fn start(config: &OriginConfig) -> Self {
        Self::start_on(ports::free_port(), ports::free_port(), config).await
    }

    /// Starts `origin serve` with its API on `port` and its operations routes on `ops_port` (a
    /// restart keeps its place behind the load balancer).
    pub async fn start_on(port: u16, ops_port: u16, config: &OriginConfig) -> Self {
        let process = Self::spawn_on(port, ops_port, config);
        process.wait_ready().await;
        process
    }

    /// Starts `origin serve` on `port` and `ops_port` without waiting for it to be ready.
    pub fn spawn_on(port: u16, ops_port: u16, config: &OriginConfig) -> Self {
        let mut command = Command::new(binary());
        // An empty set means none: the origin is then configured by `JWT_JWKS_URL` alone.
        if config.jwks.is_empty() {
            command.env_remove("JWT_JWKS");
        } else {
            command.env("JWT_JWKS", &config.jwks);
        }
        let child = command
            .arg("serve")
            .env("DATABASE_URL", &config.database_url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("OPS_LISTEN_ADDR", format!("127.0.0.1:{ops_port}"))
            .env("RUST_LOG", "warn")
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the origin binary");
        Self {
            port,
            url: format!("http://127.0.0.1:{port}"),
            ops_port,
            ops_url: format!("http://127.0.0.1:{ops_port}"),
            child,
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let readyz = format!("{}/readyz", self.ops_url);
        let http = reqwest::Client::new();
        crate::wait::until(Duration::from_secs(60), "the origin ready", || async {
            let response = http.get(&readyz).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (what an orchestrator sends) and waits for the process to end on its own.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().and_then(|id| i32::try_from(id).ok());
        if let Some(pid) = pid {
            signal::kill(Pid::from_raw(pid), signal::Signal::SIGTERM).expect("send SIGTERM");
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the origin drains and exits within 30 s after SIGTERM")
            .expect("wait for the origin")
    }
}

/// The `origin` binary these tests run.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ORIGIN_BIN") {
        return PathBuf::from(path);
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(profile)
        .join("origin");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p origin{}), or set ORIGIN_BIN",
        path.display(),
        if profile == "release" {
            " --release"
        } else {
            ""
        }
    );
    path
}
