//! The storm's world: one shop with a small catalogue and a hot item per phase, the origin
//! in-process and the real wasm Worker under miniflare in front of it, sharing the edge secret
//! as in production (so write positions are sealed and a forged one can be told apart). Every
//! quota is the Worker's built-in default: nothing is loosened for the bench.

use std::time::Duration;

use anyhow::Context;
use api::{cursor::Cursors, token::Role};
use e2e::{origin_server::app_pool, Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use origin::AppState;
use sqlx::PgPool;
use uuid::Uuid;

use super::cpu_shares::Groups;

pub const DOMAIN: &str = "storm.bench.test";
/// A second shop behind the same Worker, where the cost of single requests is measured with
/// none of the storm's state (quotas used, clients cooled down).
pub const COSTS_DOMAIN: &str = "costs.bench.test";
const SECRET: &str = "edge-secret-of-the-storm-bench-012345678";
/// Items besides the hot ones: what the scraper pages through.
const CATALOGUE: usize = 57;
/// Items per page the scraper asks for (`limit`).
pub const SCRAPER_PAGE: usize = 20;

/// The hot item of each stretch of the run, with its stock.
#[derive(Debug, Clone, Copy)]
pub struct HotItem {
    pub id: Uuid,
    pub stock: i32,
}

#[derive(Debug)]
pub struct World {
    pub owner: PgPool,
    pub shop: Shop,
    pub keys: TestKeys,
    pub origin: OriginServer,
    pub edge: Edge,
    pub warm_up: HotItem,
    pub quiet: HotItem,
    pub attack: HotItem,
    /// The costs shop, and the item its buyers buy.
    pub costs_shop: Shop,
    pub costs_item: Uuid,
    /// The `after` cursors of the scraper's pages, in the origin's order (`None`: the first).
    pub pages: Vec<Option<String>>,
    /// Whose processes are whose, for the CPU shares.
    pub groups: Groups,
}

/// Requests the origin answered, from its `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OriginCounts {
    /// `GET` of the inventory list and of single items.
    pub inventory_reads: f64,
    /// `GET` of the event stream (opened or refused).
    pub event_streams: f64,
}

impl OriginCounts {
    pub fn since(self, start: Self) -> Self {
        Self {
            inventory_reads: self.inventory_reads - start.inventory_reads,
            event_streams: self.event_streams - start.event_streams,
        }
    }
}

impl World {
    pub async fn open(owner: &PgPool, warm_up_stock: i32, sale_stock: i32) -> anyhow::Result<Self> {
        let skus: Vec<String> = (0..CATALOGUE).map(|n| format!("SKU-{n:02}")).collect();
        // Names sort the hot items ("Item HOT-...") before the catalogue ("Item SKU-..."), so
        // they are on the first page, where a buyer finds them.
        let mut items = vec![
            ("HOT-WARM-UP", warm_up_stock),
            ("HOT-QUIET", sale_stock),
            ("HOT-ATTACK", sale_stock),
        ];
        items.extend(skus.iter().map(|sku| (sku.as_str(), 100)));
        let shop = Shop::create(owner, DOMAIN, &items).await;
        let costs_shop = Shop::create(owner, COSTS_DOMAIN, &[("COST", 1_000_000)]).await;
        let costs_item = costs_shop.item(owner, "COST").await.id;
        let keys = TestKeys::new();
        let state = AppState::new(app_pool(owner).await, keys.verifier())
            .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
        let origin = OriginServer::start_with(state).await;
        let config = EdgeConfig::new(&origin.url, &[shop.clone(), costs_shop.clone()], &keys)
            .var("EDGE_SHARED_SECRET", SECRET)
            .storage_in_memory();
        let edge = Edge::start_with(config).await;
        let hot = |sku: &'static str, stock: i32| {
            let shop = &shop;
            async move {
                HotItem {
                    id: shop.item(owner, sku).await.id,
                    stock,
                }
            }
        };
        let (warm_up, quiet, attack) = (
            hot("HOT-WARM-UP", warm_up_stock).await,
            hot("HOT-QUIET", sale_stock).await,
            hot("HOT-ATTACK", sale_stock).await,
        );
        let pages = page_cursors(owner, shop.org_id).await?;
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(owner)
            .await?;
        let groups = Groups {
            edge_group: edge.process_group(),
            database,
        };
        Ok(Self {
            owner: owner.clone(),
            shop,
            costs_shop,
            costs_item,
            keys,
            origin,
            edge,
            warm_up,
            quiet,
            attack,
            pages,
            groups,
        })
    }

    /// A one-hour shopper token of this shop for `sub`.
    pub fn token(&self, sub: &str) -> String {
        self.keys.token(self.shop.org_id, Role::Shopper, sub)
    }

    /// `url` of the Worker for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.edge.url)
    }

    /// What the origin has answered so far, from its `/metrics`.
    pub async fn origin_counts(&self) -> anyhow::Result<OriginCounts> {
        let metrics = self
            .edge
            .http
            .get(format!("{}/metrics", self.origin.url))
            .timeout(Duration::from_secs(10))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let answered = |route: &str| -> f64 {
            metrics
                .lines()
                .filter(|line| {
                    line.starts_with("origin_http_requests_total{")
                        && line.contains(r#"method="GET""#)
                        && line.contains(&format!(r#"route="{route}""#))
                })
                .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum()
        };
        Ok(OriginCounts {
            inventory_reads: answered("/api/tenant/{org_id}/inventory")
                + answered("/api/tenant/{org_id}/inventory/{item_id}"),
            event_streams: answered("/api/tenant/{org_id}/events"),
        })
    }

    /// How many of `item`'s units were sold (summed over its orders), how many orders, and the
    /// stock left, straight from the database.
    pub async fn sold(&self, item: HotItem) -> anyhow::Result<(i64, i64, i32)> {
        let (units, orders): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(quantity), 0)::bigint, count(*) FROM orders
             WHERE organization_id = $1 AND item_id = $2",
        )
        .bind(self.shop.org_id)
        .bind(item.id)
        .fetch_one(&self.owner)
        .await?;
        let left: i32 = sqlx::query_scalar(
            "SELECT stock FROM inventory WHERE organization_id = $1 AND id = $2",
        )
        .bind(self.shop.org_id)
        .bind(item.id)
        .fetch_one(&self.owner)
        .await?;
        Ok((units, orders, left))
    }
}

/// The cursors a reader paging through the whole list with `limit=SCRAPER_PAGE` sends, in the
/// origin's order (by name, then id), ending with the cursor past the last item: sealed as the
/// origin seals them, since the edge refuses any other.
async fn page_cursors(owner: &PgPool, org_id: Uuid) -> anyhow::Result<Vec<Option<String>>> {
    let cursors = Cursors::from_edge_secret(Some(SECRET.as_bytes()));
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM inventory WHERE organization_id = $1 ORDER BY name, id")
            .bind(org_id)
            .fetch_all(owner)
            .await
            .context("list the catalogue")?;
    let mut pages = vec![None];
    pages.extend(
        ids.chunks(SCRAPER_PAGE)
            .filter_map(|page| page.last().map(|id| Some(cursors.issue(org_id, *id)))),
    );
    Ok(pages)
}
