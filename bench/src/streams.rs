//! `bench streams`: what an idle `GET /api/events` stream costs the origin in memory.
//!
//! The origin runs in this process, whose allocator counts live heap bytes (`cap`). The bench
//! opens `streams` event streams from as many shoppers (each waits for its `ready` event, then
//! stays idle), and, side by side, the same number of bare TCP connections to a listener that
//! only holds them: the baseline for what a socket pair costs on both ends in this process.
//! The difference per connection is what a stream itself holds on the server (HTTP connection
//! state, the SSE body, its broadcast receiver and its permit).
//!
//! Every heap figure is read once the heap has stopped moving (`settled_heap`): the server frees
//! a closed stream's connection some time after the client drops it, and a baseline read while
//! those frees are still under way comes out below its starting point (it once printed 0).

use std::time::Duration;

use anyhow::Context;
use api::token::{KeyAlgorithm, KeySet, Role, TokenVerifier};
use origin::{
    events::hub::StreamCaps,
    operator::dev_tokens::{mint_token, TokenRequest},
    AppState, Settings,
};
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{
    load::BenchServer,
    scratch::{stocked_shop, with_scratch_database},
    HEAP,
};

const DOMAIN: &str = "streams.bench.test";
const ISSUER: &str = "bench";

pub async fn run(
    owner_url: &str,
    app_role: &origin::db::AppRole,
    streams: usize,
) -> anyhow::Result<()> {
    let role = app_role.clone();
    with_scratch_database(owner_url, "streams", |options, owner| async move {
        measure(&options, &role, owner, streams).await
    })
    .await
}

async fn measure(
    options: &sqlx::postgres::PgConnectOptions,
    role: &origin::db::AppRole,
    owner: PgPool,
    streams: usize,
) -> anyhow::Result<()> {
    let org_id = stocked_shop(&owner, DOMAIN, 1).await?;
    let (private, public) = origin::operator::signing_keys::generate(KeyAlgorithm::Hs256, "bench")?;
    let signing = KeySet::from_jwks_json(&serde_json::json!({ "keys": [private] }).to_string())?;
    let verifier = TokenVerifier::new(KeySet::from_jwks_json(&public.to_string())?, ISSUER, ISSUER);
    let app = origin::db::connect_with(
        role.connect_options(options),
        origin::db::PoolLimits {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
        },
    )
    .await?;
    let settings = Settings {
        stream_caps: StreamCaps {
            per_user: 1,
            per_shop: streams,
        },
        ..Settings::default()
    };
    let server = BenchServer::start(AppState::with_settings(app, verifier, settings)).await?;
    let address = server.url.trim_start_matches("http://").to_owned();
    let tokens: Vec<String> = (0..streams)
        .map(|n| {
            mint_token(
                &signing,
                &TokenRequest {
                    org_id,
                    role: Role::Shopper,
                    sub: format!("watcher-{n}"),
                    issuer: ISSUER.into(),
                    audience: ISSUER.into(),
                    ttl: chrono::Duration::hours(1),
                    algorithm: KeyAlgorithm::Hs256,
                },
            )
        })
        .collect::<anyhow::Result<_>>()?;
    // One stream first, so what is made once (the shop's channel, lazily built statics) is
    // not counted against every stream.
    let warm = open_stream(&address, org_id, &tokens[0]).await?;

    let before = settled_heap().await?;
    let mut open = Vec::with_capacity(streams);
    for token in &tokens[1..] {
        open.push(open_stream(&address, org_id, token).await?);
    }
    let stream_bytes = grown(before, settled_heap().await?, "the streams")?;
    drop(open);
    drop(warm);
    let closed = settled_heap().await?;

    let (bare_bytes, bare) = bare_connections(streams - 1).await?;
    drop(bare);
    let per_stream = stream_bytes as f64 / (streams - 1) as f64;
    let per_bare = bare_bytes as f64 / (streams - 1) as f64;
    println!(
        "idle event streams: {} open at once, heap counted in this process once it stops moving",
        streams - 1
    );
    println!("what                                  heap bytes      per connection");
    println!("event streams (origin + client)    {stream_bytes:>12}    {per_stream:>12.0}");
    println!("bare TCP connections (baseline)    {bare_bytes:>12}    {per_bare:>12.0}");
    println!(
        "heap after the streams closed, against before they opened: {:+} bytes",
        closed as i64 - before as i64
    );
    println!(
        "an idle stream holds about {:.1} KiB on the origin beyond its socket",
        (per_stream - per_bare) / 1024.0
    );
    Ok(())
}

