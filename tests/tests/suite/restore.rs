//! Point-in-time restore: `scripts/restore-drill` sells on the HA stack, switches the primary
//! over to another node and sells again (the new leader's WAL must be archived too), notes the
//! time, runs `DELETE FROM orders`, restores a fresh cluster from pgBackRest to the noted time
//! and checks every confirmed order is back. Run here on free ports in a temporary directory,
//! as an operator would run it; about 40 s.

use std::process::Command;

use e2e::{origin_process, ports};

#[test]
#[ignore = "takes the whole machine: scripts/test runs it alone, after the suite"]
fn a_restore_to_the_time_before_a_delete_brings_back_every_confirmed_order() {
    let dir = tempfile::Builder::new()
        .prefix("furnitureops-drill-")
        .tempdir()
        .unwrap();
    let port = || ports::free_port().to_string();
    let list = |n: usize| (0..n).map(|_| port()).collect::<Vec<_>>().join(" ");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new("bash")
        .arg(root.join("scripts/restore-drill"))
        .env("DRILL_SKIP_SETUP", "1")
        .env("ORIGIN_BIN", origin_process::binary())
        .env("HA_DIR", dir.path())
        .env("HA_ETCD_PORTS", list(3))
        .env("HA_ETCD_PEER_PORTS", list(3))
        .env("HA_PRIMARY_PORT", port())
        .env("HA_REPLICA_PORT", port())
        .env("HA_PG_PORTS", list(3))
        .env("HA_REST_PORTS", list(3))
        .env("DRILL_RESTORE_PORT", port())
        .env("DRILL_SALES", "20")
        .output()
        .expect("run scripts/restore-drill");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the drill failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("restore drill:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}\n{stderr}"));
    println!("{summary}");
    assert!(
        summary.contains("20 of 20 confirmed orders present"),
        "{summary}"
    );
    assert!(
        summary.contains("the DELETE of 20 orders is undone"),
        "{summary}"
    );
}
