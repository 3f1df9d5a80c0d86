//! Busy CPU time over a stretch of a bench: the whole machine's, and this process's.
//!
//! On one machine the load, the origin and Postgres share the same cores, so a throughput
//! figure means little without what each purchase cost them together: `cores / cost` is the
//! most any design can reach there, and says whether a target is a matter of code or of
//! hardware. This process's share (the load and, in-process, the origin) tells the rest apart:
//! mostly Postgres. Read from `/proc` (Linux); elsewhere the figures are unknown.

use std::time::Duration;

/// Busy CPU time so far.
#[derive(Debug, Clone, Copy)]
struct Busy {
    /// Summed over every core, in every state but idle and I/O wait.
    machine: Duration,
    /// This process's user and system time.
    process: Duration,
}

#[cfg(target_os = "linux")]
fn busy_so_far() -> Option<Busy> {
    let me = procfs::process::Process::myself().ok()?.stat().ok()?;
    Some(Busy {
        machine: machine_busy()?,
        process: clock_ticks(me.utime + me.stime),
    })
}

#[cfg(not(target_os = "linux"))]
fn busy_so_far() -> Option<Busy> {
    None
}

/// The machine's busy CPU time since boot, summed over every core.
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
            t.steal.unwrap_or(0),
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
        })
    }
}

/// How many cores this machine has, for the ceiling `cores / cost`.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
