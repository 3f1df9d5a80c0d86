//! `bench edge domains`: a flood of made-up hostnames beside honest readers of a real shop.
//!
//! 10,000 requests, each for a random hostname no shop has, from 100 client addresses (100
//! each), 32 in flight, while 8 honest readers read a live custom domain's `GET /api/inventory`
//! one request at a time. Printed: how the flood was answered (`404` unknown shop, `429` past
//! the sender's lookup budget), how many host lookups reached the origin, and the honest
//! readers' p50/p99 during the flood against a quiet run of the same readers just before, in
//! the same run. The origin's host lookup is the test harness's stand-in (`HostDirectory`,
//! which checks the edge's proof); the shop behind the live domain is the real origin.
//! All load goes to 127.0.0.1 and stops by itself.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use api::domains::HostLookup;
use e2e::{
    edge_hop::{edge_secret, EDGE_SECRET},
    origin_server::app_pool,
    Edge, EdgeConfig, HostDirectory, OriginServer, Shop, TestKeys,
};
use origin::AppState;
use sqlx::PgPool;
use tokio::task::JoinSet;

use crate::stats::{summarize, Summary};

const LIVE: &str = "chairs.domains-bench.test";
const FLOOD_REQUESTS: usize = 10_000;
const FLOOD_ADDRESSES: usize = 100;
const FLOOD_IN_FLIGHT: usize = 32;
const HONEST_READERS: usize = 8;
const QUIET_SECONDS: u64 = 5;

pub async fn run(owner: &PgPool) -> anyhow::Result<()> {
    let keys = TestKeys::new();
    let shop = Shop::create(owner, "home.domains-bench.test", &[("CHAIR", 10)]).await;
    let directory = HostDirectory::default();
    directory.set(
        LIVE,
        HostLookup {
            org_id: Some(shop.org_id),
            ..HostLookup::default()
        },
    );
    let state = AppState::new(app_pool(owner).await, keys.verifier())
        .with_edge_secret(Some(edge_secret(EDGE_SECRET)));
    let origin = OriginServer::start_in_front(state, directory.router(EDGE_SECRET)).await;
    // The shipped dev-stack bounds; the readers' quota is never reached. KV and the cache in
    // memory, as in the other edge benches: Cloudflare's storage never runs on the Worker's
    // thread, miniflare's on a slow disk would.
    let config = EdgeConfig::new(&origin.url, &[], &keys)
        .var("EDGE_SHARED_SECRET", EDGE_SECRET)
        .var("DOMAIN_CACHE_SECONDS", "5")
        .var("DOMAIN_NEGATIVE_SECONDS", "2")
        .var("DOMAIN_LOOKUPS_PER_MINUTE", "30")
        .shop_rate_limits(
            shop.org_id,
            serde_json::json!({"read": "unlimited", "shop_read": "unlimited"}),
        )
        .storage_in_memory();
    let edge = Arc::new(Edge::start_with(config).await);
    let warm = edge.get(LIVE, "/api/inventory").send().await?;
    anyhow::ensure!(warm.status().is_success(), "warm-up: {}", warm.status());

    println!(
        "Custom domains under a flood of unknown hostnames: {FLOOD_REQUESTS} random hostnames \
         from {FLOOD_ADDRESSES} addresses ({FLOOD_IN_FLIGHT} in flight) beside \
         {HONEST_READERS} honest readers of {LIVE}"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let readers = honest_readers(&edge, &stop);
    tokio::time::sleep(Duration::from_secs(QUIET_SECONDS)).await;
    stop.store(true, Ordering::SeqCst);
    let quiet = collect(readers).await?;

    let lookups_before = directory.asked_in_all();
    let stop = Arc::new(AtomicBool::new(false));
    let readers = honest_readers(&edge, &stop);
    let started = Instant::now();
    let flood = flood(&edge).await?;
    let flood_seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let busy = collect(readers).await?;
    let lookups = directory.asked_in_all() - lookups_before - directory.asked(LIVE);

    println!(
        "  flood: {} requests in {flood_seconds:.1} s: {} x 404 unknown shop, {} x 429 over \
         budget, {} other",
        FLOOD_REQUESTS, flood.unknown, flood.over_budget, flood.other
    );
    let minutes = (flood_seconds / 60.0).ceil();
    println!(
        "  host lookups that reached the origin: {lookups} (at most {:.0} by the budget: \
         {FLOOD_ADDRESSES} addresses x 30 a minute x {minutes:.0} min)",
        FLOOD_ADDRESSES as f64 * 30.0 * minutes
    );
    let row = |name: &str, run: &Readers| {
        println!(
            "  honest reads {name:>11}: {:>6} reads, {:>3} failed, p50 {:>7.2} ms, p99 {:>7.2} ms",
            run.reads,
            run.failed,
            millis(run.latency.p50),
            millis(run.latency.p99)
        );
    };
    row("quiet", &quiet);
    row("under flood", &busy);
    println!(
        "  honest p99 under flood vs quiet: {:.2}x",
        millis(busy.latency.p99) / millis(quiet.latency.p99).max(0.001)
    );
    anyhow::ensure!(quiet.failed + busy.failed == 0, "honest reads failed");
    Ok(())
}

struct Readers {
    reads: usize,
    failed: usize,
    latency: Summary,
}

fn honest_readers(edge: &Arc<Edge>, stop: &Arc<AtomicBool>) -> JoinSet<(Vec<Duration>, usize)> {
    let mut readers = JoinSet::new();
    for n in 0..HONEST_READERS {
        let (edge, stop) = (edge.clone(), stop.clone());
        readers.spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0);
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let answer = edge
                    .get(LIVE, "/api/inventory")
                    .header("cf-connecting-ip", format!("198.51.100.{}", n + 1))
                    .send()
                    .await;
                let ok = match answer {
                    Ok(response) => {
                        response.status().is_success() && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                failed += usize::from(!ok);
                latencies.push(sent.elapsed());
            }
            (latencies, failed)
        });
    }
    readers
}

