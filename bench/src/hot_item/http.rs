//! The HTTP level of the hot-item bench: the same three modes against the real router (and the
//! baseline's route) served on 127.0.0.1, 500 concurrent connections.
//!
//! The buyers share the machine with the server and Postgres, so what the load generator costs
//! is taken from them: each buyer has one bare `hyper` HTTP/1.1 connection, opened before the
//! clock starts, rather than a pooled `reqwest` client, which cost about as much CPU per
//! request as the server itself.

use std::sync::Arc;

use api::edge_proof::{self, EdgeProofKey, ProvedRequest};
use api::token::{KeySet, Role, TokenVerifier};
use axum::{
    body::Bytes,
    http::{header, Request},
    middleware,
    routing::post,
    Router,
};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Mutex,
};
use uuid::Uuid;

use super::{
    http_buy,
    load::{self, Answer, LoadResult},
    report::Row,
    Bench, ISSUER,
};
use origin::{
    observability::request_id,
    operator::dev_tokens::{mint_token, TokenRequest},
    AppState, Settings,
};

impl Bench {
    pub(super) async fn http_levels(&self) -> anyhow::Result<Vec<Row>> {
        let served = self.serve_over_http().await?;
        let (baseline_url, product_url, tokens) =
            (served.baseline_url, served.product_url, served.tokens);

        let mut rows = Vec::new();
        for (mode, url, prefer_async) in [
            ("row-lock", &baseline_url, false),
            ("group-commit", &product_url, false),
            ("queue", &product_url, true),
        ] {
            let item = self.new_item(&format!("HTTP-{mode}")).await?;
            let mut result = self
                .http_load(url, item, bearer(tokens.clone()), prefer_async)
                .await;
            let (confirmed, drain) = if prefer_async {
                let drained = self.drain(item).await?;
                result.add_cpu(drained.cpu);
                (drained.confirmed, Some(drained.per_second))
            } else {
                (result.confirmed, None)
            };
            let oversell = self.oversold(item, confirmed).await?;
            let mut row = Self::row("http", mode, result, oversell);
            row.drain_per_second = drain;
            row.sales_per_batch = self.sales_per_batch(item).await?;
            rows.push(row);
        }
        Ok(rows)
    }

    /// The row-lock baseline's route and the product's router, each served on 127.0.0.1 over
    /// this bench's database, and one HS256 token per buyer.
    pub(super) async fn serve_over_http(&self) -> anyhow::Result<Served> {
        let (private, public) =
            origin::operator::signing_keys::generate(api::token::KeyAlgorithm::Hs256, "bench")?;
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
            queue_pending_cap: super::UNCAPPED_QUEUE,
            ..Settings::default()
        };
        let state = AppState::with_settings(self.app.clone(), verifier()?, settings);
        let baseline = Router::new()
            .route("/api/tenant/{org_id}/buy", post(http_buy))
            .layer(middleware::from_fn(request_id::assign))
            .with_state(state.clone());
        Ok(Served {
            baseline_url: spawn_server(baseline).await?,
            product_url: spawn_server(origin::app(state)).await?,
            tokens,
        })
    }

    pub(super) async fn http_load(
        &self,
        base: &str,
        item: Uuid,
        identify: Identify,
        prefer_async: bool,
    ) -> LoadResult {
        let address = base.trim_start_matches("http://").to_owned();
        let path = format!("/api/tenant/{}/buy", self.org_id);
        let body = Bytes::from(serde_json::json!({"item_id": item, "quantity": 1}).to_string());
        // One connection per buyer, kept for the whole run as a browser or wrk keeps its own,
        // opened before the clock starts.
        let connections = Arc::new(open_connections(&address, self.opts.concurrency).await);
        load::run(self.opts.concurrency, self.duration(), move |task, n| {
            let (address, connections) = (address.clone(), connections.clone());
            let mut headers = vec![
                ("content-type", "application/json".to_owned()),
                ("idempotency-key", format!("{item}-{task}-{n}")),
            ];
            headers.extend((identify.headers)(task, n));
            if prefer_async {
                headers.push(("prefer", "respond-async".to_owned()));
            }
            if let Some(key) = &identify.edge_proofs {
                let lookup = |name: &str| {
                    headers
                        .iter()
                        .find(|(bound, _)| *bound == name)
                        .map(|(_, value)| value.as_str())
                };
                let proved = ProvedRequest {
                    method: "POST",
                    path_and_query: &path,
                    body: &body,
                };
                let proof = key.prove(proved, lookup, chrono::Utc::now().timestamp_millis());
                headers.push((edge_proof::HEADER, proof));
            }
            let mut request = Request::post(path.as_str()).header(header::HOST, address.as_str());
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let request = request.body(Full::new(body.clone()));
            async move {
                let mut connection = connections[task].lock().await;
                match send(&mut connection, &address, request).await {
                    Some(201) => Answer::Confirmed,
                    Some(202) => Answer::Accepted,
                    Some(status) if status < 500 => Answer::Refused,
                    _ => Answer::ServerError,
                }
            }
        })
        .await
    }
}

/// What `serve_over_http` started.
pub(super) struct Served {
    pub baseline_url: String,
    pub product_url: String,
    pub tokens: Arc<Vec<String>>,
}

/// The headers of request `n` of buyer `task` that say who is buying.
pub(super) type IdentityHeaders =
    Arc<dyn Fn(usize, u64) -> Vec<(&'static str, String)> + Send + Sync>;

/// Who is buying, and whether each request carries the edge's proof (as the Worker sends it).
#[derive(Clone)]
pub(super) struct Identify {
    pub headers: IdentityHeaders,
    pub edge_proofs: Option<EdgeProofKey>,
}

/// Each buyer's bearer token, as a client calling the origin directly sends it.
pub(super) fn bearer(tokens: Arc<Vec<String>>) -> Identify {
    Identify {
        headers: Arc::new(move |task, _| {
            vec![("authorization", format!("Bearer {}", tokens[task]))]
        }),
        edge_proofs: None,
    }
}

type Connection = Mutex<Option<SendRequest<Full<Bytes>>>>;

/// `count` connections to `address`, a few at a time (a burst of hundreds of connects overflows
/// the listen queue, and a dropped connect is retried only a second later).
async fn open_connections(address: &str, count: usize) -> Vec<Connection> {
    futures::stream::iter(0..count)
        .map(|_| async {
            let mut connection = None;
            // A failure leaves it closed: the first request opens it.
            let _ = connect(&mut connection, address).await;
            Mutex::new(connection)
        })
        .buffered(32)
        .collect()
        .await
}

async fn connect(connection: &mut Option<SendRequest<Full<Bytes>>>, address: &str) -> Option<()> {
    let stream = TcpStream::connect(address).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(driver);
    *connection = Some(sender);
    Some(())
}

/// Sends `request` on this buyer's connection (opening it first if need be) and reads the
/// answer to its end; the status, or `None` if the request or connection failed (the
/// connection is then dropped and the next call opens another).
async fn send(
    connection: &mut Option<SendRequest<Full<Bytes>>>,
    address: &str,
    request: Result<Request<Full<Bytes>>, axum::http::Error>,
) -> Option<u16> {
    let request = request.ok()?;
    if connection.is_none() {
        connect(connection, address).await?;
    }
    let sender = connection.as_mut()?;
    let answered = async {
        sender.ready().await.ok()?;
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        response.into_body().collect().await.ok()?;
        Some(status)
    }
    .await;
    if answered.is_none() {
        *connection = None;
    }
    answered
}

pub(super) async fn spawn_server(router: Router) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}
