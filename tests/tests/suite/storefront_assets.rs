//! The storefront's files (and the console's, and the script and stylesheet both pages share)
//! and the shop API the storefront reads, over HTTP through the Worker: served on every shop
//! domain (and no other), small, cacheable, and each shop named as itself (with Postgres
//! showing the application role no other shop's name).

use api::{shop::ShopProfile, Problem, ProblemKind};
use e2e::{origin_server::app_pool, Edge, OriginServer, Shop, TestKeys};
use origin::db::{begin_scoped, Scope};
use reqwest::{header, StatusCode};
use sqlx::PgPool;
use uuid::Uuid;

const DEMO: &str = "demo.shop.test";
const OTHER: &str = "other.shop.test";

struct World {
    edge: Edge,
    origin: OriginServer,
}

async fn world(db: &PgPool) -> World {
    let keys = TestKeys::new();
    let demo = Shop::create(db, DEMO, &[("CHAIR", 1)]).await;
    let other = Shop::create(db, OTHER, &[("LAMP", 1)]).await;
    let origin = OriginServer::start(db, &keys).await;
    let edge = Edge::start(&origin.url, &[demo, other], &keys).await;
    World { edge, origin }
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The script and stylesheet both pages load.
const SHARED_FILES: [&str; 2] = ["/shared/common.js", "/shared/common.css"];

/// How both pages load the shared files: each before the page's own.
const SHARED_SCRIPT: &str = r#"<script src="/shared/common.js" defer></script>"#;
const SHARED_STYLESHEET: &str = r#"<link rel="stylesheet" href="/shared/common.css">"#;

/// True when `html` names `first` before `then`, both present.
fn in_order(html: &str, first: &str, then: &str) -> bool {
    matches!((html.find(first), html.find(then)), (Some(a), Some(b)) if a < b)
}

/// Fetches `path` from the demo shop and checks it is served as a page's file: `200` with the
/// content type its name says, a minute of caching, a request id, and an ETag that a
/// revalidation answers with `304`. Answers the body's size.
async fn served_cacheable(edge: &Edge, path: &str) -> usize {
    let content_type = content_type_of(path);
    let response = edge.get(DEMO, path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert!(
        header_of(&response, header::CONTENT_TYPE).starts_with(content_type),
        "{path}"
    );
    assert_eq!(
        header_of(&response, header::CACHE_CONTROL),
        "public, max-age=60",
        "{path}"
    );
    assert!(!header_of(&response, header::HeaderName::from_static("x-request-id")).is_empty());
    let etag = header_of(&response, header::ETAG);
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "{path}: {etag}"
    );
    let size = response.bytes().await.unwrap().len();

    let again = edge
        .get(DEMO, path)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    size
}

/// The content type a page's file is served with, by its name.
fn content_type_of(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        _ => "text/html",
    }
}

/// Checks every file a page loads, its `own` and the shared ones, with [`served_cacheable`].
/// Answers their total size.
async fn page_served_cacheable(edge: &Edge, own: [&str; 3]) -> usize {
    let mut total = 0;
    for path in own.into_iter().chain(SHARED_FILES) {
        total += served_cacheable(edge, path).await;
    }
    total
}

