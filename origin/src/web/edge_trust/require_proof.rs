//! Tenant routes answer `403` to a request without a valid, unused edge proof when the origin
//! has `EDGE_SHARED_SECRET`: nobody skips the edge's limiter by calling the origin directly, and
//! a request seen on the wire cannot be sent again or changed. The body is read (within the
//! same 16 KiB cap the JSON extractor applies) because the proof covers its digest.
//!
//! The origin still checks every token itself, or the claims the edge sealed for this request:
//! the proof says where the request came from, not who is calling.

use api::edge_proof::{BoundHeaders, ProofError, ProvedRequest, HEADER};
use axum::{
    body::Body,
    extract::{OriginalUri, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    app::state::AppState,
    web::{error::ApiError, json_body::MAX_BODY_BYTES},
};

pub async fn require_proof(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(trust) = &state.edge_trust else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }
        .into_response();
    };
    let path_and_query = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0)
        .path_and_query()
        .map_or("/", |pq| pq.as_str());
    // Every value of a bound header, joined as the Fetch API joins them when the edge reads
    // its own headers: a line added on the way is a mismatch, not an unproved extra.
    let bound = BoundHeaders::read(|name| joined(&parts.headers, name));
    let header = |name: &str| bound.get(name);
    let proved = ProvedRequest {
        method: parts.method.as_str(),
        path_and_query,
        body: &body,
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let verdict = trust
        .proofs
        .check(
            parts.headers.get(HEADER).and_then(|v| v.to_str().ok()),
            proved,
            header,
            now_ms,
        )
        .and_then(|accepted| {
            if trust.replays.first_use(&accepted.mac) {
                Ok(())
            } else {
                Err(ProofError::Replayed)
            }
        });
    match verdict {
        Ok(()) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(refusal) => {
            tracing::warn!(reason = %refusal, "refused a request without a valid edge proof");
            ApiError::Forbidden("requests must come through the edge").into_response()
        }
    }
}

/// All of `name`'s values, joined with ", "; `None` when there is none, and a value that is
/// not visible ASCII makes the whole header unreadable (the proof then fails).
fn joined(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let texts: Option<Vec<&str>> = values.map(|value| value.to_str().ok()).collect();
    Some(texts.map_or_else(|| "\u{0}".to_owned(), |texts| texts.join(", ")))
}
