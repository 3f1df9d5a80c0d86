//! `bench hot-item --levels admin-streams`: what shop admins watching the live sale cost the
//! sale itself.
//!
//! The origin runs as `serve` runs it (its event listener, the publication of refusal counts),
//! and the same hot-item load goes over HTTP in alternating runs: with no admin stream, then
//! with N admin streams (`GET /api/admin/events`) attached and read for the whole run, then the
//! other way round (ABBA), for a few rounds, each run on a fresh item. Side by side: purchases/s, latency and the CPU
//! each purchase cost the machine. Each stream's `second` events are added up and must count
//! exactly the units the run confirmed: the streams are not only cheap, they are right. Then the
//! same streams with no sale running: what they cost the origin while the shop is quiet. And
//! the one thing a sale makes the origin do for its admins, timed alone: folding a stock
//! notification (one per committed batch) into the watched shop's second.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use api::{
    live_sale::SaleSecond,
    token::{KeyAlgorithm, KeySet, Role, TokenVerifier},
};
use origin::{
    events::{
        hub::StreamCaps,
        shop_event::{EventObserver, ShopEvent, StockEvent},
    },
    live_sale::seconds::SaleWatch,
    operator::dev_tokens::{mint_token, TokenRequest},
    AppState, Settings,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};
use uuid::Uuid;

use super::{report::Row, Bench, ISSUER};
use crate::{cpu, load::BenchServer};

/// How long the streams get, after a run, to report its last units (two ticks and a flush).
const SETTLE: Duration = Duration::from_secs(5);
/// How long the quiet streams are watched for their idle cost.
const QUIET: Duration = Duration::from_secs(10);

/// N admin streams of one shop, each read by a task of its own.
struct Streams {
    readers: JoinSet<()>,
    counts: Vec<Arc<StreamCount>>,
    opened: Instant,
}

/// What one stream delivered.
#[derive(Default)]
struct StreamCount {
    bytes: AtomicU64,
    seconds: AtomicUsize,
    sold: AtomicU64,
}

impl Bench {
    pub(super) async fn admin_stream_runs(&self) -> anyhow::Result<()> {
        let load_before = load_average();
        let streams = self.opts.admin_streams;
        let (private, public) =
            origin::operator::signing_keys::generate(KeyAlgorithm::Hs256, "bench")?;
        let signing =
            KeySet::from_jwks_json(&serde_json::json!({ "keys": [private] }).to_string())?;
        let verifier =
            TokenVerifier::new(KeySet::from_jwks_json(&public.to_string())?, ISSUER, ISSUER);
        let mint = |role, sub: String| {
            mint_token(
                &signing,
                &TokenRequest {
                    org_id: self.org_id,
                    role,
                    sub,
                    issuer: ISSUER.into(),
                    audience: ISSUER.into(),
                    ttl: chrono::Duration::hours(1),
                    algorithm: KeyAlgorithm::Hs256,
                },
            )
        };
        let buyers: Arc<Vec<String>> = Arc::new(
            (0..self.opts.concurrency)
                .map(|task| mint(Role::Shopper, format!("http-buyer-{task}")))
                .collect::<anyhow::Result<_>>()?,
        );
        let admins: Vec<String> = (0..streams)
            .map(|n| mint(Role::Admin, format!("console-{n}")))
            .collect::<anyhow::Result<_>>()?;
        let settings = Settings {
            queue_workers: 0,
            max_batch: self.opts.max_batch,
            stream_caps: StreamCaps {
                per_user: 3,
                per_shop: streams.max(1) * 2,
            },
            ..Settings::default()
        };
        let server = BenchServer::start(AppState::with_settings(
            self.app.clone(),
            verifier,
            settings,
        ))
        .await?;
        let address = server.url.trim_start_matches("http://").to_owned();

        let mut rows = Vec::new();
        let mut counted = Vec::new();
        for round in 0..self.opts.rounds.max(1) {
            // Without-with, then with-without: a drift over the runs (the tables grow, the
            // machine's other work comes and goes) weighs on both sides alike.
            let order = if round % 2 == 0 {
                [0, streams]
            } else {
                [streams, 0]
            };
            for attached in order {
                let item = self
                    .new_item(&format!("ADMIN-STREAMS-{round}-{attached}"))
                    .await?;
                let watching = self.open_streams(&address, &admins[..attached]).await?;
                let result = self
                    .http_load(
                        &server.url,
                        item,
                        super::http::bearer(buyers.clone()),
                        false,
                    )
                    .await;
                let oversell = self.oversold(item, result.confirmed).await?;
                if let Some(mut watching) = watching {
                    let confirmed = result.confirmed;
                    let settled = Instant::now() + SETTLE;
                    while Instant::now() < settled
                        && !watching
                            .counts
                            .iter()
                            .all(|c| c.sold.load(Ordering::Relaxed) == confirmed)
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    counted.push(watching.report(confirmed));
                    watching.readers.shutdown().await;
                }
                let label = if attached == 0 { "none" } else { "attached" };
                rows.push((attached, Self::row("http", label, result, oversell)));
            }
        }
        let quiet = self.quiet_cost(&address, &admins).await?;
        let fold = fold_cost();
        print_runs(&rows, &counted, quiet, self.opts);
        println!(
            "folding one stock notification (one per committed batch): {:.0} ns for a watched shop, \
             {:.0} ns for a shop nobody watches ({FOLDS} notifications each, in-process)",
            fold.0, fold.1
        );
        println!(
            "machine load average (1 min): {load_before} before, {} after",
            load_average()
        );
        anyhow::ensure!(rows.iter().all(|(_, r)| !r.oversell), "oversell detected");
        anyhow::ensure!(
            counted.iter().all(|c| c.exact == c.streams),
            "an admin stream miscounted the units sold"
        );
        Ok(())
    }

