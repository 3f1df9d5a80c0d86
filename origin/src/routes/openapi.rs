//! `GET /openapi.json`: the origin's HTTP contract, generated from the handlers' annotations.
//!
//! `ApiDoc`'s `paths(...)` is the one list of documented routes: a new route gets a
//! `#[utoipa::path]` on its handler and a line here. The test `openapi_covers_every_route`
//! fails when the router serves a route this list lacks, or the list names one it does not serve.
//! Paths are the origin's (`/api/tenant/{org_id}/...`); the edge serves the tenant routes to
//! shoppers as `/api/...` on the shop's own domain.

use std::sync::LazyLock;

use api::Problem;
use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use utoipa::{
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
    IntoParams, IntoResponses, Modify, OpenApi,
};
use uuid::Uuid;

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
        crate::inventory::list,
        crate::inventory::get,
        crate::purchase::buy,
        crate::shop::profile,
        crate::purchase::status,
        crate::events::stream_events,
        crate::kill_switch::sales,
        crate::admin_items::create,
        crate::admin_items::patch,
        crate::kill_switch::put,
        crate::audit::list,
        super::health::live,
        super::health::ready,
        crate::observability::prometheus::render,
        document,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "shop", description = "What shoppers call"),
        (name = "admin", description = "Shop admins managing their items (role admin)"),
        (name = "operations", description = "Origin only: probes, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The shop a tenant route is for.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The shop's organization id.
    pub org_id: Uuid,
}

/// The read-your-writes position a read may carry.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct ReadAfterHeader {
    /// The `X-Write-LSN` of the caller's last write (or the `furnitureops_write_lsn` cookie):
    /// the answer then reflects that write.
    #[param(rename = "x-write-lsn")]
    pub write_lsn: Option<String>,
}

/// `401` and `403`, for routes that need a token.
#[derive(Debug, IntoResponses)]
pub enum TokenRefusals {
    /// Missing, malformed, badly signed or expired token
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// A token of another shop, a shopper on an admin route, or a call that skipped the edge
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// `413`, for routes with a body.
#[derive(Debug, IntoResponses)]
#[response(
    status = 413,
    description = "The body is over 16 KiB",
    content_type = "application/problem+json"
)]
pub struct TooLarge(pub Problem);

/// `503`, for every route that reaches the database.
#[derive(Debug, IntoResponses)]
#[response(
    status = 503,
    description = "The database is overloaded or down, or the request ran out of time",
    content_type = "application/problem+json",
    headers(("retry-after" = u32, description = "Seconds to wait before retrying"))
)]
pub struct Unavailable(pub Problem);

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
