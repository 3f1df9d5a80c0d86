//! `bench hot-item --levels ha`: what synchronous replication costs a sale. The same hot-item
//! sale over HTTP (group commit, the product's router served in this process, the same buyers)
//! runs against the single Postgres of `--database-url` and against the HA stack (three
//! Patroni nodes with `synchronous_mode` on, through HAProxy's primary port: `scripts/ha-db` on
//! free ports), alternating, in the same run. Side by side: sales/s, p99, the machine's CPU per
//! sale, and the HA stack's own processes (its three Postgres, Patroni, etcd, HAProxy), which
//! is what the standbys and their keepers cost on top of a primary when all share 2 cores.
//! Group commit should make the standby's round trip one per batch, not one per sale.

use std::{collections::BTreeMap, time::Duration};

use e2e::ha_cluster::HaCluster;
use origin::db::AppRole;

use super::{
    http::{bearer, Served},
    load::LoadResult,
    Bench,
};
use crate::scratch::with_scratch_database;

/// One load against one database.
struct Run {
    result: LoadResult,
    /// The HA stack's processes' CPU during the run, by kind.
    stack: BTreeMap<&'static str, Duration>,
    sales_per_batch: Option<f64>,
}

impl Run {
    fn sales(&self) -> f64 {
        self.result.confirmed as f64
    }

    fn per_second(&self) -> f64 {
        self.sales() / self.result.elapsed.as_secs_f64()
    }

    fn micros_per_sale(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.sales().max(1.0)
    }

    fn machine_micros(&self) -> f64 {
        self.result
            .cpu
            .map_or(f64::NAN, |cpu| self.micros_per_sale(cpu.machine))
    }

    fn stack_micros(&self) -> f64 {
        self.micros_per_sale(self.stack.values().sum())
    }

    fn line(&mut self, target: &str) -> String {
        let p99 = crate::stats::summarize(&mut self.result.latencies).p99;
        let parts: Vec<String> = self
            .stack
            .iter()
            .map(|(kind, cpu)| format!("{kind} {:.0}", self.micros_per_sale(*cpu)))
            .collect();
        format!(
            "  {target:<12} {:>8.0} sales/s  p99 {:>5.0} ms  {:>5.1} sales/batch  machine CPU {:>6.1} us/sale; HA stack processes {:>6.1} us/sale ({})  5xx {}",
            self.per_second(),
            p99.as_secs_f64() * 1e3,
            self.sales_per_batch.unwrap_or(f64::NAN),
            self.machine_micros(),
            self.stack_micros(),
            parts.join(", "),
            self.result.server_errors,
        )
    }
}

