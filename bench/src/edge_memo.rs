//! `bench edge memo`: a million distinct client addresses through one isolate, as a bot that
//! rotates its address on every request sends them. Each one is a cached inventory read, so what
//! grows with the addresses is the isolate's memory of clients (`edge::isolate_memo`: read
//! tallies per client), not the origin's work. The run is cut into chunks; each prints its
//! throughput, latency and the workerd process's resident memory. Flat is the goal: the last
//! chunk against the baseline, in the same run (the memo this replaced kept every unexpired
//! client and scanned them all on each insert past 4,096). The baseline is a first chunk of
//! `BASELINE_ADDRESSES`, fewer than the memo holds (`MEMO_CAPACITY`), with workerd's memory
//! read before it as well as after: what the isolate costs before the memo is full. Failed
//! requests are counted by status, so a refusal can be told from a timeout.
//!
//! The bench sends every address once, 32 at a time, to 127.0.0.1, and stops by itself.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use e2e::{Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use serde_json::json;
use sqlx::PgPool;

use crate::stats::{summarize, Summary};

const SHOP: &str = "memo.bench.test";
const IN_FLIGHT: usize = 32;
const CHUNKS: u64 = 10;
/// Clients the isolate's memo keeps per kind (`edge::isolate_memo::CAPACITY`).
const MEMO_CAPACITY: u64 = 16_384;
/// The baseline chunk's addresses: well below the memo's capacity, so it never evicts.
const BASELINE_ADDRESSES: u64 = 10_000;

/// One chunk's figures.
struct Chunk {
    requests: u64,
    seconds: f64,
    latency: Summary,
    /// Requests not answered 2xx, by status (`none (cause)`: no answer).
    failed: BTreeMap<String, u64>,
    workerd_rss_kib: Option<u64>,
}

impl Chunk {
    fn failed(&self) -> u64 {
        self.failed.values().sum()
    }

    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

pub async fn distinct_addresses(owner: &PgPool, total: u64) -> anyhow::Result<()> {
    let shop = Shop::create(owner, SHOP, &[("CHAIR", 10), ("LAMP", 10)]).await;
    let keys = TestKeys::new();
    let origin = OriginServer::start(owner, &keys).await;
    // Answers stay cached for the whole run, and no quota is reached: every request costs the
    // Worker its full path (tenant, limiter tally, cache), never a refusal or an origin read.
    let config = EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
        .var("INVENTORY_CACHE_TTL_SECONDS", "3600")
        .shop_rate_limits(shop.org_id, json!({"shop_read": "unlimited"}));
    let edge = Arc::new(Edge::start_with(config).await);
    let warm = edge.get(SHOP, "/api/inventory").send().await?;
    anyhow::ensure!(
        warm.status().is_success(),
        "warm-up read: {}",
        warm.status()
    );

    println!(
        "Isolate memory under rotating addresses: a baseline of {BASELINE_ADDRESSES} (below the memo's {MEMO_CAPACITY} clients), then {total} more distinct IPv4 addresses, one cached \
         GET /api/inventory each, {IN_FLIGHT} in flight, {CHUNKS} chunks"
    );
    println!(
        "  {:>8} {:>10} {:>9} {:>9} {:>9} {:>8} {:>16}",
        "chunk", "requests", "req/s", "p50 ms", "p99 ms", "failed", "workerd RSS MiB"
    );
    let before = edge.process_group().and_then(workerd_rss_kib);
    println!(
        "  {:>8} {:>10} {:>9} {:>9} {:>9} {:>8} {:>16}",
        "before",
        "-",
        "-",
        "-",
        "-",
        "-",
        mib(before)
    );
    let next = Arc::new(AtomicU64::new(0));
    let baseline = send_until(&edge, &next, BASELINE_ADDRESSES).await?;
    print_chunk("baseline", &baseline);
    let per_chunk = total.div_ceil(CHUNKS);
    let mut chunks = Vec::new();
    for index in 0..CHUNKS {
        let end = BASELINE_ADDRESSES + ((index + 1) * per_chunk).min(total);
        let chunk = send_until(&edge, &next, end).await?;
        print_chunk(&(index + 1).to_string(), &chunk);
        chunks.push(chunk);
    }
    if let Some(last) = chunks.last() {
        println!(
            "  last chunk vs baseline: p99 {:.2}x, req/s {:.2}x",
            millis(last.latency.p99) / millis(baseline.latency.p99),
            last.per_second() / baseline.per_second()
        );
        println!(
            "  workerd RSS: {} MiB before the baseline, {} MiB after it, {} MiB after the first chunk, {} MiB after the last",
            mib(before),
            mib(baseline.workerd_rss_kib),
            mib(chunks.first().and_then(|c| c.workerd_rss_kib)),
            mib(last.workerd_rss_kib)
        );
    }
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    for chunk in std::iter::once(&baseline).chain(&chunks) {
        for (status, count) in &chunk.failed {
            *failed.entry(status.clone()).or_default() += count;
        }
    }
    let total_failed: u64 = failed.values().sum();
    println!("  answers not 2xx, by status: {failed:?}");
    anyhow::ensure!(
        total_failed == 0,
        "{total_failed} requests failed: {failed:?}"
    );
    Ok(())
}

fn print_chunk(name: &str, chunk: &Chunk) {
    println!(
        "  {:>8} {:>10} {:>9.0} {:>9.2} {:>9.2} {:>8} {:>16}",
        name,
        chunk.requests,
        chunk.per_second(),
        millis(chunk.latency.p50),
        millis(chunk.latency.p99),
        chunk.failed(),
        mib(chunk.workerd_rss_kib)
    );
}

/// The innermost cause of a request that got no answer (a reset, a refused connection, ...).
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_owned(),
        |kib| format!("{:.1}", kib as f64 / 1024.0),
    )
}