    /// Opens one admin stream per token (none: `None`), each read until it is shut down.
    async fn open_streams(
        &self,
        address: &str,
        tokens: &[String],
    ) -> anyhow::Result<Option<Streams>> {
        if tokens.is_empty() {
            return Ok(None);
        }
        let mut readers = JoinSet::new();
        let mut counts = Vec::with_capacity(tokens.len());
        for token in tokens {
            let stream = open_admin_stream(address, self.org_id, token).await?;
            let count = Arc::new(StreamCount::default());
            counts.push(count.clone());
            readers.spawn(read_seconds(stream, count));
        }
        Ok(Some(Streams {
            readers,
            counts,
            opened: Instant::now(),
        }))
    }

    /// CPU time of this process (the origin and the readers) per second with no sale, without
    /// and with the streams attached, in milliseconds.
    async fn quiet_cost(
        &self,
        address: &str,
        admins: &[String],
    ) -> anyhow::Result<Option<(f64, f64)>> {
        let per_second = |start: Option<Duration>| {
            let spent = cpu::process_on_cpu()?.checked_sub(start?)?;
            Some(spent.as_secs_f64() * 1e3 / QUIET.as_secs_f64())
        };
        let start = cpu::process_on_cpu();
        tokio::time::sleep(QUIET).await;
        let without = per_second(start);
        let watching = self.open_streams(address, admins).await?;
        // The streams' first second (`ready`, the shop's clock starting) is not the idle cost.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let start = cpu::process_on_cpu();
        tokio::time::sleep(QUIET).await;
        let with = per_second(start);
        if let Some(mut watching) = watching {
            watching.readers.shutdown().await;
        }
        Ok(without.zip(with))
    }
}

/// Notifications folded to time `fold_cost`.
const FOLDS: u32 = 1_000_000;

/// Nanoseconds the admins' live view spends on one stock notification: of a watched shop, and
/// of a shop with no admin stream open.
fn fold_cost() -> (f64, f64) {
    let watch = SaleWatch::default();
    let (watched, unwatched) = (Uuid::new_v4(), Uuid::new_v4());
    let _stream = watch.watch(watched);
    let items: Vec<Uuid> = (0..16).map(|_| Uuid::new_v4()).collect();
    let time = |org_id: Uuid| {
        let events: Vec<ShopEvent> = items
            .iter()
            .map(|&item_id| {
                ShopEvent::Stock(StockEvent {
                    org_id,
                    item_id,
                    stock: 1_000,
                    sold: 64,
                })
            })
            .collect();
        let started = Instant::now();
        for n in 0..FOLDS as usize {
            watch.observe(std::hint::black_box(&events[n % events.len()]));
        }
        started.elapsed().as_secs_f64() * 1e9 / f64::from(FOLDS)
    };
    (time(watched), time(unwatched))
}

/// `/proc/loadavg`'s one-minute figure, to say how busy the machine was.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// What a run's streams showed.
struct Counted {
    streams: usize,
    /// Streams whose units sold added up to the run's confirmed purchases.
    exact: usize,
    seconds_per_stream: f64,
    bytes_per_second: f64,
}

impl Streams {
    fn report(&self, confirmed: u64) -> Counted {
        let open = self.opened.elapsed().as_secs_f64();
        let n = self.counts.len();
        let total = |f: fn(&StreamCount) -> u64| -> u64 { self.counts.iter().map(|c| f(c)).sum() };
        Counted {
            streams: n,
            exact: self
                .counts
                .iter()
                .filter(|c| c.sold.load(Ordering::Relaxed) == confirmed)
                .count(),
            seconds_per_stream: total(|c| c.seconds.load(Ordering::Relaxed) as u64) as f64
                / n as f64,
            bytes_per_second: total(|c| c.bytes.load(Ordering::Relaxed)) as f64 / n as f64 / open,
        }
    }
}

/// `GET /api/tenant/{org_id}/admin/events` over a bare connection, its head read.
async fn open_admin_stream(address: &str, org_id: Uuid, token: &str) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!(
        "GET /api/tenant/{org_id}/admin/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0_u8; 12];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut head))
        .await
        .context("no answer to an admin stream within 10 s")??;
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.1 200"),
        "admin stream refused: {}",
        String::from_utf8_lossy(&head)
    );
    Ok(stream)
}

