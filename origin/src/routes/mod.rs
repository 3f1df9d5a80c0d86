//! The route table. Tenant routes live under `/api/tenant/{org_id}`, which the edge rewrites
//! shop-domain paths to; probes live at the root.

mod health;

use axum::{
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, patch, post, put},
    Router,
};

use crate::{
    admin_items, audit, edge_secret, error::ApiError, events, extract::MAX_BODY_BYTES, inventory,
    kill_switch, purchase, request_id, shop, state::AppState,
};

pub fn router(state: AppState) -> Router {
    let tenant = Router::new()
        .route("/inventory", get(inventory::list))
        .route("/inventory/{item_id}", get(inventory::get))
        .route("/shop", get(shop::profile))
        .route("/buy", post(purchase::buy))
        .route("/admin/items", post(admin_items::create))
        .route("/admin/items/{item_id}", patch(admin_items::patch))
        .route("/admin/kill-switch", put(kill_switch::put))
        .route("/admin/audit", get(audit::list))
        .route("/sales", get(kill_switch::sales))
        .route("/purchases/{purchase_id}", get(purchase::status))
        .route("/events", get(events::stream_events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            edge_secret::require,
        ));
    Router::new()
        .nest("/api/tenant/{org_id}", tenant)
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .fallback(|| async { ApiError::NotFound("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}
