//! Who is calling, for which shop.
//!
//! `Tenant` is the shop named by the path; `Caller` is a verified bearer token whose shop must
//! be that shop (else `403`). Roles come from the token only: no table is read to decide what a
//! caller may do; `Admin` is a caller whose token's role value means admin. Where a provider puts
//! the shop and role is configured (`api::token::claim_map`); a `Caller` holds them in the
//! product's own layout, which is what its `Scope` hands Postgres.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use api::{
    headers,
    token::{
        edge_claims::{self, Binding},
        Role, TokenClaims, VerifiedToken,
    },
};
use axum::{
    extract::{FromRequestParts, OriginalUri, Path},
    http::{header::AUTHORIZATION, request::Parts},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{app::state::AppState, db::Scope, web::error::ApiError};

/// The shop a request is for, from `/api/tenant/{org_id}/...`.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub Uuid);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("unknown shop"))?;
        let org_id = params
            .get("org_id")
            .and_then(|raw| Uuid::parse_str(raw).ok())
            .ok_or(ApiError::NotFound("unknown shop"))?;
        // The nil id keys the operators' global rows (the platform-wide kill switch): only the
        // operator CLI touches those, never a request.
        if org_id.is_nil() {
            return Err(ApiError::Malformed("the nil id names no shop".into()));
        }
        Ok(Tenant(org_id))
    }
}

/// A caller with a valid token for the path's shop.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: Uuid,
    pub claims: TokenClaims,
    /// When the token stops being valid (long-lived answers, such as event streams, end then).
    pub expires_at: DateTime<Utc>,
}

impl Caller {
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    pub fn role(&self) -> Role {
        self.claims.app_metadata.role
    }

    /// The claims as the database sees them (`request.jwt.claims`): the normalised claims,
    /// never the provider's token, so row-level security reads `app_metadata.org_id` whatever
    /// layout the token had.
    pub fn scope(&self) -> Scope {
        Scope::for_claims(self.org_id, &self.claims)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Tenant(org_id) = Tenant::from_request_parts(parts, state).await?;
        let verified = match edge_sealed(parts, state, org_id) {
            Some(verified) => verified,
            None => {
                let raw = bearer_token(parts)?;
                state.tokens.verify(raw, chrono::Utc::now()).await?
            }
        };
        if verified.claims.app_metadata.org_id != org_id {
            return Err(ApiError::Forbidden("the token belongs to another shop"));
        }
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.fill(org_id, &verified.claims.sub);
        }
        Ok(Self {
            org_id,
            claims: verified.claims,
            expires_at: verified.expires_at,
        })
    }
}

/// Where a middleware learns who the handler found the caller to be, without verifying the
/// token a second time: it puts an empty slot in the request, `Caller` fills it.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<(Uuid, String)>>);

impl CallerSlot {
    /// Records the verified caller (a second extraction in one request finds the same one).
    pub fn fill(&self, org_id: Uuid, sub: &str) {
        let _ = self.0.set((org_id, sub.to_owned()));
    }

    /// The caller's shop and subject, once a handler verified them.
    pub fn get(&self) -> Option<&(Uuid, String)> {
        self.0.get()
    }
}

/// The claims the edge verified for this very request, when it sealed them under the key
/// derived from `EDGE_SHARED_SECRET` (an HMAC: microseconds, where an ES256 or RS256 check costs
/// hundreds), and they still meet what this origin accepts (issuer, audience). Anything that
/// does not open is ignored and the bearer token is checked in full.
fn edge_sealed(parts: &Parts, state: &AppState, org_id: Uuid) -> Option<VerifiedToken> {
    let key = &state.edge_trust.as_ref()?.claims;
    let sealed = parts.headers.get(edge_claims::HEADER)?.to_str().ok()?;
    let request_id = parts.headers.get(headers::REQUEST_ID)?.to_str().ok()?;
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(parts.uri.path(), |original| original.path());
    let binding = Binding {
        method: parts.method.as_str(),
        path,
        org_id,
        request_id,
    };
    let now = chrono::Utc::now();
    state
        .tokens
        .with_acceptance(|acceptance| key.open(binding, sealed, now, acceptance))
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Token(api::token::TokenError::Malformed))?;
    api::token::bearer_token(value).ok_or(ApiError::MissingToken)
}

/// A caller whose token says `admin`.
#[derive(Debug)]
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.role() != Role::Admin {
            return Err(ApiError::Forbidden("this route is for shop admins"));
        }
        Ok(Self(caller))
    }
}
