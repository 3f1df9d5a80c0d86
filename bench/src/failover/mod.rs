//! `bench failover`: a flash sale through the real Worker on the HA database (etcd, three
//! Patroni nodes, HAProxy: `scripts/ha-db` on free ports) while the primary fails, in phases
//! run one after the other on the same stack: the leader's postmaster killed (`SIGKILL`), then
//! the new leader's whole node frozen (`SIGSTOP`) and woken once another node leads, a
//! split-brain attempt. Each phase prints the seconds from the fault to the first sale, the
//! acknowledged orders missing on the new primary, stock + sold against the initial stock, the
//! keys with more than one order, what shoppers got while no primary took writes, and the
//! inventory reads answered. Exits non-zero if anything acknowledged is missing or any other
//! promise broke. The scenario is `e2e::failover_sale`, which the suite's `failover` test runs
//! shorter.

use std::time::Duration;

use e2e::failover_sale::{run_phase, Fault, HaStack, PhaseOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// SIGKILL to the leader's postmaster.
    Kill,
    /// SIGSTOP to the leader's node, SIGCONT after a new leader sells.
    Freeze,
}

#[derive(Debug, Clone)]
pub struct FailoverBench {
    pub shoppers: usize,
    pub before: Duration,
    pub after: Duration,
    pub phases: Vec<Phase>,
}

pub async fn run(bench: FailoverBench) -> anyhow::Result<()> {
    println!(
        "bench failover: {} shoppers through the Worker, one hot item, retries on 5xx under the \
         same Idempotency-Key as Retry-After asks; Patroni ttl 10 s, loop_wait 2 s, retry_timeout 3 s, \
         synchronous_mode on",
        bench.shoppers
    );
    let started = std::time::Instant::now();
    let stack = HaStack::start(10_000_000).await;
    println!(
        "HA stack (etcd, 3 Patroni nodes, HAProxy) and the product up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let options = PhaseOptions {
        shoppers: bench.shoppers,
        before: bench.before,
        after: bench.after,
        give_up: Duration::from_secs(90),
    };
    let mut broken = Vec::new();
    for phase in &bench.phases {
        let fault = match phase {
            Phase::Kill => Fault::KillPostmaster,
            Phase::Freeze => Fault::FreezeNode,
        };
        let report = run_phase(&stack, fault, options).await;
        println!("{}", report.lines().join("\n"));
        for violation in report.violations() {
            println!("  BROKEN: {violation}");
            broken.push(format!("{fault:?}: {violation}"));
        }
    }
    anyhow::ensure!(broken.is_empty(), "failover broke promises: {broken:?}");
    println!("every acknowledged order is on the new primary, in every phase");
    Ok(())
}
