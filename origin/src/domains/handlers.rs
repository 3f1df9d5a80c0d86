//! The owner's domain routes: claim, list, check now, release, make primary. Each runs in a
//! transaction scoped to the caller's shop, so another shop's domain is simply not there
//! (`404`), and each change is audited in the same transaction.
//!
//! They take no `Idempotency-Key`: a retried claim answers the claim already made, and
//! checking, releasing or choosing a primary again changes nothing more.

use api::{
    domains::{AddDomain, Domain, DomainList},
    Problem,
};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::json;

use super::{
    checks::cloudflare::Cloudflare,
    claim::{claim, Claimed},
    hostname::{normalise, Hostname},
    store::{self, DomainRow, StoredStatus},
    verify::{verify, Checker},
    view,
};
use crate::{
    admin::audit::{self, AuditEntry},
    app::state::AppState,
    db,
    observability::request_id,
    web::{
        caller::{Admin, Caller},
        doc_types::{TenantPath, TokenRefusals, TooLarge, Unavailable},
        error::ApiError,
        json_body::parse_json,
    },
};

/// `/admin/domains/{hostname}`'s parameters.
#[derive(Debug, Deserialize)]
pub struct DomainPath {
    pub hostname: String,
}

/// `POST /api/tenant/{org_id}/admin/domains`
#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/admin/domains",
    summary = "Claim a hostname for the shop: the answer says which DNS records prove it",
    tag = "admin",
    params(TenantPath),
    request_body = AddDomain,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Claimed: pending until checked", body = Domain),
        (status = 200, description = "The shop holds this hostname already", body = Domain),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 409, description = "Live for another shop, or the shop holds as many domains as it may", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a hostname a shop can claim: malformed, an IP address, localhost, a wildcard, the platform's own", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn add_domain(
    State(state): State<AppState>,
    Admin(caller): Admin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: AddDomain = parse_json(&body)?;
    let host = normalise(&request.hostname)
        .map_err(|err| ApiError::InvalidHostname(format!("{:?}: {err}", request.hostname)))?;
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let (status, row) = match claim(&mut tx, &state.domains, caller.org_id, &host).await? {
        Claimed::Held(row) => (StatusCode::OK, row),
        Claimed::Fresh(row) => {
            audit_change(
                &mut tx,
                &caller,
                "domain.claim",
                &row,
                json!({"status": "pending", "txt_required": row.txt_required}),
            )
            .await?;
            (StatusCode::CREATED, row)
        }
    };
    tx.commit().await?;
    let row = if status == StatusCode::CREATED {
        start_certificate(&state, &caller, row).await
    } else {
        row
    };
    Ok((status, Json(view::domain(&row, &state.domains))).into_response())
}

/// `GET /api/tenant/{org_id}/admin/domains`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/admin/domains",
    summary = "The shop's domains: live ones and claims, with their status and what to do next",
    tag = "admin",
    params(TenantPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shop's domains, primary first", body = DomainList),
        TokenRefusals,
        Unavailable,
    )
)]
pub async fn list_domains(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<DomainList>, ApiError> {
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let rows = store::list(&mut tx, caller.org_id).await?;
    tx.commit().await?;
    Ok(Json(DomainList {
        domains: rows
            .iter()
            .map(|row| view::domain(row, &state.domains))
            .collect(),
    }))
}

/// `POST /api/tenant/{org_id}/admin/domains/{hostname}/verify`
#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/admin/domains/{hostname}/verify",
    summary = "Check a claimed hostname now: live when every check passes",
    tag = "admin",
    params(TenantPath, ("hostname" = String, Path, description = "The hostname, as claimed")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live", body = Domain),
        TokenRefusals,
        (status = 404, description = "The shop has no such domain (another shop's included)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Live for another shop", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A check did not pass: the detail says what to do", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A service the check needs did not answer (the claim is unchanged; check again), or the database is down", body = Problem, content_type = "application/problem+json", headers(("retry-after" = u32, description = "Seconds to wait before checking again"))),
    )
)]
pub async fn verify_domain(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(path): Path<DomainPath>,
) -> Result<Json<Domain>, ApiError> {
    let host = path_host(&path)?;
    let checker = Checker {
        scope: &caller.scope(),
        actor_sub: caller.sub(),
    };
    let row = verify(&state.db, checker, &state.domains, &host).await?;
    Ok(Json(view::domain(&row, &state.domains)))
}

