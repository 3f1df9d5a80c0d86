//! The route table. Tenant routes live under `/api/tenant/{org_id}`, which the edge rewrites
//! shop-domain paths to; probes live at the root.

mod health;
pub mod openapi;

use axum::{
    error_handling::HandleErrorLayer,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, patch, post, put},
    Router,
};
use tower::ServiceBuilder;

use crate::{
    admin_items, audit, edge_secret, error::ApiError, events, extract::MAX_BODY_BYTES, inventory,
    kill_switch, purchase, request_id, shop, state::AppState,
};
use crate::{observability, replica, request_timeout};

pub fn router(state: AppState) -> Router {
    // Installs the process-wide metrics recorder (once) before any request is counted.
    observability::prometheus::handle();
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
        .route("/metrics", get(observability::prometheus::render))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::NotFound("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            replica::write_position::stamp,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(request_timeout::refuse))
                .timeout(state.ops.request_timeout),
        )
        .layer(middleware::from_fn_with_state(
            state.ops.log_sampling,
            observability::access_log::observe,
        ))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}