/// Opens `GET /api/events` over a bare connection and waits for its `ready` event.
async fn open_stream(address: &str, org_id: uuid::Uuid, token: &str) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!(
        "GET /api/tenant/{org_id}/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut seen = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !seen.windows(12).any(|w| w == b"event: ready") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .context("no ready event within 10 s")??;
        anyhow::ensure!(read > 0, "the stream closed before its ready event");
        seen.extend_from_slice(&chunk[..read]);
        anyhow::ensure!(
            seen.starts_with(b"HTTP/1.1 200"),
            "stream refused: {}",
            String::from_utf8_lossy(&seen)
        );
    }
    Ok(stream)
}

/// Heap bytes held by `count` bare TCP connections (both ends in this process), and the
/// connections.
async fn bare_connections(
    count: usize,
) -> anyhow::Result<(usize, (Vec<TcpStream>, Vec<TcpStream>))> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let before = settled_heap().await?;
    let mut clients = Vec::with_capacity(count);
    let mut servers = Vec::with_capacity(count);
    for _ in 0..count {
        clients.push(TcpStream::connect(address).await?);
        servers.push(listener.accept().await?.0);
    }
    let bytes = grown(before, settled_heap().await?, "the bare connections")?;
    Ok((bytes, (clients, servers)))
}

/// How often the heap is looked at while waiting for it to settle.
const HEAP_POLL: Duration = Duration::from_millis(50);
/// Samples in a row that must agree within `HEAP_JITTER` (half a second)...
const STILL_SAMPLES: usize = 10;
/// ...to call the heap settled: the pools and timers of an idle server move it by a few
/// hundred bytes, a stream by tens of KiB.
const HEAP_JITTER: usize = 4 * 1024;
/// The longest wait for the heap to settle.
const SETTLE_WITHIN: Duration = Duration::from_secs(20);

/// Live heap bytes once the server has finished what it does after answering or after a
/// client left (its idle state is what is measured): polled until `STILL_SAMPLES` samples in a
/// row agree within `HEAP_JITTER`.
async fn settled_heap() -> anyhow::Result<usize> {
    let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
    let mut recent = std::collections::VecDeque::with_capacity(STILL_SAMPLES);
    loop {
        recent.push_back(HEAP.allocated());
        if recent.len() > STILL_SAMPLES {
            recent.pop_front();
        }
        let low = recent.iter().copied().min().unwrap_or(0);
        let high = recent.iter().copied().max().unwrap_or(0);
        if recent.len() == STILL_SAMPLES && high - low <= HEAP_JITTER {
            return Ok(recent.back().copied().unwrap_or(high));
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the heap did not settle within {SETTLE_WITHIN:?} (last {low} to {high} bytes)"
        );
        tokio::time::sleep(HEAP_POLL).await;
    }
}

/// Bytes the heap grew by from `before` to `after`; a heap that shrank means the baseline was
/// taken while something else was being freed, and no figure is printed from it.
fn grown(before: usize, after: usize, what: &str) -> anyhow::Result<usize> {
    anyhow::ensure!(
        after > before,
        "the heap did not grow with {what} ({before} then {after} bytes): the baseline is not settled"
    );
    Ok(after - before)
}
