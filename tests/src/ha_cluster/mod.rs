//! A highly available Postgres for failover and restore tests: the same stack as
//! `scripts/dev-ha` (etcd, three Patroni nodes running Postgres 15, HAProxy routing to the
//! primary), started by `scripts/ha-db` on free ports in a temporary directory, stopped on
//! drop. The test sees it as users do: one address for writes that always leads to the primary.
//!
//! It also gives the hands a fault test needs: which node leads, its postmaster's pid and its
//! whole process tree (to kill or freeze a node), and waits on the cluster's state as Patroni's
//! REST API reports it.

mod data_disk;

pub use self::data_disk::DataDisks;

use std::{
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use nix::{sys::signal, unistd::Pid};
use serde::Deserialize;
use tempfile::TempDir;

use crate::ports;

/// One member of the cluster as `GET /cluster` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub name: String,
    /// `leader`, `sync_standby` or `replica`.
    pub role: String,
    /// `running`, `streaming`, `starting`, `stopped`, `crashed`...
    pub state: String,
    #[serde(default)]
    pub timeline: Option<u64>,
    pub port: u16,
}

#[derive(Debug, Deserialize)]
struct ClusterView {
    members: Vec<Member>,
}

/// A running stack. Dropping it stops every process it started and deletes its files.
#[derive(Debug)]
pub struct HaCluster {
    /// HAProxy's port for writes: the primary, whichever node it is.
    pub primary_port: u16,
    /// HAProxy's port for reads: the replicas.
    pub replica_port: u16,
    /// The etcd members' client ports.
    pub etcd_ports: [u16; 3],
    pub pg_ports: [u16; 3],
    pub rest_ports: [u16; 3],
    child: Child,
    dir: TempDir,
    http: reqwest::Client,
    /// HAProxy started again by `restart_haproxy` (the first one is the script's).
    haproxy: std::sync::Mutex<Option<Child>>,
    disks: DataDisks,
}

/// Node names, as `scripts/ha.sh` gives them.
pub const NODES: [&str; 3] = ["node1", "node2", "node3"];

impl HaCluster {
    /// Starts the stack; returns once the primary has a synchronous standby.
    pub async fn start() -> Self {
        Self::start_with(DataDisks::Shared).await
    }

