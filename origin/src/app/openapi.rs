//! `GET /openapi.json`: the origin's HTTP contract, generated from the handlers' annotations.
//! What several handlers' annotations share (path parameters, common refusals) is in
//! `web::doc_types`, in the layer below the handlers, so handlers can use it while this module
//! lists them.
//!
//! `ApiDoc`'s `paths(...)` is the one list of documented routes: a new route gets a
//! `#[utoipa::path]` on its handler and a line here. The test `openapi_covers_every_route`
//! fails when the router serves a route this list lacks, or the list names one it does not serve.
//! Paths are the origin's (`/api/tenant/{org_id}/...`); the edge serves the tenant routes to
//! shoppers as `/api/...` on the shop's own domain.

use std::sync::LazyLock;

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use utoipa::{
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
    Modify, OpenApi,
};

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "FurnitureOps origin",
        description = "Tenant routes live under /api/tenant/{org_id}; the edge Worker serves them \
                       on each shop's own domain as /api/... . Every refusal is \
                       application/problem+json (RFC 9457)."
    ),
    paths(
        crate::shop::inventory::list_items,
        crate::shop::inventory::get_item,
        crate::purchase::buy::buy,
        crate::shop::profile::shop_profile,
        crate::purchase::status::purchase_status,
        crate::shop::events::stream_events,
        crate::kill_switch::handlers::sales_status,
        crate::admin::items::create_item,
        crate::admin::items::update_item,
        crate::admin::items::delete_item,
        crate::admin::images::record_image,
        crate::admin::images::order_images,
        crate::admin::images::remove_image,
        crate::pictures::referenced::referenced_keys,
        crate::kill_switch::handlers::set_kill_switch,
        crate::kill_switch::handlers::kill_switch_state,
        crate::admin::audit::list_audit_entries,
        crate::domains::handlers::add_domain,
        crate::domains::handlers::list_domains,
        crate::domains::handlers::verify_domain,
        crate::domains::handlers::delete_domain,
        crate::domains::handlers::make_primary,
        crate::domains::lookup::host_lookup,
        crate::live_sale::stream::stream_sale_seconds,
        crate::live_sale::edge_reports::report_edge_refusals,
        crate::app::health::live,
        crate::app::health::ready,
        crate::app::metrics_endpoint::render,
        document,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "shop", description = "What shoppers call"),
        (name = "admin", description = "Shop admins managing their items (role admin)"),
        (name = "operations", description = "Origin only: probes, metrics, this document, the edge's reports"),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default());

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    summary = "This document",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn document() -> Response {
    let mut response = DOCUMENT.as_str().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
