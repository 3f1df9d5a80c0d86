//! Where a phase's CPU time went. The load, the origin (in this process), the Worker (node and
//! its workerd) and Postgres share two cores, so a latency that grows under attack is either
//! our code spending more per request or a machine with no core left; these figures tell the
//! two apart. Read from `/proc` (Linux); elsewhere the figures are unknown.
//!
//! The Worker is every process of the launcher's process group; Postgres is the backends
//! serving the bench's scratch database (their process title names it). A process that exits
//! during a phase takes its time with it, which neither group does here.

use std::time::Duration;

/// Busy CPU time, summed over cores.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuShares {
    /// Every process on the machine (other builders included).
    pub machine: Duration,
    /// This process: the load generator and the in-process origin.
    pub bench: Duration,
    /// The Worker: node (miniflare) and workerd.
    pub edge: Duration,
    /// Of it, workerd's main thread, which runs every request of the isolate, the limiter
    /// object and miniflare's emulation of the cache and storage: at one core, requests queue
    /// however many cores are idle.
    pub workerd_main_thread: Duration,
    /// How long that thread was ready to run but waited for a core (the scheduler's
    /// `run_delay`): what other processes took from it.
    pub workerd_main_thread_waiting: Duration,
    /// The Postgres backends of the bench's database.
    pub postgres: Duration,
}

impl CpuShares {
    /// What no counted group spent: other processes on the machine, the kernel's own work.
    pub fn rest(&self) -> Duration {
        self.machine
            .saturating_sub(self.bench + self.edge + self.postgres)
    }

    fn since(self, start: Self) -> Self {
        Self {
            machine: self.machine.saturating_sub(start.machine),
            bench: self.bench.saturating_sub(start.bench),
            edge: self.edge.saturating_sub(start.edge),
            workerd_main_thread: self
                .workerd_main_thread
                .saturating_sub(start.workerd_main_thread),
            workerd_main_thread_waiting: self
                .workerd_main_thread_waiting
                .saturating_sub(start.workerd_main_thread_waiting),
            postgres: self.postgres.saturating_sub(start.postgres),
        }
    }
}

/// Which processes are whose.
#[derive(Debug, Clone)]
pub struct Groups {
    /// The process group of the Worker's launcher.
    pub edge_group: Option<u32>,
    /// The scratch database, as Postgres backends name it in their title.
    pub database: String,
}

/// Measures the groups' CPU time from its start until [`PhaseMeter::stop`].
#[derive(Debug)]
pub struct PhaseMeter<'a> {
    groups: &'a Groups,
    start: Option<CpuShares>,
}

impl<'a> PhaseMeter<'a> {
    pub fn start(groups: &'a Groups) -> Self {
        Self {
            groups,
            start: so_far(groups),
        }
    }

    pub fn stop(self) -> Option<CpuShares> {
        Some(so_far(self.groups)?.since(self.start?))
    }
}

#[cfg(target_os = "linux")]
fn so_far(groups: &Groups) -> Option<CpuShares> {
    use crate::cpu::{clock_ticks, machine_busy};
    let me = std::process::id();
    let edge_group = groups.edge_group.and_then(|id| i32::try_from(id).ok());
    let title = format!(" {} ", groups.database);
    let mut shares = CpuShares {
        machine: machine_busy()?,
        ..CpuShares::default()
    };
    for process in procfs::process::all_processes().ok()?.flatten() {
        let Ok(stat) = process.stat() else { continue };
        let spent = clock_ticks(stat.utime + stat.stime);
        if u32::try_from(stat.pid).is_ok_and(|pid| pid == me) {
            shares.bench += spent;
        } else if Some(stat.pgrp) == edge_group {
            shares.edge += spent;
            if stat.comm == "workerd" {
                if let Ok(main) = process.task_main_thread().and_then(|task| task.schedstat()) {
                    shares.workerd_main_thread += Duration::from_nanos(main.sum_exec_runtime);
                    shares.workerd_main_thread_waiting += Duration::from_nanos(main.run_delay);
                }
            }
        } else if stat.comm == "postgres"
            && process
                .cmdline()
                .is_ok_and(|args| args.join(" ").contains(&title))
        {
            shares.postgres += spent;
        }
    }
    Some(shares)
}

#[cfg(not(target_os = "linux"))]
fn so_far(_: &Groups) -> Option<CpuShares> {
    None
}