/// Sends addresses `next..end`, `IN_FLIGHT` at a time.
async fn send_until(edge: &Arc<Edge>, next: &Arc<AtomicU64>, end: u64) -> anyhow::Result<Chunk> {
    let started = Instant::now();
    let first = next.load(Ordering::SeqCst);
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (edge, next) = (edge.clone(), next.clone());
        senders.spawn(async move {
            let mut latencies = Vec::new();
            let mut failed: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= end {
                    break;
                }
                let sent = Instant::now();
                let answer = edge
                    .get(SHOP, "/api/inventory")
                    .header("cf-connecting-ip", address(n))
                    .send()
                    .await;
                let failure = match answer {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.err().map(|_| "body cut".to_owned())
                    }
                    Ok(response) => Some(response.status().as_u16().to_string()),
                    Err(error) if error.is_timeout() => Some("timeout".to_owned()),
                    Err(error) => Some(format!("none ({})", innermost(&error))),
                };
                if let Some(status) = failure {
                    *failed.entry(status).or_default() += 1;
                }
                latencies.push(sent.elapsed());
            }
            (latencies, failed)
        });
    }
    let mut latencies = Vec::new();
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(done) = senders.join_next().await {
        let (mine, my_failed) = done?;
        latencies.extend(mine);
        for (status, count) in my_failed {
            *failed.entry(status).or_default() += count;
        }
    }
    next.store(end, Ordering::SeqCst);
    Ok(Chunk {
        requests: end - first,
        seconds: started.elapsed().as_secs_f64(),
        latency: summarize(&mut latencies),
        failed,
        workerd_rss_kib: edge.process_group().and_then(workerd_rss_kib),
    })
}

/// The `n`th address: 10.0.0.0/8 and on into 11.0.0.0/8, each used once.
fn address(n: u64) -> String {
    let n = u32::try_from(n).unwrap_or(u32::MAX).wrapping_add(10 << 24);
    std::net::Ipv4Addr::from(n).to_string()
}

/// Resident memory of the workerd processes in process group `pgid` (miniflare's runtime).
fn workerd_rss_kib(pgid: u32) -> Option<u64> {
    let pgid = i32::try_from(pgid).ok()?;
    let page_kib = procfs::page_size() / 1024;
    let total = procfs::process::all_processes()
        .ok()?
        .filter_map(|process| {
            let process = process.ok()?;
            let stat = process.stat().ok()?;
            (stat.pgrp == pgid && stat.comm.contains("workerd")).then_some(stat.rss * page_kib)
        })
        .sum();
    Some(total)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
