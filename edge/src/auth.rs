//! Tokens at the edge: the same verifier the origin runs (from the `api` crate), so a forged,
//! expired or foreign token is refused here and never costs the origin a request.
//!
//! Writes, admin routes, purchases and events need a token; the token's shop must be the host's
//! shop (`403` otherwise) and admin routes need the `admin` role. The origin checks it all again.

use api::{
    routes,
    token::{Role, TokenError, VerifiedToken},
    ProblemKind,
};
use chrono::DateTime;
use uuid::Uuid;
use worker::{Date, Env, Method, Request};

use crate::token_keys::{self, KeysError};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Token,
    Admin,
}

impl Access {
    pub fn of(method: &Method, api_path: &str) -> Self {
        if routes::is_under(routes::ADMIN_SCOPE, api_path) {
            Self::Admin
        } else if !matches!(method, Method::Get | Method::Head)
            || routes::is_under(routes::PURCHASE_SCOPE, api_path)
            || routes::matches(routes::EVENTS, api_path)
        {
            Self::Token
        } else {
            Self::Public
        }
    }
}

/// A refusal, ready to become problem+json.
#[derive(Debug)]
pub struct Refusal {
    pub kind: ProblemKind,
    pub detail: String,
}

impl Refusal {
    fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl From<KeysError> for Refusal {
    fn from(err: KeysError) -> Self {
        match err {
            KeysError::Token(TokenError::KeysUnavailable) | KeysError::Misconfigured => Self::new(
                ProblemKind::Unavailable,
                "the shop is temporarily unavailable",
            ),
            KeysError::Token(err) => Self::new(err.kind(), err.to_string()),
        }
    }
}

/// A shopper signed in to this shop, on a public route: the token, if one was sent and checks
/// out. Public routes need none, so one that does not check out is ignored and the request is
/// anonymous, as it would be without it; one that does gives the shopper's reads the signed-in
/// budget (`rate_limit::Audience`).
pub async fn signed_in(req: &Request, env: &Env, org_id: Uuid) -> Option<VerifiedToken> {
    req.headers().get("authorization").ok().flatten()?;
    authorize(req, env, org_id, Access::Token)
        .await
        .ok()
        .flatten()
}

/// Checks the caller against what the route needs. `Ok(None)` for public routes.
pub async fn authorize(
    req: &Request,
    env: &Env,
    org_id: Uuid,
    access: Access,
) -> Result<Option<VerifiedToken>, Refusal> {
    if access == Access::Public {
        return Ok(None);
    }
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .ok_or_else(|| Refusal::new(ProblemKind::Unauthenticated, "a bearer token is required"))?;
    let raw = api::token::bearer_token(&header)
        .ok_or_else(|| Refusal::new(ProblemKind::Unauthenticated, "a bearer token is required"))?;
    let now = DateTime::from_timestamp_millis(i64::try_from(Date::now().as_millis()).unwrap_or(0))
        .unwrap_or_default();
    let verified = token_keys::verify(env, raw, now).await?;
    let claims = &verified.claims;
    if claims.app_metadata.org_id != org_id {
        return Err(Refusal::new(
            ProblemKind::Forbidden,
            "the token belongs to another shop",
        ));
    }
    if access == Access::Admin && claims.app_metadata.role != Role::Admin {
        return Err(Refusal::new(
            ProblemKind::Forbidden,
            "this route is for shop admins",
        ));
    }
    Ok(Some(verified))
}