/// Reads a stream to its end, counting bytes, `second` events and the units they say were sold.
async fn read_seconds(mut stream: TcpStream, count: Arc<StreamCount>) {
    let mut pending = String::new();
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        let read = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        count.bytes.fetch_add(read as u64, Ordering::Relaxed);
        pending.push_str(&String::from_utf8_lossy(&chunk[..read]));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            if !block.contains("event: second") {
                continue;
            }
            let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) else {
                continue;
            };
            if let Ok(second) = serde_json::from_str::<SaleSecond>(data) {
                let sold: u64 = second.items.iter().map(|item| item.sold).sum();
                count.seconds.fetch_add(1, Ordering::Relaxed);
                count.sold.fetch_add(sold, Ordering::Relaxed);
            }
        }
    }
}

fn print_runs(
    rows: &[(usize, Row)],
    counted: &[Counted],
    quiet: Option<(f64, f64)>,
    opts: super::Options,
) {
    println!(
        "hot item with admin streams: {} concurrent buyers of one item over HTTP, {} s per run, \
         runs alternating (ABBA) without and with {} admin streams (GET /api/admin/events) attached and read; \
         the origin serves as `serve` does (event listener on), group commit up to {} per batch",
        opts.concurrency, opts.seconds, opts.admin_streams, opts.max_batch
    );
    println!(
        "{:<4} {:>13} {:>12} {:>9} {:>9} {:>9} {:>6} {:>9} {:>11} {:>10}",
        "run",
        "admin streams",
        "purchases/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "5xx",
        "oversell",
        "CPU us/buy",
        "of it here"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (n, (attached, row)) in rows.iter().enumerate() {
        let answered = row.result.confirmed + row.result.accepted;
        let per_second = answered as f64 / row.result.elapsed.as_secs_f64();
        let cpu = row.result.cpu.filter(|_| answered > 0).map(|cpu| {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / answered as f64;
            (per(cpu.machine), per(cpu.process))
        });
        println!(
            "{:<4} {:>13} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>6} {:>9} {:>11} {:>10}",
            n + 1,
            attached,
            per_second,
            ms(row.summary.p50),
            ms(row.summary.p99),
            ms(row.summary.max),
            row.result.server_errors,
            if row.oversell { "VIOLATED" } else { "0" },
            cpu.map_or_else(|| "-".into(), |(us, _)| format!("{us:.0}")),
            cpu.map_or_else(|| "-".into(), |(_, here)| format!("{here:.0}")),
        );
    }
    let median = |attached: bool, f: &dyn Fn(&Row) -> f64| {
        let mut values: Vec<f64> = rows
            .iter()
            .filter(|(n, _)| (*n > 0) == attached)
            .map(|(_, row)| f(row))
            .collect();
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    };
    let rate = |row: &Row| {
        (row.result.confirmed + row.result.accepted) as f64 / row.result.elapsed.as_secs_f64()
    };
    let p99 = |row: &Row| ms(row.summary.p99);
    let (rate_without, rate_with) = (median(false, &rate), median(true, &rate));
    println!(
        "median purchases/s: {rate_without:.0} without, {rate_with:.0} with {} admin streams ({:+.1} %); \
         median p99: {:.1} ms without, {:.1} ms with",
        opts.admin_streams,
        (rate_with / rate_without - 1.0) * 100.0,
        median(false, &p99),
        median(true, &p99),
    );
    // Each round's two runs ran back to back: their ratio is the least disturbed by the
    // machine's other work, which moves whole rounds.
    let ratios: Vec<f64> = rows
        .chunks(2)
        .filter_map(|pair| match pair {
            [(a, first), (_, second)] => {
                let (without, with) = if *a == 0 {
                    (first, second)
                } else {
                    (second, first)
                };
                Some(rate(with) / rate(without))
            }
            _ => None,
        })
        .collect();
    let geometric = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len().max(1) as f64).exp();
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
    println!(
        "purchases/s with / without, per round: {}; geometric mean {geometric:.3} ({:+.1} %)",
        shown.join(", "),
        (geometric - 1.0) * 100.0
    );
    for (n, count) in counted.iter().enumerate() {
        println!(
            "attached run {}: {} of {} streams counted exactly the units sold; each got {:.1} `second` events, {:.0} bytes/s",
            n + 1,
            count.exact,
            count.streams,
            count.seconds_per_stream,
            count.bytes_per_second
        );
    }
    if let Some((without, with)) = quiet {
        println!(
            "no sale: this process (origin and stream readers) on CPU {without:.2} ms/s with no admin stream, \
             {with:.2} ms/s with {} ({:.1} us/s per stream)",
            opts.admin_streams,
            (with - without) * 1e3 / opts.admin_streams.max(1) as f64
        );
    }
}
