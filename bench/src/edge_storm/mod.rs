//! `cargo run --release -p bench -- edge storm`: a hot-item sale through the real wasm Worker,
//! first quiet, then under a bot storm, with the same honest load; it prints what the honest
//! buyers got in each phase, what the attackers got, what reached the origin, and where the
//! machine's CPU time went.
//!
//! - **Honest buyers** (`honest`): `BUYERS` shoppers per phase arriving at `BUYERS_PER_SECOND`,
//!   each loading the inventory, then buying one unit of that phase's hot item, which has
//!   `SALE_STOCK` units: the last buyers are told it sold out. Units sold must equal the stock
//!   that went (no oversell) and the 201s.
//! - **Attackers** (`attackers`), during the second phase only, from `ATTACK_LEAD` before the
//!   honest buyers until `ATTACK_TAIL` after the last one arrived: cache-busting readers, a
//!   rotating-address scraper and a stream hoarder, each at a fixed rate.
//!
//! The phases run one after the other rather than interleaved: an attack leaves state behind
//! that cannot be switched off at once (streams held until their token expires, cooled-down
//! clients, the shop's counts), so an interleaved "quiet" window would not be quiet. Which
//! comes first is `Order` (quiet first by default; runs alternate it); after an attack the
//! quiet phase waits for the hoarder's streams to end. A warm-up sale before the first phase
//! gives both phases a Worker that has compiled and connected. Both phases sell an item of
//! their own with the same stock, so each has its sold-out end.
//!
//! The goals (`report`) are checked, and a miss exits non-zero: the worse of the reads' and
//! the buys' p99 ratios (attack / quiet) within 1.5x, every honest request answered as a buyer
//! should be in both phases, and origin reads within what a working cache allows.
//!
//! Every quota is the Worker's built-in default, and the origin and Worker share the edge
//! secret as in production. Each buyer is a shopper of their own, far within their write
//! quota, so a refused honest buy is a finding, not the bench's own doing.
//! All load goes to 127.0.0.1, is bounded in count and time, and stops by itself.

mod attackers;
pub mod budgets;
mod cache_bound;
mod cpu_shares;
mod honest;
pub(crate) mod pace;
mod report;
mod unit_costs;
mod world;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::PgPool;

pub use attackers::AttackRates;

use self::{
    attackers::{AttackReport, Hoarder},
    cpu_shares::{CpuShares, PhaseMeter},
    honest::{Buyer, Crowd},
    world::{HotItem, OriginCounts, World},
};

/// Honest buyers per phase.
const BUYERS: usize = 240;
const BUYERS_PER_SECOND: f64 = 24.0;
/// Units of each phase's hot item: three buyers in four get one.
const SALE_STOCK: i32 = 180;
const WARM_UP_BUYERS: usize = 20;
/// The attackers start this long before the honest buyers (bots come before a sale opens),
/// long enough for those that keep one address to pass half their read quota before the first
/// buyer and be refused and cooled down while the sale goes on...
const ATTACK_LEAD: Duration = Duration::from_secs(8);
/// ...and stop this long after the last honest buyer arrived.
const ATTACK_TAIL: Duration = Duration::from_secs(1);
/// How long past its token's expiry a held stream may take to end.
const STREAM_END_GRACE: Duration = Duration::from_secs(5);
/// Between the phases, so the quiet phase's last answers are not in the attack's.
const BETWEEN_PHASES: Duration = Duration::from_secs(2);

/// Requests per second of the cache-busters, and of the scraper, unless told otherwise: with
/// the hoarder's 10, 90 attack requests a second against the honest buyers' 48, about what
/// miniflare's one workerd thread serves on this machine with the honest p99 within 1.5x (see
/// `docs/performance.md` for the rates above it).
pub const DEFAULT_ATTACK_RATE: f64 = 40.0;

/// One phase's figures.
#[derive(Debug)]
struct Phase {
    buyers: Vec<Buyer>,
    elapsed: Duration,
    origin: OriginCounts,
    cpu: Option<CpuShares>,
    sale: SaleCheck,
    attack: Option<AttackReport>,
}

/// The hot item's books after a phase.
#[derive(Debug, Clone, Copy)]
struct SaleCheck {
    stock: i32,
    left: i32,
    units_sold: i64,
    orders: i64,
    /// Buys answered 201.
    created: usize,
}

impl SaleCheck {
    fn oversold(&self) -> bool {
        self.units_sold != i64::from(self.stock - self.left)
            || self.left < 0
            || usize::try_from(self.orders).ok() != Some(self.created)
    }
}

