//! `GET /api/edge/hosts/{hostname}`: the edge's question on a cache miss, "which shop does this
//! hostname serve, and which challenges does it answer?". Only the edge may ask (its proof is
//! required like on every tenant route); the answer reads across shops through the database's
//! `edge_host_lookup`, and an unknown hostname is an answer too, so the edge can remember it.

use api::domains::{HostLookup, HttpChallenge};
use axum::{
    extract::{Path, State},
    Json,
};

use super::{hostname::normalise, store, view::challenge_path};
use crate::{app::state::AppState, web::error::ApiError};

/// `GET /api/edge/hosts/{hostname}`
#[utoipa::path(
    get,
    path = "/api/edge/hosts/{hostname}",
    summary = "The edge's lookup of a hostname: the shop it serves, its primary, its challenges",
    tag = "operations",
    params(("hostname" = String, Path, description = "Lower case, no trailing dot, no port")),
    responses(
        (status = 200, description = "`{\"org_id\", \"primary\", \"challenges\": [{\"path\", \"body\"}]}`; an unknown hostname has no shop and no challenges", content_type = "application/json"),
        (status = 403, description = "Not the edge: no valid proof", body = api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is overloaded or down", body = api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn host_lookup(
    State(state): State<AppState>,
    Path(hostname): Path<String>,
) -> Result<Json<HostLookup>, ApiError> {
    let Ok(host) = normalise(&hostname) else {
        return Ok(Json(HostLookup::default()));
    };
    let rows = store::lookup(&state.db, host.as_str()).await?;
    let mut answer = HostLookup::default();
    for row in rows {
        if let Some(org_id) = row.organization_id {
            answer.org_id = Some(org_id);
            answer.primary = row.primary_host;
        } else if let (Some(token), Some(body)) = (row.http_token, row.http_body) {
            answer.challenges.push(HttpChallenge {
                path: challenge_path(&token),
                body,
            });
        }
    }
    Ok(Json(answer))
}
