//! Honest readers through an origin outage: what shoppers refreshing a shop get when the origin
//! freezes for a few seconds in the middle of a run, next to the same run without the fault.
//!
//! One shop, one Worker with the production defaults (read deadline 2 s, breaker after 5
//! failures, last good copy for 300 s), reaching the origin through an `OriginLink`. Readers
//! ask `GET /api/inventory` at a fixed rate (open loop, so a stalled answer cannot slow the
//! asking down and hide itself); the fault run freezes the link from `FREEZE_AT` for
//! `FREEZE_FOR`. Bounded in count and time, 127.0.0.1 only.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::stats::summarize;
use api::headers::EDGE_CACHE;
use e2e::{Edge, EdgeConfig, OriginLink, OriginServer, Shop, TestKeys};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Semaphore;

const SHOP: &str = "outage.bench.test";
const RATE_PER_SECOND: u64 = 200;
const RUN_FOR: Duration = Duration::from_secs(12);
const FREEZE_AT: Duration = Duration::from_secs(3);
const FREEZE_FOR: Duration = Duration::from_secs(5);
const MAX_IN_FLIGHT: usize = 512;
/// A request still unanswered after this long counts as failed.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// One reader's request: when it was sent (from the start of the run), and what came back.
#[derive(Debug, Clone, Copy)]
struct Sample {
    sent_at: Duration,
    latency: Duration,
    ok: bool,
    stale: bool,
}

/// What one run looked like, over all of it and over the fault window alone.
#[derive(Debug)]
struct RunReport {
    all: WindowReport,
    during_fault: WindowReport,
    origin_connections: usize,
}

#[derive(Debug)]
struct WindowReport {
    requests: usize,
    ok: usize,
    stale: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl WindowReport {
    fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Self {
        let samples: Vec<&Sample> = samples.collect();
        let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
        let summary = summarize(&mut latencies);
        Self {
            requests: samples.len(),
            ok: samples.iter().filter(|s| s.ok).count(),
            stale: samples.iter().filter(|s| s.stale).count(),
            p50: summary.p50,
            p99: summary.p99,
            max: summary.max,
        }
    }

    fn success_percent(&self) -> f64 {
        100.0 * self.ok as f64 / self.requests.max(1) as f64
    }
}

pub async fn honest_readers_through_a_frozen_origin(owner: &PgPool) -> anyhow::Result<()> {
    let items: Vec<(String, i32)> = (0..50).map(|i| (format!("SKU-{i}"), 10)).collect();
    let items: Vec<(&str, i32)> = items.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    let shop = Shop::create(owner, SHOP, &items).await;
    let keys = TestKeys::new();
    let origin = OriginServer::start(owner, &keys).await;
    let link = Arc::new(OriginLink::start(&origin.url).await);
    let config = EdgeConfig::new(&link.url, std::slice::from_ref(&shop), &keys)
        .shop_rate_limits(shop.org_id, json!({"read": "unlimited"}));
    let edge = Arc::new(Edge::start_with(config).await);

    let healthy = run(&edge, &link, false).await?;
    let frozen = run(&edge, &link, true).await?;

    println!(
        "Honest readers: GET /api/inventory at {RATE_PER_SECOND} req/s for {} s; the fault run \
         freezes the origin from {} s to {} s",
        RUN_FOR.as_secs(),
        FREEZE_AT.as_secs(),
        (FREEZE_AT + FREEZE_FOR).as_secs()
    );
    println!(
        "  {:<26} {:>12} {:>14} {:>18}",
        "", "no fault", "origin frozen", "frozen window only"
    );
    let row = |label: &str, value: &dyn Fn(&WindowReport) -> String| {
        println!(
            "  {label:<26} {:>12} {:>14} {:>18}",
            value(&healthy.all),
            value(&frozen.all),
            value(&frozen.during_fault)
        );
    };
    row("requests", &|w| w.requests.to_string());
    row("answered 2xx", &|w| format!("{:.2} %", w.success_percent()));
    row("  of them stale", &|w| w.stale.to_string());
    row("latency p50", &|w| format!("{:.1} ms", millis(w.p50)));
    row("latency p99", &|w| format!("{:.1} ms", millis(w.p99)));
    row("latency max", &|w| format!("{:.1} ms", millis(w.max)));
    println!(
        "  {:<26} {:>12} {:>14}",
        "origin connections", healthy.origin_connections, frozen.origin_connections
    );
    Ok(())
}

/// One run of the readers; with `freeze`, the link is frozen for the fault window.
async fn run(edge: &Arc<Edge>, link: &Arc<OriginLink>, freeze: bool) -> anyhow::Result<RunReport> {
    let connections_before = link.connections();
    let started = Instant::now();
    let fault = freeze.then(|| {
        let link = link.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until((started + FREEZE_AT).into()).await;
            link.freeze();
            tokio::time::sleep_until((started + FREEZE_AT + FREEZE_FOR).into()).await;
            link.thaw();
        })
    });
    let total = RATE_PER_SECOND * RUN_FOR.as_secs();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SECOND));
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..total {
        ticks.tick().await;
        let permit = in_flight.clone().acquire_owned().await?;
        let edge = edge.clone();
        requests.spawn(async move {
            let sent_at = started.elapsed();
            let sent = Instant::now();
            let response = edge
                .get(SHOP, "/api/inventory")
                .timeout(GIVE_UP_AFTER)
                .send()
                .await;
            let (ok, stale) = match response {
                Ok(response) => {
                    let stale = response
                        .headers()
                        .get(EDGE_CACHE)
                        .is_some_and(|value| value == "stale");
                    let ok = response.status().is_success() && response.bytes().await.is_ok();
                    (ok, stale)
                }
                Err(_) => (false, false),
            };
            drop(permit);
            Sample {
                sent_at,
                latency: sent.elapsed(),
                ok,
                stale,
            }
        });
    }
    let mut samples = Vec::with_capacity(usize::try_from(total)?);
    while let Some(sample) = requests.join_next().await {
        samples.push(sample?);
    }
    if let Some(fault) = fault {
        fault.await?;
    }
    let window = FREEZE_AT..FREEZE_AT + FREEZE_FOR;
    Ok(RunReport {
        all: WindowReport::of(samples.iter()),
        during_fault: WindowReport::of(samples.iter().filter(|s| window.contains(&s.sent_at))),
        origin_connections: link.connections() - connections_before,
    })
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
