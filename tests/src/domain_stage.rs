//! Shops whose owners manage their own domains: an origin with custom-domain settings (where
//! its checks look, Cloudflare or not) behind a Worker that trusts it with the edge's secret,
//! and the owner's calls through the Worker on the shop's domain.

use api::{domains::HOST_LOOKUP, token::Role};
use origin::{domains::DomainSettings, AppState, Settings};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::{
    edge_hop::{edge_secret, SendAsEdge, EDGE_SECRET},
    origin_server::app_pool,
    Edge, EdgeConfig, OriginServer, Shop, TestKeys,
};

#[derive(Debug)]
pub struct DomainStage {
    pub keys: TestKeys,
    pub shops: Vec<Shop>,
    pub origin: OriginServer,
    pub edge: Edge,
}

impl DomainStage {
    /// One shop per entry of `domains` (each its primary), the origin checking domains as
    /// `settings` say, the Worker on `edge_port` (0: any).
    pub async fn open(
        db: &PgPool,
        domains: &[&str],
        settings: DomainSettings,
        edge_port: u16,
    ) -> Self {
        let keys = TestKeys::new();
        let mut shops = Vec::new();
        for domain in domains {
            shops.push(Shop::create(db, domain, &[("CHAIR", 5)]).await);
        }
        let state =
            AppState::with_settings(app_pool(db).await, keys.verifier(), Settings::default())
                .with_edge_secret(Some(edge_secret(EDGE_SECRET)))
                .with_domains(settings);
        let origin = OriginServer::start_with(state).await;
        let config = EdgeConfig::new(&origin.url, &shops, &keys)
            .var("EDGE_SHARED_SECRET", EDGE_SECRET)
            .var("MF_PORT", edge_port.to_string());
        let edge = Edge::start_with(config).await;
        Self {
            keys,
            shops,
            origin,
            edge,
        }
    }

    /// An admin's call of `path` on shop `shop`'s domain, through the Worker.
    pub async fn admin(
        &self,
        shop: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let owner = &self.shops[shop];
        let mut request = self
            .edge
            .request(method, &owner.domain, path)
            .bearer_auth(self.keys.token(owner.org_id, Role::Admin, "owner"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the Worker answers")
    }

    /// `POST /api/admin/domains` by shop `shop`'s owner.
    pub async fn claim(&self, shop: usize, hostname: &str) -> Response {
        self.admin(
            shop,
            Method::POST,
            "/api/admin/domains",
            Some(json!({"hostname": hostname})),
        )
        .await
    }

    /// `POST /api/admin/domains/{hostname}/verify` by shop `shop`'s owner.
    pub async fn verify(&self, shop: usize, hostname: &str) -> Response {
        self.admin(
            shop,
            Method::POST,
            &format!("/api/admin/domains/{hostname}/verify"),
            None,
        )
        .await
    }

    /// The shop's domains as its owner lists them.
    pub async fn list(&self, shop: usize) -> Vec<Value> {
        let response = self
            .admin(shop, Method::GET, "/api/admin/domains", None)
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        body["domains"].as_array().cloned().unwrap_or_default()
    }

    /// The edge's lookup of `hostname`, asked of the origin with the edge's proof.
    pub async fn lookup(&self, hostname: &str) -> Value {
        let url = format!(
            "{}{}",
            self.origin.url,
            HOST_LOOKUP.replace("{hostname}", hostname)
        );
        let response = reqwest::Client::new()
            .get(url)
            .send_as_edge(EDGE_SECRET)
            .await
            .expect("the origin answers");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON")
    }
}
