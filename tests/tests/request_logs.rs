//! Request log lines: one per request with id, tenant, route, status and latency; sampled by
//! request id; errors and slow requests always kept; a request's lines kept or dropped together;
//! no token or secret ever written. A handler's panic is a logged 500, and the trace the edge
//! started is continued: in the log lines, and in spans exported over OTLP when configured.
//!
//! The whole binary logs into one in-memory sink (the subscriber is process-wide); each test
//! picks out its own lines by the request ids it sent.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use e2e::edge_hop::SendAsEdge;
use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use api::token::Role;
use axum::{routing::get, Router};
use e2e::{
    origin_server::app_pool, otlp_receiver::OtlpReceiver, replication::unreachable_replica,
    OriginConfig, OriginProcess, OriginServer, Shop, TestKeys,
};
use origin::{
    config::operations::OpsSettings,
    observability::telemetry,
    observability::{request_log::LogSink, sampling::LogSampling},
    AppState,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const DOMAIN: &str = "logs.shop.test";

fn sink() -> &'static LogSink {
    static SINK: OnceLock<LogSink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = LogSink::memory();
        let _ = telemetry::init_with(sink.clone());
        sink
    })
}

/// Every line logged for `request_id`, as JSON.
fn lines_of(request_id: &str) -> Vec<Value> {
    sink()
        .contents()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("every line is JSON"))
        .filter(|line| {
            line["fields"]["request_id"] == request_id || line["span"]["request_id"] == request_id
        })
        .collect()
}

fn request_line(request_id: &str) -> Option<Value> {
    lines_of(request_id)
        .into_iter()
        .find(|line| line["fields"]["message"] == "request")
}

fn fresh_id(label: &str) -> String {
    format!("{label}-{}", Uuid::new_v4())
}

/// A request id whose sampling decision under `sampling` is `sampled`.
fn id_sampled_as(sampling: &LogSampling, sampled: bool) -> String {
    std::iter::repeat_with(|| fresh_id("pick"))
        .find(|id| sampling.samples_request_id(id) == sampled)
        .unwrap()
}

struct World {
    keys: TestKeys,
    shop: Shop,
    origin: OriginServer,
    http: reqwest::Client,
}

async fn world(db: &PgPool, state: impl FnOnce(AppState) -> AppState) -> World {
    sink();
    let keys = TestKeys::new();
    let shop = Shop::create(db, DOMAIN, &[("CHAIR", 5)]).await;
    let origin =
        OriginServer::start_with(state(AppState::new(app_pool(db).await, keys.verifier()))).await;
    World {
        keys,
        shop,
        origin,
        http: reqwest::Client::new(),
    }
}

fn sampling(success_rate: f64, slow_request: Duration) -> OpsSettings {
    OpsSettings {
        log_sampling: LogSampling {
            success_rate,
            slow_request,
        },
        ..OpsSettings::default()
    }
}

