//! `X-Request-ID` at the edge: the caller's when it is 1-128 visible ASCII, else a fresh UUID.
//! The same id is forwarded to the origin and echoed to the caller.

use api::headers::{is_valid_request_id, REQUEST_ID};
use worker::Request;

pub fn settle(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .ok()
        .flatten()
        .filter(|id| is_valid_request_id(id))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
