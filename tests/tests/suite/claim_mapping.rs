//! Tokens in the layouts identity providers use, each against a Worker and an origin configured
//! for it by the same settings: Supabase's (`app_metadata.org_id` and `app_metadata.role`, the
//! defaults), Auth0's (custom claims under namespaced keys, roles as a list, `aud` a list) and
//! Clerk's (top-level `org_id` and `org_role`, values such as `org:admin`).
//!
//! Each layout buys from and administers its own shop through the Worker (which seals the claims
//! it verified for the origin) and at the origin directly (a full JWT); both write rows that
//! row-level security admits only when Postgres sees the shop at `app_metadata.org_id`, so a
//! success is also the proof that the database got the normalised claims. Each is refused with
//! a wrong audience, without the shop claim, with a role value it does not map, in another
//! layout, and with the other shop's token.

use api::{
    headers,
    inventory::InventoryList,
    token::{edge_claims, KeyAlgorithm},
    Problem, ProblemKind,
};
use clap::Parser;
use e2e::edge_hop::SendAsEdge;
use e2e::{
    edge::EdgeConfig,
    identity_provider::{JwksServer, ProviderKey},
    origin_process::{OriginConfig, OriginProcess},
    origin_server::app_pool,
    Edge, OriginServer, Shop, TestKeys,
};
use origin::{config::TokenArgs, AppState};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const SHOP_A: &str = "a.layouts.test";
const SHOP_B: &str = "b.layouts.test";
const SECRET: &str = "edge-secret-for-claim-mapping-0123456789";

#[derive(Debug, Clone, Copy)]
enum Provider {
    Supabase,
    Auth0,
    Clerk,
}

const AUTH0_NS: &str = "https://furnitureops.example";
const AUTH0_API: &str = "https://api.furnitureops.example";

