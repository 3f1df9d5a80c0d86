//! One shop behind a running origin and Worker: where most tests start.

use api::token::Role;
use origin::{AppState, Settings};
use reqwest::RequestBuilder;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{origin_server::app_pool, Edge, EdgeConfig, OriginServer, Shop, TestKeys};

#[derive(Debug)]
pub struct Stage {
    pub keys: TestKeys,
    pub shop: Shop,
    pub origin: OriginServer,
    pub edge: Edge,
}

impl Stage {
    /// A shop on `domain` holding `items` as (sku, stock), with default settings.
    pub async fn open(db: &PgPool, domain: &str, items: &[(&str, i32)]) -> Self {
        Self::open_with(db, domain, items, Settings::default()).await
    }

    pub async fn open_with(
        db: &PgPool,
        domain: &str,
        items: &[(&str, i32)],
        settings: Settings,
    ) -> Self {
        Self::open_with_edge(db, domain, items, settings, |config, _| config).await
    }

    /// Like `open_with`, with the Worker's configuration (quotas, vars) adjusted by `edge`,
    /// which is given the new shop.
    pub async fn open_with_edge(
        db: &PgPool,
        domain: &str,
        items: &[(&str, i32)],
        settings: Settings,
        edge: impl FnOnce(EdgeConfig, &Shop) -> EdgeConfig,
    ) -> Self {
        let keys = TestKeys::new();
        let shop = Shop::create(db, domain, items).await;
        let state = AppState::with_settings(app_pool(db).await, keys.verifier(), settings);
        let origin = OriginServer::start_with(state).await;
        let config = edge(
            EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys),
            &shop,
        );
        let edge = Edge::start_with(config).await;
        Self {
            keys,
            shop,
            origin,
            edge,
        }
    }

    /// A token of this shop.
    pub fn token(&self, role: Role, sub: &str) -> String {
        self.keys.token(self.shop.org_id, role, sub)
    }

    /// `POST /api/buy` on this shop as shopper `sub`, with a fresh idempotency key.
    pub fn buy(&self, sub: &str, item_id: Uuid, quantity: i32) -> RequestBuilder {
        self.edge
            .post(&self.shop.domain, "/api/buy")
            .bearer_auth(self.token(Role::Shopper, sub))
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&json!({"item_id": item_id, "quantity": quantity}))
    }
}
