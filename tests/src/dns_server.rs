//! A real DNS server for the TXT ownership check: Debian's dnsmasq on a free port of
//! 127.0.0.1, authoritative for nothing but the TXT records a test gives it (no upstream, no
//! hosts file). The origin asks it through `DOMAIN_CHECK_DNS`.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

use crate::ports::{free_port, wait_until_listening};

#[derive(Debug)]
pub struct DnsServer {
    pub addr: SocketAddr,
    child: Child,
}

impl DnsServer {
    /// dnsmasq answering `records` as (name, value) TXT records.
    pub async fn start(records: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), records).await
    }

    /// Stops this server and starts one on the same address answering `records` instead: the
    /// zone as it is once the owner publishes a record.
    pub async fn restart_with(mut self, records: &[(&str, &str)]) -> Self {
        let port = self.addr.port();
        let _ = self.child.kill().await;
        Self::start_on(port, records).await
    }

    async fn start_on(port: u16, records: &[(&str, &str)]) -> Self {
        let mut command = Command::new("dnsmasq");
        command
            .arg("--keep-in-foreground")
            .arg("--conf-file=/dev/null")
            .arg(format!("--port={port}"))
            .arg("--listen-address=127.0.0.1")
            .arg("--bind-interfaces")
            .arg("--no-resolv")
            // Every name is local: one without a record is NXDOMAIN, as a real zone answers.
            .arg("--local=/#/")
            .arg("--no-hosts")
            .arg("--no-poll")
            .arg("--pid-file=")
            .arg("--user=root")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (name, value) in records {
            command.arg(format!("--txt-record={name},{value}"));
        }
        let child = command
            .spawn()
            .expect("start dnsmasq (scripts/setup installs dnsmasq-base)");
        wait_until_listening(port, Duration::from_secs(10), "dnsmasq").await;
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
