//! What one request of each kind costs the Worker in CPU time, measured after the storm with
//! nothing else running through it, on a shop of its own (so none of the storm's quotas or
//! cooldowns apply): requests sent one at a time, the Worker's processes' CPU time divided by
//! their number. It says whether the attackers' requests are turned away cheaply, next to the
//! cheapest refusal there is (a host no shop is served on) and to what honest requests cost.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use api::{
    headers::{CF_CONNECTING_IP, WRITE_LSN},
    token::Role,
};
use reqwest::header::HOST;
use uuid::Uuid;

use super::{
    cpu_shares::PhaseMeter,
    world::{World, COSTS_DOMAIN},
};

/// The label of the cheapest kind, the floor the others are read against.
pub const FLOOR: &str = "unknown shop (the floor)";

/// Requests of each kind, after `WARM_UP` of it.
const REQUESTS: usize = 500;
const WARM_UP: usize = 20;
/// Reads one client sends to be cooled down: the default read quota (300 a minute), then the
/// default cooldown's 20 refusals, and a few more.
const TO_COOL_DOWN: usize = 300 + 20 + 5;
const COOLED_DOWN: &str = "203.0.113.200";
/// Reads one client sends before its reads are checked by the limiter object: half the default
/// read quota, counted in the isolate.
const TO_NEAR_QUOTA: usize = 150;
/// Of the rest of that client's quota, how many reads are measured.
const NEAR_QUOTA_REQUESTS: usize = 140;
const NEAR_QUOTA: &str = "203.0.113.201";

/// One kind's cost.
#[derive(Debug, Clone)]
pub struct UnitCost {
    pub kind: &'static str,
    /// The answers the kind's requests got, e.g. "300 x 200".
    pub answers: String,
    /// The Worker's CPU time per request.
    pub cpu: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    UnknownShop,
    CachedRead,
    BustingRead,
    NearQuotaRead,
    CooledDownRead,
    ShopperRead,
    Buy,
}

impl Kind {
    const ALL: [Self; 7] = [
        Self::UnknownShop,
        Self::CachedRead,
        Self::BustingRead,
        Self::NearQuotaRead,
        Self::CooledDownRead,
        Self::ShopperRead,
        Self::Buy,
    ];

    /// How many of the kind are measured, after how many unmeasured ones.
    fn counts(self) -> (usize, usize) {
        match self {
            // Its warm-up is the reads that brought the client near its quota.
            Self::NearQuotaRead => (NEAR_QUOTA_REQUESTS, 0),
            _ => (REQUESTS, WARM_UP),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::UnknownShop => FLOOR,
            Self::CachedRead => "anonymous read from the cache",
            Self::BustingRead => "cache-busting read (query, position)",
            Self::NearQuotaRead => "read near the client's quota (object)",
            Self::CooledDownRead => "read of a cooled-down client",
            Self::ShopperRead => "shopper's read (token checked)",
            Self::Buy => "shopper's buy",
        }
    }
}

/// What the measurement sends: the Worker, the shop, and a token per buyer.
struct Sender<'a> {
    world: &'a World,
    tokens: Vec<String>,
}

impl Sender<'_> {
    fn request(&self, kind: Kind, n: usize) -> reqwest::RequestBuilder {
        let world = self.world;
        let get = |path: &str| {
            world
                .edge
                .http
                .get(world.url(path))
                .header(HOST, COSTS_DOMAIN)
        };
        // A new address per request, so no client reaches its quota (as the scraper's IPv4s).
        let fresh = format!("198.19.{}.{}", 250 + n / 250, n % 250 + 1);
        match kind {
            Kind::UnknownShop => world
                .edge
                .http
                .get(world.url("/api/inventory"))
                .header(HOST, "no-such-shop.bench.test"),
            Kind::CachedRead => get("/api/inventory").header(CF_CONNECTING_IP, fresh),
            Kind::BustingRead => get(&format!("/api/inventory?r={}", Uuid::new_v4()))
                .header(CF_CONNECTING_IP, fresh)
                .header(WRITE_LSN, format!("{n:X}/0")),
            Kind::NearQuotaRead => get("/api/inventory").header(CF_CONNECTING_IP, NEAR_QUOTA),
            Kind::CooledDownRead => get("/api/inventory").header(CF_CONNECTING_IP, COOLED_DOWN),
            Kind::ShopperRead => get("/api/inventory")
                .bearer_auth(&self.tokens[n])
                .header(CF_CONNECTING_IP, fresh),
            Kind::Buy => world
                .edge
                .buy(COSTS_DOMAIN, &self.tokens[n], world.costs_item, 1)
                .header(CF_CONNECTING_IP, fresh),
        }
    }
}

pub async fn measure(world: &Arc<World>) -> anyhow::Result<Vec<UnitCost>> {
    let sender = Sender {
        world,
        tokens: (0..WARM_UP + REQUESTS)
            .map(|n| {
                world
                    .keys
                    .token(world.costs_shop.org_id, Role::Shopper, &format!("cost-{n}"))
            })
            .collect(),
    };
    for n in 0..TO_COOL_DOWN {
        send(sender.request(Kind::CooledDownRead, n)).await?;
    }
    for n in 0..TO_NEAR_QUOTA {
        send(sender.request(Kind::NearQuotaRead, n)).await?;
    }
    let mut costs = Vec::new();
    for kind in Kind::ALL {
        let (requests, warm_up) = kind.counts();
        for n in REQUESTS..REQUESTS + warm_up {
            send(sender.request(kind, n)).await?;
        }
        let meter = PhaseMeter::start(&world.groups);
        let mut answers = BTreeMap::<u16, usize>::new();
        for n in 0..requests {
            *answers
                .entry(send(sender.request(kind, n)).await?)
                .or_default() += 1;
        }
        let cpu = meter.stop();
        costs.push(UnitCost {
            kind: kind.label(),
            answers: answers
                .iter()
                .map(|(status, count)| format!("{count} x {status}"))
                .collect::<Vec<_>>()
                .join(", "),
            cpu: cpu.map(|cpu| cpu.edge / u32::try_from(requests).unwrap_or(u32::MAX)),
        });
    }
    Ok(costs)
}

/// Sends `request` and reads the answer to its end; its status.
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<u16> {
    let response = request.timeout(Duration::from_secs(10)).send().await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    Ok(status)
}
