//! A stand-in identity provider: signing keys of every algorithm, and a JWKS endpoint of the
//! test's own on `127.0.0.1:0` (HTTP, or HTTPS with a certificate of a `TestCa`) that can rotate
//! its keys, go down, and count how often it was asked. It serves one route, keeps at most `MAX_KEYS` keys, and stops when dropped.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex,
};

use api::token::{mint, KeyAlgorithm, KeySet};
use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};
use origin::operator::signing_keys;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{test_ca::TestCa, tokens::hour};

/// Most keys the endpoint publishes at once.
const MAX_KEYS: usize = 16;

/// One signing key of the provider.
#[derive(Debug, Clone)]
pub struct ProviderKey {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    private: Value,
    /// The public JWK, as published.
    pub public: Value,
}

impl ProviderKey {
    pub fn generate(algorithm: KeyAlgorithm, kid: &str) -> Self {
        let (private, set) = signing_keys::generate(algorithm, kid).expect("generate a key");
        Self {
            kid: kid.to_owned(),
            algorithm,
            private,
            public: set["keys"][0].clone(),
        }
    }

    /// A one-hour token with `claims` (`TokenClaims`, or any JSON object: a provider's own
    /// layout), signed with this key.
    pub fn token(&self, claims: impl Serialize) -> String {
        let set = KeySet::from_jwks_json(&json!({ "keys": [self.private] }).to_string())
            .expect("a private key set");
        let (kid, key) = set.signing_key(self.algorithm).expect("the signing key");
        mint(key, kid, claims, hour()).expect("mint")
    }
}

/// `{"keys": [...]}` of `keys`' public halves.
pub fn public_set(keys: &[&ProviderKey]) -> String {
    let keys: Vec<&Value> = keys.iter().map(|key| &key.public).collect();
    json!({ "keys": keys }).to_string()
}

#[derive(Debug)]
struct Published {
    jwks: Mutex<String>,
    fetches: AtomicUsize,
    down: AtomicBool,
}

/// The provider's JWKS endpoint.
#[derive(Debug)]
pub struct JwksServer {
    pub url: String,
    published: Arc<Published>,
    task: JoinHandle<()>,
}

impl JwksServer {
    /// Serves `keys` at `{url}` (plain HTTP) with `Cache-Control: max-age=60`.
    pub async fn start(keys: &[&ProviderKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("address")
        );
        Self::serve(listener, url, keys)
    }

    /// Serves `keys` over HTTPS with a certificate `ca` issued, as a self-hosted provider does.
    pub async fn start_https(keys: &[&ProviderKey], ca: &TestCa) -> Self {
        let listener = ca.listen().await;
        let address = axum::serve::Listener::local_addr(&listener).expect("address");
        let url = format!("https://{address}/.well-known/jwks.json");
        Self::serve(listener, url, keys)
    }

    fn serve<L>(listener: L, url: String, keys: &[&ProviderKey]) -> Self
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let published = Arc::new(Published {
            jwks: Mutex::new(String::new()),
            fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/.well-known/jwks.json", get(serve_jwks))
            .with_state(published.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = Self {
            url,
            published,
            task,
        };
        server.publish(keys);
        server
    }

    /// Replaces the published set (a rotation).
    pub fn publish(&self, keys: &[&ProviderKey]) {
        assert!(keys.len() <= MAX_KEYS, "a provider publishes a few keys");
        *self.published.jwks.lock().expect("lock") = public_set(keys);
    }

    /// Makes every fetch fail with 503 (`true`) or succeed again.
    pub fn set_down(&self, down: bool) {
        self.published.down.store(down, Ordering::SeqCst);
    }

    /// Fetches answered so far (down or not).
    pub fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(published): State<Arc<Published>>) -> impl IntoResponse {
    published.fetches.fetch_add(1, Ordering::SeqCst);
    if published.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("cache-control", "no-store")],
            String::new(),
        );
    }
    let jwks = published.jwks.lock().expect("lock").clone();
    (
        StatusCode::OK,
        [("cache-control", "public, max-age=60")],
        jwks,
    )
}