async fn collect(mut readers: JoinSet<(Vec<Duration>, usize)>) -> anyhow::Result<Readers> {
    let (mut latencies, mut failed) = (Vec::new(), 0);
    while let Some(done) = readers.join_next().await {
        let (mine, my_failed) = done?;
        latencies.extend(mine);
        failed += my_failed;
    }
    Ok(Readers {
        reads: latencies.len(),
        failed,
        latency: summarize(&mut latencies),
    })
}

#[derive(Default)]
struct FloodAnswers {
    unknown: usize,
    over_budget: usize,
    other: usize,
}

async fn flood(edge: &Arc<Edge>) -> anyhow::Result<FloodAnswers> {
    let per_sender = FLOOD_REQUESTS / FLOOD_IN_FLIGHT;
    let mut senders = JoinSet::new();
    for sender in 0..FLOOD_IN_FLIGHT {
        let edge = edge.clone();
        senders.spawn(async move {
            let mut answers = FloodAnswers::default();
            let count = per_sender + usize::from(sender < FLOOD_REQUESTS % FLOOD_IN_FLIGHT);
            for n in 0..count {
                let request = sender + n * FLOOD_IN_FLIGHT;
                let address = format!("203.0.113.{}", request % FLOOD_ADDRESSES);
                let host = format!("{}.flood.test", uuid::Uuid::new_v4().simple());
                let answer = edge
                    .get(&host, "/api/inventory")
                    .header("cf-connecting-ip", address)
                    .send()
                    .await;
                match answer.map(|response| response.status().as_u16()) {
                    Ok(404) => answers.unknown += 1,
                    Ok(429) => answers.over_budget += 1,
                    _ => answers.other += 1,
                }
            }
            answers
        });
    }
    let mut total = FloodAnswers::default();
    while let Some(done) = senders.join_next().await {
        let answers = done?;
        total.unknown += answers.unknown;
        total.over_budget += answers.over_budget;
        total.other += answers.other;
    }
    Ok(total)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
