//! Edge-to-origin trust. When `EDGE_SHARED_SECRET` is set, tenant routes answer `403` to calls
//! that lack it, so nobody can skip the edge's rate limiter by calling the origin directly.
//! The origin still verifies every token itself: the secret proves the path, not the caller.

use api::headers::EDGE_SECRET;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::{http::error::ApiError, http::state::AppState};

pub async fn require(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.edge_secret else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(EDGE_SECRET)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // Comparing digests keeps the comparison's time independent of where the bytes differ.
    if Sha256::digest(presented) == Sha256::digest(expected.expose_secret().as_bytes()) {
        next.run(request).await
    } else {
        ApiError::Forbidden("requests must come through the edge").into_response()
    }
}
