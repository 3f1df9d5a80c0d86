//! The route table. Tenant routes live under `/api/tenant/{org_id}`, which the edge rewrites
//! shop-domain paths to; probes live at the root.

use api::{domains::HOST_LOOKUP, routes};
use axum::{
    error_handling::HandleErrorLayer,
    extract::DefaultBodyLimit,
    middleware,
    routing::{delete, get, patch, post, put},
    Router,
};
use tower::ServiceBuilder;

use super::{
    health, metrics_endpoint,
    middleware::{catch_panic, request_timeout},
    openapi,
    state::AppState,
};
use crate::{
    admin::{audit, images, items},
    domains::{handlers as domains, lookup as host_lookup},
    kill_switch::handlers as kill_switch,
    live_sale::{edge_reports, stream as live_sale},
    observability::{self, request_id},
    pictures::referenced,
    purchase::{buy, status},
    shop::{events, inventory, profile},
    web::{self, edge_trust, error::ApiError, json_body::MAX_BODY_BYTES},
};

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    /// The tenant API and the operations routes, on one listener.
    Everything,
    /// The tenant API only (operations routes are on a listener of their own).
    Api,
    /// `/healthz`, `/readyz`, `/metrics` and `/openapi.json` only.
    Operations,
}

/// Every route, as one listener serves them.
pub fn router(state: AppState) -> Router {
    routes(state, Routes::Everything)
}

/// The routes `which` asks for, with every request layer.
pub fn routes(state: AppState, which: Routes) -> Router {
    // Installs the process-wide metrics recorder (once) before any request is counted.
    observability::recorder::handle();
    let mut router = Router::new();
    if which != Routes::Operations {
        router = router
            .nest(routes::TENANT_ROOT, tenant_routes(&state))
            .merge(edge_routes(&state));
    }
    if which != Routes::Api {
        router = router
            .route("/healthz", get(health::live))
            .route("/readyz", get(health::ready))
            .route("/metrics", get(metrics_endpoint::render))
            .route("/openapi.json", get(openapi::document));
    }
    with_request_layers(
        router.fallback(|| async { ApiError::NotFound("no such route") }),
        state,
    )
}

/// `router` with every request layer, outermost last: what each request passes through on its
/// way in. Public so a test can serve a route of its own exactly as the product's are served.
pub fn with_request_layers(router: Router<AppState>, state: AppState) -> Router {
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::write_position::stamp,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(request_timeout::refuse))
                .timeout(state.ops.request_timeout),
        )
        .layer(catch_panic::layer())
        .layer(middleware::from_fn_with_state(
            state.ops.log_sampling,
            observability::access_log::observe,
        ))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// The tenant routes, from the table the edge matches against (`api::routes`).
fn tenant_routes(state: &AppState) -> Router<AppState> {
    let at = routes::mounted;
    Router::new()
        .route(&at(routes::INVENTORY), get(inventory::list_items))
        .route(&at(routes::INVENTORY_ITEM), get(inventory::get_item))
        .route(&at(routes::SHOP), get(profile::shop_profile))
        .route(&at(routes::BUY), post(buy::buy))
        .route(&at(routes::ADMIN_ITEMS), post(items::create_item))
        .route(
            &at(routes::ADMIN_ITEM),
            patch(items::update_item).delete(items::delete_item),
        )
        .route(
            &at(routes::ADMIN_ITEM_IMAGES),
            post(images::record_image).put(images::order_images),
        )
        .route(&at(routes::ADMIN_ITEM_IMAGE), delete(images::remove_image))
        .route(
            &at(routes::EDGE_IMAGE_KEYS),
            post(referenced::referenced_keys),
        )
        .route(
            &at(routes::KILL_SWITCH),
            put(kill_switch::set_kill_switch).get(kill_switch::kill_switch_state),
        )
        .route(&at(routes::AUDIT), get(audit::list_audit_entries))
        .route(
            &at(routes::ADMIN_DOMAINS),
            get(domains::list_domains).post(domains::add_domain),
        )
        .route(&at(routes::ADMIN_DOMAIN), delete(domains::delete_domain))
        .route(
            &at(routes::ADMIN_DOMAIN_VERIFY),
            post(domains::verify_domain),
        )
        .route(
            &at(routes::ADMIN_DOMAIN_PRIMARY),
            put(domains::make_primary),
        )
        .route(
            &at(routes::ADMIN_EVENTS),
            get(live_sale::stream_sale_seconds),
        )
        .route(
            &at(routes::EDGE_REFUSALS),
            post(edge_reports::report_edge_refusals),
        )
        .route(&at(routes::SALES), get(kill_switch::sales_status))
        .route(&at(routes::PURCHASE), get(status::purchase_status))
        .route(&at(routes::EVENTS), get(events::stream_events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            edge_trust::require_proof,
        ))
}

/// The edge's own routes outside any shop: the host lookup (`api::domains::HOST_LOOKUP`),
/// behind the same proof as the tenant routes.
fn edge_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(HOST_LOOKUP, get(host_lookup::host_lookup))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            edge_trust::require_proof,
        ))
}
