//! Two shops behind one origin and one Worker: where tests of what one shop must never see of
//! the other, or of per-shop settings, start.

use origin::{AppState, Settings};
use serde_json::Value;
use sqlx::PgPool;

use crate::{origin_server::app_pool, Edge, EdgeConfig, OriginServer, Shop, TestKeys};

#[derive(Debug)]
pub struct TwoShops {
    pub keys: TestKeys,
    pub a: Shop,
    pub b: Shop,
    pub origin: OriginServer,
    pub edge: Edge,
}

impl TwoShops {
    /// Shops on `domains`, each holding `items` as (sku, stock), with the Worker's
    /// configuration adjusted by `edge`, which is given both shops.
    pub async fn open(
        db: &PgPool,
        domains: [&str; 2],
        items: &[(&str, i32)],
        edge: impl FnOnce(EdgeConfig, &Shop, &Shop) -> EdgeConfig,
    ) -> Self {
        Self::open_with(db, domains, items, Settings::default(), edge).await
    }

    /// Like `open`, with the origin's `settings`.
    pub async fn open_with(
        db: &PgPool,
        domains: [&str; 2],
        items: &[(&str, i32)],
        settings: Settings,
        edge: impl FnOnce(EdgeConfig, &Shop, &Shop) -> EdgeConfig,
    ) -> Self {
        let keys = TestKeys::new();
        let a = Shop::create(db, domains[0], items).await;
        let b = Shop::create(db, domains[1], items).await;
        let state = AppState::with_settings(app_pool(db).await, keys.verifier(), settings);
        let origin = OriginServer::start_with(state).await;
        let config = edge(
            EdgeConfig::new(&origin.url, &[a.clone(), b.clone()], &keys),
            &a,
            &b,
        );
        let edge = Edge::start_with(config).await;
        Self {
            keys,
            a,
            b,
            origin,
            edge,
        }
    }

    /// Shops on `domains` with 100 chairs each, the first one's quotas set to `limits` (its
    /// `RATE_LIMITS` entry): where the rate-limit tests start.
    pub async fn with_limits_on_first(db: &PgPool, domains: [&str; 2], limits: Value) -> Self {
        let quotas =
            |config: EdgeConfig, a: &Shop, _: &Shop| config.shop_rate_limits(a.org_id, limits);
        Self::open(db, domains, &[("CHAIR", 100)], quotas).await
    }
}
