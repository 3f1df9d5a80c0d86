//! Busy CPU time over a stretch of a bench: the whole machine's, and this process's.
//!
//! On one machine the load, the origin and Postgres share the same cores, so a throughput
//! figure means little without what each purchase cost them together: `cores / cost` is the
//! most any design can reach there, and says whether a target is a matter of code or of
//! hardware. This process's share (the load and, in-process, the origin) tells the rest apart:
//! mostly Postgres. Once a bench names its scratch database (`watch_postgres`), Postgres's share
//! is read too: on a machine shared with other work, this process plus Postgres is the part of
//! the machine's figure that other processes cannot inflate. Read from `/proc` (Linux);
//! elsewhere the figures are unknown.

use std::{sync::OnceLock, time::Duration};

/// The scratch database whose Postgres processes the meters count, as their titles name it.
static WATCHED_DATABASE: OnceLock<String> = OnceLock::new();

/// From now on every meter also counts Postgres's share: the backends and autovacuum workers of
/// `database`, and the cluster's WAL writer, checkpointer and background writer (which write
/// for every database, this bench's nearly alone while it runs).
pub fn watch_postgres(database: &str) {
    let _ = WATCHED_DATABASE.set(format!(" {database}"));
}

/// Busy CPU time so far.
#[derive(Debug, Clone, Copy)]
struct Busy {
    /// Summed over every core, in every state but idle, I/O wait and steal.
    machine: Duration,
    /// This process's user and system time.
    process: Duration,
    /// Postgres's, when a database is watched.
    postgres: Option<Duration>,
}

#[cfg(target_os = "linux")]
fn busy_so_far() -> Option<Busy> {
    let me = procfs::process::Process::myself().ok()?.stat().ok()?;
    Some(Busy {
        machine: machine_busy()?,
        process: clock_ticks(me.utime + me.stime),
        postgres: WATCHED_DATABASE
            .get()
            .and_then(|title| postgres_busy(title)),
    })
}

/// The busy time of the Postgres processes that serve the database `title` names, and of the
/// cluster's writers.
#[cfg(target_os = "linux")]
fn postgres_busy(title: &str) -> Option<Duration> {
    const WRITERS: [&str; 3] = ["walwriter", "checkpointer", "background writer"];
    let mut total = Duration::ZERO;
    for process in procfs::process::all_processes().ok()?.flatten() {
        let Ok(stat) = process.stat() else { continue };
        if stat.comm != "postgres" {
            continue;
        }
        let Ok(args) = process.cmdline() else {
            continue;
        };
        let args = args.join(" ");
        let ours = args.contains(title) || WRITERS.iter().any(|w| args.trim_end().ends_with(w));
        if ours {
            total += clock_ticks(stat.utime + stat.stime);
        }
    }
    Some(total)
}

#[cfg(not(target_os = "linux"))]
fn busy_so_far() -> Option<Busy> {
    None
}

/// The machine's busy CPU time since boot, summed over every core: user, nice, system, irq
/// and softirq. Steal is left out: it is time the hypervisor ran another guest while this one
/// wanted a core, so it grows with the neighbours' load, not with the work measured.
#[cfg(target_os = "linux")]
pub fn machine_busy() -> Option<Duration> {
    use procfs::CurrentSI;
    let t = procfs::KernelStats::current().ok()?.total;
    Some(
        [
            t.user,
            t.nice,
            t.system,
            t.irq.unwrap_or(0),
            t.softirq.unwrap_or(0),
        ]
        .into_iter()
        .map(clock_ticks)
        .sum(),
    )
}

/// `n` clock ticks (the unit of `/proc`'s CPU times) as a duration.
#[cfg(target_os = "linux")]
pub fn clock_ticks(n: u64) -> Duration {
    Duration::from_micros(n * 1_000_000 / procfs::ticks_per_second())
}

/// CPU time spent while a meter ran.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub machine: Duration,
    pub process: Duration,
    /// Postgres's share, when a database is watched (`watch_postgres`).
    pub postgres: Option<Duration>,
}

/// Measures busy CPU time from its start until [`CpuMeter::stop`].
#[derive(Debug)]
pub struct CpuMeter(Option<Busy>);

impl CpuMeter {
    pub fn start() -> Self {
        Self(busy_so_far())
    }

    /// The CPU time spent since the start, if it could be read.
    pub fn stop(self) -> Option<CpuUse> {
        let (start, end) = (self.0?, busy_so_far()?);
        Some(CpuUse {
            machine: end.machine.saturating_sub(start.machine),
            process: end.process.saturating_sub(start.process),
            postgres: end
                .postgres
                .zip(start.postgres)
                .map(|(end, start)| end.saturating_sub(start)),
        })
    }
}

/// Time this process's threads have spent on a CPU, to the nanosecond (the scheduler's own
/// account, `/proc/self/task/*/schedstat`): fine enough for costs of microseconds a second,
/// which the tick-counted figures above round away. Threads that ended are not counted.
#[cfg(target_os = "linux")]
pub fn process_on_cpu() -> Option<Duration> {
    let mut total = 0_u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let schedstat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

#[cfg(not(target_os = "linux"))]
pub fn process_on_cpu() -> Option<Duration> {
    None
}

/// CPU time (user and system) spent so far by the live processes of process group `pgid`: a
/// server of another process and its children, such as miniflare and its workerd.
#[cfg(target_os = "linux")]
pub fn process_group_cpu(pgid: u32) -> Option<Duration> {
    let ticks = |n: u64| Duration::from_micros(n * 1_000_000 / procfs::ticks_per_second());
    let pgid = i32::try_from(pgid).ok()?;
    let total = procfs::process::all_processes()
        .ok()?
        .filter_map(|process| process.ok()?.stat().ok())
        .filter(|stat| stat.pgrp == pgid)
        .map(|stat| ticks(stat.utime + stat.stime))
        .sum();
    Some(total)
}

#[cfg(not(target_os = "linux"))]
pub fn process_group_cpu(_pgid: u32) -> Option<Duration> {
    None
}

/// How many cores this machine has, for the ceiling `cores / cost`.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
