//! Handing out the position of a write, so the writer's next reads can insist on seeing it.
//!
//! After a successful write the primary is asked for its position (`pg_current_wal_lsn()`, one
//! query). A handler that knows a position at or past its commit may set the bare position as
//! `X-Write-LSN` instead and spare that query; none does today. Either way the position goes
//! out sealed for the writer's shop and user (`api::write_position`), in the `X-Write-LSN`
//! header and a cookie of the same value, so only positions an origin issued are ever honoured.

use api::{
    headers::{WRITE_LSN, WRITE_LSN_COOKIE},
    write_position::{WritePosition, LIFETIME_SECONDS},
};
use axum::{
    extract::{Request, State},
    http::{header::SET_COOKIE, HeaderValue},
    middleware::Next,
    response::Response,
};

use crate::db::replica::{positions::committed_position, Lsn};
use crate::{app::state::AppState, observability::recorder::names, web::caller::CallerSlot};

/// Middleware: a successful write (any method but GET, HEAD, OPTIONS and TRACE) answers with
/// the primary's WAL position after its commit, when reads may go to a replica.
pub async fn stamp(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let is_write = !request.method().is_safe();
    if !is_write || state.replica.is_none() {
        return next.run(request).await;
    }
    let caller = CallerSlot::default();
    request.extensions_mut().insert(caller.clone());
    let mut response = next.run(request).await;
    // What a handler set is the bare position; only its sealed form leaves the origin.
    let from_handler = response
        .headers_mut()
        .remove(WRITE_LSN)
        .and_then(|value| value.to_str().ok()?.parse::<Lsn>().ok());
    let Some((org_id, sub)) = caller.get() else {
        return response;
    };
    if !response.status().is_success() {
        return response;
    }
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
    let now = chrono::Utc::now().timestamp();
    let sealed = WritePosition::issued(lsn, *org_id, sub, now).seal(&state.write_positions);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&sealed) {
        headers.insert(WRITE_LSN, value);
    }
    if let Ok(cookie) = HeaderValue::from_str(&cookie(&sealed)) {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

fn cookie(sealed: &str) -> String {
    format!(
        "{WRITE_LSN_COOKIE}={sealed}; Path=/; Max-Age={LIFETIME_SECONDS}; HttpOnly; Secure; SameSite=Lax"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use api::{
        token::{KeySet, TokenVerifier},
        write_position::WritePositionKey,
    };
    use axum::{
        body::Body,
        http::{Method, StatusCode},
        middleware,
        routing::post,
        Extension, Router,
    };
    use tower::ServiceExt;
    use uuid::Uuid;

    use super::*;
    use crate::db::{connect_lazily, PoolLimits};

    const SECRET: &str = "edge secret of at least thirty-two bytes";

    /// State whose pools point at a port nobody listens on: asking the primary would fail.
    fn state_without_a_database() -> AppState {
        let nowhere = || "postgres://nobody@127.0.0.1:1/none".parse().expect("URL");
        let limits = PoolLimits {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(50),
        };
        let keys = KeySet::from_jwks_json(r#"{"keys":[]}"#).expect("empty key set");
        AppState::new(
            connect_lazily(nowhere(), limits),
            TokenVerifier::new(keys, "-", "-"),
        )
        .with_replica(Some(connect_lazily(nowhere(), limits)))
        .with_edge_secret(Some(
            api::edge_key::EdgeSecret::new(SECRET).expect("a strong secret"),
        ))
    }

    async fn write(app: Router) -> Response {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/write")
            .body(Body::empty())
            .expect("request");
        app.oneshot(request).await.expect("response")
    }

    #[tokio::test]
    async fn the_position_goes_out_sealed_for_the_writer_in_header_and_cookie() {
        let state = state_without_a_database();
        let shop = Uuid::new_v4();
        let app = Router::new()
            .route(
                "/write",
                post(move |Extension(caller): Extension<CallerSlot>| async move {
                    caller.fill(shop, "alice");
                    ([(WRITE_LSN, "0/3000148")], "done")
                }),
            )
            .layer(middleware::from_fn_with_state(state.clone(), stamp))
            .with_state(state);
        let response = write(app).await;
        assert_eq!(response.status(), StatusCode::OK);
        let sealed = response.headers()[WRITE_LSN].to_str().expect("ASCII");
        let key = WritePositionKey::new(&api::edge_key::EdgeSecret::new(SECRET).expect("strong"));
        let now = chrono::Utc::now().timestamp();
        let position = WritePosition::open(sealed, &key, shop, now).expect("opens");
        assert_eq!(position.lsn, "0/3000148".parse().expect("LSN"));
        assert_eq!(position.sub, "alice");
        let cookie = response.headers()[SET_COOKIE].to_str().expect("ASCII");
        assert!(
            cookie.starts_with(&format!("furnitureops_write_lsn={sealed};")),
            "{cookie}"
        );
    }

    #[tokio::test]
    async fn a_write_with_no_verified_caller_hands_out_no_position() {
        let state = state_without_a_database();
        let app = Router::new()
            .route(
                "/write",
                post(|| async { ([(WRITE_LSN, "0/3000148")], "done") }),
            )
            .layer(middleware::from_fn_with_state(state.clone(), stamp))
            .with_state(state);
        let response = write(app).await;
        assert!(response.headers().get(WRITE_LSN).is_none());
        assert!(response.headers().get(SET_COOKIE).is_none());
    }
}
