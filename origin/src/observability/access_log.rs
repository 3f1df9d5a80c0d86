//! The request line, the request span and the request metrics.
//!
//! Every request runs inside a `request` span carrying its id, tenant, matched route and the
//! trace id it continues (`trace_context`), so any line logged while serving it can be traced
//! back. When it ends, one request line records `request_id`, `tenant`, `route`, `trace_id`,
//! `method`, `status` and `latency_ms`, subject to sampling, and the request is counted in the
//! metrics, always.
//!
//! tower-http's `TraceLayer` writes its lines as events happen; deciding after the response
//! whether a request's lines are kept at all (tail sampling by outcome) needs the span, the
//! holding of lines and the request line in one place, hence this middleware. Headers are never
//! logged, so neither `Authorization` nor the edge's proof can reach a log.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;
use uuid::Uuid;

use super::{recorder, request_log::RequestLog, sampling::LogSampling, trace_context};
use crate::observability::request_id;

/// The `route` of requests that matched no route (a raw path would explode label counts).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Middleware: must run inside `request_id::assign` so the id is settled.
pub async fn observe(
    State(sampling): State<LogSampling>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request_id::current().unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let tenant = tenant_of(request.uri().path());
    let method = request.method().clone();
    let correlation_id = request_id::correlation_of(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        correlation_id = correlation_id.as_deref(),
        tenant = tenant.map(tracing::field::display),
        route = %route,
        trace_id = tracing::field::Empty,
    );
    let trace_id = trace_context::continue_from(&span, request.headers());
    let log = RequestLog::new(sampling.samples_request_id(&request_id));
    let response = log.scope(next.run(request).instrument(span)).await;

    let latency = started.elapsed();
    let status = response.status();
    recorder::record_request(&method, &route, status, latency);
    if !sampling.keeps(log.sampled(), status, latency) {
        log.discard();
        return response;
    }
    log.release();
    let latency_ms = latency.as_secs_f64() * 1e3;
    macro_rules! request_line {
        ($level:ident) => {
            tracing::$level!(
                request_id = %request_id,
                correlation_id = correlation_id.as_deref(),
                tenant = tenant.map(tracing::field::display),
                route = %route,
                trace_id = trace_id.map(tracing::field::display),
                method = %method,
                status = status.as_u16(),
                latency_ms,
                "request"
            )
        };
    }
    if status.is_server_error() {
        request_line!(error);
    } else {
        request_line!(info);
    }
    response
}

/// The shop of an `/api/tenant/{org_id}/...` path, when the id is a UUID.
fn tenant_of(path: &str) -> Option<Uuid> {
    let rest = path.strip_prefix("/api/tenant/")?;
    let id = rest.split('/').next()?;
    Uuid::parse_str(id).ok()
}

#[cfg(test)]
mod tests {
    use super::tenant_of;

    #[test]
    fn the_tenant_comes_from_the_path() {
        let org = "6f1c1c52-3b7a-4e59-9a9c-0f1f3a4b5c6d";
        assert_eq!(
            tenant_of(&format!("/api/tenant/{org}/inventory"))
                .map(|u| u.to_string())
                .as_deref(),
            Some(org)
        );
        assert_eq!(tenant_of("/api/tenant/not-a-uuid/inventory"), None);
        assert_eq!(tenant_of("/healthz"), None);
    }
}
