//! The HTTP level of the hot-item bench: the same three modes against the real router (and the
//! baseline's route) served on 127.0.0.1, 500 concurrent connections.

use std::{sync::Arc, time::Duration};

use api::token::{KeySet, Role, TokenVerifier};
use axum::{middleware, routing::post, Router};
use tokio::net::TcpListener;
use uuid::Uuid;

use super::{
    http_buy,
    load::{self, Answer, LoadResult},
    report::Row,
    Bench, ISSUER,
};
use crate::{
    dev_tokens::{mint_token, TokenRequest},
    request_id,
    state::{AppState, Settings},
};

impl Bench {
    pub(super) async fn http_levels(&self) -> anyhow::Result<Vec<Row>> {
        let (private, public) = crate::keys::generate(api::token::KeyAlgorithm::Hs256, "bench")?;
        let signing =
            KeySet::from_jwks_json(&serde_json::json!({ "keys": [private] }).to_string())?;
        let verifier = || -> anyhow::Result<TokenVerifier> {
            Ok(TokenVerifier::new(
                KeySet::from_jwks_json(&public.to_string())?,
                ISSUER,
                ISSUER,
            ))
        };
        let tokens: Arc<Vec<String>> = Arc::new(
            (0..self.opts.concurrency)
                .map(|task| {
                    mint_token(
                        &signing,
                        &TokenRequest {
                            org_id: self.org_id,
                            role: Role::Shopper,
                            sub: format!("http-buyer-{task}"),
                            issuer: ISSUER.into(),
                            audience: ISSUER.into(),
                            ttl: chrono::Duration::hours(1),
                            algorithm: api::token::KeyAlgorithm::Hs256,
                        },
                    )
                })
                .collect::<anyhow::Result<_>>()?,
        );
        let settings = Settings {
            queue_workers: 0,
            max_batch: self.opts.max_batch,
            ..Settings::default()
        };
        let state = AppState::with_settings(self.app.clone(), verifier()?, settings);
        let baseline = Router::new()
            .route("/api/tenant/{org_id}/buy", post(http_buy))
            .layer(middleware::from_fn(request_id::assign))
            .with_state(state.clone());
        let baseline_url = spawn_server(baseline).await?;
        let product_url = spawn_server(crate::app(state)).await?;

        let mut rows = Vec::new();
        for (mode, url, prefer_async) in [
            ("row-lock", &baseline_url, false),
            ("group-commit", &product_url, false),
            ("queue", &product_url, true),
        ] {
            let item = self.new_item(&format!("HTTP-{mode}")).await?;
            let result = self
                .http_load(url, item, tokens.clone(), prefer_async)
                .await;
            let (confirmed, drain) = if prefer_async {
                let (confirmed, rate) = self.drain(item).await?;
                (confirmed, Some(rate))
            } else {
                (result.confirmed, None)
            };
            let oversell = self.oversold(item, confirmed).await?;
            let mut row = Self::row("http", mode, result, oversell);
            row.drain_per_second = drain;
            rows.push(row);
        }
        Ok(rows)
    }

    async fn http_load(
        &self,
        base: &str,
        item: Uuid,
        tokens: Arc<Vec<String>>,
        prefer_async: bool,
    ) -> LoadResult {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(self.opts.concurrency)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        let url = format!("{base}/api/tenant/{}/buy", self.org_id);
        let body = serde_json::json!({"item_id": item, "quantity": 1}).to_string();
        load::run(self.opts.concurrency, self.duration(), move |task, n| {
            let mut request = client
                .post(&url)
                .bearer_auth(&tokens[task])
                .header("content-type", "application/json")
                .header("idempotency-key", format!("{item}-{task}-{n}"))
                .body(body.clone());
            if prefer_async {
                request = request.header("prefer", "respond-async");
            }
            async move {
                // The body is read to its end so the connection goes back to the pool.
                let status = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.bytes().await.map(|_| status)
                    }
                    Err(err) => Err(err),
                };
                match status {
                    Ok(201) => Answer::Confirmed,
                    Ok(202) => Answer::Accepted,
                    Ok(status) if status < 500 => Answer::Refused,
                    _ => Answer::ServerError,
                }
            }
        })
        .await
    }
}

async fn spawn_server(router: Router) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}
