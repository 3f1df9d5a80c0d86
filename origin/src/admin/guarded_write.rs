//! What every admin write shares: an idempotency key claimed in the write's transaction, and the audit entry and stored answer committed with the change.

use axum::{
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Serialize;
use sqlx::{Postgres, Transaction};

use crate::{
    admin::audit::{self, AuditEntry},
    app::state::AppState,
    db,
    idempotency::replay::{replay_response, stored_response},
    idempotency::{self, Claim, IdempotencyKey, KeyUse, StoredResponse},
    observability::request_id,
    web::caller::Caller,
    web::error::ApiError,
};

/// An admin write in progress: its transaction, with the idempotency key already claimed.
#[derive(Debug)]
pub struct AdminWrite {
    pub tx: Transaction<'static, Postgres>,
    pub key: KeyUse,
}

impl AdminWrite {
    /// Opens the transaction and claims the key; a replay short-circuits with the stored answer.
    pub async fn begin(
        state: &AppState,
        caller: &Caller,
        headers: &HeaderMap,
        route: &str,
        body: &[u8],
    ) -> Result<Result<Self, Response>, ApiError> {
        let key = KeyUse {
            org_id: caller.org_id,
            customer_sub: caller.sub().to_owned(),
            key: IdempotencyKey::from_headers(headers)?,
            fingerprint: idempotency::fingerprint("admin", route, body),
            request_id: request_id::current().unwrap_or_default(),
        };
        let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
        match idempotency::claim(&mut tx, &key).await? {
            Claim::Fresh => Ok(Ok(Self { tx, key })),
            Claim::Replay(stored) => Ok(Err(replay_response(stored))),
            Claim::Mismatch => Err(ApiError::KeyReused),
            Claim::InFlight => Err(ApiError::KeyInFlight),
        }
    }

    /// Audits the change (when something changed), stores the answer with the key, commits,
    /// and answers.
    pub async fn finish(
        self,
        entry: Option<AuditEntry<'_>>,
        status: StatusCode,
        body: &impl Serialize,
    ) -> Result<Response, ApiError> {
        let body = serde_json::to_vec(body).unwrap_or_default();
        self.finish_with(entry, status, body).await
    }

    /// As `finish`, answering `204 No Content`.
    pub async fn finish_empty(self, entry: Option<AuditEntry<'_>>) -> Result<Response, ApiError> {
        self.finish_with(entry, StatusCode::NO_CONTENT, Vec::new())
            .await
    }

    async fn finish_with(
        mut self,
        entry: Option<AuditEntry<'_>>,
        status: StatusCode,
        body: Vec<u8>,
    ) -> Result<Response, ApiError> {
        if let Some(entry) = entry {
            audit::record(&mut self.tx, entry).await?;
        }
        let stored = StoredResponse {
            status: status.as_u16(),
            body,
        };
        idempotency::record(&mut self.tx, &self.key, &stored).await?;
        self.tx.commit().await?;
        Ok(stored_response(stored, false))
    }
}
