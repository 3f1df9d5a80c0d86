//! `X-Request-ID`: kept when the caller's is 1-128 visible ASCII (in production the caller is the
//! edge, which mints it), made fresh otherwise, echoed on every response and reachable from
//! anywhere in the request (errors carry it in their body). `X-Correlation-ID`, the client's own
//! id that the edge passes on, is kept beside it for the logs and echoed, and decides nothing.

use api::headers::{is_valid_request_id, CORRELATION_ID, REQUEST_ID};
use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use uuid::Uuid;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served by this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The client's correlation id of `request`, when it sent a usable one.
pub fn correlation_of(request: &Request) -> Option<String> {
    request
        .headers()
        .get(CORRELATION_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_request_id(v))
        .map(str::to_owned)
}

/// Middleware: settles the request id before anything else runs.
/// The request's headers stay as they came: the edge's proof binds `X-Request-ID` as sent
/// (absent included), so the id lives in the task, not in a rewritten header.
pub async fn assign(request: Request, next: Next) -> Response {
    let name = HeaderName::from_static(REQUEST_ID);
    let id = request
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    let correlation = correlation_of(&request).and_then(|c| HeaderValue::from_str(&c).ok());
    let mut response = CURRENT.scope(id, next.run(request)).await;
    response.headers_mut().insert(name, value);
    if let Some(correlation) = correlation {
        response
            .headers_mut()
            .insert(HeaderName::from_static(CORRELATION_ID), correlation);
    }
    response
}
