//! `POST /api/tenant/{org_id}/edge/refusals`: the purchases the edge refused by itself for a
//! shop (its rate limiter's 429s, buys refused while sales are paused, buys of items it knew
//! to be sold out, buys shed while the origin was overloaded), as one isolate counted them
//! since its last report.
//!
//! Only the edge may report: the route is served only when the origin shares
//! `EDGE_SHARED_SECRET` with it (tenant routes then refuse calls without the secret, see
//! `web::edge_trust`), so nobody else can put counts in an admin's view. The edge
//! blocks `/api/edge/...` on shop domains, so a shopper cannot make it forward one either. A
//! report costs the origin a lock and three adds; the counts go out with this process's next
//! once-a-second publication (`refusal_tally`).

use api::{
    live_sale::{EdgeRefusals, Refusals, MAX_REPORTED},
    Problem,
};
use axum::{body::Bytes, extract::State, http::StatusCode};

use crate::{
    app::state::AppState,
    web::{
        caller::Tenant,
        doc_types::{TenantPath, TooLarge, Unavailable},
        error::ApiError,
        json_body::parse_json,
    },
};

/// `POST /api/tenant/{org_id}/edge/refusals`
#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/edge/refusals",
    summary = "The edge reports the purchases it refused by itself (edge only)",
    tag = "operations",
    params(TenantPath),
    request_body = EdgeRefusals,
    responses(
        (status = 204, description = "Counted"),
        (status = 400, description = "Malformed body or a count out of range", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not from the edge, or the origin has no EDGE_SHARED_SECRET", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn report_edge_refusals(
    State(state): State<AppState>,
    Tenant(org_id): Tenant,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if state.edge_trust.is_none() {
        return Err(ApiError::Forbidden(
            "edge reports are taken only when the origin has EDGE_SHARED_SECRET",
        ));
    }
    let report: EdgeRefusals = parse_json(&body)?;
    let counts = [
        report.rate_limited,
        report.paused,
        report.sold_out,
        report.busy,
    ];
    if counts.into_iter().any(|count| count > MAX_REPORTED) {
        return Err(ApiError::Malformed(format!(
            "a report counts at most {MAX_REPORTED} refusals of each kind"
        )));
    }
    state.refusals.add(
        org_id,
        Refusals {
            sold_out: report.sold_out,
            rate_limited: report.rate_limited,
            paused: report.paused,
            busy: report.busy,
        },
    );
    Ok(StatusCode::NO_CONTENT)
}
