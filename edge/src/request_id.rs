//! Request identity at the edge. The edge mints every request's `X-Request-ID` (a fresh UUID):
//! the origin's audit entries and log sampling key on it, so a caller must not be able to choose
//! it (to collide with another request's audit trail, or to pick ids that are always, or never,
//! logged). An id the caller sent (`X-Correlation-ID`, else its `X-Request-ID`), when it is 1-128
//! visible ASCII, is kept as the correlation id: forwarded to the origin, logged there and echoed,
//! so a client can still find its requests.

use api::headers::{is_valid_request_id, CORRELATION_ID, REQUEST_ID};
use worker::Request;

pub fn mint() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The caller's own id for this request, if it sent a usable one.
pub fn correlation(req: &Request) -> Option<String> {
    [CORRELATION_ID, REQUEST_ID].into_iter().find_map(|name| {
        req.headers()
            .get(name)
            .ok()
            .flatten()
            .filter(|id| is_valid_request_id(id))
    })
}
