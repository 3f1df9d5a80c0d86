//! Tokens from an identity provider that publishes its keys at a JWKS URL: every algorithm
//! through the Worker and the origin, a rotation under steady traffic, the provider going down,
//! floods of made-up `kid`s, RS256 -> HS256 confusion, an origin configured by the URL alone, and
//! a provider on HTTPS with a CA of its own. The provider is `JwksServer`, a server of the test's
//! own on 127.0.0.1.

use api::{
    token::{mint, KeyAlgorithm, KeySet, Role, TokenVerifier},
    Problem, ProblemKind,
};
use e2e::edge_hop::SendAsEdge;
use e2e::{
    identity_provider::{JwksServer, ProviderKey},
    origin_process::{OriginConfig, OriginProcess},
    origin_server::app_pool,
    test_ca::TestCa,
    tokens::{claims, hour, AUDIENCE, ISSUER},
    Edge, OriginServer, Shop, TestKeys,
};
use futures::future::join_all;
use origin::{
    token_keys::{KeySetUrl, TokenKeys},
    AppState,
};
use reqwest::StatusCode;
use sqlx::PgPool;
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

const SHOP: &str = "idp.shop.test";

/// A shop whose Worker and origin trust the operator's HS256 key (`JWT_JWKS`) and the
/// provider's set (`JWT_JWKS_URL`).
struct Stage {
    db: PgPool,
    shop: Shop,
    keys: TestKeys,
    provider: JwksServer,
    origin: OriginServer,
    edge: Edge,
}

