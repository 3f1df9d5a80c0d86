//! Token verification: size cap, key by `kid`, algorithm pinned by the key, signature, time
//! claims with skew, issuer and audience. Every failure is a `TokenError`, which callers turn
//! into `401`; nothing here can panic on hostile input.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::{
    alg::{Ed25519, Es256, Hs256},
    AlgorithmExt, Claims, TimeOptions, Token, UntrustedToken, ValidationError,
};

use super::{
    claims::TokenClaims,
    keys::{KeySet, VerifyingKey},
};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Allowed clock difference between the issuer and us.
const CLOCK_SKEW_SECONDS: i64 = 30;

/// Why a token was refused. The message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names no key id (kid)")]
    MissingKeyId,
    #[error("the token's key id is unknown")]
    UnknownKeyId,
    #[error("the token's algorithm does not match its key")]
    AlgorithmMismatch,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has no expiry (exp)")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token claims to be issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
}

/// A token whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub claims: TokenClaims,
    pub expires_at: DateTime<Utc>,
}

/// Checks tokens against one key set, issuer and audience.
#[derive(Debug)]
pub struct TokenVerifier {
    keys: KeySet,
    issuer: String,
    audience: String,
}

impl TokenVerifier {
    pub fn new(keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Verifies `raw` (the part after `Bearer `) as of `now`.
    pub fn verify(&self, raw: &str, now: DateTime<Utc>) -> Result<VerifiedToken, TokenError> {
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let untrusted = UntrustedToken::new(raw).map_err(|_| TokenError::Malformed)?;
        let kid = untrusted
            .header()
            .key_id
            .as_deref()
            .ok_or(TokenError::MissingKeyId)?;
        let key = self
            .keys
            .verifying_key(kid)
            .ok_or(TokenError::UnknownKeyId)?;
        if untrusted.algorithm() != key.algorithm().name() {
            return Err(TokenError::AlgorithmMismatch);
        }
        let token = check_signature(key, &untrusted)?;
        let claims = token.claims();
        let expires_at = check_times(claims, now)?;
        if claims.custom.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if !claims.custom.aud.contains(&self.audience) {
            return Err(TokenError::WrongAudience);
        }
        Ok(VerifiedToken {
            claims: claims.custom.clone(),
            expires_at,
        })
    }
}

fn check_signature(
    key: &VerifyingKey,
    untrusted: &UntrustedToken<'_>,
) -> Result<Token<TokenClaims>, TokenError> {
    let checked = match key {
        VerifyingKey::Hs256(k) => Hs256.validator(k).validate(untrusted),
        VerifyingKey::Es256(k) => Es256.validator(k).validate(untrusted),
        VerifyingKey::EdDsa(k) => Ed25519.validator(k).validate(untrusted),
    };
    checked.map_err(|err| match err {
        ValidationError::MalformedClaims(_) => TokenError::Malformed,
        ValidationError::AlgorithmMismatch { .. } => TokenError::AlgorithmMismatch,
        _ => TokenError::BadSignature,
    })
}

fn check_times(
    claims: &Claims<TokenClaims>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TokenError> {
    let skew = Duration::seconds(CLOCK_SKEW_SECONDS);
    let options = TimeOptions::new(skew, move || now);
    let expires_at = claims.expiration.ok_or(TokenError::MissingExpiry)?;
    claims
        .validate_expiration(&options)
        .map_err(|_| TokenError::Expired)?;
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&options)
            .map_err(|_| TokenError::NotYetValid)?;
    }
    if claims.issued_at.is_some_and(|iat| iat > now + skew) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(expires_at)
}
