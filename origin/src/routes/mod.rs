//! The route table. Tenant routes live under `/api/tenant/{org_id}`, which the edge rewrites
//! shop-domain paths to; probes live at the root.

mod health;

use axum::{
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post},
    Router,
};

use crate::{
    error::ApiError, extract::MAX_BODY_BYTES, inventory, purchase, request_id, state::AppState,
};

pub fn router(state: AppState) -> Router {
    let tenant = Router::new()
        .route("/inventory", get(inventory::list))
        .route("/inventory/{item_id}", get(inventory::get))
        .route("/buy", post(purchase::buy));
    Router::new()
        .nest("/api/tenant/{org_id}", tenant)
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .fallback(|| async { ApiError::NotFound("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}
