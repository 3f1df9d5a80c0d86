//! A throwaway HAProxy (Debian's) in front of several origins, on a free port, stopped on drop:
//! how operators scale the origin out.
//!
//! Its configuration is the one `docs/operations.md` recommends: health checks on `/readyz`, on
//! each origin's operations listener, every 200 ms, out after 2 failures and back after 2 successes; a request whose connection
//! fails, or whose server closes without answering, is sent again to another origin
//! (`retry-on`, `option redispatch`). Resending a purchase is safe because every purchase
//! carries an `Idempotency-Key`.

use std::{process::Stdio, time::Duration};

use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::ports;

/// One origin behind the balancer: the port of its API, and of its operations listener, where
/// the health check asks.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    pub port: u16,
    pub ops_port: u16,
}

/// The HAProxy configuration for `origins` (on 127.0.0.1), listening on `port`.
pub fn haproxy_config(port: u16, origins: &[Backend]) -> String {
    let servers: String = origins
        .iter()
        .enumerate()
        .map(|(i, origin)| {
            format!(
                "    server origin{i} 127.0.0.1:{} check port {}\n",
                origin.port, origin.ops_port
            )
        })
        .collect();
    format!(
        "global\n\
         \x20   maxconn 4096\n\
         defaults\n\
         \x20   mode http\n\
         \x20   timeout connect 1s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n\
         \x20   retries 3\n\
         \x20   option redispatch 1\n\
         \x20   retry-on conn-failure empty-response response-timeout\n\
         frontend origins\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   default_backend origins\n\
         backend origins\n\
         \x20   balance roundrobin\n\
         \x20   option httpchk GET /readyz\n\
         \x20   http-check expect status 200\n\
         \x20   default-server inter 200ms fall 2 rise 2\n\
         {servers}"
    )
}

/// A running HAProxy. Dropping it kills the process.
#[derive(Debug)]
pub struct LoadBalancer {
    pub port: u16,
    pub url: String,
    _child: Child,
    _dir: TempDir,
}

impl LoadBalancer {
    /// HAProxy on a free port, balancing over `origins`.
    pub async fn start(origins: &[Backend]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = ports::free_port();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, haproxy_config(port, origins)).expect("write haproxy.cfg");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy (scripts/setup installs it)");
        ports::wait_until_listening(port, Duration::from_secs(10), "haproxy listening").await;
        Self {
            port,
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
            _dir: dir,
        }
    }
}
