//! `bench edge memo`: a million distinct client addresses through one isolate, as a bot that
//! rotates its address on every request sends them. Each one is a cached inventory read, so what
//! grows with the addresses is the isolate's memory of clients (`edge::isolate_memo`: read
//! tallies per client), not the origin's work. The run is cut into chunks; each prints its
//! throughput, latency and the workerd process's resident memory. Flat is the goal: the last
//! chunk against the first, in the same run (the memo this replaced kept every unexpired client
//! and scanned them all on each insert past 4,096).
//!
//! The bench sends every address once, 32 at a time, to 127.0.0.1, and stops by itself.

use std::{
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

/// One chunk's figures.
struct Chunk {
    requests: u64,
    seconds: f64,
    latency: Summary,
    failed: u64,
    workerd_rss_kib: Option<u64>,
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
        "Isolate memory under rotating addresses: {total} distinct IPv4 addresses, one cached \
         GET /api/inventory each, {IN_FLIGHT} in flight, {CHUNKS} chunks"
    );
    println!(
        "  {:>6} {:>10} {:>9} {:>9} {:>9} {:>8} {:>16}",
        "chunk", "requests", "req/s", "p50 ms", "p99 ms", "failed", "workerd RSS MiB"
    );
    let next = Arc::new(AtomicU64::new(0));
    let per_chunk = total.div_ceil(CHUNKS);
    let mut chunks = Vec::new();
    for index in 0..CHUNKS {
        let end = ((index + 1) * per_chunk).min(total);
        let chunk = send_until(&edge, &next, end).await?;
        println!(
            "  {:>6} {:>10} {:>9.0} {:>9.2} {:>9.2} {:>8} {:>16}",
            index + 1,
            chunk.requests,
            chunk.requests as f64 / chunk.seconds,
            millis(chunk.latency.p50),
            millis(chunk.latency.p99),
            chunk.failed,
            chunk.workerd_rss_kib.map_or_else(
                || "-".to_owned(),
                |kib| format!("{:.1}", kib as f64 / 1024.0)
            )
        );
        chunks.push(chunk);
    }
    if let (Some(first), Some(last)) = (chunks.first(), chunks.last()) {
        let p99 = millis(last.latency.p99) / millis(first.latency.p99);
        println!("  last chunk vs first: p99 {p99:.2}x");
        if let (Some(a), Some(b)) = (first.workerd_rss_kib, last.workerd_rss_kib) {
            println!(
                "  workerd RSS: {:.1} MiB after the first chunk, {:.1} MiB after the last ({:+.1} MiB)",
                a as f64 / 1024.0,
                b as f64 / 1024.0,
                (b as f64 - a as f64) / 1024.0
            );
        }
    }
    let failed: u64 = chunks.iter().map(|chunk| chunk.failed).sum();
    anyhow::ensure!(failed == 0, "{failed} requests failed");
    Ok(())
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
            let mut failed = 0_u64;
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
                let ok = match answer {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                failed += u64::from(!ok);
                latencies.push(sent.elapsed());
            }
            (latencies, failed)
        });
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    while let Some(done) = senders.join_next().await {
        let (mine, my_failed) = done?;
        latencies.extend(mine);
        failed += my_failed;
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