impl Provider {
    fn issuer(self) -> &'static str {
        match self {
            Self::Supabase => "https://project.supabase.co/auth/v1",
            Self::Auth0 => "https://furnitureops.eu.auth0.com/",
            Self::Clerk => "https://clerk.furnitureops.example",
        }
    }

    /// The settings both sides are given, by their variable names.
    fn settings(self) -> Vec<(&'static str, String)> {
        let mut settings = vec![("JWT_ISSUER", self.issuer().to_owned())];
        match self {
            Self::Supabase => settings.push(("JWT_AUDIENCE", "authenticated".into())),
            Self::Auth0 => settings.extend([
                ("JWT_AUDIENCE", AUTH0_API.into()),
                ("JWT_ORG_CLAIM", format!(r#""{AUTH0_NS}/org_id""#)),
                ("JWT_ROLE_CLAIM", format!(r#""{AUTH0_NS}/roles""#)),
                ("JWT_ADMIN_ROLES", "shop-admin".into()),
                ("JWT_SHOPPER_ROLES", "shop-customer".into()),
            ]),
            Self::Clerk => settings.extend([
                ("JWT_AUDIENCE", "furnitureops".into()),
                ("JWT_ORG_CLAIM", "org_id".into()),
                ("JWT_ROLE_CLAIM", "org_role".into()),
                ("JWT_ADMIN_ROLES", "org:admin".into()),
                ("JWT_SHOPPER_ROLES", "org:member, org:buyer".into()),
            ]),
        }
        settings
    }

    /// The role values that mean admin and shopper, and one that means nothing.
    fn roles(self) -> [&'static str; 3] {
        match self {
            Self::Supabase => ["admin", "shopper", "authenticated"],
            Self::Auth0 => ["shop-admin", "shop-customer", "shop-auditor"],
            Self::Clerk => ["org:admin", "org:member", "org:billing"],
        }
    }

    fn algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Supabase => KeyAlgorithm::Es256,
            Self::Auth0 | Self::Clerk => KeyAlgorithm::Rs256,
        }
    }

    /// The claims of a token as this provider lays them out.
    fn claims(self, org_id: Uuid, role: &str, sub: &str) -> Value {
        let iss = self.issuer();
        match self {
            Self::Supabase => json!({
                "sub": sub, "iss": iss, "aud": "authenticated", "role": "authenticated",
                "app_metadata": {"provider": "email", "org_id": org_id, "role": role},
            }),
            Self::Auth0 => json!({
                "sub": format!("auth0|{sub}"), "iss": iss,
                "aud": [AUTH0_API, "https://furnitureops.eu.auth0.com/userinfo"],
                "scope": "openid profile",
                format!("{AUTH0_NS}/org_id"): org_id,
                format!("{AUTH0_NS}/roles"): [role],
            }),
            Self::Clerk => json!({
                "sub": format!("user_{sub}"), "iss": iss, "aud": "furnitureops",
                "azp": "https://shop.example", "sid": "sess_1",
                "org_id": org_id, "org_role": role, "org_slug": "chairs",
            }),
        }
    }

    /// The `sub` the database records for `sub`'s token.
    fn recorded_sub(self, sub: &str) -> String {
        match self {
            Self::Supabase => sub.to_owned(),
            Self::Auth0 => format!("auth0|{sub}"),
            Self::Clerk => format!("user_{sub}"),
        }
    }

    /// Where the shop id sits in `claims`, to take it out.
    fn without_shop(self, mut claims: Value) -> Value {
        match self {
            Self::Supabase => claims["app_metadata"]
                .as_object_mut()
                .unwrap()
                .remove("org_id"),
            Self::Auth0 => claims
                .as_object_mut()
                .unwrap()
                .remove(&format!("{AUTH0_NS}/org_id")),
            Self::Clerk => claims.as_object_mut().unwrap().remove("org_id"),
        };
        claims
    }

    /// A provider whose layout this one does not read.
    fn other(self) -> Self {
        match self {
            Self::Supabase => Self::Clerk,
            Self::Auth0 | Self::Clerk => Self::Supabase,
        }
    }
}

/// Shops A and B behind a Worker and an origin configured for `provider`, trusting its JWKS.
struct World {
    db: PgPool,
    provider: Provider,
    a: Shop,
    b: Shop,
    key: ProviderKey,
    _jwks: JwksServer,
    origin: OriginServer,
    edge: Edge,
}

/// The origin's token settings as `origin serve` reads them, from flags named as the variables.
#[derive(Debug, Parser)]
struct Flags {
    #[command(flatten)]
    tokens: TokenArgs,
}

impl World {
    async fn new(db: PgPool, provider: Provider) -> Self {
        let key = ProviderKey::generate(provider.algorithm(), "provider-key");
        let jwks = JwksServer::start(&[&key]).await;
        let a = Shop::create(&db, SHOP_A, &[("CHAIR", 100)]).await;
        let b = Shop::create(&db, SHOP_B, &[("CHAIR", 100)]).await;
        let mut flags = vec!["origin".to_owned(), format!("--jwt-jwks-url={}", jwks.url)];
        for (name, value) in provider.settings() {
            flags.push(format!(
                "--{}={value}",
                name.to_lowercase().replace('_', "-")
            ));
        }
        let tokens = Flags::try_parse_from(flags).unwrap().tokens;
        let state = AppState::new(app_pool(&db).await, tokens.token_keys().await.unwrap())
            .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
        let origin = OriginServer::start_with(state).await;
        let mut config = EdgeConfig::new(&origin.url, &[a.clone(), b.clone()], &TestKeys::new())
            .var("JWT_JWKS_URL", &jwks.url)
            .var("EDGE_SHARED_SECRET", SECRET);
        for (name, value) in provider.settings() {
            config = config.var(name, value);
        }
        config.jwks = String::new();
        let edge = Edge::start_with(config).await;
        Self {
            db,
            provider,
            a,
            b,
            key,
            _jwks: jwks,
            origin,
            edge,
        }
    }

    fn token(&self, shop: &Shop, role: &str, sub: &str) -> String {
        self.key.token(self.provider.claims(shop.org_id, role, sub))
    }

    fn admin(&self, shop: &Shop) -> String {
        self.token(shop, self.provider.roles()[0], "boss")
    }

    fn shopper(&self, shop: &Shop) -> String {
        self.token(shop, self.provider.roles()[1], "alice")
    }

    async fn buy_at_edge(&self, domain: &str, token: &str) -> Response {
        let chair = self.a.item(&self.db, "CHAIR").await;
        self.edge
            .buy(domain, token, chair.id, 1)
            .send()
            .await
            .unwrap()
    }

    /// A purchase at the origin directly, proved as the edge proves but with no seal.
    async fn buy_at_origin(&self, shop: &Shop, token: &str) -> Response {
        let chair = shop.item(&self.db, "CHAIR").await;
        self.at_origin(Method::POST, shop, "buy", token)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&json!({"item_id": chair.id, "quantity": 1}))
            .send_as_edge(SECRET)
            .await
            .unwrap()
    }

    fn at_origin(
        &self,
        method: Method,
        shop: &Shop,
        rest: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(
                method,
                format!("{}/api/tenant/{}/{rest}", self.origin.url, shop.org_id),
            )
            .bearer_auth(token)
    }

    async fn add_item_at_edge(&self, domain: &str, token: &str, sku: &str) -> Response {
        self.edge
            .post(domain, "/api/admin/items")
            .bearer_auth(token)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&json!({"sku": sku, "name": "Lamp", "price_cents": 4900, "stock": 3}))
            .send()
            .await
            .unwrap()
    }

    async fn skus(&self, domain: &str) -> Vec<String> {
        let list: InventoryList = self
            .edge
            .get(domain, "/api/inventory")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list.items.into_iter().map(|item| item.sku).collect()
    }

    async fn customers(&self, shop: &Shop) -> Vec<String> {
        sqlx::query_scalar!(
            "SELECT customer_sub FROM orders WHERE organization_id = $1 ORDER BY created_at",
            shop.org_id
        )
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    async fn actors(&self, shop: &Shop) -> Vec<String> {
        sqlx::query_scalar!(
            "SELECT actor_sub FROM audit_log WHERE organization_id = $1 AND action = 'item.create'",
            shop.org_id
        )
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// Everything a user of this layout notices.
    async fn check(&self) {
        let p = self.provider;
        let (a, b) = (&self.a, &self.b);

        // A shopper buys through the Worker (sealed claims) and at the origin (full JWT).
        let bought = self.buy_at_edge(SHOP_A, &self.shopper(a)).await;
        assert_eq!(bought.status(), StatusCode::CREATED, "{p:?} via the Worker");
        let forwarded = self.origin.log.last_ending_with("/buy").unwrap();
        assert!(
            forwarded.header(edge_claims::HEADER).is_some(),
            "{p:?} sealed"
        );
        let direct = self.buy_at_origin(a, &self.shopper(a)).await;
        assert_eq!(direct.status(), StatusCode::CREATED, "{p:?} at the origin");
        let alice = p.recorded_sub("alice");
        assert_eq!(self.customers(a).await, [alice.clone(), alice]);

        // An admin adds an item; a shopper may not, at the Worker nor at the origin.
        let added = self.add_item_at_edge(SHOP_A, &self.admin(a), "LAMP").await;
        assert_eq!(added.status(), StatusCode::CREATED, "{p:?} admin");
        assert_eq!(self.actors(a).await, [p.recorded_sub("boss")]);
        let refused = self.add_item_at_edge(SHOP_A, &self.shopper(a), "RUG").await;
        expect_problem(refused, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;
        let audit = self.at_origin(Method::GET, a, "admin/audit", &self.shopper(a));
        let refused = audit.send_as_edge(SECRET).await.unwrap();
        expect_problem(refused, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;
        let audit = self.at_origin(Method::GET, a, "admin/audit", &self.admin(a));
        assert_eq!(
            audit.send_as_edge(SECRET).await.unwrap().status(),
            StatusCode::OK
        );

        // Tokens this configuration must not accept.
        let mut wrong_audience = p.claims(a.org_id, p.roles()[1], "alice");
        wrong_audience["aud"] = json!("someone-else");
        let no_shop = p.without_shop(p.claims(a.org_id, p.roles()[1], "alice"));
        // The same issuer and audience, the shop and role where another provider puts them.
        let mut other_layout = p.other().claims(a.org_id, p.other().roles()[1], "alice");
        let own = p.claims(a.org_id, p.roles()[1], "alice");
        other_layout["iss"] = own["iss"].clone();
        other_layout["aud"] = own["aud"].clone();
        for (what, claims, why) in [
            ("a wrong audience", wrong_audience, "audience"),
            ("no shop claim", no_shop, "no shop id"),
            ("another provider's layout", other_layout, "no shop id"),
        ] {
            let token = self.key.token(claims);
            let at_edge = self.buy_at_edge(SHOP_A, &token).await;
            let problem = expect_problem(
                at_edge,
                StatusCode::UNAUTHORIZED,
                ProblemKind::Unauthenticated,
            )
            .await;
            assert!(problem.detail.contains(why), "{p:?}, {what}: {problem:?}");
            let at_origin = self.buy_at_origin(a, &token).await;
            expect_problem(
                at_origin,
                StatusCode::UNAUTHORIZED,
                ProblemKind::Unauthenticated,
            )
            .await;
        }
        let unmapped = self.token(a, p.roles()[2], "mallory");
        let at_edge = self.buy_at_edge(SHOP_A, &unmapped).await;
        expect_problem(at_edge, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;
        let at_origin = self.buy_at_origin(a, &unmapped).await;
        expect_problem(at_origin, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;

        // A's tokens reach nothing of B's, by domain or by origin path.
        let at_b = self.buy_at_edge(SHOP_B, &self.shopper(a)).await;
        expect_problem(at_b, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;
        let added_at_b = self
            .add_item_at_edge(SHOP_B, &self.admin(a), "LAMP-B")
            .await;
        expect_problem(added_at_b, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;
        let at_b = self.buy_at_origin(b, &self.shopper(a)).await;
        expect_problem(at_b, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;
        assert!(self.customers(b).await.is_empty() && self.actors(b).await.is_empty());
        assert!(self.skus(SHOP_A).await.contains(&"LAMP".to_owned()));
        assert_eq!(self.skus(SHOP_B).await, ["CHAIR"]);
        assert_eq!(
            self.customers(a).await.len(),
            2,
            "{p:?}: refusals wrote nothing"
        );
    }
}

async fn expect_problem(response: Response, status: StatusCode, kind: ProblemKind) -> Problem {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        headers::PROBLEM_JSON,
        "problem+json"
    );
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(kind), "{problem:?}");
    problem
}

#[sqlx::test(migrations = "../migrations")]
async fn supabase_layout_by_default(db: PgPool) {
    World::new(db, Provider::Supabase).await.check().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn auth0_namespaced_claims(db: PgPool) {
    World::new(db, Provider::Auth0).await.check().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn clerk_top_level_org_claims(db: PgPool) {
    World::new(db, Provider::Clerk).await.check().await;
}

/// The `origin serve` binary reads the same settings from its environment (a quoted path in a
/// variable included) and refuses to start on a path it cannot read.
#[sqlx::test(migrations = "../migrations")]
async fn the_origin_binary_reads_the_claim_map_from_its_environment(db: PgPool) {
    let provider = Provider::Auth0;
    let key = ProviderKey::generate(provider.algorithm(), "binary-key");
    let jwks = JwksServer::start(&[&key]).await;
    let shop = Shop::create(&db, SHOP_A, &[("CHAIR", 5)]).await;
    let mut config =
        OriginConfig::new(&db.connect_options(), &TestKeys::new()).var("JWT_JWKS_URL", &jwks.url);
    config.jwks = String::new();
    for (name, value) in provider.settings() {
        config = config.var(name, value);
    }
    let origin = OriginProcess::start(&config).await;
    let chair = shop.item(&db, "CHAIR").await;
    let buy = |token: String| {
        reqwest::Client::new()
            .post(format!("{}/api/tenant/{}/buy", origin.url, shop.org_id))
            .bearer_auth(token)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&json!({"item_id": chair.id, "quantity": 1}))
            .send()
    };
    let token = key.token(provider.claims(shop.org_id, "shop-customer", "carol"));
    assert_eq!(buy(token).await.unwrap().status(), StatusCode::CREATED);
    let supabase = key.token(Provider::Supabase.claims(shop.org_id, "shopper", "carol"));
    assert_eq!(
        buy(supabase).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let refused = tokio::process::Command::new(e2e::origin_process::binary())
        .arg("serve")
        .env("JWT_JWKS", TestKeys::new().public_jwks())
        .env("JWT_ORG_CLAIM", r#""https://furnitureops.example/org_id"#)
        .env("DATABASE_URL", &config.database_url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("a quote is not closed"), "{said}");
}