    /// Starts the stack with the nodes' data kept as `disks` says.
    pub async fn start_with(disks: DataDisks) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("furnitureops-ha-")
            .tempdir()
            .expect("temporary directory");
        let port = || ports::free_port();
        let (primary_port, replica_port) = (port(), port());
        let etcd_ports = [port(), port(), port()];
        let etcd_peer_ports = [port(), port(), port()];
        let pg_ports = [port(), port(), port()];
        let rest_ports = [port(), port(), port()];
        let list = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut child = Command::new("bash")
            .arg(workspace_root().join("scripts/ha-db"))
            .env("HA_DIR", dir.path())
            .env("HA_PRIMARY_PORT", primary_port.to_string())
            .env("HA_REPLICA_PORT", replica_port.to_string())
            .env("HA_ETCD_PORTS", list(&etcd_ports))
            .env("HA_ETCD_PEER_PORTS", list(&etcd_peer_ports))
            .env("HA_PG_PORTS", list(&pg_ports))
            .env("HA_REST_PORTS", list(&rest_ports))
            .env("HA_DATA_TMPFS_MB", disks.tmpfs_mib_variable())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start scripts/ha-db (scripts/setup installs patroni, etcd and haproxy)");
        let stdout = child.stdout.take().expect("piped stdout");
        let ready = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.trim() == "ready")
        });
        let cluster = Self {
            primary_port,
            replica_port,
            etcd_ports,
            pg_ports,
            rest_ports,
            child,
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .expect("http client"),
            haproxy: std::sync::Mutex::new(None),
            disks,
        };
        let ready = tokio::time::timeout(Duration::from_secs(240), ready).await;
        if !matches!(ready, Ok(Ok(true))) {
            panic!(
                "the HA stack did not come up within 240 s; node1's Patroni log:\n{}",
                cluster.log("node1/patroni.log")
            );
        }
        cluster
    }

    /// A URL for `database` as the superuser, through HAProxy's primary port.
    pub fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    /// A URL for `database` as the superuser, straight to `node`.
    pub fn node_url(&self, node: &str, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.pg_ports[node_index(node)]
        )
    }

    /// Where the stack keeps its files (node data under `<node>/data`, logs, the backup repo).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A log file of the stack, for failure messages.
    pub fn log(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(relative)).unwrap_or_default()
    }

    /// The members as the first node's Patroni that answers reports them.
    pub async fn members(&self) -> Option<Vec<Member>> {
        for port in self.rest_ports {
            let url = format!("http://127.0.0.1:{port}/cluster");
            if let Ok(response) = self.http.get(&url).send().await {
                if let Ok(view) = response.json::<ClusterView>().await {
                    return Some(view.members);
                }
            }
        }
        None
    }

    /// The node that leads now, if any.
    pub async fn leader(&self) -> Option<String> {
        self.members()
            .await?
            .into_iter()
            .find(|member| member.role == "leader")
            .map(|member| member.name)
    }

    /// Waits until a node other than `old` leads; returns its name.
    pub async fn wait_for_new_leader(&self, old: &str, within: Duration) -> String {
        crate::wait::until(within, "a new leader", || async {
            self.leader().await.filter(|leader| leader != old)
        })
        .await
    }

    /// Waits until `node` is back as a streaming replica on the leader's timeline.
    pub async fn wait_until_rejoined(&self, node: &str, within: Duration) -> Member {
        crate::wait::until(within, "the old primary rejoining as a replica", || async {
            let members = self.members().await?;
            let timeline = members.iter().find(|m| m.role == "leader")?.timeline;
            members.into_iter().find(|m| {
                m.name == node
                    && m.role != "leader"
                    && matches!(m.state.as_str(), "running" | "streaming")
                    && m.timeline == timeline
            })
        })
        .await
    }

    /// The pid of `node`'s postmaster (from its `postmaster.pid`).
    pub fn postmaster_pid(&self, node: &str) -> Option<i32> {
        let pid_file = self.dir.path().join(node).join("data/postmaster.pid");
        std::fs::read_to_string(pid_file)
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Every process of `node`: its Patroni and everything under it (Postgres and its
    /// backends), as a partition would cut them off together.
    pub fn node_processes(&self, node: &str) -> Vec<i32> {
        let config = self.dir.path().join(node).join("patroni.yml");
        let config = config.display().to_string();
        let patroni: Vec<i32> = processes()
            .into_iter()
            .filter(|(_, _, cmdline)| {
                cmdline.contains("patroni")
                    && cmdline.ends_with(&config)
                    && !cmdline.contains("runuser")
            })
            .map(|(pid, _, _)| pid)
            .collect();
        let mut tree = patroni.clone();
        let all = processes();
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(
                all.iter()
                    .filter(|(_, ppid, _)| *ppid == parent)
                    .map(|(pid, _, _)| *pid),
            );
            i += 1;
        }
        // A postmaster Patroni restarted may have been re-parented: add its tree too.
        if let Some(postmaster) = self.postmaster_pid(node) {
            if !tree.contains(&postmaster) {
                tree.push(postmaster);
                tree.extend(
                    all.iter()
                        .filter(|(_, ppid, _)| *ppid == postmaster)
                        .map(|(pid, _, _)| *pid),
                );
            }
        }
        tree
    }

    /// Kills HAProxy (SIGKILL) and starts it again on the same configuration and ports, as a
    /// restart looks to its clients: every connection through it is cut.
    pub async fn restart_haproxy(&self) {
        let config = self.dir.path().join("haproxy.cfg");
        let needle = format!("-f {}", config.display());
        for (pid, _, _) in processes()
            .into_iter()
            .filter(|(_, _, cmdline)| cmdline.starts_with("haproxy") && cmdline.contains(&needle))
        {
            let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL);
        }
        let previous = self.haproxy.lock().expect("haproxy slot").take();
        if let Some(mut old) = previous {
            let _ = old.kill();
            let _ = old.wait();
        }
        // The ports are free once the old process is gone.
        let child = crate::wait::until(Duration::from_secs(10), "haproxy started again", || {
            let child = Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
                .and_then(|mut child| {
                    std::thread::sleep(Duration::from_millis(200));
                    match child.try_wait() {
                        Ok(None) => Some(child),
                        _ => None,
                    }
                });
            async move { child }
        })
        .await;
        *self.haproxy.lock().expect("haproxy slot") = Some(child);
    }

    /// Kills etcd member `i` (0, 1 or 2) with SIGKILL; returns whether one was found.
    pub fn kill_etcd_member(&self, i: usize) -> bool {
        let data_dir = self.dir.path().join(format!("etcd/etcd{i}"));
        let needle = format!("--data-dir {}", data_dir.display());
        let member = processes()
            .into_iter()
            .find(|(_, _, cmdline)| cmdline.starts_with("etcd ") && cmdline.contains(&needle));
        member.is_some_and(|(pid, _, _)| {
            signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL).is_ok()
        })
    }

    /// Sends `signal` to every process of `node`.
    pub fn signal_node(&self, node: &str, sig: signal::Signal) -> usize {
        let pids = self.node_processes(node);
        for pid in &pids {
            let _ = signal::kill(Pid::from_raw(*pid), sig);
        }
        pids.len()
    }
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        if let Some(mut haproxy) = self.haproxy.lock().ok().and_then(|mut slot| slot.take()) {
            let _ = haproxy.kill();
            let _ = haproxy.wait();
        }
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        // A frozen node would never stop: wake everything first.
        for node in NODES {
            self.signal_node(node, signal::Signal::SIGCONT);
        }
        let _ = signal::kill(pid, signal::Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = signal::killpg(pid, signal::Signal::SIGKILL);
        let _ = self.child.wait();
        // The script did not get to unmount the nodes' own disks: do it, or the temporary
        // directory cannot be removed.
        self.unmount_data_disks();
    }
}

fn node_index(node: &str) -> usize {
    NODES
        .iter()
        .position(|name| *name == node)
        .unwrap_or_else(|| panic!("no node {node}"))
}

/// (pid, parent pid, command line) of every process.
fn processes() -> Vec<(i32, i32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name is in parentheses and may hold spaces: parse after the last ')'.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            Some((pid, ppid, cmdline.trim().to_owned()))
        })
        .collect()
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}