/// Which phase runs first. Runs of the bench alternate it (`scripts/bench-readme` does), so
/// whatever drifts during a run (the machine, the tables, the isolate) weighs on both phases
/// alike across runs rather than always on the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Order {
    #[default]
    QuietFirst,
    AttackFirst,
}

pub async fn run(owner: &PgPool, rates: AttackRates, order: Order) -> anyhow::Result<()> {
    let world = Arc::new(World::open(owner, WARM_UP_BUYERS as i32 / 2, SALE_STOCK).await?);
    let crowd = |first| Crowd {
        first,
        count: BUYERS,
        per_second: BUYERS_PER_SECOND,
    };
    let warm_up = Crowd {
        first: 0,
        count: WARM_UP_BUYERS,
        per_second: BUYERS_PER_SECOND,
    };
    honest::sale(&world, world.warm_up, warm_up).await;

    let lifetime = ATTACK_LEAD + sale_duration() + ATTACK_TAIL + Duration::from_secs(1);
    let quiet_phase = || phase(&world, world.quiet, crowd(WARM_UP_BUYERS), None);
    let (quiet, attack, streams_ended) = match order {
        Order::QuietFirst => {
            let quiet = quiet_phase().await?;
            tokio::time::sleep(BETWEEN_PHASES).await;
            let hoarder = Hoarder::new(&world, lifetime)?;
            let attack = attack_phase(&world, crowd(WARM_UP_BUYERS + BUYERS), rates, &hoarder);
            let attack = attack.await?;
            let ended = hoarder.streams_ended_after_expiry(STREAM_END_GRACE).await;
            (quiet, attack, ended)
        }
        Order::AttackFirst => {
            let hoarder = Hoarder::new(&world, lifetime)?;
            let attack = attack_phase(&world, crowd(WARM_UP_BUYERS + BUYERS), rates, &hoarder);
            let attack = attack.await?;
            // The hoarder's streams end before the quiet phase starts, as they would have
            // ended before a sale that came after the storm.
            let ended = hoarder.streams_ended_after_expiry(STREAM_END_GRACE).await;
            tokio::time::sleep(BETWEEN_PHASES).await;
            (quiet_phase().await?, attack, ended)
        }
    };
    let unit_costs = unit_costs::measure(&world).await?;

    let missed = report::print(&report::Run {
        rates,
        order,
        quiet: &quiet,
        attack: &attack,
        streams_ended: &streams_ended,
        unit_costs: &unit_costs,
    });
    anyhow::ensure!(
        !quiet.sale.oversold() && !attack.sale.oversold(),
        "the books do not add up: quiet {:?}, attack {:?}",
        quiet.sale,
        attack.sale
    );
    anyhow::ensure!(
        missed.is_empty(),
        "the storm missed {} goal(s): {}",
        missed.len(),
        missed.join("; ")
    );
    Ok(())
}

async fn attack_phase(
    world: &Arc<World>,
    crowd: Crowd,
    rates: AttackRates,
    hoarder: &Hoarder,
) -> anyhow::Result<Phase> {
    phase(world, world.attack, crowd, Some((rates, hoarder))).await
}

fn sale_duration() -> Duration {
    Duration::from_secs_f64(BUYERS as f64 / BUYERS_PER_SECOND)
}

/// One phase: the sale of `item` to `crowd`, under attack when `attack` is given.
async fn phase(
    world: &Arc<World>,
    item: HotItem,
    crowd: Crowd,
    attack: Option<(AttackRates, &Hoarder)>,
) -> anyhow::Result<Phase> {
    let before = world.origin_counts().await?;
    let meter = PhaseMeter::start(&world.groups);
    let started = Instant::now();
    let (buyers, attack) = match attack {
        None => (honest::sale(world, item, crowd).await, None),
        Some((rates, hoarder)) => {
            let deadline = started + ATTACK_LEAD + sale_duration() + ATTACK_TAIL;
            let sale = async {
                tokio::time::sleep(ATTACK_LEAD).await;
                honest::sale(world, item, crowd).await
            };
            let (buyers, attack) =
                tokio::join!(sale, attackers::attack(world, rates, deadline, hoarder));
            (buyers, Some(attack?))
        }
    };
    let elapsed = started.elapsed();
    let cpu = meter.stop();
    let origin = world.origin_counts().await?.since(before);
    let (units_sold, orders, left) = world.sold(item).await?;
    let created = buyers.iter().filter(|b| b.buy.status == Some(201)).count();
    Ok(Phase {
        buyers,
        elapsed,
        origin,
        cpu,
        sale: SaleCheck {
            stock: item.stock,
            left,
            units_sold,
            orders,
            created,
        },
        attack,
    })
}
