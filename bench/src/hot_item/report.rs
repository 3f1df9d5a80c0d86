//! The hot-item tables: one row per mode, with its ratio to the same level's row-lock baseline;
//! and, with `--token-alg`, one row per token algorithm and way of calling, with its ratio to
//! HS256 called the same way.

use std::time::Duration;

use api::token::KeyAlgorithm;

use super::{load::LoadResult, raw_sql, token_algorithms::Way, Options};
use crate::{cpu, stats::Summary};

/// One mode's figures.
pub struct Row {
    pub level: &'static str,
    pub mode: &'static str,
    pub result: LoadResult,
    pub summary: Summary,
    pub oversell: bool,
    pub drain_per_second: Option<f64>,
    /// Sales per committed transaction, on average (the reference's are its units).
    pub sales_per_batch: Option<f64>,
}

impl Row {
    pub fn at(mut self, level: &'static str) -> Self {
        self.level = level;
        self
    }

    /// Adds `other`'s run to this one, as one longer run.
    pub fn add(&mut self, other: Row) {
        self.result.add(other.result);
        self.summary = crate::stats::summarize(&mut self.result.latencies);
        self.oversell |= other.oversell;
    }

    fn answered(&self) -> u64 {
        self.result.confirmed + self.result.accepted
    }

    fn per_second(&self) -> f64 {
        self.answered() as f64 / self.result.elapsed.as_secs_f64()
    }

    /// Busy CPU time per purchase in microseconds: the machine's, and this process's.
    fn cpu_micros(&self) -> Option<(f64, f64)> {
        let cpu = self.result.cpu?;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / self.answered() as f64;
        (self.answered() > 0).then(|| (per(cpu.machine), per(cpu.process)))
    }

    /// This process's and Postgres's busy CPU time per purchase in microseconds: the part of
    /// the machine's figure that other work on the machine cannot inflate.
    fn ours_micros(&self) -> Option<f64> {
        let cpu = self.result.cpu?;
        let ours = cpu.process + cpu.postgres?;
        (self.answered() > 0).then(|| ours.as_secs_f64() * 1e6 / self.answered() as f64)
    }
}

/// `cost / reference`, printed as a ratio, or `-` when either is unknown.
fn ratio(cost: Option<f64>, reference: Option<f64>) -> String {
    match (cost, reference) {
        (Some(cost), Some(reference)) if reference > 0.0 => format!("{:.2}x", cost / reference),
        _ => "-".into(),
    }
}

/// A group-commit run over HTTP with tokens of one algorithm, called one way.
pub struct TokenRow {
    pub algorithm: KeyAlgorithm,
    pub way: Way,
    pub row: Row,
}

/// How much slower than the sealed ES256 and RS256 runs may be than HS256's (issue 17).
const SEALED_GOAL: f64 = 0.10;

pub fn print_token_table(rows: &[TokenRow], opts: Options) {
    println!(
        "token algorithms: group commit over HTTP, {} concurrent buyers of one item, two runs of {} s per row (order A B C C B A); sealed: as the Worker calls the origin (claims it verified, sealed for each request), direct: the full JWT, verified by the origin",
        opts.concurrency, opts.seconds
    );
    println!(
        "{:<6} {:<7} {:>12} {:>9} {:>9} {:>9} {:>6} {:>9} {:>9} {:>11} {:>10} {:>10}",
        "alg",
        "path",
        "purchases/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "5xx",
        "oversell",
        "vs HS256",
        "CPU us/buy",
        "of it here",
        "ceiling/s"
    );
    let hs256 = |way: Way| {
        rows.iter()
            .find(|r| r.way == way && r.algorithm == KeyAlgorithm::Hs256)
            .map_or(f64::NAN, |r| r.row.per_second())
    };
    let cores = cpu::cores();
    for token in rows {
        let row = &token.row;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cpu_micros = row.cpu_micros();
        println!(
            "{:<6} {:<7} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>6} {:>9} {:>8.2}x {:>11} {:>10} {:>10}",
            token.algorithm.name(),
            token.way.name(),
            row.per_second(),
            ms(row.summary.p50),
            ms(row.summary.p99),
            ms(row.summary.max),
            row.result.server_errors,
            if row.oversell { "VIOLATED" } else { "0" },
            row.per_second() / hs256(token.way),
            cpu_micros.map_or_else(|| "-".into(), |(us, _)| format!("{us:.0}")),
            cpu_micros.map_or_else(|| "-".into(), |(_, here)| format!("{here:.0}")),
            cpu_micros.map_or_else(|| "-".into(), |(us, _)| format!("{:.0}", cores as f64 * 1e6 / us)),
        );
    }
    let sealed: Vec<String> = rows
        .iter()
        .filter(|r| r.way == Way::Sealed && r.algorithm != KeyAlgorithm::Hs256)
        .map(|r| {
            let change = r.row.per_second() / hs256(Way::Sealed) - 1.0;
            let verdict = if change >= -SEALED_GOAL {
                "met"
            } else {
                "NOT met"
            };
            format!(
                "{} {:+.1} % ({verdict})",
                r.algorithm.name(),
                change * 100.0
            )
        })
        .collect();
    if !sealed.is_empty() {
        println!(
            "goal: sealed runs within {:.0} % of HS256: {}",
            SEALED_GOAL * 100.0,
            sealed.join(", ")
        );
    }
    println!("(sealed rows: the bench seals the claims as the Worker would, on its own CPU, counted in \"of it here\")");
}

