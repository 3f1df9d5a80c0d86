//! A flash sale through the real Worker while the database's primary fails: the scenario the
//! failover test and `bench failover` share, so the test is the benchmark made short.
//!
//! Shoppers buy one hot item at full speed, each purchase under its own `Idempotency-Key`,
//! sent again with the same key after a 5xx or a dropped connection (what the storefront does).
//! A reader polls the inventory beside them. Then a fault hits the node that leads: its
//! postmaster killed (`SIGKILL`), the whole node frozen (`SIGSTOP`, as a partition looks)
//! and woken after a new leader exists, or its disk filled (`disk_full`). Afterwards everything acknowledged is checked against
//! the new primary, read directly rather than through HAProxy.

mod checks;
mod disk_full;
mod report;
mod shoppers;

use std::time::{Duration, Instant};

use nix::{sys::signal, unistd::Pid};
use uuid::Uuid;

pub use self::report::PhaseReport;
use self::{
    checks::{check_on, owner_pool, write_to_old_primary},
    report::Timeline,
    shoppers::{wait_for_first_sale, Sale},
};
use crate::{
    ha_cluster::{DataDisks, HaCluster},
    Edge, OriginConfig, OriginProcess, Shop, TestKeys,
};

pub const DOMAIN: &str = "failover.shop.test";
const SKU: &str = "HOT-CHAIR";
/// The Worker's deadline for a write (docs/edge-resilience.md): no answer may take longer.
pub const EDGE_WRITE_DEADLINE: Duration = Duration::from_secs(11);

/// The whole product on the HA database: the origin writes through HAProxy's primary port and
/// reads through its replica port, the Worker in front.
#[derive(Debug)]
pub struct HaStack {
    pub ha: HaCluster,
    pub origin: OriginProcess,
    pub edge: Edge,
    pub shop: Shop,
    pub keys: TestKeys,
    pub item_id: Uuid,
    pub initial_stock: i64,
}

impl HaStack {
    pub async fn start(stock: i32) -> Self {
        Self::start_with(stock, DataDisks::Shared).await
    }

    /// The stack with the nodes' data kept as `disks` says (their own disks for `DiskFull`).
    pub async fn start_with(stock: i32, disks: DataDisks) -> Self {
        let ha = HaCluster::start_with(disks).await;
        let keys = TestKeys::new();
        let config = OriginConfig {
            database_url: ha.primary_url("postgres"),
            jwks: keys.public_jwks(),
            env: Vec::new(),
        }
        .var(
            "DATABASE_REPLICA_URL",
            format!("postgres://postgres@127.0.0.1:{}/postgres", ha.replica_port),
        );
        // The origin migrates the fresh cluster as it starts.
        let origin = OriginProcess::start(&config).await;
        let owner = owner_pool(&ha.primary_url("postgres")).await;
        let shop = Shop::create(&owner, DOMAIN, &[(SKU, stock)]).await;
        let item_id = shop.item(&owner, SKU).await.id;
        owner.close().await;
        let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
        Self {
            ha,
            origin,
            edge,
            shop,
            keys,
            item_id,
            initial_stock: i64::from(stock),
        }
    }
}

/// What hits the leading node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `SIGKILL` to its postmaster.
    KillPostmaster,
    /// `SIGSTOP` to its Patroni and every Postgres process, `SIGCONT` once another node leads
    /// and sales go on: a split-brain attempt.
    FreezeNode,
    /// Its data directory's disk left without a free byte (the stack started with
    /// `DataDisks::OwnTmpfs`), then, a few seconds later, its WAL made to need a new segment;
    /// the disk is freed once another node sells.
    DiskFull,
}

#[derive(Debug, Clone, Copy)]
pub struct PhaseOptions {
    pub shoppers: usize,
    /// Selling before the fault.
    pub before: Duration,
    /// Selling after the first `201` that follows the fault.
    pub after: Duration,
    /// Gives up waiting for a `201` after the fault this long.
    pub give_up: Duration,
}

/// Runs one phase: sale, fault, recovery, checks.
pub async fn run_phase(stack: &HaStack, fault: Fault, options: PhaseOptions) -> PhaseReport {
    let sale = Sale::start(stack, options.shoppers);
    tokio::time::sleep(options.before).await;

    let old_leader = stack.ha.leader().await.expect("a leader before the fault");
    let fault_at = Instant::now();
    let writes_stopped_at = strike(stack, fault, &old_leader).await;
    let new_leader = stack
        .ha
        .wait_for_new_leader(&old_leader, options.give_up)
        .await;
    let to_new_leader = fault_at.elapsed();
    let first_sale = wait_for_first_sale(&sale.journal, writes_stopped_at, options.give_up).await;
    let mut old_primary_write = None;
    match fault {
        Fault::FreezeNode => {
            stack.ha.signal_node(&old_leader, signal::Signal::SIGCONT);
            old_primary_write = Some(write_to_old_primary(stack, &old_leader).await);
        }
        Fault::DiskFull => stack.ha.free_disk(&old_leader).expect("free the disk"),
        Fault::KillPostmaster => {}
    }
    tokio::time::sleep(options.after).await;
    let journal = sale.finish().await;
    let old_leader_rejoined_after = tokio::time::timeout(
        Duration::from_secs(90),
        stack
            .ha
            .wait_until_rejoined(&old_leader, Duration::from_secs(90)),
    )
    .await
    .ok()
    .map(|_| fault_at.elapsed());

    let new_primary = owner_pool(&stack.ha.node_url(&new_leader, "postgres")).await;
    let checks = check_on(&new_primary, stack, &journal.acknowledged).await;
    new_primary.close().await;
    let timeline = Timeline {
        fault,
        old_leader,
        new_leader,
        shoppers: options.shoppers,
        fault_at,
        writes_stopped_at,
        to_new_leader,
        first_sale,
        old_leader_rejoined_after,
        old_primary_write,
        initial_stock: stack.initial_stock,
    };
    PhaseReport::new(timeline, &journal, checks)
}

/// Hits the leading node with `fault`; returns when it stopped taking writes.
async fn strike(stack: &HaStack, fault: Fault, leader: &str) -> Instant {
    match fault {
        Fault::KillPostmaster => {
            let pid = stack
                .ha
                .postmaster_pid(leader)
                .expect("the leader's postmaster.pid");
            signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL).expect("kill the postmaster");
            Instant::now()
        }
        Fault::FreezeNode => {
            let frozen = stack.ha.signal_node(leader, signal::Signal::SIGSTOP);
            assert!(frozen > 1, "froze the leader's processes");
            Instant::now()
        }
        Fault::DiskFull => disk_full::fill_until_the_primary_stops(stack, leader).await,
    }
}