impl Bench {
    /// Runs the level: the HA stack started beside the single node, `rounds` pairs of runs.
    pub(super) async fn ha_runs(&self, role: &AppRole) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let ha = HaCluster::start().await;
        println!(
            "\nhot item over HTTP, group commit: single node vs the HA stack (3 Patroni nodes, synchronous_mode on, through HAProxy), {} buyers, {} s runs, alternating; HA stack up in {:.1} s",
            self.opts.concurrency,
            self.opts.seconds,
            started.elapsed().as_secs_f64()
        );
        let url = ha.primary_url("postgres");
        let stack = &ha;
        let outcome = with_scratch_database(&url, "hot_item_ha", |options, owner| async move {
            let replicated = Bench::new(&options, owner, role, self.opts).await?;
            let single_server = self.serve_over_http().await?;
            let replicated_server = replicated.serve_over_http().await?;
            let mut pairs = Vec::new();
            for round in 0..self.opts.rounds.max(1) {
                let mut single = self
                    .ha_level_run(&single_server, stack, "single", round)
                    .await?;
                let mut synced = replicated
                    .ha_level_run(&replicated_server, stack, "ha", round)
                    .await?;
                println!("round {}", round + 1);
                println!("{}", single.line("single node"));
                println!("{}", synced.line("HA stack"));
                pairs.push((single, synced));
            }
            print_ratios(&pairs);
            Ok(())
        })
        .await;
        let flaps: Vec<_> = ha
            .log("haproxy.log")
            .lines()
            .filter(|line| line.contains("Server primary/") && line.contains(" is DOWN"))
            .map(str::to_owned)
            .collect();
        println!(
            "HAProxy marked a primary down {} times (2 at start: the replicas; more: a loaded node's Patroni missed its health checks, and its sessions were cut)",
            flaps.len()
        );
        if outcome.is_err() {
            println!("{}", flaps.join("\n"));
        }
        outcome
    }

    async fn ha_level_run(
        &self,
        served: &Served,
        ha: &HaCluster,
        target: &str,
        round: usize,
    ) -> anyhow::Result<Run> {
        let item = self.new_item(&format!("HA-LEVEL-{target}-{round}")).await?;
        let before = stack_cpu(ha);
        let result = self
            .http_load(
                &served.product_url,
                item,
                bearer(served.tokens.clone()),
                false,
            )
            .await;
        let after = stack_cpu(ha);
        anyhow::ensure!(
            !self.oversold(item, result.confirmed).await?,
            "oversell on the {target} run"
        );
        let mut stack = BTreeMap::new();
        for (pid, (kind, cpu)) in &after {
            let earlier = before.get(pid).map_or(Duration::ZERO, |(_, cpu)| *cpu);
            *stack.entry(*kind).or_default() += cpu.saturating_sub(earlier);
        }
        Ok(Run {
            result,
            stack,
            sales_per_batch: self.sales_per_batch(item).await?,
        })
    }
}

fn print_ratios(pairs: &[(Run, Run)]) {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let rate = median(
        pairs
            .iter()
            .map(|(s, h)| h.per_second() / s.per_second())
            .collect(),
    );
    let cpu = median(
        pairs
            .iter()
            .map(|(s, h)| h.machine_micros() / s.machine_micros())
            .collect(),
    );
    let idle = median(pairs.iter().map(|(s, _)| s.stack_micros()).collect());
    println!(
        "HA vs single node, median of {} rounds: sales/s {:.2}x ({:+.0} %; goal at most 15 % fewer), machine CPU per sale {:.2}x; the idle HA stack during the single-node runs: {:.1} us per single-node sale",
        pairs.len(),
        rate,
        (rate - 1.0) * 100.0,
        cpu,
        idle
    );
}

/// CPU so far of every live process of the HA stack, by pid: whatever runs under its
/// directory (etcd, Patroni, each postmaster, HAProxy, the script) and their children
/// (Postgres backends, WAL senders and receivers).
#[cfg(target_os = "linux")]
fn stack_cpu(ha: &HaCluster) -> BTreeMap<i32, (&'static str, Duration)> {
    let dir = ha.dir().display().to_string();
    let ticks = |n: u64| Duration::from_micros(n * 1_000_000 / procfs::ticks_per_second());
    let Ok(all) = procfs::process::all_processes() else {
        return BTreeMap::new();
    };
    let all: Vec<_> = all
        .flatten()
        .filter_map(|process| {
            let stat = process.stat().ok()?;
            let cmdline = process.cmdline().ok()?.join(" ");
            Some((stat, cmdline))
        })
        .collect();
    let mut members: Vec<i32> = all
        .iter()
        .filter(|(_, cmdline)| cmdline.contains(&dir))
        .map(|(stat, _)| stat.pid)
        .collect();
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        members.extend(
            all.iter()
                .filter(|(stat, _)| stat.ppid == parent && !members.contains(&stat.pid))
                .map(|(stat, _)| stat.pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    all.iter()
        .filter(|(stat, _)| members.contains(&stat.pid))
        .map(|(stat, cmdline)| {
            let kind = match stat.comm.as_str() {
                "postgres" => "postgres",
                "etcd" => "etcd",
                "haproxy" => "haproxy",
                _ if cmdline.contains("patroni") => "patroni",
                _ => "other",
            };
            (stat.pid, (kind, ticks(stat.utime + stat.stime)))
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn stack_cpu(_ha: &HaCluster) -> BTreeMap<i32, (&'static str, Duration)> {
    BTreeMap::new()
}
