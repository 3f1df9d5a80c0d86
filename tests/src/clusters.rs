//! Throwaway Postgres clusters: a primary that streams WAL, and streaming replicas of it made
//! with `pg_basebackup -R`, each in its own temporary directory on a free port, stopped and
//! deleted on drop. `bench replica` and the replica tests use them; the machine's own
//! Postgres is never touched.
//!
//! The binaries come from `PG_BIN_DIR`, else `pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/<major>/bin`. Postgres refuses to run as root, so when this process is
//! root every command runs as the `postgres` user (`runuser`).

use std::{
    fs::OpenOptions, io::Write, net::TcpListener, path::PathBuf, process::Command, time::Duration,
};

use anyhow::{bail, Context};
use nix::unistd::{chown, geteuid, User};
use sqlx::PgPool;
use tempfile::TempDir;

use origin::db::replica::{
    positions::{committed_position, replayed_position},
    Lsn,
};

/// One running cluster. Dropping it stops the server (immediate mode) and deletes its files.
#[derive(Debug)]
pub struct ThrowawayCluster {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
    run_as: Option<User>,
}

impl ThrowawayCluster {
    /// A fresh primary with `wal_level = replica`, trusting local connections.
    pub fn primary() -> anyhow::Result<Self> {
        Self::primary_on(free_port()?)
    }

    /// Like `primary`, listening on `port`.
    pub fn primary_on(port: u16) -> anyhow::Result<Self> {
        let mut cluster = Self::prepare()?;
        cluster.port = port;
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data_dir_arg(),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )?;
        cluster.append_settings(
            "postgresql.conf",
            &[
                "wal_level = replica",
                "max_wal_senders = 4",
                "hot_standby = on",
                // A throwaway cluster need not survive a crash: skip the flushes.
                "fsync = off",
                "full_page_writes = off",
            ],
        )?;
        cluster.start()?;
        Ok(cluster)
    }

    /// A hot-standby replica of `primary`, streaming from it.
    pub fn replica_of(primary: &ThrowawayCluster) -> anyhow::Result<Self> {
        let cluster = Self::prepare()?;
        cluster.run(
            "pg_basebackup",
            &[
                "-D",
                &cluster.data_dir_arg(),
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
        )?;
        // Later lines win, and the auto file is read after postgresql.conf (copied from the
        // primary, with its port).
        cluster.append_settings("postgresql.auto.conf", &[])?;
        cluster.start()?;
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` as the superuser `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn prepare() -> anyhow::Result<Self> {
        let run_as = if geteuid().is_root() {
            Some(User::from_name("postgres")?.context("no `postgres` user to run Postgres as")?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("furnitureops-pg-")
            .tempdir()
            .context("make a temporary directory")?;
        if let Some(user) = &run_as {
            chown(dir.path(), Some(user.uid), Some(user.gid))?;
        }
        Ok(Self {
            dir,
            port: free_port()?,
            bin: bin_dir()?,
            run_as,
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn data_dir_arg(&self) -> String {
        self.data_dir().display().to_string()
    }

    fn append_settings(&self, file: &str, settings: &[&str]) -> anyhow::Result<()> {
        let mut conf = OpenOptions::new()
            .append(true)
            .open(self.data_dir().join(file))
            .with_context(|| format!("open {file}"))?;
        writeln!(conf, "\n# throwaway cluster")?;
        writeln!(conf, "listen_addresses = '127.0.0.1'")?;
        writeln!(conf, "port = {}", self.port)?;
        writeln!(
            conf,
            "unix_socket_directories = '{}'",
            self.dir.path().display()
        )?;
        for setting in settings {
            writeln!(conf, "{setting}")?;
        }
        Ok(())
    }

    fn start(&self) -> anyhow::Result<()> {
        let log = self.dir.path().join("server.log").display().to_string();
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir_arg(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        if started.is_err() {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            return started.with_context(|| format!("server log:\n{server_log}"));
        }
        Ok(())
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", &user.name, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .with_context(|| format!("run {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "{} {} failed ({}): {}",
                program.display(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data_dir_arg(), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// Waits until `replica` has replayed `lsn`, polling, for at most `deadline`.
pub async fn wait_for_replay(replica: &PgPool, lsn: Lsn, deadline: Duration) -> anyhow::Result<()> {
    let give_up = tokio::time::Instant::now() + deadline;
    while replayed_position(replica)
        .await?
        .is_none_or(|replayed| replayed < lsn)
    {
        if tokio::time::Instant::now() >= give_up {
            bail!("the replica did not replay {lsn} within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until `replica` has replayed everything `primary` had written when called.
pub async fn wait_until_caught_up(
    primary: &PgPool,
    replica: &PgPool,
    deadline: Duration,
) -> anyhow::Result<()> {
    wait_for_replay(replica, committed_position(primary).await?, deadline).await
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    // Debian and Ubuntu install each server version under /usr/lib/postgresql/<major>/bin.
    let newest_debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .max()
        .map(|(_, dir)| dir);
    from_pg_config
        .into_iter()
        .chain(newest_debian)
        .find(|dir| dir.join("initdb").exists())
        .context("no Postgres server binaries found: set PG_BIN_DIR to the directory with initdb")
}
