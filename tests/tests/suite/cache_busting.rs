//! The inventory cache cannot be skipped at will. Tried as a scraper would, through the real
//! Worker: random query strings, spellings of the known parameters, and made-up, edited or
//! garbage write positions in the header and the cookie. None of them makes a new cache entry
//! or sends a read past the cache, so the origin hears about once per second per shop however
//! many such reads arrive; a malformed page is refused at the edge.

use std::time::{Duration, Instant};

use api::{
    headers::{WRITE_LSN, WRITE_LSN_COOKIE},
    Problem, ProblemKind,
};
use e2e::{origin_server::app_pool, Edge, EdgeConfig, OriginServer, Shop, TestKeys};
use origin::AppState;
use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "busting.shop.test";
const SECRET: &str = "edge-secret-for-cache-busting-0123456789";

struct World {
    shop: Shop,
    origin: OriginServer,
    edge: Edge,
}

/// A shop behind an origin and a Worker that share the edge secret, as in production.
async fn world(db: &PgPool) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(db, DOMAIN, &[("CHAIR", 5), ("TABLE", 3)]).await;
    let state = AppState::new(app_pool(db).await, keys.verifier())
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(SECRET)));
    let origin = OriginServer::start_with(state).await;
    let config = EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
        .var("EDGE_SHARED_SECRET", SECRET);
    let edge = Edge::start_with(config).await;
    World { shop, origin, edge }
}

/// The `n`-th of the attacker's ways of asking for the list.
fn busting_read(w: &World, n: usize) -> reqwest::RequestBuilder {
    let random = Uuid::new_v4();
    let forged_position = format!(
        "FFFFFFFF/FFFFFFFF.{}.{}.YWxpY2U.{}",
        w.shop.org_id,
        i64::MAX,
        random.simple()
    );
    let (path, header): (String, Option<(&str, String)>) = match n % 7 {
        0 => (format!("/api/inventory?r={random}"), None),
        1 => ("/api/inventory?limit=050".to_owned(), None),
        2 => (format!("/api/inventory?limit=50&cb={n}"), None),
        3 => (
            "/api/inventory".to_owned(),
            Some((WRITE_LSN, format!("{n:X}/0"))),
        ),
        4 => (
            "/api/inventory".to_owned(),
            Some(("cookie", format!("{WRITE_LSN_COOKIE}={random}"))),
        ),
        5 => (
            "/api/inventory".to_owned(),
            Some((WRITE_LSN, forged_position)),
        ),
        _ => (
            format!("/api/inventory?utm={random}"),
            Some(("cookie", format!("{WRITE_LSN_COOKIE}=FFFFFFFF/FFFFFFFF"))),
        ),
    };
    let request = w.edge.get(DOMAIN, &path);
    match header {
        Some((name, value)) => request.header(name, value),
        None => request,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn two_hundred_cache_busting_reads_reach_the_origin_about_once_a_second(db: PgPool) {
    let w = world(&db).await;
    let started = Instant::now();
    for round in 0..20 {
        let reads = (0..10).map(|i| busting_read(&w, round * 10 + i).send());
        for response in futures::future::join_all(reads).await {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let reached = w.origin.log.count_ending_with("/inventory")
        + w.origin
            .log
            .received()
            .iter()
            .filter(|r| r.path.contains("/inventory?"))
            .count();
    // One fetch per one-second entry, plus one for an entry that lapses mid-run.
    let allowed = seconds.ceil() as usize + 1;
    assert!(
        reached <= allowed,
        "{reached} of 200 cache-busting reads reached the origin in {seconds:.1} s (at most {allowed})"
    );
    for received in w.origin.log.received() {
        assert!(
            received.header(WRITE_LSN).is_none() && received.header("cookie").is_none(),
            "a forged position reached the origin: {received:?}"
        );
        assert!(
            !received.path.contains("r=") && !received.path.contains("utm="),
            "an unknown parameter reached the origin: {}",
            received.path
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_pages_are_refused_at_the_edge(db: PgPool) {
    let w = world(&db).await;
    for path in [
        "/api/inventory?limit=0",
        "/api/inventory?limit=9999",
        "/api/inventory?limit=1&limit=2",
        "/api/inventory?after=../../admin",
        "/api/inventory/not-an-item",
    ] {
        let response = w.edge.get(DOMAIN, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let problem: Problem = response.json().await.unwrap();
        assert!(
            problem.is(ProblemKind::MalformedRequest),
            "{path}: {problem:?}"
        );
    }
    assert_eq!(
        w.origin.log.received().len(),
        0,
        "the origin heard none of them"
    );
}
