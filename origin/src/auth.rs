//! Who is calling, for which shop.
//!
//! `Tenant` is the shop named by the path; `Caller` is a verified bearer token whose
//! `app_metadata.org_id` must be that shop (else `403`). Roles come from the token only: no
//! table is read to decide what a caller may do.

use std::collections::HashMap;

use api::token::{Role, TokenClaims};
use axum::{
    extract::{FromRequestParts, Path},
    http::{header::AUTHORIZATION, request::Parts},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

/// The shop a request is for, from `/api/tenant/{org_id}/...`.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub Uuid);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("unknown shop"))?;
        params
            .get("org_id")
            .and_then(|raw| Uuid::parse_str(raw).ok())
            .map(Tenant)
            .ok_or(ApiError::NotFound("unknown shop"))
    }
}

/// A caller with a valid token for the path's shop.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: Uuid,
    pub claims: TokenClaims,
}

impl Caller {
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    pub fn role(&self) -> Role {
        self.claims.app_metadata.role
    }

    /// The claims as the database sees them (`request.jwt.claims`).
    pub fn scope(&self) -> Scope {
        Scope::new(self.org_id, &self.claims)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Tenant(org_id) = Tenant::from_request_parts(parts, state).await?;
        let raw = bearer_token(parts)?;
        let verified = state.tokens.verify(raw, chrono::Utc::now())?;
        if verified.claims.app_metadata.org_id != org_id {
            return Err(ApiError::Forbidden("the token belongs to another shop"));
        }
        Ok(Self {
            org_id,
            claims: verified.claims,
        })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Token(api::token::TokenError::Malformed))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::MissingToken)
}

/// The tenant scope a transaction runs under, as the JSON Postgres reads with `auth.jwt()`.
#[derive(Debug, Clone)]
pub struct Scope {
    pub org_id: Uuid,
    pub claims_json: String,
}

#[derive(Serialize)]
struct AnonymousClaims {
    role: &'static str,
    app_metadata: AnonymousMetadata,
}

#[derive(Serialize)]
struct AnonymousMetadata {
    org_id: Uuid,
    role: &'static str,
}

impl Scope {
    fn new(org_id: Uuid, claims: &TokenClaims) -> Self {
        Self {
            org_id,
            claims_json: serde_json::to_string(claims).unwrap_or_default(),
        }
    }

    /// Read-only access to a shop's public data, for callers without a token.
    pub fn anonymous(Tenant(org_id): Tenant) -> Self {
        Self::acting_as(org_id, "anon")
    }

    /// The origin itself working for one shop (purchase batches, queue workers): no user, the
    /// shop's rows only.
    pub fn service(org_id: Uuid) -> Self {
        Self::acting_as(org_id, "service")
    }

    fn acting_as(org_id: Uuid, role: &'static str) -> Self {
        let claims = AnonymousClaims {
            role,
            app_metadata: AnonymousMetadata { org_id, role },
        };
        Self {
            org_id,
            claims_json: serde_json::to_string(&claims).unwrap_or_default(),
        }
    }
}
