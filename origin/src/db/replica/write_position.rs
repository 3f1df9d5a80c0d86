//! Handing out the position of a write, so the writer's next reads can insist on seeing it.
//!
//! A handler that already knows a position at or past its commit (a batch that asked the
//! primary once for all its writes) sets `X-Write-LSN` itself; the middleware then only adds
//! the cookie. Otherwise it asks the primary after the handler returned.

use super::{lsn::Lsn, positions::committed_position};
use crate::{http::state::AppState, observability::recorder::names};
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
    let from_handler = response
        .headers()
        .get(WRITE_LSN)
        .and_then(|value| value.to_str().ok()?.parse::<Lsn>().ok());
    let lsn = match from_handler {
        Some(lsn) => lsn,
        None => match committed_position(&state.db).await {
            Ok(lsn) => lsn,
            Err(err) => {
                // The write stands; only the guarantee for the next read is lost.
                metrics::counter!(names::WRITE_LSN_UNAVAILABLE).increment(1);
                tracing::warn!(error = %err, "write answered without its WAL position");
                return response;
            }
        },
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&lsn.to_string()) {
        headers.insert(WRITE_LSN, value);
    }
    if let Ok(cookie) = HeaderValue::from_str(&cookie(lsn)) {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

fn cookie(lsn: Lsn) -> String {
    format!(
        "{WRITE_LSN_COOKIE}={lsn}; Path=/; Max-Age={COOKIE_MAX_AGE_SECONDS}; HttpOnly; Secure; SameSite=Lax"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use api::token::{KeySet, TokenVerifier};
    use axum::{
        body::Body,
        http::{header::SET_COOKIE, Method, StatusCode},
        middleware,
        routing::post,
        Router,
    };
    use tower::ServiceExt;

    use super::*;
    use crate::{db::pools::connect_lazily, db::PoolLimits};

    /// State whose pools point at a port nobody listens on: asking the primary would fail.
    fn state_without_a_database() -> AppState {
        let nowhere = "postgres://nobody@127.0.0.1:1/none".parse().expect("URL");
        let limits = PoolLimits {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(50),
        };
        let keys = KeySet::from_jwks_json(r#"{"keys":[]}"#).expect("empty key set");
        AppState::new(
            connect_lazily(nowhere, limits),
            TokenVerifier::new(keys, "-", "-"),
        )
        .with_replica(Some(connect_lazily(
            "postgres://nobody@127.0.0.1:1/none".parse().expect("URL"),
            limits,
        )))
    }

    #[tokio::test]
    async fn a_position_the_handler_set_is_kept_and_becomes_the_cookie() {
        let state = state_without_a_database();
        let app = Router::new()
            .route(
                "/write",
                post(|| async { ([(WRITE_LSN, "0/3000148")], "done") }),
            )
            .layer(middleware::from_fn_with_state(state.clone(), stamp))
            .with_state(state);
        let request = Request::builder()
            .method(Method::POST)
            .uri("/write")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[WRITE_LSN], "0/3000148");
        let cookie = response.headers()[SET_COOKIE].to_str().expect("ASCII");
        assert!(
            cookie.starts_with("furnitureops_write_lsn=0/3000148;"),
            "{cookie}"
        );
    }
}
