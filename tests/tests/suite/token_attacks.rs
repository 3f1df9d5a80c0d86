//! Every way a token can be wrong, each refused through the Worker with problem+json and
//! nothing written. The origin runs the same verifier; `tenant_isolation.rs` calls it directly.

use api::{
    token::{KeyAlgorithm, Lifetime, Role, TokenClaims},
    Problem, ProblemKind,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{Duration, Utc};
use e2e::{
    tokens::{claims, hour, ES256_KID},
    Edge, OriginServer, Shop, TestKeys,
};
use jwt_compact::{
    alg::{Hs256, Hs256Key},
    AlgorithmExt, Claims, Header,
};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

const SHOP_A: &str = "a.shop.test";
const SHOP_B: &str = "b.shop.test";

struct Attack {
    db: PgPool,
    keys: TestKeys,
    a: Shop,
    b: Shop,
    edge: Edge,
    _origin: OriginServer,
}

impl Attack {
    async fn new(db: PgPool) -> Self {
        let keys = TestKeys::new();
        let a = Shop::create(&db, SHOP_A, &[("CHAIR", 5)]).await;
        let b = Shop::create(&db, SHOP_B, &[("CHAIR", 5)]).await;
        let origin = OriginServer::start(&db, &keys).await;
        let edge = Edge::start(&origin.url, &[a.clone(), b.clone()], &keys).await;
        Self {
            db,
            keys,
            a,
            b,
            edge,
            _origin: origin,
        }
    }

    fn shopper_claims(&self) -> TokenClaims {
        claims(self.a.org_id, Role::Shopper, "attacker")
    }

    /// Tries to buy on shop A with `token`; asserts the status, the problem body, and that no
    /// order was written and no stock moved.
    async fn refused(&self, token: &str, expected: StatusCode) -> Problem {
        let chair = self.a.item(&self.db, "CHAIR").await;
        let response = self
            .edge
            .post(SHOP_A, "/api/buy")
            .bearer_auth(token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"item_id": chair.id, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Problem = response.json().await.unwrap();
        assert_eq!(problem.status, expected.as_u16());
        assert_eq!(self.a.order_totals(&self.db).await, (0, 0));
        assert_eq!(self.a.item(&self.db, "CHAIR").await.stock, 5);
        problem
    }

    async fn unauthenticated(&self, token: &str) {
        let problem = self.refused(token, StatusCode::UNAUTHORIZED).await;
        assert!(problem.is(ProblemKind::Unauthenticated), "{problem:?}");
    }
}

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn payload(claims: &TokenClaims) -> serde_json::Value {
    let now = Utc::now().timestamp();
    let mut value = serde_json::to_value(claims).unwrap();
    value["iat"] = json!(now);
    value["exp"] = json!(now + 3600);
    value
}

#[sqlx::test(migrations = "../migrations")]
async fn no_token(db: PgPool) {
    let attack = Attack::new(db).await;
    let chair = attack.a.item(&attack.db, "CHAIR").await;
    let response = attack
        .edge
        .post(SHOP_A, "/api/buy")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"item_id": chair.id, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(attack.a.order_totals(&attack.db).await, (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn alg_none(db: PgPool) {
    let attack = Attack::new(db).await;
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": ES256_KID})),
        b64(&payload(&attack.shopper_claims()))
    );
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn hs256_signed_with_the_es256_public_key(db: PgPool) {
    let attack = Attack::new(db).await;
    // The classic confusion: use the published public key as an HMAC secret.
    let public_key_bytes = attack.keys.es256_public.to_string().into_bytes();
    let header = Header::empty().with_key_id(ES256_KID);
    let mut claims = Claims::new(attack.shopper_claims());
    claims.expiration = Some(Utc::now() + Duration::hours(1));
    let token = Hs256
        .token(&header, &claims, &Hs256Key::new(public_key_bytes))
        .unwrap();
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn expired(db: PgPool) {
    let attack = Attack::new(db).await;
    let now = Utc::now();
    let lifetime = Lifetime {
        issued_at: now - Duration::hours(2),
        not_before: None,
        expires_at: now - Duration::minutes(2),
    };
    let token = attack
        .keys
        .token_with(KeyAlgorithm::Es256, attack.shopper_claims(), lifetime);
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn not_valid_before_a_future_time(db: PgPool) {
    let attack = Attack::new(db).await;
    let now = Utc::now();
    let lifetime = Lifetime {
        issued_at: now,
        not_before: Some(now + Duration::minutes(5)),
        expires_at: now + Duration::hours(1),
    };
    let token = attack
        .keys
        .token_with(KeyAlgorithm::EdDsa, attack.shopper_claims(), lifetime);
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn wrong_issuer(db: PgPool) {
    let attack = Attack::new(db).await;
    let mut claims = attack.shopper_claims();
    claims.iss = "someone-else".into();
    let token = attack.keys.token_with(KeyAlgorithm::Hs256, claims, hour());
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn wrong_audience(db: PgPool) {
    let attack = Attack::new(db).await;
    let mut claims = attack.shopper_claims();
    claims.aud = api::token::Audience::Many(vec!["another-app".into()]);
    let token = attack.keys.token_with(KeyAlgorithm::Es256, claims, hour());
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_kid(db: PgPool) {
    let attack = Attack::new(db).await;
    let stranger = TestKeys::new();
    let token = stranger.token(attack.a.org_id, Role::Shopper, "attacker");
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn tampered_payload(db: PgPool) {
    let attack = Attack::new(db).await;
    let honest = attack
        .keys
        .token_with(KeyAlgorithm::Es256, attack.shopper_claims(), hour());
    let parts: Vec<&str> = honest.split('.').collect();
    let mut forged = attack.shopper_claims();
    forged.app_metadata.role = Role::Admin;
    let token = format!("{}.{}.{}", parts[0], b64(&payload(&forged)), parts[2]);
    attack.unauthenticated(&token).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn valid_token_of_another_shop(db: PgPool) {
    let attack = Attack::new(db).await;
    let token = attack.keys.token(attack.b.org_id, Role::Admin, "b-admin");
    let problem = attack.refused(&token, StatusCode::FORBIDDEN).await;
    assert!(problem.is(ProblemKind::Forbidden));
    assert_eq!(attack.b.order_totals(&attack.db).await, (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn shopper_on_an_admin_route(db: PgPool) {
    let attack = Attack::new(db).await;
    let token = attack.keys.token(attack.a.org_id, Role::Shopper, "shopper");
    let response = attack
        .edge
        .post(SHOP_A, "/api/admin/items")
        .bearer_auth(&token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"sku": "NEW", "name": "New", "price_cents": 1, "stock": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(ProblemKind::Forbidden));
    let items: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM inventory WHERE organization_id = $1"#,
        attack.a.org_id
    )
    .fetch_one(&attack.db)
    .await
    .unwrap();
    assert_eq!(items, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn nine_kibibyte_token(db: PgPool) {
    let attack = Attack::new(db).await;
    let mut claims = attack.shopper_claims();
    claims.sub = "x".repeat(9 * 1024);
    let token = attack.keys.token_with(KeyAlgorithm::Hs256, claims, hour());
    let problem = attack.refused(&token, StatusCode::UNAUTHORIZED).await;
    assert!(problem.detail.contains("larger than"), "{problem:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn junk_base64_and_json(db: PgPool) {
    let attack = Attack::new(db).await;
    for junk in [
        "not-a-token",
        "%%%.###.@@@",
        "eyJhbGciOiJIUzI1NiJ9.!!!!.abc",
        &format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "HS256", "kid": "test-hs256"})),
            URL_SAFE_NO_PAD.encode("{not json")
        ),
    ] {
        attack.unauthenticated(junk).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn every_supported_algorithm_buys(db: PgPool) {
    let attack = Attack::new(db).await;
    let chair = attack.a.item(&attack.db, "CHAIR").await;
    for alg in [
        KeyAlgorithm::Hs256,
        KeyAlgorithm::Es256,
        KeyAlgorithm::EdDsa,
    ] {
        let token = attack.keys.token_with(alg, attack.shopper_claims(), hour());
        let response = attack
            .edge
            .post(SHOP_A, "/api/buy")
            .bearer_auth(&token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"item_id": chair.id, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{}", alg.name());
    }
    assert_eq!(attack.a.order_totals(&attack.db).await, (3, 3));
}
