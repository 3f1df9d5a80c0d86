//! A closed-loop load: `concurrency` tasks each call as fast as answers come back, for a fixed
//! time, recording every call's latency and how it was answered.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::cpu::{CpuMeter, CpuUse};

/// How one call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Confirmed,
    Accepted,
    Refused,
    ServerError,
}

#[derive(Debug, Default)]
pub struct LoadResult {
    pub latencies: Vec<Duration>,
    pub confirmed: u64,
    pub accepted: u64,
    pub refused: u64,
    pub server_errors: u64,
    /// Buyer tasks that panicked: their calls are in none of the counts above.
    pub panicked: u64,
    pub elapsed: Duration,
    /// Busy CPU time while the load ran: the machine's (load, origin and Postgres) and ours.
    pub cpu: Option<CpuUse>,
}

impl LoadResult {
    /// Adds `other`'s calls, time and CPU to these, as one longer run.
    pub fn add(&mut self, other: LoadResult) {
        self.latencies.extend(other.latencies);
        self.confirmed += other.confirmed;
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.server_errors += other.server_errors;
        self.panicked += other.panicked;
        self.elapsed += other.elapsed;
        self.add_cpu(other.cpu);
    }

    /// Adds CPU time spent on these purchases outside the load (a queue's drain).
    pub fn add_cpu(&mut self, other: Option<CpuUse>) {
        self.cpu = match (self.cpu, other) {
            (Some(mine), Some(theirs)) => Some(CpuUse {
                machine: mine.machine + theirs.machine,
                process: mine.process + theirs.process,
                postgres: mine.postgres.zip(theirs.postgres).map(|(a, b)| a + b),
            }),
            _ => None,
        };
    }
}

/// Runs `call(task, n)` from `concurrency` tasks for `duration`.
pub async fn run<F, Fut>(concurrency: usize, duration: Duration, call: F) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send,
{
    let call = Arc::new(call);
    let cpu = CpuMeter::start();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..concurrency {
        let call = call.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let answer = call(task, n).await;
                mine.push((t.elapsed(), answer));
                n += 1;
            }
            mine
        });
    }
    let mut result = LoadResult::default();
    while let Some(done) = tasks.join_next().await {
        let Ok(calls) = done else {
            result.panicked += 1;
            continue;
        };
        for (latency, answer) in calls {
            result.latencies.push(latency);
            match answer {
                Answer::Confirmed => result.confirmed += 1,
                Answer::Accepted => result.accepted += 1,
                Answer::Refused => result.refused += 1,
                Answer::ServerError => result.server_errors += 1,
            }
        }
    }
    result.elapsed = started.elapsed();
    result.cpu = cpu.stop();
    result
}
