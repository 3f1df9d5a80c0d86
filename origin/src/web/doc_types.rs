//! Shared pieces of the handlers' OpenAPI annotations: the tenant path parameter, the
//! read-your-writes header, and the refusals many routes share. A leaf: it imports no handler.

use api::Problem;
use utoipa::{IntoParams, IntoResponses};
use uuid::Uuid;

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
