//! Handing out the position of a write, so the writer's next reads can insist on seeing it.

use super::{lsn::Lsn, positions::committed_position};
use crate::{observability::prometheus::names, state::AppState};
use api::headers::{WRITE_LSN, WRITE_LSN_COOKIE};
use axum::{
    extract::{Request, State},
    http::{header::SET_COOKIE, HeaderValue},
    middleware::Next,
    response::Response,
};

/// How long the cookie lives: far longer than any healthy replica lags, short enough that it
/// does not pin a browser to the primary after a replica outage.
const COOKIE_MAX_AGE_SECONDS: u32 = 300;

/// Middleware: a successful write (any method but GET, HEAD, OPTIONS and TRACE) answers with
/// the primary's WAL position after its commit, when reads may go to a replica.
pub async fn stamp(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_write = !request.method().is_safe();
    let mut response = next.run(request).await;
    if !is_write || !response.status().is_success() || state.replica.is_none() {
        return response;
    }
    match committed_position(&state.db).await {
        Ok(lsn) => {
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&lsn.to_string()) {
                headers.insert(WRITE_LSN, value);
            }
            if let Ok(cookie) = HeaderValue::from_str(&cookie(lsn)) {
                headers.append(SET_COOKIE, cookie);
            }
        }
        Err(err) => {
            // The write stands; only the guarantee for the next read is lost.
            metrics::counter!(names::WRITE_LSN_UNAVAILABLE).increment(1);
            tracing::warn!(error = %err, "write answered without its WAL position");
        }
    }
    response
}

fn cookie(lsn: Lsn) -> String {
    format!(
        "{WRITE_LSN_COOKIE}={lsn}; Path=/; Max-Age={COOKIE_MAX_AGE_SECONDS}; HttpOnly; Secure; SameSite=Lax"
    )
}
