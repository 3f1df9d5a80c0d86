//! Custom domains at the edge, through the real Worker: how a host becomes a shop, a pending
//! claim's challenge, the bounds of the edge's caches, the 301 to a shop's primary domain, and
//! what a flood of made-up hostnames costs. The origin's host lookup is played by a stand-in
//! (`HostDirectory`) that checks the edge's proof and counts lookups; the shop's pages and API
//! behind a live host are the real origin's.

use std::time::{Duration, Instant};

use api::{
    domains::{HostLookup, HttpChallenge, CHALLENGE_PREFIX},
    token::Role,
    Problem, ProblemKind,
};
use e2e::{
    edge_hop::{edge_secret, EDGE_SECRET},
    origin_server::app_pool,
    Edge, EdgeConfig, HostDirectory, OriginServer, Shop, TestKeys,
};
use origin::AppState;
use reqwest::{Method, StatusCode};
use sqlx::PgPool;
use uuid::Uuid;

const HOME: &str = "home.domains.test";

struct World {
    keys: TestKeys,
    shop: Shop,
    directory: HostDirectory,
    origin: OriginServer,
    edge: Edge,
}

/// A shop whose hosts only the stand-in knows (KV starts empty), and a Worker with the dev
/// stack's bounds (5 s, 2 s) adjusted by `vars`.
async fn world(db: &PgPool, vars: &[(&str, &str)]) -> World {
    world_with(db, vars, false).await
}

async fn world_with(db: &PgPool, vars: &[(&str, &str)], seed_kv: bool) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(db, HOME, &[("CHAIR", 5)]).await;
    let directory = HostDirectory::default();
    let state = AppState::new(app_pool(db).await, keys.verifier())
        .with_edge_secret(Some(edge_secret(EDGE_SECRET)));
    let origin = OriginServer::start_in_front(state, directory.router(EDGE_SECRET)).await;
    let seeded = if seed_kv { vec![shop.clone()] } else { vec![] };
    let mut config = EdgeConfig::new(&origin.url, &seeded, &keys)
        .var("EDGE_SHARED_SECRET", EDGE_SECRET)
        .var("DOMAIN_CACHE_SECONDS", "5")
        .var("DOMAIN_NEGATIVE_SECONDS", "2");
    for (name, value) in vars {
        config = config.var(name, *value);
    }
    let edge = Edge::start_with(config).await;
    World {
        keys,
        shop,
        directory,
        origin,
        edge,
    }
}

fn live(org_id: Uuid, primary: Option<&str>) -> HostLookup {
    HostLookup {
        org_id: Some(org_id),
        primary: primary.map(str::to_owned),
        challenges: vec![],
    }
}

fn pending(token: &str, body: &str) -> HostLookup {
    HostLookup {
        org_id: None,
        primary: None,
        challenges: vec![HttpChallenge {
            path: format!("{CHALLENGE_PREFIX}{token}"),
            body: body.to_owned(),
        }],
    }
}

