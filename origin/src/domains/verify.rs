//! Checking a claim now: the HTTP challenge, the TXT record where required, and Cloudflare's
//! hostname and certificate status where configured, in that order (the cheapest refusal
//! first). No transaction is held open while the checks run: the claim is read, the checks
//! run, and what they found is written in a second transaction, where the one-live-host index
//! settles a race with another shop.

use serde_json::json;

use super::{
    checks::{cloudflare::Cloudflare, http, txt, Failed},
    claim::is_unique_violation,
    hostname::Hostname,
    settings::DomainSettings,
    store::{self, CheckRecord, DomainRow, StoredStatus},
    view::challenge_path,
};
use crate::{
    admin::audit::{self, AuditEntry},
    db::Scope,
    observability::request_id,
    web::error::ApiError,
};

/// Who asks for a check, for the audit entry of a domain that goes live.
#[derive(Debug, Clone, Copy)]
pub struct Checker<'a> {
    pub scope: &'a Scope,
    pub actor_sub: &'a str,
}

/// Checks the shop's claim of `host`; the row as it stands after, when it went live.
pub async fn verify(
    db: &sqlx::PgPool,
    checker: Checker<'_>,
    settings: &DomainSettings,
    host: &Hostname,
) -> Result<DomainRow, ApiError> {
    let scope = checker.scope;
    let org_id = scope.org_id;
    let mut tx = crate::db::begin_scoped(db, scope).await?;
    let row = store::find(&mut tx, org_id, host)
        .await?
        .ok_or(ApiError::NotFound("this shop has no such domain"))?;
    if row.status == StoredStatus::Active {
        return Ok(row);
    }
    let facts = store::claim_facts(&mut tx, host).await?;
    tx.commit().await?;
    if facts.live_elsewhere {
        return Err(ApiError::Conflict("the hostname is live for another shop"));
    }
    let txt_required = row.txt_required || facts.lately_elsewhere;
    let (outcome, cloudflare) = run_checks(settings, &row, txt_required).await;
    let record = CheckRecord {
        status: match &outcome {
            Ok(()) => Some(StoredStatus::Active),
            Err(Failed::Owner(_)) => Some(StoredStatus::Failed),
            Err(Failed::Waiting(_)) => Some(StoredStatus::Pending),
            Err(Failed::Unreachable(_)) => None,
        },
        reason: outcome
            .as_ref()
            .err()
            .map(|failed| reason(failed).to_owned()),
        txt_required,
        cloudflare_id: cloudflare.as_ref().map(|state| state.id.clone()),
        hostname_status: cloudflare
            .as_ref()
            .map(|state| state.hostname_status.clone()),
        certificate_status: cloudflare.and_then(|state| state.certificate_status),
    };
    let row = write(db, checker, &row.host, &record).await?;
    match outcome {
        Ok(()) => Ok(row),
        Err(Failed::Unreachable(reason)) => Err(ApiError::CheckUnavailable(reason)),
        Err(Failed::Owner(reason) | Failed::Waiting(reason)) => {
            Err(ApiError::DomainNotVerified(reason))
        }
    }
}

/// The checks in order, stopping at the first that does not pass; with Cloudflare's view of
/// the hostname when it was asked.
async fn run_checks(
    settings: &DomainSettings,
    row: &DomainRow,
    txt_required: bool,
) -> (
    Result<(), Failed>,
    Option<super::checks::cloudflare::HostnameState>,
) {
    let (Some(token), Some(body), Some(value)) = (&row.http_token, &row.http_body, &row.txt_value)
    else {
        return (Err(Failed::internal("the claim has no challenge")), None);
    };
    let path = challenge_path(token);
    let via = settings.http_via.as_deref();
    if let Err(failed) = http::check(&row.host, &path, body, via, settings.check_timeout).await {
        return (Err(failed), None);
    }
    if txt_required {
        let server = settings.dns_server;
        if let Err(failed) = txt::check(&row.host, value, server, settings.check_timeout).await {
            return (Err(failed), None);
        }
    }
    let Some(cloudflare) = &settings.cloudflare else {
        return (Ok(()), None);
    };
    let asked = async {
        let client = Cloudflare::new(cloudflare, settings.check_timeout)?;
        match &row.cloudflare_id {
            Some(id) => client.read(id).await,
            None => client.create(&row.host).await,
        }
    };
    match asked.await {
        Ok(state) => (state.verdict(), Some(state)),
        Err(failed) => (Err(failed), None),
    }
}

/// Stores what the checks found; a domain that went live is audited with it.
async fn write(
    db: &sqlx::PgPool,
    checker: Checker<'_>,
    host: &str,
    record: &CheckRecord,
) -> Result<DomainRow, ApiError> {
    let org_id = checker.scope.org_id;
    let mut tx = crate::db::begin_scoped(db, checker.scope).await?;
    match store::record_check(&mut tx, org_id, host, record).await {
        Ok(row) => {
            if record.status == Some(StoredStatus::Active) {
                let request_id = request_id::current().unwrap_or_default();
                let entry = AuditEntry {
                    org_id,
                    actor_sub: checker.actor_sub,
                    action: "domain.activate",
                    target: host.to_owned(),
                    before: None,
                    after: Some(json!({"primary": row.is_primary})),
                    request_id: &request_id,
                };
                audit::record(&mut tx, entry).await?;
            }
            tx.commit().await?;
            Ok(row)
        }
        Err(err) if is_unique_violation(&err) => Err(ApiError::Conflict(
            "the hostname went live for another shop",
        )),
        Err(sqlx::Error::RowNotFound) => Err(ApiError::NotFound("this shop has no such domain")),
        Err(err) => Err(err.into()),
    }
}

fn reason(failed: &Failed) -> &str {
    match failed {
        Failed::Owner(reason) | Failed::Waiting(reason) | Failed::Unreachable(reason) => reason,
    }
}
