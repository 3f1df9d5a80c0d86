//! `cargo run --release -p bench -- edge drop`: a hype drop through the real wasm Worker with
//! the shipped defaults, as a new shop would run it.
//!
//! - **(a) the first wave**: 2,000 shoppers at once for 1,000 units by default (`Wave`:
//!   `--drop-shoppers 20000 --drop-units 10000` is the big drop);
//! - **(b) the crowd after the sell-out**: `CROWD_ATTEMPTS` shoppers for `CROWD_STOCK` units,
//!   so most buys come after the item is gone;
//! - **(c) a read flood** (`flood`): unknown item ids from `FLOOD_ADDRESSES` addresses, with
//!   the shop's admins and shoppers reading during it, and the owner pausing the sale and
//!   restocking through the edge.
//!
//! Every shopper has their own token and address (`CF-Connecting-IP`), and retries per
//! `Retry-After` at most three times with the same `Idempotency-Key` (`shopper`). Per phase it
//! prints units sold and the time to sell out, the buys that reached the origin (counted at the
//! origin), sold-out answers from the edge (`X-Edge-Refusal`) and from the origin, 429 and 503
//! counts, p50 and p99 per kind of answer, other 5xx, and whether stock + units sold = the
//! initial stock. Then its checks (`checks`): every unit sold and as many 201s as units sold in
//! (a) and (b), no 5xx and no shopper refused in (a), every admin read and shopper's list read
//! answered in (c); a miss exits non-zero, naming it. Everything runs on 127.0.0.1, and each
//! phase stops within a minute at the default sizes.

mod checks;
mod flood;
mod report;
mod shopper;

use std::{sync::Arc, time::Instant};

use api::token::Role;
use e2e::{origin_server::app_pool, Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use futures::{stream, StreamExt};
use origin::AppState;
use sqlx::PgPool;
use uuid::Uuid;

use self::{
    report::{Books, PhaseReport},
    shopper::Shopper,
};

pub const DOMAIN: &str = "drop.bench.test";
const SECRET: &str = "edge-secret-of-the-drop-bench-0123456789ab";
const CROWD_ATTEMPTS: usize = 10_000;
const CROWD_STOCK: i32 = 200;
/// Connections the shoppers hold open at once: they all arrive at once, and each waits its turn
/// for a connection as a browser queue would.
const CONNECTIONS: usize = 256;

/// The first wave's size: shoppers arriving at once and the units they buy.
#[derive(Debug, Clone, Copy)]
pub struct Wave {
    pub shoppers: usize,
    pub units: i32,
}

/// The shop, the origin in front of its database and the Worker in front of the origin.
pub struct World {
    pub owner: PgPool,
    pub shop: Shop,
    pub keys: TestKeys,
    pub origin: OriginServer,
    pub edge: Edge,
}

impl World {
    async fn open(owner: &PgPool, wave: Wave) -> anyhow::Result<Self> {
        let shop = Shop::create(
            owner,
            DOMAIN,
            &[("WAVE", wave.units), ("CROWD", CROWD_STOCK), ("CHAIR", 50)],
        )
        .await;
        let keys = TestKeys::new();
        let state = AppState::new(app_pool(owner).await, keys.verifier())
            .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
        let origin = OriginServer::start_with(state).await;
        let config = EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
            .var("EDGE_SHARED_SECRET", SECRET)
            .storage_in_memory();
        let edge = Edge::start_with(config).await;
        Ok(Self {
            owner: owner.clone(),
            shop,
            keys,
            origin,
            edge,
        })
    }

    pub fn token(&self, role: Role, sub: &str) -> String {
        self.keys.token(self.shop.org_id, role, sub)
    }

    async fn item(&self, sku: &str) -> Uuid {
        self.shop.item(&self.owner, sku).await.id
    }

    fn buys_at_origin(&self) -> usize {
        self.origin.log.count_ending_with("/buy")
    }

    /// Units sold of `item` (summed over its orders) and the stock left.
    async fn books(&self, item: Uuid, initial: i32) -> anyhow::Result<Books> {
        let (sold,): (i64,) = sqlx::query_as(
            "SELECT coalesce(sum(quantity), 0)::bigint FROM orders
             WHERE organization_id = $1 AND item_id = $2",
        )
        .bind(self.shop.org_id)
        .bind(item)
        .fetch_one(&self.owner)
        .await?;
        let (left,): (i32,) =
            sqlx::query_as("SELECT stock FROM inventory WHERE organization_id = $1 AND id = $2")
                .bind(self.shop.org_id)
                .bind(item)
                .fetch_one(&self.owner)
                .await?;
        Ok(Books {
            initial,
            sold,
            left,
        })
    }
}

pub async fn run(owner: &PgPool, size: Wave) -> anyhow::Result<()> {
    let world = Arc::new(World::open(owner, size).await?);
    println!("== edge drop: a hype drop through the Worker, shipped defaults ==");
    let wave = sale(&world, "WAVE", size.units, 0, size.shoppers).await?;
    wave.print(&format!(
        "(a) {} shoppers at once for {} units",
        size.shoppers, size.units
    ));
    let crowd = sale(&world, "CROWD", CROWD_STOCK, size.shoppers, CROWD_ATTEMPTS).await?;
    crowd.print(&format!(
        "(b) {CROWD_ATTEMPTS} shoppers for {CROWD_STOCK} units"
    ));
    let flooded = flood::run(&world).await?;
    flooded.print();
    let missed = checks::of(&wave, &crowd, &flooded);
    anyhow::ensure!(
        missed.is_empty(),
        "the drop missed {} check(s): {}",
        missed.len(),
        missed.join("; ")
    );
    Ok(())
}

/// Shoppers `first..first + count` each buy one unit of `sku`, all arriving at once.
async fn sale(
    world: &Arc<World>,
    sku: &str,
    stock: i32,
    first: usize,
    count: usize,
) -> anyhow::Result<PhaseReport> {
    let item_id = world.item(sku).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()?;
    // Tokens are minted before the clock starts: a shopper arrives with one.
    let shoppers: Vec<Shopper> = (first..first + count)
        .map(|n| Shopper {
            edge_url: world.edge.url.clone(),
            domain: DOMAIN,
            token: world.token(Role::Shopper, &format!("shopper-{n}")),
            address: shopper::address(n),
            item_id,
        })
        .collect();
    let at_origin = world.buys_at_origin();
    let started = Instant::now();
    let shoppers: Vec<_> = stream::iter(shoppers)
        .map(|shopper| {
            let http = http.clone();
            async move { shopper.buy(&http, started).await }
        })
        .buffer_unordered(CONNECTIONS)
        .collect()
        .await;
    let elapsed = started.elapsed();
    Ok(PhaseReport {
        shoppers,
        elapsed,
        reached_origin: world.buys_at_origin() - at_origin,
        books: world.books(item_id, stock).await?,
    })
}