async fn origin_keys(static_jwks: Option<String>, url: &str) -> TokenKeys {
    let own = KeySet::from_jwks_json(static_jwks.as_deref().unwrap_or(r#"{"keys":[]}"#)).unwrap();
    let base = TokenVerifier::new(own, ISSUER, AUDIENCE);
    TokenKeys::with_provider(base, static_jwks, KeySetUrl::new(url.to_owned()).unwrap()).await
}

impl Stage {
    async fn new(db: PgPool, published: &[&ProviderKey]) -> Self {
        let keys = TestKeys::new();
        let shop = Shop::create(&db, SHOP, &[("CHAIR", 1_000)]).await;
        let provider = JwksServer::start(published).await;
        let tokens = origin_keys(Some(keys.public_jwks()), &provider.url).await;
        let origin = OriginServer::start_with(AppState::new(app_pool(&db).await, tokens)).await;
        let config = e2e::edge::EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
            .var("JWT_JWKS_URL", &provider.url);
        let edge = Edge::start_with(config).await;
        Self {
            db,
            shop,
            keys,
            provider,
            origin,
            edge,
        }
    }

    fn token(&self, key: &ProviderKey) -> String {
        key.token(claims(self.shop.org_id, Role::Shopper, "provider-user"))
    }

    async fn buy_status(&self, token: &str) -> StatusCode {
        let chair = self.shop.item(&self.db, "CHAIR").await;
        let response = self
            .edge
            .buy(SHOP, token, chair.id, 1)
            .send()
            .await
            .unwrap();
        response.status()
    }

    /// `GET /api/purchases/<random>` at the origin directly: 404 once the token passes.
    async fn origin_status(&self, token: &str) -> (StatusCode, Option<Problem>) {
        let url = format!(
            "{}/api/tenant/{}/purchases/{}",
            self.origin.url,
            self.shop.org_id,
            uuid::Uuid::new_v4()
        );
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json::<Problem>().await.ok())
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn every_algorithm_passes_the_worker_and_the_origin(db: PgPool) {
    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "idp-rs256");
    let ps = ProviderKey::generate(KeyAlgorithm::Ps256, "idp-ps256");
    let es = ProviderKey::generate(KeyAlgorithm::Es256, "idp-es256");
    let ed = ProviderKey::generate(KeyAlgorithm::EdDsa, "idp-eddsa");
    let stage = Stage::new(db, &[&rs, &ps, &es, &ed]).await;
    for key in [&rs, &ps, &es, &ed] {
        let token = stage.token(key);
        assert!(
            stage.buy_status(&token).await.is_success(),
            "{:?} through the Worker",
            key.algorithm
        );
        let (status, _) = stage.origin_status(&token).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{:?} at the origin",
            key.algorithm
        );
    }
    let hs = stage
        .keys
        .token(stage.shop.org_id, Role::Shopper, "operator-user");
    assert!(
        stage.buy_status(&hs).await.is_success(),
        "HS256 from JWT_JWKS"
    );
    let (bought, _) = stage.shop.order_totals(&stage.db).await;
    assert_eq!(bought, 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rotation_under_steady_traffic_refuses_nobody(db: PgPool) {
    let old = ProviderKey::generate(KeyAlgorithm::Rs256, "rotation-old");
    let new = ProviderKey::generate(KeyAlgorithm::Rs256, "rotation-new");
    let stage = Stage::new(db, &[&old]).await;
    let mut statuses = Vec::new();
    for step in 0..30 {
        if step == 10 {
            // The provider publishes the new key beside the old, then signs with it.
            stage.provider.publish(&[&old, &new]);
        }
        if step == 20 {
            stage.provider.publish(&[&new]);
        }
        let key = if step < 12 { &old } else { &new };
        statuses.push(stage.buy_status(&stage.token(key)).await);
    }
    assert!(
        statuses.iter().all(StatusCode::is_success),
        "statuses: {statuses:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_provider_down_keeps_cached_keys_working(db: PgPool) {
    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "down-rs256");
    let es = ProviderKey::generate(KeyAlgorithm::Es256, "down-es256");
    let stage = Stage::new(db, &[&rs, &es]).await;
    assert!(stage.buy_status(&stage.token(&rs)).await.is_success());
    stage.provider.set_down(true);
    for key in [&rs, &es, &rs] {
        assert!(stage.buy_status(&stage.token(key)).await.is_success());
        assert_eq!(
            stage.origin_status(&stage.token(key)).await.0,
            StatusCode::NOT_FOUND
        );
    }
    let unknown = ProviderKey::generate(KeyAlgorithm::Es256, "never-published");
    assert_eq!(
        stage.buy_status(&stage.token(&unknown)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn forty_unknown_kids_cost_a_few_fetches(db: PgPool) {
    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "flood-known");
    let stage = Stage::new(db, &[&rs]).await;
    assert!(stage.buy_status(&stage.token(&rs)).await.is_success());
    let before = stage.provider.fetches();
    let strangers: Vec<String> = (0..40)
        .map(|i| {
            let key = ProviderKey::generate(KeyAlgorithm::Es256, &format!("made-up-{i}"));
            stage.token(&key)
        })
        .collect();
    let through_edge = join_all(strangers.iter().map(|t| stage.buy_status(t))).await;
    assert!(through_edge.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    let at_origin = join_all(strangers.iter().map(|t| stage.origin_status(t))).await;
    assert!(at_origin
        .iter()
        .all(|(s, _)| *s == StatusCode::UNAUTHORIZED));
    let fetched = stage.provider.fetches() - before;
    assert!(
        fetched <= 3,
        "80 unknown-kid tokens caused {fetched} fetches"
    );
    assert_eq!(stage.shop.order_totals(&stage.db).await.0, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_hmac_made_with_the_rsa_public_key_is_refused(db: PgPool) {
    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "confusion-rs256");
    let stage = Stage::new(db, &[&rs]).await;
    let claims = claims(stage.shop.org_id, Role::Admin, "attacker");
    // Every form an attacker might feed a confused verifier as the HMAC secret.
    let public_json = rs.public.to_string();
    let modulus = rs.public["n"].as_str().unwrap().to_owned();
    for secret in [public_json.as_bytes(), modulus.as_bytes()] {
        let jwk = serde_json::json!({
            "keys": [{
                "kid": rs.kid,
                "kty": "oct",
                "k": base64_url(secret),
            }]
        });
        let set = KeySet::from_jwks_json(&jwk.to_string()).unwrap();
        let (kid, key) = set.signing_key(KeyAlgorithm::Hs256).unwrap();
        let forged = mint(key, kid, claims.clone(), hour()).unwrap();
        assert_eq!(stage.buy_status(&forged).await, StatusCode::UNAUTHORIZED);
        let (status, problem) = stage.origin_status(&forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(problem.unwrap().is(ProblemKind::Unauthenticated));
    }
    assert_eq!(stage.shop.order_totals(&stage.db).await.0, 0);
}

/// A provider's published set that holds a secret (`oct`) key: whoever reads the set can sign
/// with it, so neither the Worker nor the origin trusts it, even beside keys they do trust.
#[sqlx::test(migrations = "../migrations")]
async fn a_secret_key_in_a_published_set_signs_nothing(db: PgPool) {
    let published_secret = ProviderKey::generate(KeyAlgorithm::Hs256, "published-oct");
    let es = ProviderKey::generate(KeyAlgorithm::Es256, "published-es256");
    let stage = Stage::new(db, &[&published_secret, &es]).await;
    let admin = claims(stage.shop.org_id, Role::Admin, "anyone-who-read-the-set");
    let forged = published_secret.token(admin);
    assert_eq!(stage.buy_status(&forged).await, StatusCode::UNAUTHORIZED);
    let (status, problem) = stage.origin_status(&forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(problem.unwrap().is(ProblemKind::Unauthenticated));
    assert!(
        stage.buy_status(&stage.token(&es)).await.is_success(),
        "the set's public key still works"
    );
    assert_eq!(stage.shop.order_totals(&stage.db).await.0, 1);
}

/// A key set is read from the configured address only: plain `http://` to another host is
/// refused at start-up, and a redirect (to any host, the real provider included) is not followed.
#[sqlx::test(migrations = "../migrations")]
async fn key_sets_come_over_https_from_their_own_address_only(db: PgPool) {
    for plain in [
        "http://203.0.113.7/.well-known/jwks.json",
        "http://idp.example/.well-known/jwks.json",
    ] {
        assert!(KeySetUrl::new(plain.to_owned()).is_err(), "{plain}");
    }
    for allowed in [
        "https://idp.example/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks",
        "http://[::1]:8080/jwks",
        "http://localhost:8080/jwks",
    ] {
        assert!(KeySetUrl::new(allowed.to_owned()).is_ok(), "{allowed}");
    }

    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "redirected-rs256");
    let provider = JwksServer::start(&[&rs]).await;
    let target = provider.url.clone();
    // Counted, so the test cannot pass by never asking the redirecting server at all.
    let redirect_hits = Arc::new(AtomicUsize::new(0));
    let hits = redirect_hits.clone();
    let redirect = axum::Router::new().fallback(move || {
        let target = target.clone();
        hits.fetch_add(1, Ordering::SeqCst);
        async move { axum::response::Redirect::temporary(&target) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirect).await });
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 5)]).await;
    let tokens = origin_keys(None, &redirect_url).await;
    let origin = OriginServer::start_with(AppState::new(app_pool(&db).await, tokens)).await;
    let token = rs.token(claims(shop.org_id, Role::Admin, "redirected"));
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/tenant/{}/admin/audit",
            origin.url, shop.org_id
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        redirect_hits.load(Ordering::SeqCst) >= 1,
        "the key set URL was asked, and answered with a redirect"
    );
    assert_eq!(provider.fetches(), 0, "the redirect was not followed");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    URL_SAFE_NO_PAD.encode(bytes)
}

#[sqlx::test(migrations = "../migrations")]
async fn an_origin_with_the_url_alone_serves_and_fails_closed_without_it(db: PgPool) {
    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "alone-rs256");
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 5)]).await;
    let provider = JwksServer::start(&[&rs]).await;
    let options = db.connect_options();
    let mut config =
        OriginConfig::new(&options, &TestKeys::new()).var("JWT_JWKS_URL", &provider.url);
    config.jwks = String::new();
    let origin = OriginProcess::start(&config).await;
    let token = rs.token(claims(shop.org_id, Role::Shopper, "alone"));
    let url = format!(
        "{}/api/tenant/{}/purchases/{}",
        origin.url,
        shop.org_id,
        uuid::Uuid::new_v4()
    );
    let status = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND, "a valid RS256 token passes");

    // With the provider down from the start and no key of its own, the origin and the Worker
    // answer 503 problem+json: never 500, and never a 401 that would sign the user out.
    provider.set_down(true);
    let tokens = origin_keys(None, &provider.url).await;
    let closed = OriginServer::start_with(AppState::new(app_pool(&db).await, tokens)).await;
    let url = format!(
        "{}/api/tenant/{}/purchases/{}",
        closed.url,
        shop.org_id,
        uuid::Uuid::new_v4()
    );
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let mut edge_config =
        e2e::edge::EdgeConfig::new(&closed.url, std::slice::from_ref(&shop), &TestKeys::new())
            .var("JWT_JWKS_URL", &provider.url);
    edge_config.jwks = String::new();
    let edge = Edge::start_with(edge_config).await;
    let chair = shop.item(&db, "CHAIR").await;
    let response = edge.buy(SHOP, &token, chair.id, 1).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_origin_trusts_claims_the_edge_sealed_for_that_request_only(db: PgPool) {
    const SECRET: &str = "edge-secret-for-sealed-claims-0123456789";
    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "sealed-rs256");
    let keys = TestKeys::new();
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 5)]).await;
    let provider = JwksServer::start(&[&rs]).await;
    let tokens = origin_keys(Some(keys.public_jwks()), &provider.url).await;
    let state = AppState::new(app_pool(&db).await, tokens)
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
    let origin = OriginServer::start_with(state).await;
    let config = e2e::edge::EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
        .var("JWT_JWKS_URL", &provider.url)
        .var("EDGE_SHARED_SECRET", SECRET);
    let edge = Edge::start_with(config).await;
    let chair = shop.item(&db, "CHAIR").await;
    let token = rs.token(claims(shop.org_id, Role::Shopper, "sealed"));
    let bought = edge.buy(SHOP, &token, chair.id, 1).send().await.unwrap();
    assert!(bought.status().is_success(), "{}", bought.status());

    // A request proved as the edge proves still needs a token: a seal made up does not open.
    let forged = reqwest::Client::new()
        .post(format!("{}/api/tenant/{}/buy", origin.url, shop.org_id))
        .header(api::headers::REQUEST_ID, "forged-request")
        .header(api::token::edge_claims::HEADER, "eyJjbGFpbXMiOnt9fQ.AAAA")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&serde_json::json!({"item_id": chair.id, "quantity": 1}))
        .send_as_edge(SECRET)
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(shop.order_totals(&db).await.0, 1);
}