impl World {
    /// `method path` on `host` from `address`, redirects not followed.
    async fn call(
        &self,
        method: Method,
        host: &str,
        path: &str,
        address: &str,
    ) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        client
            .request(method, format!("{}{path}", self.edge.url))
            .header("host", host)
            .header("cf-connecting-ip", address)
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/inventory` on `host` from `address`: its status.
    async fn read(&self, host: &str, address: &str) -> StatusCode {
        let response = self.call(Method::GET, host, "/api/inventory", address);
        response.await.status()
    }

    async fn get(&self, host: &str, path: &str) -> reqwest::Response {
        self.call(Method::GET, host, path, "198.51.100.2").await
    }

    /// Status, and whether the answer is the unknown-shop problem.
    async fn status_of(&self, host: &str, path: &str) -> (StatusCode, bool) {
        let response = self.get(host, path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        let unknown =
            serde_json::from_str::<Problem>(&body).is_ok_and(|p| p.is(ProblemKind::UnknownShop));
        (status, unknown)
    }

    /// How many requests of this shop's API or pages reached the origin.
    fn shop_requests(&self) -> usize {
        let prefix = format!("/api/tenant/{}/", self.shop.org_id);
        self.origin
            .log
            .received()
            .iter()
            .filter(|r| r.path.starts_with(&prefix))
            .count()
    }
}

async fn problem(response: reqwest::Response) -> Problem {
    response.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn mixed_case_trailing_dot_and_port_reach_the_same_shop(db: PgPool) {
    let w = world(&db, &[]).await;
    w.directory
        .set("chairs.acme.test", live(w.shop.org_id, None));
    for host in [
        "Chairs.Acme.TEST.:8787",
        "chairs.acme.test",
        "CHAIRS.acme.test.",
    ] {
        let response = w.get(host, "/api/inventory").await;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
        assert!(response.text().await.unwrap().contains("Item CHAIR"));
        assert_eq!(w.get(host, "/").await.status(), StatusCode::OK, "{host}");
    }
    assert_eq!(
        w.directory.asked("chairs.acme.test"),
        1,
        "one spelling, one lookup"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_pending_hostname_answers_its_challenge_and_nothing_else(db: PgPool) {
    let w = world(&db, &[]).await;
    w.directory
        .set("new.acme.test", pending("tok-1", "proof-of-new"));
    let path = format!("{CHALLENGE_PREFIX}tok-1");
    let answer = w.get("New.Acme.test", &path).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let header = |name: &str| answer.headers()[name].to_str().unwrap().to_owned();
    assert!(header("content-type").starts_with("text/plain"));
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(answer.text().await.unwrap(), "proof-of-new");

    let wrong = w
        .get("new.acme.test", &format!("{CHALLENGE_PREFIX}tok-2"))
        .await;
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    assert!(problem(wrong).await.is(ProblemKind::UnknownShop));
    // The challenge on a host with none, and nothing of any shop on the pending host.
    let elsewhere = w.get("other.acme.test", &path).await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    for page in ["/", "/admin", "/app.js", "/api/inventory"] {
        let answer = w.status_of("new.acme.test", page).await;
        assert_eq!(answer, (StatusCode::NOT_FOUND, true), "{page}");
    }
    let admin = w.keys.token(w.shop.org_id, Role::Admin, "owner");
    let bought = w
        .edge
        .buy("new.acme.test", &admin, Uuid::new_v4(), 1)
        .send()
        .await
        .unwrap();
    assert_eq!(bought.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.shop_requests(), 0, "nothing reached the shop");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_claim_made_after_a_miss_is_answered_within_a_second(db: PgPool) {
    // A negative period far longer than the test: only the re-ask can find the claim.
    let w = world(&db, &[("DOMAIN_NEGATIVE_SECONDS", "30")]).await;
    let path = format!("{CHALLENGE_PREFIX}late");
    assert_eq!(
        w.get("late.acme.test", &path).await.status(),
        StatusCode::NOT_FOUND
    );
    let asked_before = w.directory.asked("late.acme.test");
    // A flood of made-up tokens re-asks at most once a second.
    let flood_started = Instant::now();
    for n in 0..20 {
        let guess = format!("{CHALLENGE_PREFIX}guess-{n}");
        assert_eq!(
            w.get("late.acme.test", &guess).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let reasked = w.directory.asked("late.acme.test") - asked_before;
    let seconds = flood_started.elapsed().as_secs_f64();
    assert!(
        reasked as f64 <= seconds.ceil(),
        "{reasked} re-asks for 20 guesses in {seconds:.2} s"
    );

    w.directory
        .set("late.acme.test", pending("late", "proof-of-late"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let answer = w.get("late.acme.test", &path).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), "proof-of-late");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_host_is_asked_once_per_negative_period_by_concurrent_requests(db: PgPool) {
    let w = world(&db, &[]).await;
    w.directory.answer_after(Duration::from_millis(300));
    let requests = (0..20).map(|n| {
        let address = format!("198.51.100.{}", n + 10);
        let w = &w;
        async move {
            w.call(Method::GET, "nobody.acme.test", "/api/inventory", &address)
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    assert_eq!(w.directory.asked("nobody.acme.test"), 1, "single-flight");
    for _ in 0..10 {
        assert_eq!(
            w.get("nobody.acme.test", "/").await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(w.directory.asked("nobody.acme.test"), 1, "remembered");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        w.get("nobody.acme.test", "/").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.directory.asked("nobody.acme.test"),
        2,
        "asked again after 2 s"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_flood_of_random_hosts_spends_the_flooders_budget_only(db: PgPool) {
    let w = world(&db, &[("DOMAIN_LOOKUPS_PER_MINUTE", "10")]).await;
    w.directory
        .set("chairs.acme.test", live(w.shop.org_id, None));
    let honest = || w.read("chairs.acme.test", "198.51.100.2");
    assert_eq!(honest().await, StatusCode::OK);

    let flooder = "203.0.113.9";
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let host = format!("{}.flood.test", Uuid::new_v4().simple());
        let response = w.call(Method::GET, &host, "/api/inventory", flooder).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            assert!(problem(response).await.is(ProblemKind::RateLimited));
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((40 - refused, refused), (10, 30), "{statuses:?}");
    let flood_lookups = w.directory.asked_in_all() - w.directory.asked("chairs.acme.test");
    assert_eq!(
        flood_lookups, 10,
        "the origin was asked only within the flooder's budget"
    );

    // The flooder's spent budget is its own: a known shop still answers it, and others.
    assert_eq!(w.read("chairs.acme.test", flooder).await, StatusCode::OK);
    for _ in 0..20 {
        assert_eq!(honest().await, StatusCode::OK);
    }
    let other = w.call(Method::GET, "someone.flood.test", "/", "203.0.113.10");
    assert_eq!(other.await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_removed_domain_stops_answering_within_the_cache_bound(db: PgPool) {
    let w = world(&db, &[("DOMAIN_CACHE_SECONDS", "2")]).await;
    w.directory
        .set("chairs.acme.test", live(w.shop.org_id, None));
    assert_eq!(
        w.get("chairs.acme.test", "/api/inventory").await.status(),
        StatusCode::OK
    );
    w.directory.remove("chairs.acme.test");
    let removed_at = Instant::now();
    loop {
        let status = w.get("chairs.acme.test", "/api/inventory").await.status();
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            removed_at.elapsed() < Duration::from_millis(2_500),
            "still served {:?} after removal",
            removed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Moved to another shop: the new owner's within the bound too (here: back to this one).
    w.directory
        .set("chairs.acme.test", live(w.shop.org_id, None));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        w.get("chairs.acme.test", "/api/inventory").await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_of_a_non_primary_host_move_to_the_primary_and_its_api_stays(db: PgPool) {
    let w = world(&db, &[]).await;
    let org_id = w.shop.org_id;
    w.directory
        .set("www.acme.test", live(org_id, Some("acme.test")));
    w.directory.set("acme.test", live(org_id, None));
    for (method, path, location) in [
        (Method::GET, "/", "http://acme.test/"),
        (
            Method::GET,
            "/admin?from=mail",
            "http://acme.test/admin?from=mail",
        ),
        (Method::HEAD, "/app.js", "http://acme.test/app.js"),
    ] {
        let moved = w.call(method, "WWW.acme.test", path, "198.51.100.2").await;
        assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY, "{path}");
        assert_eq!(moved.headers()["location"], location);
    }
    assert_eq!(
        w.get("www.acme.test", "/api/inventory").await.status(),
        StatusCode::OK
    );
    assert_eq!(w.get("acme.test", "/").await.status(), StatusCode::OK);
    assert_eq!(
        w.get("acme.test", "/api/inventory").await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_operators_kv_entry_is_served_without_a_lookup(db: PgPool) {
    let w = world_with(&db, &[], true).await;
    let (status, _) = w.status_of(HOME, "/api/inventory").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(w.get(HOME, "/").await.status(), StatusCode::OK);
    assert_eq!(w.directory.asked(HOME), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_live_host_outlasts_an_origin_that_cannot_answer_and_an_unknown_one_does_not(db: PgPool) {
    let w = world(&db, &[("DOMAIN_CACHE_SECONDS", "1")]).await;
    w.directory
        .set("chairs.acme.test", live(w.shop.org_id, None));
    assert_eq!(
        w.get("chairs.acme.test", "/").await.status(),
        StatusCode::OK
    );
    w.directory.fail(true);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        w.get("chairs.acme.test", "/").await.status(),
        StatusCode::OK
    );
    assert!(
        w.directory.asked("chairs.acme.test") >= 2,
        "it was asked again"
    );
    let answer = w.status_of("stranger.acme.test", "/").await;
    assert_eq!(answer, (StatusCode::NOT_FOUND, true));
}