pub fn print_table(rows: &[Row], opts: Options) {
    println!(
        "hot item: {} concurrent buyers of one item, {} s per mode, pool of {} connections, group commit up to {} per batch, queue drained by {} workers x {} per claim",
        opts.concurrency, opts.seconds, opts.pool_size, opts.max_batch, opts.queue_workers, opts.queue_batch
    );
    println!(
        "{:<11} {:<13} {:>12} {:>9} {:>9} {:>9} {:>6} {:>9} {:>11} {:>12} {:>8} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "level",
        "mode",
        "purchases/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "5xx",
        "oversell",
        "vs row-lock",
        "drain/s",
        "per tx",
        "CPU us/buy",
        "of it here",
        "ceiling/s",
        "vs raw-sql",
        "here+PG us",
        "vs raw-sql"
    );
    let cores = cpu::cores();
    let reference = rows.iter().find(|r| r.mode == raw_sql::MODE);
    let reference_machine = reference.and_then(|r| r.cpu_micros()).map(|(us, _)| us);
    let reference_ours = reference.and_then(Row::ours_micros);
    for row in rows {
        let baseline = rows
            .iter()
            .find(|r| r.level == row.level && r.mode == "row-lock")
            .map(Row::per_second)
            .unwrap_or(f64::NAN);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cpu_micros = row.cpu_micros();
        println!(
            "{:<11} {:<13} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>6} {:>9} {:>11} {:>12} {:>8} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10}",
            row.level,
            row.mode,
            row.per_second(),
            ms(row.summary.p50),
            ms(row.summary.p99),
            ms(row.summary.max),
            row.result.server_errors,
            if row.oversell { "VIOLATED" } else { "0" },
            if baseline.is_nan() {
                "-".to_owned()
            } else {
                format!("{:.1}x", row.per_second() / baseline)
            },
            row.drain_per_second
                .map(|d| format!("{d:.0}"))
                .unwrap_or_else(|| "-".into()),
            row.sales_per_batch
                .map_or_else(|| "-".into(), |n| format!("{n:.1}")),
            cpu_micros.map_or_else(|| "-".into(), |(us, _)| format!("{us:.0}")),
            cpu_micros.map_or_else(|| "-".into(), |(_, here)| format!("{here:.0}")),
            cpu_micros.map_or_else(|| "-".into(), |(us, _)| format!("{:.0}", cores as f64 * 1e6 / us)),
            ratio(cpu_micros.map(|(us, _)| us), reference_machine),
            row.ours_micros().map_or_else(|| "-".into(), |us| format!("{us:.1}")),
            ratio(row.ours_micros(), reference_ours),
        );
    }
    println!(
        "(raw-sql: the reference, plain SQL in a schema of its own, one client, {} units per transaction; its purchases are units, its latencies whole batches; vs raw-sql: CPU per purchase / the reference's CPU per unit, the figure of record)",
        raw_sql::UNITS_PER_BATCH
    );
    println!("(here+PG us: this process's and Postgres's busy CPU per purchase (the scratch database's backends, the cluster's WAL writer, checkpointer and background writer): the part other work on the machine cannot inflate; its ratio is the cross-check)");
    println!("(queue rows: purchases/s and latency are the 202 enqueue; drain/s is the workers applying them; their CPU columns count the load and the drain)");
    println!(
        "(per tx: sales per committed transaction, on average, from the batches' audit rows; a batch's fixed cost is shared by that many purchases)"
    );
    println!("{}", writes_per_sale(rows));
    println!(
        "(CPU us/buy: the whole machine's busy CPU time per purchase (load, origin and Postgres: user, nice, system, irq and softirq time of every core; steal, time the hypervisor gave other guests, is not counted); of it here: this process's share (the load, and the origin in-process or serving HTTP), the rest is mostly Postgres; ceiling/s: {cores} cores / CPU us/buy, the most this machine can do at that cost)"
    );
    let panicked: u64 = rows.iter().map(|r| r.result.panicked).sum();
    println!("(buyer tasks that panicked, their calls missing from every count: {panicked})");
}

/// What the reference writes per unit against what a purchase writes now, in rows: the
/// reference's yardstick is only fair if the two are told apart.
fn writes_per_sale(rows: &[Row]) -> String {
    let per_tx = |level: &str| {
        rows.iter()
            .find(|r| r.level == level && r.mode == "group-commit")
            .and_then(|r| r.sales_per_batch)
            .map(|n| format!("{:.2} {level}", 1.0 + 2.0 / n))
    };
    let measured: Vec<String> = ["in-process", "http"]
        .into_iter()
        .filter_map(per_tx)
        .collect();
    format!(
        "(writes per sale: the raw-sql reference stands for a sale's four writes, an order, an idempotency key and an audit row per unit and one stock decrement per transaction of {} units ({:.2} rows a unit); a purchase now writes one row of its own, its order, which is also its idempotency record, and shares its batch's one stock update and one audit row: 1 + 2 / per tx rows a sale{})",
        raw_sql::UNITS_PER_BATCH,
        3.0 + 1.0 / raw_sql::UNITS_PER_BATCH as f64,
        if measured.is_empty() {
            String::new()
        } else {
            format!(", {} in this run's group commit", measured.join(", "))
        }
    )
}