/// `DELETE /api/tenant/{org_id}/admin/domains/{hostname}`
#[utoipa::path(
    delete,
    path = "/api/tenant/{org_id}/admin/domains/{hostname}",
    summary = "Release a hostname: it stops serving the shop",
    tag = "admin",
    params(TenantPath, ("hostname" = String, Path, description = "The hostname")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Released"),
        TokenRefusals,
        (status = 404, description = "The shop has no such domain (another shop's included)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The primary domain: make another one primary first", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn delete_domain(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(path): Path<DomainPath>,
) -> Result<StatusCode, ApiError> {
    let host = path_host(&path)?;
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let row = store::find(&mut tx, caller.org_id, &host)
        .await?
        .ok_or(ApiError::NotFound("this shop has no such domain"))?;
    if row.is_primary {
        return Err(ApiError::Conflict(
            "the primary domain cannot be released: make another live domain primary first",
        ));
    }
    store::delete(&mut tx, caller.org_id, &row.host).await?;
    audit_change(&mut tx, &caller, "domain.release", &row, json!(null)).await?;
    tx.commit().await?;
    if let (Some(settings), Some(id)) = (&state.domains.cloudflare, &row.cloudflare_id) {
        let removed = async {
            Cloudflare::new(settings, state.domains.check_timeout)?
                .remove(id)
                .await
        };
        if let Err(failed) = removed.await {
            tracing::warn!(host = %row.host, ?failed, "the Cloudflare custom hostname of a released domain is left behind");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/tenant/{org_id}/admin/domains/{hostname}/primary`
#[utoipa::path(
    put,
    path = "/api/tenant/{org_id}/admin/domains/{hostname}/primary",
    summary = "Make a live hostname the shop's primary domain: the others answer 301 to it",
    tag = "admin",
    params(TenantPath, ("hostname" = String, Path, description = "The hostname")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The primary domain now", body = Domain),
        TokenRefusals,
        (status = 404, description = "The shop has no such domain (another shop's included)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not live yet", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn make_primary(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(path): Path<DomainPath>,
) -> Result<Json<Domain>, ApiError> {
    let host = path_host(&path)?;
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let row = store::find(&mut tx, caller.org_id, &host)
        .await?
        .ok_or(ApiError::NotFound("this shop has no such domain"))?;
    if row.status != StoredStatus::Active {
        return Err(ApiError::Conflict("only a live domain can be primary"));
    }
    if !row.is_primary {
        store::make_primary(&mut tx, caller.org_id, &row.host).await?;
        audit_change(
            &mut tx,
            &caller,
            "domain.primary",
            &row,
            json!({"primary": true}),
        )
        .await?;
    }
    let row = store::find(&mut tx, caller.org_id, &host)
        .await?
        .ok_or(ApiError::NotFound("this shop has no such domain"))?;
    tx.commit().await?;
    Ok(Json(view::domain(&row, &state.domains)))
}

/// The path's hostname, normalised; one that cannot be a hostname names no domain.
fn path_host(path: &DomainPath) -> Result<Hostname, ApiError> {
    normalise(&path.hostname).map_err(|_| ApiError::NotFound("this shop has no such domain"))
}

async fn audit_change(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    action: &str,
    row: &DomainRow,
    after: serde_json::Value,
) -> Result<(), ApiError> {
    let request_id = request_id::current().unwrap_or_default();
    let before = (action != "domain.claim").then(
        || json!({"status": format!("{:?}", row.status).to_lowercase(), "primary": row.is_primary}),
    );
    let entry = AuditEntry {
        org_id: caller.org_id,
        actor_sub: caller.sub(),
        action,
        target: row.host.clone(),
        before,
        after: Some(after),
        request_id: &request_id,
    };
    audit::record(tx, entry).await?;
    Ok(())
}

/// With Cloudflare for SaaS configured, creates the claim's custom hostname at once, so the
/// certificate is under way by the time the owner's DNS is. A failure is only logged: the
/// first check makes it again.
async fn start_certificate(state: &AppState, caller: &Caller, row: DomainRow) -> DomainRow {
    let Some(settings) = &state.domains.cloudflare else {
        return row;
    };
    let created = async {
        Cloudflare::new(settings, state.domains.check_timeout)?
            .create(&row.host)
            .await
    };
    match created.await {
        Ok(created) => {
            let stored = async {
                let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
                store::set_cloudflare_id(&mut tx, caller.org_id, &row.host, &created.id).await?;
                tx.commit().await
            };
            if let Err(err) = stored.await {
                tracing::warn!(host = %row.host, error = %err, "could not store the Cloudflare custom hostname's id");
                return row;
            }
            DomainRow {
                cloudflare_id: Some(created.id),
                hostname_status: Some(created.hostname_status),
                certificate_status: created.certificate_status,
                ..row
            }
        }
        Err(failed) => {
            tracing::warn!(host = %row.host, ?failed, "could not create the Cloudflare custom hostname; the first check will");
            row
        }
    }
}
