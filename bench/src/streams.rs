//! `bench streams`: what an idle `GET /api/events` stream costs the origin in memory.
//!
//! The origin runs in this process, whose allocator counts live heap bytes (`cap`). The bench
//! opens `streams` event streams from as many shoppers (each waits for its `ready` event, then
//! stays idle), and, side by side, the same number of bare TCP connections to a listener that
//! only holds them: the baseline for what a socket pair costs on both ends in this process.
//! The difference per connection is what a stream itself holds on the server (HTTP connection
//! state, the SSE body, its broadcast receiver and its permit).

use std::time::Duration;

use anyhow::Context;
use api::token::{KeyAlgorithm, KeySet, Role, TokenVerifier};
use origin::{
    operator::dev_tokens::{mint_token, TokenRequest},
    shop::event_hub::StreamCaps,
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

    let before = HEAP.allocated();
    let mut open = Vec::with_capacity(streams);
    for token in &tokens[1..] {
        open.push(open_stream(&address, org_id, token).await?);
    }
    settle().await;
    let with_streams = HEAP.allocated();
    let stream_bytes = with_streams.saturating_sub(before);
    drop(open);
    drop(warm);

    let (bare_bytes, bare) = bare_connections(streams - 1).await?;
    drop(bare);
    let per_stream = stream_bytes as f64 / (streams - 1) as f64;
    let per_bare = bare_bytes as f64 / (streams - 1) as f64;
    println!(
        "idle event streams: {} open at once, heap counted in this process",
        streams - 1
    );
    println!("what                                  heap bytes      per connection");
    println!("event streams (origin + client)    {stream_bytes:>12}    {per_stream:>12.0}");
    println!("bare TCP connections (baseline)    {bare_bytes:>12}    {per_bare:>12.0}");
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
    let before = HEAP.allocated();
    let mut clients = Vec::with_capacity(count);
    let mut servers = Vec::with_capacity(count);
    for _ in 0..count {
        clients.push(TcpStream::connect(address).await?);
        servers.push(listener.accept().await?.0);
    }
    settle().await;
    Ok((HEAP.allocated().saturating_sub(before), (clients, servers)))
}

/// Lets the server finish what it does after answering (its idle state is what is measured).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}
