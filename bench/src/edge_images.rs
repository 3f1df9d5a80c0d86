//! `bench edge images`: product pictures served by the Worker under miniflare. An admin uploads
//! `PICTURES` pictures (real PNGs, 1280x960), then shoppers fetch each once (each a miss: an R2
//! read, then put in the edge cache) and then `READS_EACH` times more (edge-cache hits). It
//! prints how many answers said `X-Edge-Cache: hit` and how many `miss` (each miss is one R2
//! read), and the Worker's CPU per image GET in each phase: the CPU time of miniflare's process
//! group (node and workerd) over the phase, divided by its requests. A floor row, `GET` of a
//! picture name no shop has (`404` after one R2 lookup), is measured the same way.
//!
//! Loopback only, bounded: `PICTURES * (READS_EACH + 2)` requests, one at a time.

use std::time::Duration;

use api::token::Role;
use e2e::{pictures, Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use sqlx::PgPool;
use uuid::Uuid;

use crate::cpu;

const DOMAIN: &str = "images.bench.test";
const PICTURES: usize = 20;
const READS_EACH: usize = 25;

/// One phase: requests sent, cache answers seen, CPU of the Worker over it.
#[derive(Debug, Default)]
struct Phase {
    requests: usize,
    hits: usize,
    misses: usize,
    cpu: Duration,
}

impl Phase {
    fn per_request_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }
}

pub async fn run(owner: &PgPool) -> anyhow::Result<()> {
    let shop = Shop::create(owner, DOMAIN, &[("CHAIR", 10)]).await;
    let keys = TestKeys::new();
    let origin = OriginServer::start(owner, &keys).await;
    let edge = Edge::start_with(
        EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys).storage_in_memory(),
    )
    .await;
    let group = edge
        .process_group()
        .ok_or_else(|| anyhow::anyhow!("miniflare has no process id"))?;
    let admin = keys.token(shop.org_id, Role::Admin, "bench-owner");
    let item = shop.item(owner, "CHAIR").await.id;

    let mut urls = Vec::with_capacity(PICTURES);
    for n in 0..PICTURES {
        let shade = u8::try_from(n * 10).unwrap_or(u8::MAX);
        let bytes = pictures::png(1280, 960, [shade, 120, 90], [40, shade, 60]);
        let response = edge
            .post(DOMAIN, &format!("/api/admin/items/{item}/images"))
            .query(&[("alt", format!("Bench picture {n}"))])
            .bearer_auth(&admin)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .body(bytes)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 201,
            "upload answered {}",
            response.status()
        );
        let image: api::images::ItemImage = response.json().await?;
        urls.push(image.url);
    }

    let first = phase(&edge, group, urls.iter().map(String::as_str)).await?;
    let again = urls
        .iter()
        .flat_map(|url| std::iter::repeat_n(url.as_str(), READS_EACH));
    let repeated = phase(&edge, group, again).await?;
    let missing: Vec<String> = (0..PICTURES)
        .map(|n| format!("/images/{}.webp", pictures::sha256_hex(&n.to_be_bytes())))
        .collect();
    let floor = phase(&edge, group, missing.iter().map(String::as_str)).await?;

    println!("Pictures through the Worker: {PICTURES} pictures (1280x960 PNG), each read once, then {READS_EACH} times more");
    println!(
        "  {:<34} {:>8} {:>6} {:>6} {:>14}",
        "", "requests", "hit", "miss", "Worker CPU/GET"
    );
    for (label, phase) in [
        ("first read of each (R2 read)", &first),
        ("reads again (edge cache)", &repeated),
        ("unknown picture (404, floor)", &floor),
    ] {
        println!(
            "  {label:<34} {:>8} {:>6} {:>6} {:>11.0} us",
            phase.requests,
            phase.hits,
            phase.misses,
            phase.per_request_us()
        );
    }
    let reads = first.requests + repeated.requests;
    println!(
        "  R2 reads: {} of {reads} picture GETs ({:.1} %); the rest from the edge cache",
        first.misses + repeated.misses,
        100.0 * (first.misses + repeated.misses) as f64 / reads.max(1) as f64
    );
    Ok(())
}

/// GETs `paths` one at a time, counting cache answers and the Worker's CPU.
async fn phase<'a>(
    edge: &Edge,
    group: u32,
    paths: impl Iterator<Item = &'a str>,
) -> anyhow::Result<Phase> {
    let mut phase = Phase::default();
    let before = cpu::process_group_cpu(group);
    for path in paths {
        let response = edge.get(DOMAIN, path).send().await?;
        match response
            .headers()
            .get("x-edge-cache")
            .and_then(|v| v.to_str().ok())
        {
            Some("hit") => phase.hits += 1,
            Some("miss") => phase.misses += 1,
            _ => {}
        }
        response.bytes().await?;
        phase.requests += 1;
    }
    if let (Some(before), Some(after)) = (before, cpu::process_group_cpu(group)) {
        phase.cpu = after.saturating_sub(before);
    }
    Ok(phase)
}
