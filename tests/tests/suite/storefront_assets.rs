//! The storefront's files and the shop API it reads, over HTTP through the Worker: served on
//! every shop domain (and no other), small, cacheable, and each shop named as itself (with
//! Postgres showing the application role no other shop's name).

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

#[sqlx::test(migrations = "../migrations")]
async fn the_page_script_and_stylesheet_are_served_small_and_cacheable(db: PgPool) {
    let w = world(&db).await;
    let mut total = 0;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let response = w.edge.get(DEMO, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(header_of(&response, header::CONTENT_TYPE).starts_with(content_type));
        assert_eq!(
            header_of(&response, header::CACHE_CONTROL),
            "public, max-age=60"
        );
        assert!(!header_of(&response, header::HeaderName::from_static("x-request-id")).is_empty());
        let etag = header_of(&response, header::ETAG);
        total += response.bytes().await.unwrap().len();

        let again = w
            .edge
            .get(DEMO, path)
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    assert!(total < 50 * 1024, "the storefront is {total} bytes");
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

    // The admin console is held to the same policy, and served like the storefront.
    for path in [
        "/admin",
        "/admin/",
        "/admin/console.js",
        "/admin/console.css",
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
    let elsewhere = w
        .edge
        .get("nobody.shop.test", "/admin")
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
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
