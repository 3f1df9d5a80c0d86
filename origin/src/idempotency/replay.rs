//! Answering from a stored response: same status, same bytes, marked as a replay.

use api::{headers::PROBLEM_JSON, purchase::Accepted, routes};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::{key::REPLAYED_HEADER, store::StoredResponse};

/// The stored answer as an HTTP response. `replayed` marks answers served from the key store
/// (the first answer itself is not marked).
pub fn stored_response(stored: StoredResponse, replayed: bool) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        PROBLEM_JSON
    };
    // An accepted async buy points at its status resource, first answer and replays alike.
    let location = (status == StatusCode::ACCEPTED)
        .then(|| serde_json::from_slice::<Accepted>(&stored.body).ok())
        .flatten()
        .and_then(|a| {
            let status = routes::filled(routes::PURCHASE, &a.purchase_id.to_string());
            HeaderValue::from_str(&format!("/api/{status}")).ok()
        });
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(location) = location {
        headers.insert(header::LOCATION, location);
    }
    if replayed {
        headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

pub fn replay_response(stored: StoredResponse) -> Response {
    stored_response(stored, true)
}
