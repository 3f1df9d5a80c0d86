//! Open-loop pacing: jobs started at a fixed rate whatever the answers, so a slow answer cannot
//! slow the asking down and hide itself (a closed loop would send less exactly when the Worker
//! is slowest). A cap on jobs in flight bounds what a stalled Worker can pile up; a tick that
//! finds the cap reached is skipped and counted, never queued.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::Semaphore, task::JoinSet};

/// When the pacing stops starting jobs.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many jobs.
    Count(usize),
    /// At this instant.
    Deadline(Instant),
}

/// What the jobs returned, and how many ticks found the cap reached.
#[derive(Debug)]
pub struct Paced<T> {
    pub done: Vec<T>,
    pub skipped: usize,
}

/// Starts `job(n)` `per_second` times a second until `until`, at most `in_flight` at once, and
/// waits for all of them.
pub async fn paced<T, F, Fut>(per_second: f64, until: Until, in_flight: usize, job: F) -> Paced<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut jobs = JoinSet::new();
    let mut skipped = 0;
    for n in 0.. {
        let over = match until {
            Until::Count(count) => {
                ticks.tick().await;
                n >= count
            }
            // A tick due after the deadline is not waited for.
            Until::Deadline(deadline) => {
                tokio::time::timeout_at(deadline.into(), ticks.tick())
                    .await
                    .is_err()
                    || Instant::now() >= deadline
            }
        };
        if over {
            break;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let running = job(n);
        jobs.spawn(async move {
            let done = running.await;
            drop(permit);
            done
        });
    }
    let mut done = Vec::with_capacity(jobs.len());
    while let Some(finished) = jobs.join_next().await {
        match finished {
            Ok(value) => done.push(value),
            // A job that panicked would vanish from every count: stop the bench instead.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a paced job was cancelled: {error}"),
        }
    }
    Paced { done, skipped }
}
