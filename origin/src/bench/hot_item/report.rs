//! The hot-item table: one row per mode, with its ratio to the same level's row-lock baseline.

use std::time::Duration;

use super::{load::LoadResult, Options};
use crate::bench::stats::Summary;

/// One mode's figures.
pub struct Row {
    pub level: &'static str,
    pub mode: &'static str,
    pub result: LoadResult,
    pub summary: Summary,
    pub oversell: bool,
    pub drain_per_second: Option<f64>,
}

impl Row {
    pub fn at(mut self, level: &'static str) -> Self {
        self.level = level;
        self
    }

    fn per_second(&self) -> f64 {
        (self.result.confirmed + self.result.accepted) as f64 / self.result.elapsed.as_secs_f64()
    }
}

pub fn print_table(rows: &[Row], opts: Options) {
    println!(
        "hot item: {} concurrent buyers of one item, {} s per mode, pool of {} connections, group commit up to {} per batch, queue drained by {} workers x {} per claim",
        opts.concurrency, opts.seconds, opts.pool_size, opts.max_batch, opts.queue_workers, opts.queue_batch
    );
    println!(
        "{:<11} {:<13} {:>12} {:>9} {:>9} {:>9} {:>6} {:>9} {:>11} {:>12}",
        "level",
        "mode",
        "purchases/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "5xx",
        "oversell",
        "vs row-lock",
        "drain/s"
    );
    for row in rows {
        let baseline = rows
            .iter()
            .find(|r| r.level == row.level && r.mode == "row-lock")
            .map(Row::per_second)
            .unwrap_or(f64::NAN);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<11} {:<13} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>6} {:>9} {:>10.1}x {:>12}",
            row.level,
            row.mode,
            row.per_second(),
            ms(row.summary.p50),
            ms(row.summary.p99),
            ms(row.summary.max),
            row.result.server_errors,
            if row.oversell { "VIOLATED" } else { "0" },
            row.per_second() / baseline,
            row.drain_per_second
                .map(|d| format!("{d:.0}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!("(queue rows: purchases/s and latency are the 202 enqueue; drain/s is the workers applying them)");
}