impl World {
    async fn get(&self, path: &str, request_id: &str) -> StatusCode {
        self.http
            .get(format!(
                "{}/api/tenant/{}{path}",
                self.origin.url, self.shop.org_id
            ))
            .header("x-request-id", request_id)
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_4xx_line_is_always_kept_and_unsampled_successes_write_nothing(db: PgPool) {
    let w = world(&db, |s| s.with_ops(sampling(0.0, Duration::from_secs(60)))).await;
    let missing = fresh_id("missing");
    let item_path = format!("/inventory/{}", Uuid::new_v4());
    let sent = Instant::now();
    assert_eq!(w.get(&item_path, &missing).await, StatusCode::NOT_FOUND);
    let seen_by_the_client = sent.elapsed().as_secs_f64() * 1e3;
    let listed = fresh_id("listed");
    assert_eq!(w.get("/inventory", &listed).await, StatusCode::OK);

    let line = request_line(&missing).expect("the 404 is logged");
    let fields = &line["fields"];
    assert_eq!(fields["status"], 404);
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["route"], "/api/tenant/{org_id}/inventory/{item_id}");
    assert_eq!(fields["tenant"], w.shop.org_id.to_string());
    // Measured, in milliseconds: more than nothing, and no more than the client waited.
    let latency_ms = fields["latency_ms"].as_f64().unwrap();
    assert!(
        latency_ms > 0.0 && latency_ms <= seen_by_the_client,
        "latency_ms {latency_ms} against {seen_by_the_client} ms seen by the client"
    );
    assert_eq!(line["level"], "INFO");
    assert!(lines_of(&listed).is_empty(), "{:?}", lines_of(&listed));
}

#[sqlx::test(migrations = "../migrations")]
async fn one_requests_lines_are_all_kept_or_all_dropped(db: PgPool) {
    let rate = LogSampling {
        success_rate: 0.5,
        slow_request: Duration::from_secs(60),
    };
    // Every read logs a warning inside the request: the replica it tries is down.
    let replica = unreachable_replica(&db);
    let w = world(&db, |s| {
        s.with_replica(Some(replica)).with_ops(OpsSettings {
            log_sampling: rate,
            ..OpsSettings::default()
        })
    })
    .await;

    let kept = id_sampled_as(&rate, true);
    assert_eq!(w.get("/inventory", &kept).await, StatusCode::OK);
    let kept_lines = lines_of(&kept);
    assert_eq!(kept_lines.len(), 2, "{kept_lines:?}");
    assert_eq!(kept_lines[0]["level"], "WARN");
    assert_eq!(
        kept_lines[0]["span"]["route"],
        "/api/tenant/{org_id}/inventory"
    );
    assert_eq!(kept_lines[1]["fields"]["message"], "request");

    let dropped = id_sampled_as(&rate, false);
    assert_eq!(w.get("/inventory", &dropped).await, StatusCode::OK);
    assert!(lines_of(&dropped).is_empty());

    // An unsampled id whose request fails: the warning held during the request is written
    // after all, before the request line.
    let failed = id_sampled_as(&rate, false);
    let item_path = format!("/inventory/{}", Uuid::new_v4());
    assert_eq!(w.get(&item_path, &failed).await, StatusCode::NOT_FOUND);
    let failed_lines = lines_of(&failed);
    assert_eq!(failed_lines.len(), 2, "{failed_lines:?}");
    assert_eq!(failed_lines[0]["level"], "WARN");
    assert_eq!(failed_lines[1]["fields"]["status"], 404);
}

#[sqlx::test(migrations = "../migrations")]
async fn slow_requests_are_always_kept(db: PgPool) {
    let w = world(&db, |s| {
        s.with_ops(sampling(0.0, Duration::from_millis(150)))
    })
    .await;
    let mut lock = db.begin().await.unwrap();
    sqlx::query!("LOCK TABLE inventory IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let slow = fresh_id("slow");
    let request = w.get("/inventory", &slow);
    let release = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        lock.commit().await.unwrap();
    };
    let started = Instant::now();
    let (status, ()) = tokio::join!(request, release);
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let line = request_line(&slow).expect("the slow request is logged");
    assert!(line["fields"]["latency_ms"].as_f64().unwrap() >= 150.0);
}

#[sqlx::test(migrations = "../migrations")]
async fn tokens_and_secrets_never_reach_the_log(db: PgPool) {
    let edge_secret = "edge-secret-that-must-not-leak-0123456789";
    let w = world(&db, |s| {
        s.with_ops(OpsSettings {
            log_sampling: LogSampling::KEEP_ALL,
            ..OpsSettings::default()
        })
        .with_edge_secret(Some(e2e::edge_hop::edge_secret(edge_secret)))
    })
    .await;
    let chair = w.shop.item(&db, "CHAIR").await;
    let token = w.keys.token(w.shop.org_id, Role::Shopper, "secret-shopper");
    let bad_token = format!("{token}tampered");
    let mut ids = Vec::new();
    for (bearer, quantity, expected) in [
        (&token, 1, StatusCode::CREATED),
        (&token, 0, StatusCode::BAD_REQUEST),
        (&token, 99, StatusCode::CONFLICT),
        (&bad_token, 1, StatusCode::UNAUTHORIZED),
    ] {
        let id = fresh_id("buy");
        let response = w
            .http
            .post(format!("{}/api/tenant/{}/buy", w.origin.url, w.shop.org_id))
            .header("x-request-id", &id)
            .bearer_auth(bearer)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"item_id": chair.id, "quantity": quantity}))
            .send_as_edge(edge_secret)
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        ids.push(id);
    }
    for id in &ids {
        assert!(request_line(id).is_some(), "{id} is logged");
    }
    let everything = sink().contents();
    let signature = token.rsplit('.').next().unwrap();
    assert!(!everything.contains(signature), "a token reached the log");
    assert!(
        !everything.contains(edge_secret),
        "the edge secret reached the log"
    );
    assert!(!everything.to_ascii_lowercase().contains("bearer"));
    assert!(!everything.to_ascii_lowercase().contains("authorization"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_handler_panic_answers_500_problem_json_and_is_logged_with_the_request_id(db: PgPool) {
    sink();
    let keys = TestKeys::new();
    let state = AppState::new(app_pool(&db).await, keys.verifier());
    // The product's request layers around one route that panics: no such route exists in the
    // product, so the test builds it here.
    let app = origin::app::router::with_request_layers(
        Router::new().route(
            "/shelf",
            get(|| async {
                let shelves: Vec<u32> = Vec::new();
                if shelves.is_empty() {
                    panic!("the shelf gave way under 40 chairs");
                }
                "never"
            }),
        ),
        state,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/shelf", listener.local_addr().unwrap());
    let served = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    for _ in 0..2 {
        let id = fresh_id("panic");
        let response = http
            .get(&url)
            .header("x-request-id", &id)
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "https://furnitureops.dev/problems/internal");
        assert_eq!(body["request_id"], id.as_str());
        assert!(
            !body.to_string().contains("shelf gave way"),
            "the body is opaque: {body}"
        );

        let lines = lines_of(&id);
        let logged = lines
            .iter()
            .find(|line| line["fields"]["message"] == "request failed")
            .unwrap_or_else(|| panic!("the panic is logged: {lines:?}"));
        assert_eq!(logged["level"], "ERROR");
        assert!(logged["fields"]["error"]
            .as_str()
            .unwrap()
            .contains("the shelf gave way under 40 chairs"));
        let request = request_line(&id).expect("the request line");
        assert_eq!(request["fields"]["status"], 500);
        assert_eq!(request["level"], "ERROR");
    }
    served.abort();
}

#[sqlx::test(migrations = "../migrations")]
async fn the_origin_continues_the_edges_trace_in_its_log_lines(db: PgPool) {
    let w = world(&db, |s| s.with_ops(sampling(1.0, Duration::from_secs(60)))).await;
    let trace_id = Uuid::new_v4().simple().to_string();
    let id = fresh_id("traced");
    let status = w
        .http
        .get(format!(
            "{}/api/tenant/{}/inventory",
            w.origin.url, w.shop.org_id
        ))
        .header("x-request-id", &id)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    let line = request_line(&id).expect("the request line");
    assert_eq!(line["fields"]["trace_id"], trace_id.as_str());

    // A line logged inside the request carries it in its span.
    let missing = fresh_id("traced-missing");
    let item_path = format!("/inventory/{}", Uuid::new_v4());
    let status = w
        .http
        .get(format!(
            "{}/api/tenant/{}{item_path}",
            w.origin.url, w.shop.org_id
        ))
        .header("x-request-id", &missing)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        request_line(&missing).unwrap()["fields"]["trace_id"],
        trace_id.as_str()
    );

    // Without a traceparent, no trace id is made up for the log.
    let untraced = fresh_id("untraced");
    assert_eq!(w.get("/inventory", &untraced).await, StatusCode::OK);
    assert!(request_line(&untraced).unwrap()["fields"]
        .get("trace_id")
        .is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn with_an_otlp_endpoint_the_origins_spans_are_exported_in_the_edges_trace(db: PgPool) {
    let receiver = OtlpReceiver::start().await;
    let keys = TestKeys::new();
    let config = OriginConfig::new(&db.connect_options(), &keys)
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint)
        .var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let origin = OriginProcess::start(&config).await;
    let trace_id = Uuid::new_v4().simple().to_string();
    let edge_span = "00f067aa0ba902b7";
    let status = reqwest::Client::new()
        .get(format!("{}/healthz", origin.ops_url))
        .header("traceparent", format!("00-{trace_id}-{edge_span}-01"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    let span = receiver.span(&trace_id, "request").await;
    assert_eq!(span.parent_span_id, edge_span, "a child of the edge's span");
    assert_eq!(span.service, "origin");
    assert!(origin.terminate().await.success());
}

/// The log lines `origin serve` with `config` writes (both streams) until one contains
/// `wanted` or `origin listening` has passed: whether `wanted` was among them.
async fn serve_logs_contain(config: &OriginConfig, listen_addr: &str, wanted: &str) -> bool {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(e2e::origin_process::binary())
        .arg("serve")
        .env("DATABASE_URL", &config.database_url)
        .env("JWT_JWKS", &config.jwks)
        .env("LISTEN_ADDR", listen_addr)
        .env(
            "OPS_LISTEN_ADDR",
            format!("127.0.0.1:{}", e2e::ports::free_port()),
        )
        .env("RUST_LOG", "info")
        .env_remove("EDGE_SHARED_SECRET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let read = async {
        loop {
            let line = tokio::select! {
                line = out.next_line() => line,
                line = err.next_line() => line,
            };
            let Ok(Some(line)) = line else { return false };
            if line.contains(wanted) {
                return true;
            }
            if line.contains("operations routes listening") {
                return false;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or(false)
}

#[sqlx::test(migrations = "../migrations")]
async fn an_origin_open_beyond_loopback_without_the_edge_secret_warns_at_start(db: PgPool) {
    let config = OriginConfig::new(&db.connect_options(), &TestKeys::new());
    let warning = "EDGE_SHARED_SECRET is not set";
    let open = format!("0.0.0.0:{}", e2e::ports::free_port());
    assert!(
        serve_logs_contain(&config, &open, warning).await,
        "no warning on {open}"
    );
    let private = format!("127.0.0.1:{}", e2e::ports::free_port());
    assert!(
        !serve_logs_contain(&config, &private, warning).await,
        "a warning on loopback"
    );
}
