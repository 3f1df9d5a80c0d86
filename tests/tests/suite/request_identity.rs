//! Request identity across the edge: the edge mints `X-Request-ID` (a caller's own id is kept
//! as `X-Correlation-ID`, never as the request's identity); both reach the origin and come back
//! on every answer (cache hits and refusals included), and the W3C trace context is continued
//! when valid and started when not.

use api::headers::{CORRELATION_ID, EDGE_CACHE, REQUEST_ID, TRACEPARENT, TRACESTATE};
use e2e::{EdgeConfig, Shop, Stage};
use origin::Settings;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::json;
use sqlx::PgPool;

const DOMAIN: &str = "ids.shop.test";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// A shop whose reads are limited to 3 a minute, cached for 30 s.
async fn stage(db: &PgPool) -> Stage {
    let edge = |config: EdgeConfig, shop: &Shop| {
        config
            .shop_rate_limits(
                shop.org_id,
                json!({"read": {"limit": 3, "window_seconds": 60}}),
            )
            .var("INVENTORY_CACHE_TTL_SECONDS", "30")
    };
    Stage::open_with_edge(db, DOMAIN, &[("CHAIR", 5)], Settings::default(), edge).await
}

/// Sends `request` with the caller's id `id`; asserts the answer echoes it as the correlation id
/// beside a request id the edge minted, and returns the answer with that minted id.
async fn echoed(request: RequestBuilder, id: &str) -> (reqwest::Response, String) {
    let response = request.header(REQUEST_ID, id).send().await.unwrap();
    assert_eq!(
        response.headers()[CORRELATION_ID],
        id,
        "{}",
        response.status()
    );
    let minted = response.headers()[REQUEST_ID].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&minted).is_ok(), "minted {minted}");
    (response, minted)
}

/// The parts of a version-00 `traceparent`: trace id, parent id, flags.
fn parts(traceparent: &str) -> (String, String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00");
    assert_eq!(
        (fields[1].len(), fields[2].len()),
        (32, 16),
        "{traceparent}"
    );
    (fields[1].into(), fields[2].into(), fields[3].into())
}

#[sqlx::test(migrations = "../migrations")]
async fn request_ids_reach_the_origin_and_come_back_on_every_answer(db: PgPool) {
    let w = stage(&db).await;
    let (miss, minted) = echoed(w.edge.get(DOMAIN, "/api/inventory"), "id-miss").await;
    assert_eq!(miss.headers()[EDGE_CACHE], "miss");
    let at_origin = w.origin.log.last_ending_with("/inventory").unwrap();
    assert_eq!(at_origin.header(REQUEST_ID), Some(minted.as_str()));
    assert_eq!(at_origin.header(CORRELATION_ID), Some("id-miss"));

    let (hit, _) = echoed(w.edge.get(DOMAIN, "/api/inventory"), "id-hit").await;
    assert_eq!(hit.headers()[EDGE_CACHE], "hit");
    echoed(w.edge.get(DOMAIN, "/api/inventory"), "id-third").await;
    let (refused, minted) = echoed(w.edge.get(DOMAIN, "/api/inventory"), "id-429").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let problem: api::Problem = refused.json().await.unwrap();
    assert_eq!(problem.request_id.as_deref(), Some(minted.as_str()));

    let (unknown_shop, _) = echoed(w.edge.get("nobody.test", "/api/inventory"), "id-404").await;
    assert_eq!(unknown_shop.status(), StatusCode::NOT_FOUND);
    let (no_token, _) = echoed(w.edge.post(DOMAIN, "/api/buy"), "id-401").await;
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    // The unknown host is looked up (`/api/edge/hosts/...`, the edge's own question); of the
    // requests, only the miss reached the origin.
    let forwarded = w.origin.log.received();
    let forwarded = forwarded
        .iter()
        .filter(|r| !r.path.starts_with("/api/edge/hosts/"));
    assert_eq!(forwarded.count(), 1, "only the miss reached the origin");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_valid_traceparent_is_continued_with_a_new_parent_span(db: PgPool) {
    let w = stage(&db).await;
    let incoming = format!("00-{TRACE_ID}-{PARENT}-01");
    let response = w
        .edge
        .get(DOMAIN, "/api/sales")
        .header(TRACEPARENT, &incoming)
        .header(TRACESTATE, "congo=t61rcWkgMzE")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let at_origin = w.origin.log.last_ending_with("/sales").unwrap();
    let (trace_id, parent, flags) = parts(at_origin.header(TRACEPARENT).unwrap());
    assert_eq!(trace_id, TRACE_ID);
    assert_ne!(parent, PARENT, "the edge is the new parent");
    assert_eq!(flags, "01");
    assert_eq!(at_origin.header(TRACESTATE), Some("congo=t61rcWkgMzE"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_missing_or_invalid_traceparent_starts_a_new_trace(db: PgPool) {
    let w = stage(&db).await;
    let mut seen = Vec::new();
    for incoming in [None, Some(format!("00-{}-{PARENT}-01", "0".repeat(32)))] {
        let mut request = w.edge.get(DOMAIN, "/api/sales").header(TRACESTATE, "k=v");
        if let Some(traceparent) = &incoming {
            request = request.header(TRACEPARENT, traceparent);
        }
        assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
        let at_origin = w.origin.log.last_ending_with("/sales").unwrap();
        let (trace_id, _, _) = parts(at_origin.header(TRACEPARENT).unwrap());
        assert_ne!(trace_id, "0".repeat(32));
        assert_eq!(at_origin.header(TRACESTATE), None, "{incoming:?}");
        seen.push(trace_id);
    }
    assert_ne!(seen[0], seen[1], "each request starts its own trace");
}