#[sqlx::test(migrations = "../migrations")]
async fn the_page_script_and_stylesheet_are_served_small_and_cacheable(db: PgPool) {
    let w = world(&db).await;
    // Each page's files and the shared ones, as served (scripts and stylesheets minified), and
    // the most each page may weigh before compression.
    let storefront = ["/", "/app.js", "/style.css"];
    let console = ["/admin", "/admin/console.js", "/admin/console.css"];
    for (page, own, limit) in [("storefront", storefront, 50), ("console", console, 64)] {
        let total = page_served_cacheable(&w.edge, own).await;
        assert!(total < limit * 1024, "the {page} is {total} bytes");
    }

    // One copy for both pages and every shop: the same file, the same ETag.
    for path in SHARED_FILES {
        let demo = w.edge.get(DEMO, path).send().await.unwrap();
        let other = w.edge.get(OTHER, path).send().await.unwrap();
        assert_eq!(
            header_of(&demo, header::ETAG),
            header_of(&other, header::ETAG),
            "{path}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_page_may_load_only_its_own_files(db: PgPool) {
    let w = world(&db).await;
    let page = w.edge.get(DEMO, "/").send().await.unwrap();
    let policy = header_of(&page, header::CONTENT_SECURITY_POLICY);
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/app.js""#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/style.css">"#));
    // The shared script and stylesheet come first: the page's own build on them.
    assert!(in_order(&html, SHARED_SCRIPT, r#"<script src="/app.js""#));
    assert!(in_order(
        &html,
        SHARED_STYLESHEET,
        r#"<link rel="stylesheet" href="/style.css">"#
    ));

    // The admin console, and the files both pages share, are held to the same policy, and
    // served like the storefront.
    for path in [
        "/admin",
        "/admin/",
        "/admin/console.js",
        "/admin/console.css",
        "/shared/common.js",
        "/shared/common.css",
    ] {
        let response = w.edge.get(DEMO, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header_of(&response, header::CONTENT_SECURITY_POLICY),
            policy
        );
        assert_eq!(
            header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
    }
    let console = w.edge.get(DEMO, "/admin").send().await.unwrap();
    let html = console.text().await.unwrap();
    assert!(html.contains(r#"<script src="/admin/console.js""#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/admin/console.css">"#));
    assert!(in_order(
        &html,
        SHARED_SCRIPT,
        r#"<script src="/admin/console.js""#
    ));
    assert!(in_order(
        &html,
        SHARED_STYLESHEET,
        r#"<link rel="stylesheet" href="/admin/console.css">"#
    ));
    for path in ["/admin"].into_iter().chain(SHARED_FILES) {
        let elsewhere = w.edge.get("nobody.shop.test", path).send().await.unwrap();
        assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn each_shop_is_named_as_itself(db: PgPool) {
    let w = world(&db).await;
    for domain in [DEMO, OTHER] {
        let response = w.edge.get(domain, "/api/shop").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let profile: ShopProfile = response.json().await.unwrap();
        assert_eq!(profile.name, format!("Shop {domain}"));
    }
    // Straight to the origin, a shop that does not exist is unknown.
    let missing = reqwest::get(format!(
        "{}/api/tenant/{}/shop",
        w.origin.url,
        Uuid::new_v4()
    ))
    .await
    .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_application_role_reads_only_its_own_shops_name(db: PgPool) {
    let demo = Shop::create(&db, DEMO, &[]).await;
    Shop::create(&db, OTHER, &[]).await;
    let app = app_pool(&db).await;

    let mut tx = begin_scoped(&app, &Scope::anonymous(demo.org_id))
        .await
        .unwrap();
    // No WHERE clause: whatever comes back is what row-level security lets through.
    let names = sqlx::query_scalar!("SELECT name FROM organizations")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(names, vec![format!("Shop {DEMO}")]);
    tx.rollback().await.unwrap();

    let without_claims = sqlx::query_scalar!("SELECT name FROM organizations")
        .fetch_all(&app)
        .await
        .unwrap();
    assert!(without_claims.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn nothing_is_served_on_unknown_domains_or_paths(db: PgPool) {
    let w = world(&db).await;
    let unknown_shop = w.edge.get("nobody.shop.test", "/").send().await.unwrap();
    assert_eq!(unknown_shop.status(), StatusCode::NOT_FOUND);
    let problem: Problem = unknown_shop.json().await.unwrap();
    assert!(problem.is(ProblemKind::UnknownShop), "{problem:?}");

    let unknown_path = w.edge.get(DEMO, "/secrets.txt").send().await.unwrap();
    assert_eq!(unknown_path.status(), StatusCode::NOT_FOUND);
    let problem: Problem = unknown_path.json().await.unwrap();
    assert!(problem.is(ProblemKind::NotFound), "{problem:?}");

    let post = w.edge.post(DEMO, "/").body("{}").send().await.unwrap();
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
}
