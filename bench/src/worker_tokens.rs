//! The Worker's token checks under miniflare, per algorithm: what verifying costs at the edge.
//!
//! The built Worker (`edge/build`) serves two made-up shops; a token of shop A is sent to shop
//! B's domain on a route that needs a token (`GET /api/purchases/<id>`). The Worker verifies it
//! in full (HS256 in the wasm; ES256 and RS256 with the runtime's WebCrypto, the imported key
//! kept per `kid`), then refuses it as another shop's (403): neither the rate limiter nor the
//! origin is asked, so what differs between the rows is the check itself. The floor is the
//! same request without a token (401 before anything is parsed).
//!
//! Requests go one at a time, in blocks that rotate through the rows so drift hits all alike.
//! Beside latency, the CPU time of miniflare's process group (node and workerd) over each row's
//! blocks is read from `/proc`: the Worker's cost per request, whatever the client's.

use std::time::{Duration, Instant};

use api::token::{KeyAlgorithm, Role};
use e2e::{
    identity_provider::{public_set, ProviderKey},
    tokens::claims,
    Edge, EdgeConfig, Shop, TestKeys,
};
use uuid::Uuid;

use crate::{
    cpu,
    stats::{summarize, Summary},
};

const SHOP_A: &str = "a.worker-tokens.bench.test";
const SHOP_B: &str = "b.worker-tokens.bench.test";
/// Requests per block; each row gets `requests / BLOCK` blocks.
const BLOCK: usize = 500;
const WARM_UP: usize = 50;

/// One row: a token signed with `algorithm`, or none.
struct Checked {
    /// Where the row is printed.
    order: usize,
    label: &'static str,
    token: Option<String>,
    latencies: Vec<Duration>,
    cpu: Duration,
}

pub async fn run(requests_per_algorithm: usize) -> anyhow::Result<()> {
    let shop = |domain: &str| Shop {
        org_id: Uuid::new_v4(),
        domain: domain.to_owned(),
    };
    let (a, b) = (shop(SHOP_A), shop(SHOP_B));
    let keys: Vec<ProviderKey> = [
        KeyAlgorithm::Hs256,
        KeyAlgorithm::Es256,
        KeyAlgorithm::Rs256,
    ]
    .into_iter()
    .map(|alg| ProviderKey::generate(alg, &format!("worker-{}", alg.name())))
    .collect();
    // The origin is never asked: every request is answered by the Worker.
    let mut config = EdgeConfig::new("http://127.0.0.1:9", &[a.clone(), b], &TestKeys::new());
    config.jwks = public_set(&keys.iter().collect::<Vec<_>>());
    let edge = Edge::start_with(config).await;
    let group = edge
        .process_group()
        .ok_or_else(|| anyhow::anyhow!("miniflare has no process id"))?;

    let mut rows = vec![Checked {
        order: 0,
        label: "no token (401, nothing checked)",
        token: None,
        latencies: Vec::new(),
        cpu: Duration::ZERO,
    }];
    for (order, key) in (1..).zip(&keys) {
        rows.push(Checked {
            order,
            label: match key.algorithm {
                KeyAlgorithm::Hs256 => "HS256 (in the wasm)",
                KeyAlgorithm::Es256 => "ES256 (WebCrypto)",
                _ => "RS256 (WebCrypto)",
            },
            token: Some(key.token(claims(a.org_id, Role::Shopper, "bench-user"))),
            latencies: Vec::new(),
            cpu: Duration::ZERO,
        });
    }
    for row in &rows {
        for _ in 0..WARM_UP {
            send(&edge, row.token.as_deref()).await?;
        }
    }
    let blocks = requests_per_algorithm.div_ceil(BLOCK).max(1);
    for block in 0..blocks {
        // Each round starts with another row, so none always follows the same one.
        rows.rotate_left(usize::from(block > 0));
        for row in &mut rows {
            let before = cpu::process_group_cpu(group);
            for _ in 0..BLOCK {
                row.latencies.push(send(&edge, row.token.as_deref()).await?);
            }
            if let (Some(before), Some(after)) = (before, cpu::process_group_cpu(group)) {
                row.cpu += after.saturating_sub(before);
            }
        }
    }
    rows.sort_by_key(|row| row.order);
    print(&mut rows, blocks * BLOCK);
    Ok(())
}

/// One request; its latency, once the Worker answered as expected.
async fn send(edge: &Edge, token: Option<&str>) -> anyhow::Result<Duration> {
    let path = format!("/api/purchases/{}", Uuid::new_v4());
    let mut request = edge.get(SHOP_B, &path);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let sent = Instant::now();
    let response = request.send().await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    let latency = sent.elapsed();
    let expected = if token.is_some() { 403 } else { 401 };
    anyhow::ensure!(status == expected, "expected {expected}, got {status}");
    Ok(latency)
}

fn print(rows: &mut [Checked], requests: usize) {
    println!(
        "token checks in the Worker (miniflare): GET /api/purchases/<id> with another shop's token, verified and refused at the edge (403, the origin never asked), {requests} requests per row one at a time, in rotating blocks of {BLOCK}"
    );
    println!(
        "  {:<32} {:>8} {:>8} {:>8} {:>16}",
        "", "mean ms", "p50 ms", "p99 ms", "Worker CPU us/req"
    );
    let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / requests as f64;
    let floor = rows.first().map_or(0.0, |row| per_request(row.cpu));
    let mut costs = Vec::new();
    for row in rows.iter_mut() {
        let summary: Summary = summarize(&mut row.latencies);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  {:<32} {:>8.3} {:>8.3} {:>8.3} {:>16.0}",
            row.label,
            ms(summary.mean),
            ms(summary.p50),
            ms(summary.p99),
            per_request(row.cpu)
        );
        if row.token.is_some() {
            costs.push(format!(
                "{} {:+.0} us",
                row.label.split(' ').next().unwrap_or(row.label),
                per_request(row.cpu) - floor
            ));
        }
    }
    println!(
        "  Worker CPU per request over the no-token floor: {}",
        costs.join(", ")
    );
}
