//! Minting tokens from the configured key set, for development and tests. Production tokens
//! come from the identity provider; the origin only verifies them.

use anyhow::Context;
use api::token::{mint, AppMetadata, Audience, KeyAlgorithm, KeySet, Lifetime, Role, TokenClaims};
use chrono::{Duration, Utc};
use uuid::Uuid;

/// What to put in a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub org_id: Uuid,
    pub role: Role,
    pub sub: String,
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
    pub algorithm: KeyAlgorithm,
}

/// Signs a token with the first private key of the requested algorithm in `keys`.
pub fn mint_token(keys: &KeySet, request: &TokenRequest) -> anyhow::Result<String> {
    let (kid, key) = keys.signing_key(request.algorithm).with_context(|| {
        format!(
            "JWT_JWKS holds no private {} key to sign with",
            request.algorithm.name()
        )
    })?;
    let now = Utc::now();
    let claims = TokenClaims {
        sub: request.sub.clone(),
        iss: request.issuer.clone(),
        aud: Audience::One(request.audience.clone()),
        app_metadata: AppMetadata {
            org_id: request.org_id,
            role: request.role,
        },
    };
    let lifetime = Lifetime {
        issued_at: now,
        not_before: None,
        expires_at: now + request.ttl,
    };
    Ok(mint(key, kid, claims, lifetime)?)
}
