//! What one request of each kind costs the Worker in CPU time, measured after the storm with
//! nothing else running through it: requests sent one at a time, the Worker's processes' CPU
//! time divided by their number. It says whether the attackers' requests are turned away
//! cheaply, next to the cheapest refusal there is (a host no shop is served on).

use std::{sync::Arc, time::Duration};

use api::headers::{CF_CONNECTING_IP, WRITE_LSN};
use reqwest::{header::HOST, StatusCode};
use uuid::Uuid;

use super::{
    cpu_shares::PhaseMeter,
    world::{World, DOMAIN},
};

/// Requests of each kind.
const REQUESTS: usize = 300;
/// The Worker's default read quota and cooldown: reads a client sends before it is cooled down.
const TO_COOL_DOWN: usize = 300 + 20 + 5;
const COOLED_DOWN: &str = "203.0.113.200";

/// One kind's cost.
#[derive(Debug, Clone)]
pub struct UnitCost {
    pub kind: &'static str,
    /// The answer every request of the kind got.
    pub status: String,
    /// The Worker's CPU time per request.
    pub cpu: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    UnknownShop,
    CachedRead,
    BustingRead,
    CooledDownRead,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::UnknownShop => "unknown shop (404), the floor",
            Self::CachedRead => "inventory read from the cache",
            Self::BustingRead => "cache-busting read (query, position)",
            Self::CooledDownRead => "read of a cooled-down client (429)",
        }
    }

    fn request(self, world: &World, n: usize) -> reqwest::RequestBuilder {
        let client = &world.edge.http;
        // A new address per request, so no quota is reached (as the scraper's IPv4s).
        let fresh = format!("198.19.{}.{}", 250 + n / 250, n % 250 + 1);
        match self {
            Self::UnknownShop => client
                .get(world.url("/api/inventory"))
                .header(HOST, "no-such-shop.bench.test"),
            Self::CachedRead => client
                .get(world.url("/api/inventory"))
                .header(HOST, DOMAIN)
                .header(CF_CONNECTING_IP, fresh),
            Self::BustingRead => client
                .get(world.url(&format!("/api/inventory?r={}", Uuid::new_v4())))
                .header(HOST, DOMAIN)
                .header(CF_CONNECTING_IP, fresh)
                .header(WRITE_LSN, format!("{n:X}/0")),
            Self::CooledDownRead => client
                .get(world.url("/api/inventory"))
                .header(HOST, DOMAIN)
                .header(CF_CONNECTING_IP, COOLED_DOWN),
        }
    }
}

pub async fn measure(world: &Arc<World>) -> anyhow::Result<Vec<UnitCost>> {
    for n in 0..TO_COOL_DOWN {
        send(Kind::CooledDownRead.request(world, n)).await?;
    }
    let mut costs = Vec::new();
    for kind in [
        Kind::UnknownShop,
        Kind::CachedRead,
        Kind::BustingRead,
        Kind::CooledDownRead,
    ] {
        let meter = PhaseMeter::start(&world.groups);
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for n in 0..REQUESTS {
            let status = send(kind.request(world, n)).await?;
            *statuses.entry(status.as_u16()).or_default() += 1;
        }
        let cpu = meter.stop();
        let status = statuses
            .iter()
            .map(|(status, count)| format!("{count} x {status}"))
            .collect::<Vec<_>>()
            .join(", ");
        costs.push(UnitCost {
            kind: kind.label(),
            status,
            cpu: cpu.map(|cpu| cpu.edge / u32::try_from(REQUESTS).unwrap_or(u32::MAX)),
        });
    }
    Ok(costs)
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<StatusCode> {
    let response = request.timeout(Duration::from_secs(10)).send().await?;
    let status = response.status();
    response.bytes().await?;
    Ok(status)
}
