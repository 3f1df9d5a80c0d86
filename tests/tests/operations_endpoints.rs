//! The origin-only endpoints: `GET /metrics` (Prometheus text) and `GET /openapi.json`
//! (OpenAPI 3.1, covering every route the router serves).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;

use e2e::{origin_server::metric_value, OriginServer, Shop, TestKeys};
use origin::AppState;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "ops.shop.test";

async fn origin(db: &PgPool) -> (Shop, OriginServer) {
    let shop = Shop::create(db, DOMAIN, &[("CHAIR", 5)]).await;
    let origin = OriginServer::start(db, &TestKeys::new()).await;
    (shop, origin)
}

async fn get_text(url: String) -> (StatusCode, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn metrics_count_requests_by_route_and_status_and_show_the_pool(db: PgPool) {
    let (shop, origin) = origin(&db).await;
    let tenant = format!("{}/api/tenant/{}", origin.url, shop.org_id);
    for _ in 0..3 {
        reqwest::get(format!("{tenant}/inventory")).await.unwrap();
    }
    reqwest::get(format!("{tenant}/inventory/{}", Uuid::new_v4()))
        .await
        .unwrap();
    reqwest::get(format!("{}/no/such/route", origin.url))
        .await
        .unwrap();
    // A client may make up methods; each must not become series of its own.
    let http = reqwest::Client::new();
    for n in 0..20 {
        let method = reqwest::Method::from_bytes(format!("BOT{n}").as_bytes()).unwrap();
        http.request(method, format!("{tenant}/inventory"))
            .send()
            .await
            .unwrap();
    }

    let (status, content_type, text) = get_text(format!("{}/metrics", origin.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for expected in [
        "# TYPE origin_http_requests_total counter",
        "# HELP origin_http_requests_total",
        r#"origin_http_requests_total{method="GET",route="/api/tenant/{org_id}/inventory",status="200"}"#,
        r#"origin_http_requests_total{method="GET",route="/api/tenant/{org_id}/inventory/{item_id}",status="404"}"#,
        r#"origin_http_requests_total{method="GET",route="unmatched",status="404"}"#,
        "# TYPE origin_http_request_duration_seconds histogram",
        r#"origin_http_request_duration_seconds_bucket{method="GET",route="/api/tenant/{org_id}/inventory",status="200",le="0.005"}"#,
        r#"origin_db_pool_connections{pool="primary",state="in_use"}"#,
        r#"origin_db_pool_connections{pool="primary",state="idle"}"#,
        r#"origin_db_pool_max_connections{pool="primary"} 10"#,
        // Purchases commit on a pool of their own, half the request pool.
        r#"origin_db_pool_max_connections{pool="committer"} 5"#,
        "origin_purchase_queue_depth 0",
        r#"origin_db_reads_total{pool="primary",reason="no_replica"}"#,
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains("BOT"), "made-up methods are labelled other");
    assert!(text.contains(r#"origin_http_requests_total{method="other",route="/api/tenant/{org_id}/inventory",status="405"} 20"#));
    // Labels hold route templates, never raw paths with ids in them.
    assert!(!text.contains(&shop.org_id.to_string()));
    assert!(!text.contains("/no/such/route"));

    let counted = |text: &str| -> f64 {
        let series = r#"origin_http_requests_total{method="GET",route="/api/tenant/{org_id}/inventory",status="200"}"#;
        metric_value(text, series).unwrap()
    };
    let before = counted(&text);
    reqwest::get(format!("{tenant}/inventory")).await.unwrap();
    let (_, _, after) = get_text(format!("{}/metrics", origin.url)).await;
    assert!(counted(&after) > before);

    let nested = reqwest::get(format!("{tenant}/metrics")).await.unwrap();
    assert_eq!(nested.status(), StatusCode::NOT_FOUND);
}

/// `(path template, method)` pairs the router serves, from its `Debug` output (axum offers no
/// other way to list routes) and, for methods, from the `Allow` header of a `405`.
async fn served_routes(db: &PgPool, origin: &OriginServer) -> BTreeSet<(String, String)> {
    let router = format!(
        "{:?}",
        origin::app(AppState::new(db.clone(), TestKeys::new().verifier()))
    );
    let routes = router
        .split("fallback_router")
        .next()
        .and_then(|served| served.split("paths: {").nth(1))
        .expect("axum's Router Debug output lists `paths`: update served_routes");
    let paths: Vec<String> = routes
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(paths.len() >= 9, "too few routes parsed: {paths:?}");
    let mut served = BTreeSet::new();
    let http = reqwest::Client::new();
    for path in paths {
        let url = format!("{}{}", origin.url, concrete(&path, Uuid::new_v4()));
        let response = http.request(Method::TRACE, url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        for method in allow.split(',').map(str::trim).filter(|m| *m != "HEAD") {
            served.insert((path.clone(), method.to_owned()));
        }
    }
    served
}

/// A path template with `{org_id}` filled with `org_id` and every other `{param}` with a UUID.
fn concrete(template: &str, org_id: Uuid) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{org_id}" => org_id.to_string(),
            param if param.starts_with('{') => Uuid::new_v4().to_string(),
            literal => literal.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[sqlx::test(migrations = "../migrations")]
async fn openapi_covers_every_route(db: PgPool) {
    let (_shop, origin) = origin(&db).await;
    let (status, content_type, text) = get_text(format!("{}/openapi.json", origin.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");

    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3 document");
    assert_eq!(spec.validate_version().unwrap().major, 3);
    let mut documented = BTreeSet::new();
    for (path, method, operation) in spec.operations() {
        operation
            .request_body(&spec)
            .expect("request body resolves");
        operation.parameters(&spec).expect("parameters resolve");
        let declared = operation.responses.as_ref().map_or(0, |r| r.len());
        let responses = operation.responses(&spec);
        assert_eq!(
            responses.len(),
            declared,
            "{method} {path}: responses resolve"
        );
        for response in responses.values() {
            for media in response.content.values() {
                media.schema(&spec).expect("schema resolves");
            }
        }
        if path.starts_with("/api/tenant/") {
            assert!(
                responses.contains_key("503"),
                "{method} {path} documents 503"
            );
        }
        if !operation.security.is_empty() {
            assert!(responses.contains_key("401") && responses.contains_key("403"));
        }
        documented.insert((path, method.to_string()));
    }
    let raw: Value = serde_json::from_str(&text).unwrap();
    assert_every_ref_resolves(&raw, &raw);

    let served = served_routes(&db, &origin).await;
    assert_eq!(
        documented, served,
        "openapi.json and the router disagree: add the route's handler to app/openapi.rs"
    );
    // The table the edge matches against is the one the origin mounts: no more, no fewer.
    let tenant_paths: BTreeSet<String> = served
        .iter()
        .filter_map(|(path, _)| path.strip_prefix("/api/tenant/{org_id}/"))
        .map(str::to_owned)
        .collect();
    let table: BTreeSet<String> = api::routes::ALL.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(
        tenant_paths, table,
        "api::routes and the origin's router disagree"
    );
}

fn assert_every_ref_resolves(node: &Value, root: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let pointer = reference.strip_prefix('#').expect("local reference");
                assert!(
                    root.pointer(pointer).is_some(),
                    "{reference} does not resolve"
                );
            }
            map.values()
                .for_each(|v| assert_every_ref_resolves(v, root));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| assert_every_ref_resolves(v, root)),
        _ => {}
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn every_documented_operation_is_answered_by_its_route(db: PgPool) {
    let (shop, origin) = origin(&db).await;
    let (_, _, text) = get_text(format!("{}/openapi.json", origin.url)).await;
    let spec = oas3::from_json(&text).unwrap();
    let http = reqwest::Client::new();
    for (path, method, _) in spec.operations() {
        let url = format!("{}{}", origin.url, concrete(&path, shop.org_id));
        let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let response = http.request(method.clone(), &url).send().await.unwrap();
        let status = response.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("no such route"),
                "{method} {path} is not routed"
            );
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn with_an_operations_listener_the_public_one_serves_the_api_alone(db: PgPool) {
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 5)]).await;
    let keys = TestKeys::new();
    let state = AppState::new(e2e::origin_server::app_pool(&db).await, keys.verifier());
    let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let (public, operations) = (bind().await, bind().await);
    let public_url = format!("http://{}", public.local_addr().unwrap());
    let ops_url = format!("http://{}", operations.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(origin::serve_split(
        public,
        Some(operations),
        state,
        async {
            let _ = stopped.await;
        },
    ));

    for path in ["/metrics", "/openapi.json", "/readyz", "/healthz"] {
        let (on_public, _, _) = get_text(format!("{public_url}{path}")).await;
        assert_eq!(
            on_public,
            StatusCode::NOT_FOUND,
            "{path} on the public listener"
        );
        let (on_ops, _, _) = get_text(format!("{ops_url}{path}")).await;
        assert_eq!(on_ops, StatusCode::OK, "{path} on the operations listener");
    }
    let inventory = format!("/api/tenant/{}/inventory", shop.org_id);
    let (api, _, body) = get_text(format!("{public_url}{inventory}")).await;
    assert_eq!(api, StatusCode::OK);
    assert!(body.contains("CHAIR"));
    let (api_on_ops, _, _) = get_text(format!("{ops_url}{inventory}")).await;
    assert_eq!(api_on_ops, StatusCode::NOT_FOUND);

    drop(stop);
    served.await.unwrap().unwrap();
}

/// An origin as `serve` runs it, with the operations routes on their own listener and a
/// request pool of `connections`; returns the two URLs and what stops it.
async fn split_origin(
    db: &PgPool,
    keys: &TestKeys,
    connections: u32,
) -> (String, String, tokio::sync::oneshot::Sender<()>) {
    let limits = origin::db::PoolLimits {
        max_connections: connections,
        acquire_timeout: std::time::Duration::from_millis(500),
    };
    let role = origin::db::AppRole {
        user: "furnitureops_app".to_owned(),
        password: None,
    };
    let pool = origin::db::connect_with(role.connect_options(&db.connect_options()), limits)
        .await
        .unwrap();
    let state = AppState::new(pool, keys.verifier());
    let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let (public, operations) = (bind().await, bind().await);
    let public_url = format!("http://{}", public.local_addr().unwrap());
    let ops_url = format!("http://{}", operations.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(origin::serve_split(
        public,
        Some(operations),
        state,
        async {
            let _ = stopped.await;
        },
    ));
    (public_url, ops_url, stop)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_flood_of_probes_on_a_stuck_database_leaves_the_owners_write_its_connection(db: PgPool) {
    use std::time::{Duration, Instant};

    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 5)]).await;
    let keys = TestKeys::new();
    let (public_url, ops_url, stop) = split_origin(&db, &keys, 3).await;
    // What the probes read is stuck behind a lock, as on a database that hangs: each probe
    // holds its connection until it gives up.
    let mut locker = db.begin().await.unwrap();
    sqlx::query("LOCK TABLE _sqlx_migrations, purchase_queue_backlog IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let flood_until = Instant::now() + Duration::from_secs(3);
    let prober = |n: usize| {
        let (http, url) = (
            &http,
            format!("{ops_url}{}", ["/readyz", "/metrics"][n % 2]),
        );
        async move {
            let mut answers = Vec::new();
            while Instant::now() < flood_until {
                let started = Instant::now();
                let status = http.get(&url).send().await.unwrap().status();
                answers.push((status, started.elapsed()));
            }
            answers
        }
    };
    let owner = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let flipped = http
            .put(format!(
                "{public_url}/api/tenant/{}/admin/kill-switch",
                shop.org_id
            ))
            .bearer_auth(keys.token(shop.org_id, api::token::Role::Admin, "owner"))
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&serde_json::json!({"engaged": true, "reason": "drop paused"}))
            .send()
            .await
            .unwrap();
        (flipped.status(), started.elapsed())
    };
    let (probes, (status, took)) =
        futures::future::join(futures::future::join_all((0..20).map(prober)), owner).await;
    locker.rollback().await.unwrap();
    assert_eq!(status, StatusCode::OK, "the owner's write during the flood");
    assert!(
        took < Duration::from_secs(1),
        "the owner's write took {took:?}"
    );
    // The stuck probes gave up in their own time, and said so.
    let readyz: Vec<_> = probes.iter().step_by(2).flatten().collect();
    assert!(
        readyz
            .iter()
            .all(|(status, took)| *status == StatusCode::SERVICE_UNAVAILABLE
                && *took < Duration::from_secs(4)),
        "{readyz:?}"
    );
    let (ready, _, _) = get_text(format!("{ops_url}/readyz")).await;
    assert_eq!(
        ready,
        StatusCode::OK,
        "ready again once the database answers"
    );
    for path in ["/readyz", "/metrics"] {
        let (on_api, _, _) = get_text(format!("{public_url}{path}")).await;
        assert_eq!(on_api, StatusCode::NOT_FOUND, "{path} on the API listener");
    }
    drop(stop);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_origin_binary_answers_the_operations_routes_only_on_their_own_listener(db: PgPool) {
    let config = e2e::OriginConfig::new(&db.connect_options(), &TestKeys::new());
    let origin = e2e::OriginProcess::start(&config).await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let (on_api, _, _) = get_text(format!("{}{path}", origin.url)).await;
        assert_eq!(on_api, StatusCode::NOT_FOUND, "{path} on the API listener");
        let (on_ops, _, _) = get_text(format!("{}{path}", origin.ops_url)).await;
        assert_eq!(on_ops, StatusCode::OK, "{path} on the operations listener");
    }
    assert!(origin.terminate().await.success());
}