/// A self-hosted provider publishes over HTTPS with a certificate from its own CA: the origin
/// trusts it once `JWT_JWKS_CA_FILE` names that CA, and without it fails closed (503, and the
/// provider never serves it the set), as it does when a CA file holds no certificate.
#[sqlx::test(migrations = "../migrations")]
async fn an_https_provider_is_trusted_through_its_ca_file_and_refused_without(db: PgPool) {
    let ca = TestCa::new();
    let rs = ProviderKey::generate(KeyAlgorithm::Rs256, "https-rs256");
    let provider = JwksServer::start_https(&[&rs], &ca).await;
    assert!(provider.url.starts_with("https://127.0.0.1:"));
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 5)]).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("provider-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let options = db.connect_options();
    let config = |ca_file: Option<&std::path::Path>| {
        let mut config =
            OriginConfig::new(&options, &TestKeys::new()).var("JWT_JWKS_URL", &provider.url);
        config.jwks = String::new();
        match ca_file {
            Some(path) => config.var("JWT_JWKS_CA_FILE", path.to_str().unwrap()),
            None => config,
        }
    };
    let token = rs.token(claims(shop.org_id, Role::Shopper, "tls"));
    let chair = shop.item(&db, "CHAIR").await;
    let buy = |origin: &OriginProcess| {
        reqwest::Client::new()
            .post(format!("{}/api/tenant/{}/buy", origin.url, shop.org_id))
            .bearer_auth(&token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&serde_json::json!({"item_id": chair.id, "quantity": 1}))
            .send()
    };

    let trusting = OriginProcess::start(&config(Some(&ca_file))).await;
    assert_eq!(buy(&trusting).await.unwrap().status(), StatusCode::CREATED);
    let served = provider.fetches();
    assert!(served >= 1);

    let untrusting = OriginProcess::start(&config(None)).await;
    let refused = buy(&untrusting).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(provider.fetches(), served, "no handshake completed");
    assert_eq!(shop.order_totals(&db).await.0, 1);

    let not_a_certificate = files.path().join("empty.pem");
    std::fs::write(&not_a_certificate, "not a certificate\n").unwrap();
    let stopped = tokio::process::Command::new(e2e::origin_process::binary())
        .arg("serve")
        .envs(config(Some(&not_a_certificate)).env)
        .env_remove("JWT_JWKS")
        .env("DATABASE_URL", &config(None).database_url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert!(!stopped.status.success());
    let said = String::from_utf8_lossy(&stopped.stderr);
    assert!(said.contains("JWT_JWKS_CA_FILE"), "{said}");
}
